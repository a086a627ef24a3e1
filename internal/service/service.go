package service

import (
	"log/slog"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Tenants gives the snapshot in force for a tenant: nil when the tenant is unknown.
// Ready is false until the first full policy load; the service then answers
// ErrUnavailable rather than decide on a partial policy.
type Tenants interface {
	Snapshot(tenant string) *policy.Snapshot
	Ready() bool
}

// DryRunCounter is what a Tenants may add: counting, per tenant and DryRun template,
// the decisions it would have changed (for the template's status).
type DryRunCounter interface {
	CountDryRun(tenant, template string)
}

// CountDryRun counts a decision the tenant's DryRun templates would have changed,
// when the tenants count them.
func (s *Service) CountDryRun(rec *Record) {
	if c, ok := s.tenants.(DryRunCounter); ok && rec.DryRun.Set {
		c.CountDryRun(rec.Tenant, rec.DryRun.Template)
	}
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

func (s *Service) snapshot(tenant string) (*policy.Snapshot, error) {
	if !s.tenants.Ready() {
		return nil, ErrUnavailable
	}
	return s.tenants.Snapshot(tenant), nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Check answers POST /v1/check into out.
func (s *Service) Check(q *CheckRequest, out *Reply) error {
	out.reset()
	r := &out.req
	if err := ParseCheck(q, r); err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	engine.Check(snap, r, &out.d)
	id := s.ids.next()
	out.appendCheck(snap, r, &out.d, id)
	out.recordCheck("check", q.Tenant, q.Resource.ID, r, &out.d, snap, id)
	return nil
}

// Checks answers POST /v1/checks into out: every check on the same snapshot, in order.
func (s *Service) Checks(q *BatchRequest, out *Reply) error {
	out.reset()
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	ip, ch, err := parseContext(q.Context)
	if err != nil {
		return err
	}
	if len(q.Checks) == 0 {
		return invalid("checks", "required: at least one check")
	}
	if len(q.Checks) > MaxBatch {
		return invalid("checks", "%d checks; at most %d in one batch", len(q.Checks), MaxBatch)
	}
	if cap(out.reqs) < len(q.Checks) {
		out.reqs = make([]engine.Request, len(q.Checks))
	}
	reqs := out.reqs[:len(q.Checks)]
	for i := range q.Checks {
		reqs[i] = engine.Request{User: user, Role: role, IP: ip, Channel: ch}
		if err := parseItem("checks["+itoa(i)+"].", &q.Checks[i], &reqs[i]); err != nil {
			return err
		}
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	out.Body = append(out.Body, `{"results":[`...)
	for i := range reqs {
		if i > 0 {
			out.Body = append(out.Body, ',')
		}
		engine.Check(snap, &reqs[i], &out.d)
		id := s.ids.next()
		out.appendCheck(snap, &reqs[i], &out.d, id)
		out.recordCheck("checks", q.Tenant, q.Checks[i].Resource.ID, &reqs[i], &out.d, snap, id)
	}
	out.Body = append(out.Body, "]}"...)
	return nil
}

// Filter answers POST /v1/filter into out.
func (s *Service) Filter(q *FilterRequest, out *Reply) error {
	out.reset()
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	ip, ch, err := parseContext(q.Context)
	if err != nil {
		return err
	}
	r := engine.FilterRequest{User: user, Role: role, IP: ip, Channel: ch}
	it := BatchItem{Action: q.Action, Resource: Resource{Entity: q.Entity}}
	if q.Action == "" {
		it.Action = "view" // the common question: which records may I see
	}
	if it.Action == "access" {
		return invalid("action", "filter takes a record action (%s), not access", actionList[:len(actionList)-len(", access")])
	}
	var er engine.Request
	if err := parseItem("", &it, &er); err != nil {
		if ia, ok := AsInvalid(err); ok && ia.Field == "resource.entity" {
			ia.Field = "entity"
		}
		return err
	}
	r.Action, r.Entity = er.Action, er.Entity
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	id := s.ids.next()
	resp := filterPlan(snap, &r, id)
	out.Records = append(out.Records, Record{ID: id, Endpoint: "filter", Tenant: q.Tenant, User: user, Role: role.String(),
		Action: r.Action.String(), Target: r.Entity.String(), Allowed: resp.Kind != engine.FilterNone, Reason: resp.Reason,
		Template: resp.Template, Revision: resp.Revision,
		Extra: []slog.Attr{slog.String("kind", string(resp.Kind)), slog.Int("owners", len(resp.Owners))}})
	return out.appendJSON(&resp)
}

// filterPlan asks the engine for r's query plan, in the shape of FilterResponse.
func filterPlan(snap *policy.Snapshot, r *engine.FilterRequest, id DecisionID) FilterResponse {
	var res engine.FilterResult
	engine.Filter(snap, r, &res)
	return FilterResponse{
		Kind:         res.Kind,
		Owners:       res.Owners.AppendTo(make([]string, 0, res.Owners.Len())),
		SharedWith:   res.SharedWith,
		HiddenFields: orEmpty(res.HiddenFields),
		MaskedFields: orEmpty(res.MaskedFields),
		HiddenTypes:  orEmpty(res.HiddenTypes),
		Reason:       res.Reason,
		Template:     res.Template,
		Revision:     revisionOf(snap),
		DecisionID:   id.String(),
	}
}

// Visible answers POST /v1/users/visible into out.
func (s *Service) Visible(q *VisibleRequest, out *Reply) error {
	out.reset()
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	var res engine.VisibleResult
	engine.VisibleUsers(snap, user, role, &res)
	id := s.ids.next()
	resp := VisibleResponse{All: res.All, Reason: res.Reason, Revision: revisionOf(snap), DecisionID: id.String()}
	if !res.All {
		resp.Users = res.Users.AppendTo(make([]string, 0, res.Users.Len()))
	}
	out.Records = append(out.Records, Record{ID: id, Endpoint: "users/visible", Tenant: q.Tenant, User: user, Role: role.String(),
		Allowed: true, Reason: res.Reason, Revision: resp.Revision,
		Extra: []slog.Attr{slog.Bool("all", res.All), slog.Int("users", len(resp.Users))}})
	return out.appendJSON(&resp)
}

// Login answers POST /v1/login into out.
func (s *Service) Login(q *LoginRequest, out *Reply) error {
	out.reset()
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	ip, err := parseIP("ip", q.IP, true)
	if err != nil {
		return err
	}
	if q.Provider == "" {
		return invalid("provider", "required (Password, Google, ADFS or API)")
	}
	prov, ok := policy.ParseProvider(q.Provider)
	if !ok {
		return invalid("provider", "unknown provider %q (Password, Google, ADFS or API)", q.Provider)
	}
	now := s.now()
	since, err := parseTime("trustedDeviceSince", q.TrustedDeviceSince, false, now)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	d := engine.Login(snap, &engine.LoginRequest{User: user, Role: role, IP: ip, Provider: prov,
		SecondFactorVerified: q.SecondFactorVerified, TrustedDeviceSince: since, Now: now})
	id := s.ids.next()
	resp := LoginResponse{Allowed: d.Allowed, Reason: d.Reason, RequireSecondFactor: d.RequireSecondFactor,
		Message: loginMessage(d.Reason, q.Provider, q.IP, d.Sources), Revision: revisionOf(snap), DecisionID: id.String()}
	if d.Allowed {
		resp.Session = &SessionOut{}
		if !d.ExpiresAt.IsZero() {
			resp.Session.ExpiresAt = d.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if d.IdleTimeout > 0 {
			resp.Session.IdleTimeout = d.IdleTimeout.String()
		}
	}
	out.Records = append(out.Records, Record{ID: id, Endpoint: "login", Tenant: q.Tenant, User: user, Role: role.String(),
		Allowed: d.Allowed, Reason: d.Reason, Revision: resp.Revision,
		Extra: []slog.Attr{slog.String("provider", q.Provider), slog.String("ip", q.IP)}})
	return out.appendJSON(&resp)
}

// Session answers POST /v1/session into out.
func (s *Service) Session(q *SessionRequest, out *Reply) error {
	out.reset()
	user, role, err := parseHead(q.Tenant, q.Subject)
	if err != nil {
		return err
	}
	ip, err := parseIP("ip", q.IP, true)
	if err != nil {
		return err
	}
	now := s.now()
	issued, err := parseTime("issuedAt", q.IssuedAt, true, now)
	if err != nil {
		return err
	}
	last, err := parseTime("lastActivityAt", q.LastActivityAt, false, now)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	d := engine.Session(snap, &engine.SessionRequest{User: user, Role: role, IP: ip, IssuedAt: issued, LastActivityAt: last, Now: now})
	id := s.ids.next()
	resp := SessionResponse{Allowed: d.Allowed, Reason: d.Reason, Message: loginMessage(d.Reason, "", q.IP, d.Sources),
		Revision: revisionOf(snap), DecisionID: id.String()}
	out.Records = append(out.Records, Record{ID: id, Endpoint: "session", Tenant: q.Tenant, User: user, Role: role.String(),
		Allowed: d.Allowed, Reason: d.Reason, Revision: resp.Revision, Extra: []slog.Attr{slog.String("ip", q.IP)}})
	return out.appendJSON(&resp)
}

// Password answers POST /v1/password into out. The password is never logged.
func (s *Service) Password(q *PasswordRequest, out *Reply) error {
	out.reset()
	if err := parseTenant(q.Tenant); err != nil {
		return err
	}
	if len(q.Password) > 4096 {
		return invalid("password", "longer than 4096 bytes")
	}
	now := s.now()
	changed, err := parseTime("changedAt", q.ChangedAt, false, now)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	res := engine.Password(snap, q.Password, changed, now)
	id := s.ids.next()
	resp := PasswordResponse{Valid: res.Valid, Violations: res.Violations, Revision: revisionOf(snap), DecisionID: id.String()}
	if res.Reason == engine.UnknownTenant {
		resp.Reason = res.Reason
	}
	out.Records = append(out.Records, Record{ID: id, Endpoint: "password", Tenant: q.Tenant, Allowed: res.Valid,
		Reason: res.Reason, Revision: resp.Revision, Extra: []slog.Attr{slog.Any("violations", res.Violations)}})
	return out.appendJSON(&resp)
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

// Decide answers a check into out, for callers in the same process (the SDK's embedded
// decision point): the same decision as Check, without JSON and without the decision
// log (the caller's process logs what it decides).
func (s *Service) Decide(q *CheckRequest, out *CheckResponse) error {
	var r engine.Request
	if err := ParseCheck(q, &r); err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	var d engine.Decision
	engine.Check(snap, &r, &d)
	var msg [256]byte // most messages fit: then only the string is allocated
	*out = CheckResponse{Allowed: d.Allowed, Reason: d.Reason, Message: string(engine.AppendMessage(msg[:0], &r, &d)), Template: d.Template,
		DeniedFields: orEmpty(d.DeniedFields), Fields: FieldsOut{Hidden: orEmpty(d.Hidden), Masked: orEmpty(d.Masked)},
		Revision: revisionOf(snap), DecisionID: s.ids.next().String(), Trace: d.Trace}
	return nil
}
