package service_test

import (
	"bytes"
	"encoding/json"
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

// hostile are seeds every decoder target starts from: the inputs that once turned a
// deny into an allow or a 5xx — case-folded and duplicate keys, invalid UTF-8, lone
// surrogates, escapes that spell a key, truncation, nesting.
var hostile = []string{
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","owner":"u-2"},"fields":["Stage"],"FIELDS":[]}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"fields":["Stage"],"fields":[]}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ſubject":{"user":"u-1","role":"SuperAdmin"}}`,
	`{"tenant":"acme","Subject":{"user":"u-1","role":"SuperAdmin"}}`,
	"{\"tenant\":\"acme\",\"subject\":{\"user\":\"u-\xff\",\"role\":\"SalesUser\"}}",
	`{"tenant":"acme","subject":{"user":"u-\ud800","role":"SalesUser"}}`,
	`{"tenant":"acme","\u0074enant":"globex"}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser","role":"SuperAdmin"}}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[{"action":"view","resource":{"entity":"leads","bogus":1}}]}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","issuedAt":"9999-12-31T23:59:59Z"}`,
	`{"tenant":"acme","password":"x","changedAt":"9999-12-31T23:59:59Z"}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"provider":"Password"}`,
	`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"}`, `{"tenant":"ac`, `{"tenant":[[[[[[[[[[[[]]]]]]]]]]]]}`,
	`{"tenant":"acme"} {}`, `{"tenant":"acme",}`, `{"tenant":null,"subject":null}`, "{\"tenant\":\"a\u0000\"}",
}

// fuzzDecoder runs body through Decode and decide as the HTTP handler does, and
// checks what must hold for every input: a refusal is an InvalidArgument naming what
// is wrong; an answer is JSON of the documented response type R, with no member that
// R does not document; check answers satisfy outcome through reasonOf.
func fuzzDecoder[Q any, R any](f *testing.F, seeds []string, decide func(*service.Service) func(*Q, *service.Reply) error, check func(t *testing.T, q *Q, r *R)) {
	for _, s := range append(seeds, hostile...) {
		f.Add([]byte(s))
	}
	svc := newService(f)
	var out service.Reply // reused, as the server's pool reuses it
	f.Fuzz(func(t *testing.T, body []byte) {
		var q Q
		if err := service.Decode(body, &q); err != nil {
			outcome(t, false, "", err)
			return
		}
		if err := decide(svc)(&q, &out); err != nil {
			outcome(t, false, "", err)
			return
		}
		var r R
		dec := json.NewDecoder(bytes.NewReader(out.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("answer %s is not a %T: %v", out.Body, r, err)
		}
		// The hand-written check answers read exactly as encoding/json writes them.
		if again, _ := json.Marshal(&r); !bytes.Equal(again, out.Body) {
			t.Fatalf("answer\n%s\nis not what encoding/json writes:\n%s", out.Body, again)
		}
		if len(out.Records) == 0 {
			t.Fatal("a decision without a record for the decision log")
		}
		check(t, &q, &r)
	})
}

func FuzzCheck(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","id":"L-1","owner":"u-2","sharedWith":["u-1"]},"fields":["Phone","Stage"],"emptyFields":["Phone"],"context":{"ip":"203.0.113.5","channel":"UI"},"explain":true}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"access","resource":{"feature":"Dashboard"}}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"users"}}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"view","resource":{"entity":"leads"},"context":{"ip":"::ffff:203.0.113.5","channel":"API"}}`,
		`{"tenant":"acme","subject":{"user":"u<\u2028>&\"","role":"SalesUser"},"action":"view","resource":{"entity":"leads","owner":"\ud83d\ude00"},"explain":true}`,
		`{"tenant":"","subject":{}}`, `[]`, `{"tenant":"acme","bulk":"yes"}`, `{"fields":[1,2]}`, ``, `{}{}`,
	}, func(s *service.Service) func(*service.CheckRequest, *service.Reply) error { return s.Check },
		func(t *testing.T, q *service.CheckRequest, r *service.CheckResponse) {
			outcome(t, r.Allowed, r.Reason, nil)
			if r.DecisionID == "" || r.DeniedFields == nil || r.Fields.Hidden == nil {
				t.Fatalf("response not in the documented shape: %+v", r)
			}
			if q.Explain != (len(r.Trace) > 0) {
				t.Fatalf("explain=%v with a trace of %d steps", q.Explain, len(r.Trace))
			}
		})
}

