package server

import (
	"time"

	"github.com/crmauthz/crmauthz/internal/tenants"
)

// tenantDoc is GET /v1/tenants/{tenant}: the revision in force, the objects with the
// generation enforced, those left out and why, and the effective LoginPolicy that
// login pages need.
type tenantDoc struct {
	Tenant      string         `json:"tenant"`
	Revision    string         `json:"revision"`
	CompiledAt  string         `json:"compiledAt"`
	Objects     []objectDoc    `json:"objects"`
	NotReady    []objectDoc    `json:"notReady"`
	LoginPolicy loginPolicyOut `json:"loginPolicy"`
}

type objectDoc struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	InForce    bool   `json:"inForce"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`
}

type loginPolicyOut struct {
	Name                 string      `json:"name,omitempty"`
	AuthProviders        []string    `json:"authProviders"`
	TwoFactor            string      `json:"twoFactor"`
	TrustedDevicesFor    string      `json:"trustedDevicesValidFor,omitempty"`
	LoginExpiration      string      `json:"loginExpiration,omitempty"`
	IdleTimeout          string      `json:"idleTimeout,omitempty"`
	RevokeSessionsBefore string      `json:"revokeSessionsBefore,omitempty"`
	Password             passwordOut `json:"passwordPolicy"`
	PasswordEncryption   bool        `json:"passwordEncryption"`
	MobileDynamicToken   bool        `json:"mobileDynamicToken"`
}

type passwordOut struct {
	MinLength       int    `json:"minLength"`
	MinSpecialChars int    `json:"minSpecialChars"`
	MinDigits       int    `json:"minDigits"`
	MinUppercase    int    `json:"minUppercase"`
	MaxAge          string `json:"maxAge,omitempty"`
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func describeTenant(name string, t *tenants.Tenant) tenantDoc {
	s := t.Snapshot
	doc := tenantDoc{Tenant: name, Revision: s.Revision, CompiledAt: s.CompiledAt.UTC().Format(time.RFC3339Nano), Objects: []objectDoc{}, NotReady: []objectDoc{}}
	for _, o := range t.Report.Objects {
		d := objectDoc{Kind: o.Kind, Name: o.Name, Generation: o.Generation, InForce: o.InForce}
		if o.InForce {
			doc.Objects = append(doc.Objects, d)
		}
		if !o.Ready {
			d.Reason, d.Message = o.Reason, o.Message
			doc.NotReady = append(doc.NotReady, d)
		}
	}
	l := &s.Login
	out := loginPolicyOut{
		Name: l.Name, AuthProviders: l.ProviderNames(), TwoFactor: l.TwoFactor.String(),
		LoginExpiration: durationString(l.LoginExpiration), IdleTimeout: durationString(l.IdleTimeout),
		Password: passwordOut{MinLength: l.Password.MinLength, MinSpecialChars: l.Password.MinSpecialChars,
			MinDigits: l.Password.MinDigits, MinUppercase: l.Password.MinUppercase, MaxAge: durationString(l.Password.MaxAge)},
		PasswordEncryption: l.PasswordEncryption, MobileDynamicToken: l.MobileDynamicToken,
	}
	if l.TrustedDevices {
		out.TrustedDevicesFor = l.TrustedFor.String()
	}
	if !l.RevokeBefore.IsZero() {
		out.RevokeSessionsBefore = l.RevokeBefore.UTC().Format(time.RFC3339)
	}
	doc.LoginPolicy = out
	return doc
}
