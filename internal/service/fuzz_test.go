package service_test

import (
	"errors"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
)

const tenantYAML = `
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west, namespace: acme}
spec: {managers: [m-1], members: [u-1, u-2]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: reps, namespace: acme}
spec:
  appliesTo: {roles: [SalesUser]}
  restrictedFeatures: [API]
  entities: {leads: {view: {access: Partial, scope: Team, fields: [Income]}, maskedFields: [Phone], ownerOnlyFields: [Stage]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: office, namespace: acme}
spec: {cidrs: ["203.0.113.0/24", "2001:db8::/32"]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: LoginPolicy
metadata: {name: login, namespace: acme}
spec: {twoFactor: {mode: Required}, session: {loginExpiration: 12h, idleTimeout: 30m}}
`

type tenants map[string]*policy.Snapshot

func (t tenants) Snapshot(n string) *policy.Snapshot { return t[n] }
func (tenants) Ready() bool                          { return true }

func newService(tb testing.TB) *service.Service {
	objs, err := loader.Decode([]byte(tenantYAML), "tenant")
	if err != nil {
		tb.Fatal(err)
	}
	ts := tenants{}
	for ns, in := range loader.Tenants(objs, "acme") {
		ts[ns], _ = policy.Compile(*in)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	return service.New(ts, func() time.Time { return now })
}

var reasons = map[engine.Reason]bool{}

func init() {
	for _, r := range []engine.Reason{engine.Allowed, engine.UnknownTenant, engine.FeatureRestricted, engine.IPNotAllowed,
		engine.AnonymousProxy, engine.TypeHidden, engine.ActionDenied, engine.OutOfScope, engine.BulkDenied,
		engine.FieldRestricted, engine.ProviderNotAllowed, engine.SecondFactorRequired, engine.LoginExpired,
		engine.IdleTimeout, engine.Revoked} {
		reasons[r] = true
	}
}

// outcome checks what every decoder must guarantee: a refusal is an InvalidArgument
// naming what is wrong, a decision carries a known reason and never allows without
// saying Allowed.
func outcome(t *testing.T, allowed bool, reason engine.Reason, err error) {
	t.Helper()
	if err != nil {
		var ia *service.InvalidArgument
		if !errors.As(err, &ia) || ia.Message == "" {
			t.Fatalf("error is not an InvalidArgument with a message: %#v", err)
		}
		return
	}
	if !reasons[reason] {
		t.Fatalf("unknown reason %q", reason)
	}
	if allowed != (reason == engine.Allowed) {
		t.Fatalf("allowed=%v with reason %s", allowed, reason)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","id":"L-1","owner":"u-2","sharedWith":["u-1"]},"fields":["Phone","Stage"],"emptyFields":["Phone"],"context":{"ip":"203.0.113.5","channel":"UI"},"explain":true}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"access","resource":{"feature":"Dashboard"}}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"users"}}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"leads"},"context":{"ip":"::ffff:203.0.113.5","channel":"API"}}`,
		`{"tenant":"","subject":{}}`, `[]`, `{"tenant":"acme","bulk":"yes"}`, `{"fields":[1,2]}`, ``, `{}{}`,
	} {
		f.Add([]byte(s))
	}
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.CheckRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, _, err := svc.Check(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		outcome(t, resp.Allowed, resp.Reason, nil)
		if resp.DecisionID == "" || resp.DeniedFields == nil || resp.Fields.Hidden == nil {
			t.Fatalf("response not in the documented shape: %+v", resp)
		}
	})
}

func FuzzChecks(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[{"action":"view","resource":{"entity":"leads","owner":"u-1"}},{"action":"access","resource":{"feature":"API"}}]}`))
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[]}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.BatchRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, _, err := svc.Checks(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		if len(resp.Results) != len(q.Checks) {
			t.Fatalf("%d results for %d checks", len(resp.Results), len(q.Checks))
		}
		for _, r := range resp.Results {
			outcome(t, r.Allowed, r.Reason, nil)
		}
	})
}

func FuzzFilter(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"},"action":"view","entity":"leads"}`))
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"entity":"users"}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.FilterRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, err := svc.Filter(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		if (resp.Kind == engine.FilterNone) == (resp.Reason == engine.Allowed) {
			t.Fatalf("kind %s with reason %s", resp.Kind, resp.Reason)
		}
		if resp.Kind == engine.FilterConditional && len(resp.Owners) == 0 {
			t.Fatal("a conditional plan with no owners")
		}
	})
}

func FuzzVisible(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"}}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.VisibleRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, err := svc.Visible(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		if resp.All && len(resp.Users) > 0 {
			t.Fatal("all with a user list")
		}
	})
}

func FuzzLogin(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","provider":"Password","secondFactorVerified":true,"trustedDeviceSince":"2026-11-01T00:00:00Z"}`))
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"provider":"Okta"}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.LoginRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, err := svc.Login(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		outcome(t, resp.Allowed, resp.Reason, nil)
		if resp.Allowed && !q.SecondFactorVerified && q.TrustedDeviceSince == "" {
			t.Fatal("a login allowed without the second factor the tenant requires")
		}
	})
}

func FuzzSession(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","issuedAt":"2026-11-22T11:00:00Z","lastActivityAt":"2026-11-22T11:50:00Z"}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.SessionRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, err := svc.Session(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		outcome(t, resp.Allowed, resp.Reason, nil)
	})
}

func FuzzPassword(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","password":"Longpassword1!","changedAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"tenant":"acme","password":"\u00e9\u00e9"}`))
	svc := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q service.PasswordRequest
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		resp, err := svc.Password(&q)
		if err != nil {
			outcome(t, false, "", err)
			return
		}
		if resp.Valid != (len(resp.Violations) == 0 && resp.Reason == "") {
			t.Fatalf("valid=%v with violations %v and reason %q", resp.Valid, resp.Violations, resp.Reason)
		}
	})
}