func FuzzChecks(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[{"action":"view","resource":{"entity":"leads","owner":"u-1"}},{"action":"access","resource":{"feature":"API"}}]}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[]}`,
	}, func(s *service.Service) func(*service.BatchRequest, *service.Reply) error { return s.Checks },
		func(t *testing.T, q *service.BatchRequest, r *service.BatchResponse) {
			if len(r.Results) != len(q.Checks) {
				t.Fatalf("%d results for %d checks", len(r.Results), len(q.Checks))
			}
			for _, res := range r.Results {
				outcome(t, res.Allowed, res.Reason, nil)
			}
		})
}

func FuzzFilter(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"},"action":"view","entity":"leads"}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"entity":"users"}`,
	}, func(s *service.Service) func(*service.FilterRequest, *service.Reply) error { return s.Filter },
		func(t *testing.T, _ *service.FilterRequest, r *service.FilterResponse) {
			if (r.Kind == engine.FilterNone) == (r.Reason == engine.Allowed) {
				t.Fatalf("kind %s with reason %s", r.Kind, r.Reason)
			}
			if r.Kind == engine.FilterConditional && len(r.Owners) == 0 {
				t.Fatal("a conditional plan with no owners")
			}
		})
}

func FuzzVisible(f *testing.F) {
	fuzzDecoder(f, []string{`{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"}}`},
		func(s *service.Service) func(*service.VisibleRequest, *service.Reply) error { return s.Visible },
		func(t *testing.T, _ *service.VisibleRequest, r *service.VisibleResponse) {
			if r.All && len(r.Users) > 0 {
				t.Fatal("all with a user list")
			}
		})
}

func FuzzLogin(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","provider":"Password","secondFactorVerified":true,"trustedDeviceSince":"2026-11-01T00:00:00Z"}`,
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"provider":"Okta"}`,
	}, func(s *service.Service) func(*service.LoginRequest, *service.Reply) error { return s.Login },
		func(t *testing.T, q *service.LoginRequest, r *service.LoginResponse) {
			outcome(t, r.Allowed, r.Reason, nil)
			if r.Allowed && !q.SecondFactorVerified && q.TrustedDeviceSince == "" {
				t.Fatal("a login allowed without the second factor the tenant requires")
			}
			if r.Allowed && q.IP == "" {
				t.Fatal("a login allowed without an address")
			}
		})
}

func FuzzSession(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"ip":"203.0.113.5","issuedAt":"2026-11-22T11:00:00Z","lastActivityAt":"2026-11-22T11:50:00Z"}`,
	}, func(s *service.Service) func(*service.SessionRequest, *service.Reply) error { return s.Session },
		func(t *testing.T, q *service.SessionRequest, r *service.SessionResponse) {
			outcome(t, r.Allowed, r.Reason, nil)
			if r.Allowed && q.IP == "" {
				t.Fatal("a session kept without an address")
			}
		})
}

func FuzzPassword(f *testing.F) {
	fuzzDecoder(f, []string{
		`{"tenant":"acme","password":"Longpassword1!","changedAt":"2026-01-01T00:00:00Z"}`,
		`{"tenant":"acme","password":"\u00e9\u00e9"}`,
	}, func(s *service.Service) func(*service.PasswordRequest, *service.Reply) error { return s.Password },
		func(t *testing.T, _ *service.PasswordRequest, r *service.PasswordResponse) {
			if r.Valid != (len(r.Violations) == 0 && r.Reason == "") {
				t.Fatalf("valid=%v with violations %v and reason %q", r.Valid, r.Violations, r.Reason)
			}
		})
}
