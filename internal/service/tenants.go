package service

import (
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Reason is why a decision came out as it did (a decision's "reason").
type Reason = engine.Reason

// Reports is what a Tenants may also give: each tenant's compile report beside its
// snapshot, for describing tenants (GET /v1/tenants/{tenant}) and their metrics.
// Without it the service describes no tenant.
type Reports interface {
	Names() []string
	// Compiled returns the tenant's snapshot and the report of the same compile.
	Compiled(tenant string) (*policy.Snapshot, *policy.Report)
}

// NotFound is a tenant with no policy to describe; HTTP turns it into 404.
type NotFound struct{ Tenant string }

func (e *NotFound) Error() string { return "tenant " + e.Tenant + " has no crmauthz policy" }

// Ready says whether the first full policy load finished (until then every call is
// ErrUnavailable).
func (s *Service) Ready() bool { return s.tenants.Ready() }

// TenantDescription is GET /v1/tenants/{tenant}: the revision in force, the objects
// with the generation enforced, those left out and why, and the effective LoginPolicy
// that login pages need.
type TenantDescription struct {
	Tenant      string            `json:"tenant"`
	Revision    string            `json:"revision"`
	CompiledAt  string            `json:"compiledAt"`
	Objects     []TenantObject    `json:"objects"`
	NotReady    []TenantObject    `json:"notReady"`
	LoginPolicy TenantLoginPolicy `json:"loginPolicy"`
}

// TenantObject is one policy object of a described tenant.
type TenantObject struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	InForce    bool   `json:"inForce"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`
}

// TenantLoginPolicy is the LoginPolicy in force for a tenant (defaults where none).
type TenantLoginPolicy struct {
	Name                 string         `json:"name,omitempty"`
	AuthProviders        []string       `json:"authProviders"`
	TwoFactor            string         `json:"twoFactor"`
	TrustedDevicesFor    string         `json:"trustedDevicesValidFor,omitempty"`
	LoginExpiration      string         `json:"loginExpiration,omitempty"`
	IdleTimeout          string         `json:"idleTimeout,omitempty"`
	RevokeSessionsBefore string         `json:"revokeSessionsBefore,omitempty"`
	Password             TenantPassword `json:"passwordPolicy"`
	PasswordEncryption   bool           `json:"passwordEncryption"`
	MobileDynamicToken   bool           `json:"mobileDynamicToken"`
}

// TenantPassword is the password policy in force.
type TenantPassword struct {
	MinLength       int    `json:"minLength"`
	MinSpecialChars int    `json:"minSpecialChars"`
	MinDigits       int    `json:"minDigits"`
	MinUppercase    int    `json:"minUppercase"`
	MaxAge          string `json:"maxAge,omitempty"`
}

// Describe says what is in force for tenant: ErrUnavailable before the first load,
// NotFound for a tenant without policy.
func (s *Service) Describe(tenant string) (*TenantDescription, error) {
	if err := parseTenant(tenant); err != nil {
		return nil, err // a name no namespace can have is not echoed back in a 404
	}
	if !s.tenants.Ready() {
		return nil, ErrUnavailable
	}
	reports, ok := s.tenants.(Reports)
	if !ok {
		return nil, &NotFound{Tenant: tenant}
	}
	snap, rep := reports.Compiled(tenant)
	if snap == nil || rep == nil {
		return nil, &NotFound{Tenant: tenant}
	}
	doc := &TenantDescription{Tenant: tenant, Revision: snap.Revision, CompiledAt: snap.CompiledAt.UTC().Format(time.RFC3339Nano),
		Objects: []TenantObject{}, NotReady: []TenantObject{}, LoginPolicy: describeLogin(&snap.Login)}
	for _, o := range rep.Objects {
		d := TenantObject{Kind: o.Kind, Name: o.Name, Generation: o.Generation, InForce: o.InForce}
		if o.InForce {
			doc.Objects = append(doc.Objects, d)
		}
		if !o.Ready {
			d.Reason, d.Message = o.Reason, o.Message
			doc.NotReady = append(doc.NotReady, d)
		}
	}
	return doc, nil
}

func describeLogin(l *policy.LoginPolicy) TenantLoginPolicy {
	out := TenantLoginPolicy{
		Name: l.Name, AuthProviders: l.ProviderNames(), TwoFactor: l.TwoFactor.String(),
		LoginExpiration: durationString(l.LoginExpiration), IdleTimeout: durationString(l.IdleTimeout),
		Password: TenantPassword{MinLength: l.Password.MinLength, MinSpecialChars: l.Password.MinSpecialChars,
			MinDigits: l.Password.MinDigits, MinUppercase: l.Password.MinUppercase, MaxAge: durationString(l.Password.MaxAge)},
		PasswordEncryption: l.PasswordEncryption, MobileDynamicToken: l.MobileDynamicToken,
	}
	if l.TrustedDevices {
		out.TrustedDevicesFor = l.TrustedFor.String()
	}
	if !l.RevokeBefore.IsZero() {
		out.RevokeSessionsBefore = l.RevokeBefore.UTC().Format(time.RFC3339)
	}
	return out
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// TenantSummary is one tenant's state, for metrics.
type TenantSummary struct {
	Tenant, Revision string
	CompiledAt       time.Time
	// InForce and LeftOut count the tenant's objects enforced and not.
	InForce, LeftOut int
}

// Summaries describes every tenant briefly, in name order.
func (s *Service) Summaries() []TenantSummary {
	reports, ok := s.tenants.(Reports)
	if !ok {
		return nil
	}
	var out []TenantSummary
	for _, name := range reports.Names() {
		snap, rep := reports.Compiled(name)
		if snap == nil || rep == nil {
			continue
		}
		sum := TenantSummary{Tenant: name, Revision: snap.Revision, CompiledAt: snap.CompiledAt}
		for _, o := range rep.Objects {
			if o.InForce {
				sum.InForce++
			} else {
				sum.LeftOut++
			}
		}
		out = append(out, sum)
	}
	return out
}
