package service

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Tenants gives the snapshot in force for a tenant: nil when the tenant is unknown.
// Ready is false until the first full policy load; the service then answers
// Unavailable rather than decide on a partial policy.
type Tenants interface {
	Snapshot(tenant string) *policy.Snapshot
	Ready() bool
}

// Service answers the decision API. It holds no policy itself: every call reads the
// tenant's current snapshot once and decides on it alone.
type Service struct {
	tenants Tenants
	now     func() time.Time
	ids     *idSource
}

// New returns a service over tenants; now is the clock (nil: time.Now).
func New(tenants Tenants, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{tenants: tenants, now: now, ids: newIDSource()}
}

// idSource makes decision ids: a random per-process prefix and a counter, unique
// across replicas and cheap enough for every decision.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:])}
}

func (s *idSource) next() string {
	return s.prefix + "-" + strconv.FormatUint(s.n.Add(1), 36)
}

func (s *Service) snapshot(tenant string) (*policy.Snapshot, error) {
	if !s.tenants.Ready() {
		return nil, Unavailable
	}
	return s.tenants.Snapshot(tenant), nil
}

func revisionOf(snap *policy.Snapshot) string {
	if snap == nil {
		return ""
	}
	return snap.Revision
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Service) response(snap *policy.Snapshot, r *engine.Request, d *engine.Decision) CheckResponse {
	resp := CheckResponse{
		Allowed:      d.Allowed,
		Reason:       d.Reason,
		Message:      engine.Message(r, d),
		Template:     d.Template,
		DeniedFields: append([]string{}, d.DeniedFields...),
		Fields:       FieldsOut{Hidden: orEmpty(d.Hidden), Masked: orEmpty(d.Masked)},
		Revision:     revisionOf(snap),
		DecisionID:   s.ids.next(),
	}
	if r.Explain {
		resp.Trace = append([]engine.Step{}, d.Trace...)
	}
	return resp
}

// Check answers POST /v1/check.
func (s *Service) Check(q *CheckRequest) (*CheckResponse, *engine.Request, error) {
	var r engine.Request
	if err := ParseCheck(q, &r); err != nil {
		return nil, nil, err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, nil, err
	}
	var d engine.Decision
	engine.Check(snap, &r, &d)
	resp := s.response(snap, &r, &d)
	return &resp, &r, nil
}

// Checks answers POST /v1/checks: every check on the same snapshot, in order.
func (s *Service) Checks(q *BatchRequest) (*BatchResponse, []engine.Request, error) {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return nil, nil, err
	}
	ip, ch, err := parseContext(q.Context)
	if err != nil {
		return nil, nil, err
	}
	if len(q.Checks) == 0 {
		return nil, nil, invalid("checks", "required: at least one check")
	}
	if len(q.Checks) > MaxBatch {
		return nil, nil, invalid("checks", "%d checks; at most %d in one batch", len(q.Checks), MaxBatch)
	}
	reqs := make([]engine.Request, len(q.Checks))
	for i := range q.Checks {
		reqs[i] = engine.Request{User: user, Role: role, IP: ip, Channel: ch}
		if err := parseItem("checks["+itoa(i)+"].", &q.Checks[i], &reqs[i]); err != nil {
			return nil, nil, err
		}
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, nil, err
	}
	out := &BatchResponse{Results: make([]CheckResponse, len(reqs))}
	var d engine.Decision
	for i := range reqs {
		engine.Check(snap, &reqs[i], &d)
		out.Results[i] = s.response(snap, &reqs[i], &d)
	}
	return out, reqs, nil
}

// Filter answers POST /v1/filter.
func (s *Service) Filter(q *FilterRequest) (*FilterResponse, error) {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return nil, err
	}
	ip, ch, err := parseContext(q.Context)
	if err != nil {
		return nil, err
	}
	r := engine.FilterRequest{User: user, Role: role, IP: ip, Channel: ch}
	it := BatchItem{Action: q.Action, Resource: Resource{Entity: q.Entity}}
	if q.Action == "" {
		it.Action = "view" // the common question: which records may I see
	}
	if it.Action == "access" {
		return nil, invalid("action", "filter takes a record action (%s), not access", actionList[:len(actionList)-len(", access")])
	}
	var er engine.Request
	if err := parseItem("", &it, &er); err != nil {
		if ia, ok := AsInvalid(err); ok && ia.Field == "resource.entity" {
			ia.Field = "entity"
		}
		return nil, err
	}
	r.Action, r.Entity = er.Action, er.Entity
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, err
	}
	var res engine.FilterResult
	engine.Filter(snap, &r, &res)
	return &FilterResponse{
		Kind:         res.Kind,
		Owners:       res.Owners.AppendTo(make([]string, 0, res.Owners.Len())),
		SharedWith:   res.SharedWith,
		HiddenFields: orEmpty(res.HiddenFields),
		MaskedFields: orEmpty(res.MaskedFields),
		HiddenTypes:  orEmpty(res.HiddenTypes),
		Reason:       res.Reason,
		Template:     res.Template,
		Revision:     revisionOf(snap),
		DecisionID:   s.ids.next(),
	}, nil
}

// Visible answers POST /v1/users/visible.
func (s *Service) Visible(q *VisibleRequest) (*VisibleResponse, error) {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, err
	}
	var res engine.VisibleResult
	engine.VisibleUsers(snap, user, role, &res)
	out := &VisibleResponse{All: res.All, Reason: res.Reason, Revision: revisionOf(snap), DecisionID: s.ids.next()}
	if !res.All {
		out.Users = res.Users.AppendTo(make([]string, 0, res.Users.Len()))
	}
	return out, nil
}

// Login answers POST /v1/login.
func (s *Service) Login(q *LoginRequest) (*LoginResponse, error) {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return nil, err
	}
	ip, err := parseIP("ip", q.IP)
	if err != nil {
		return nil, err
	}
	if q.Provider == "" {
		return nil, invalid("provider", "required (Password, Google, ADFS or API)")
	}
	prov, ok := policy.ParseProvider(q.Provider)
	if !ok {
		return nil, invalid("provider", "unknown provider %q (Password, Google, ADFS or API)", q.Provider)
	}
	since, err := parseTime("trustedDeviceSince", q.TrustedDeviceSince, false)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, err
	}
	d := engine.Login(snap, &engine.LoginRequest{User: user, Role: role, IP: ip, Provider: prov,
		SecondFactorVerified: q.SecondFactorVerified, TrustedDeviceSince: since, Now: s.now()})
	out := &LoginResponse{Allowed: d.Allowed, Reason: d.Reason, RequireSecondFactor: d.RequireSecondFactor,
		Message: loginMessage(d.Reason, q.Provider, q.IP, d.Sources), Revision: revisionOf(snap), DecisionID: s.ids.next()}
	if d.Allowed {
		out.Session = &SessionOut{}
		if !d.ExpiresAt.IsZero() {
			out.Session.ExpiresAt = d.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if d.IdleTimeout > 0 {
			out.Session.IdleTimeout = d.IdleTimeout.String()
		}
	}
	return out, nil
}

// Session answers POST /v1/session.
func (s *Service) Session(q *SessionRequest) (*SessionResponse, error) {
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return nil, err
	}
	ip, err := parseIP("ip", q.IP)
	if err != nil {
		return nil, err
	}
	issued, err := parseTime("issuedAt", q.IssuedAt, true)
	if err != nil {
		return nil, err
	}
	last, err := parseTime("lastActivityAt", q.LastActivityAt, false)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, err
	}
	d := engine.Session(snap, &engine.SessionRequest{User: user, Role: role, IP: ip, IssuedAt: issued, LastActivityAt: last, Now: s.now()})
	return &SessionResponse{Allowed: d.Allowed, Reason: d.Reason, Message: loginMessage(d.Reason, "", q.IP, d.Sources),
		Revision: revisionOf(snap), DecisionID: s.ids.next()}, nil
}

// Password answers POST /v1/password.
func (s *Service) Password(q *PasswordRequest) (*PasswordResponse, error) {
	if err := parseTenant(q.Tenant); err != nil {
		return nil, err
	}
	if len(q.Password) > 4096 {
		return nil, invalid("password", "longer than 4096 bytes")
	}
	changed, err := parseTime("changedAt", q.ChangedAt, false)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return nil, err
	}
	res := engine.Password(snap, q.Password, changed, s.now())
	out := &PasswordResponse{Valid: res.Valid, Violations: res.Violations, Revision: revisionOf(snap), DecisionID: s.ids.next()}
	if res.Reason == engine.UnknownTenant {
		out.Reason = res.Reason
	}
	return out, nil
}

func loginMessage(r engine.Reason, provider, ip string, sources []string) string {
	switch r {
	case engine.Allowed:
		return "allowed"
	case engine.UnknownTenant:
		return "the tenant has no crmauthz policy"
	case engine.ProviderNotAllowed:
		return "provider " + provider + " is not allowed by the tenant's LoginPolicy"
	case engine.IPNotAllowed:
		return "address " + ip + " is not in an IP allowlist for channel Login"
	case engine.AnonymousProxy:
		msg := "address " + ip + " is refused as an anonymous proxy"
		for i, s := range sources {
			if i == 0 {
				msg += " by IPAllowlist "
			} else {
				msg += ", "
			}
			msg += s
		}
		return msg
	case engine.SecondFactorRequired:
		return "a second factor is required"
	case engine.LoginExpired:
		return "the session is older than the login expiration"
	case engine.IdleTimeout:
		return "the session was idle longer than the idle timeout"
	case engine.Revoked:
		return "the session was issued before sessions were revoked"
	}
	return string(r)
}
