package service_test

// Request limits at their edges (docs/api.md), found by mutation testing (make mutate):
// the largest request allowed is decided, one more is refused naming the field.

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
)

type noTenants struct{}

func (noTenants) Snapshot(string) *policy.Snapshot { return nil }
func (noTenants) Ready() bool                      { return true }

var limitsNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func manyNames(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strings.Repeat("x", i%7)
	}
	return out
}

func replaced(list []string, i int, name string) []string {
	list = append([]string(nil), list...)
	list[i] = name
	return list
}

func limitBody(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func limitCheck(mod func(map[string]any)) map[string]any {
	q := map[string]any{"tenant": "acme", "subject": map[string]any{"user": "u-1", "role": "SalesUser"},
		"action": "edit", "resource": map[string]any{"entity": "leads", "owner": "u-2"}}
	mod(q)
	return q
}

func withResource(key string, v any) func(map[string]any) {
	return func(q map[string]any) { q["resource"].(map[string]any)[key] = v }
}

func withKey(key string, v any) func(map[string]any) { return func(q map[string]any) { q[key] = v } }

func limitBatch(n int, bad int) map[string]any {
	items := make([]any, n)
	for i := range items {
		items[i] = map[string]any{"action": "view", "resource": map[string]any{"entity": "leads"}}
	}
	if bad >= 0 {
		items[bad] = map[string]any{"action": "fly", "resource": map[string]any{"entity": "leads"}}
	}
	return map[string]any{"tenant": "acme", "subject": map[string]any{"user": "u-1", "role": "SalesUser"}, "checks": items}
}

func TestRequestLimits(t *testing.T) {
	long, tooLong := strings.Repeat("n", service.MaxNameLength), strings.Repeat("n", service.MaxNameLength+1)
	full := manyNames(service.MaxListItems, "f")
	svc := service.New(noTenants{}, func() time.Time { return limitsNow })
	checkEP := func(b []byte) error { _, err := service.Answer(b, svc.Check); return err }
	checksEP := func(b []byte) error { _, err := service.Answer(b, svc.Checks); return err }
	sessionEP := func(b []byte) error { _, err := service.Answer(b, svc.Session); return err }
	passwordEP := func(b []byte) error { _, err := service.Answer(b, svc.Password); return err }
	session := func(issued time.Time) map[string]any {
		return map[string]any{"tenant": "acme", "subject": map[string]any{"user": "u-1", "role": "SalesUser"},
			"ip": "203.0.113.5", "issuedAt": issued.Format(time.RFC3339)}
	}
	for _, tc := range []struct {
		name string
		call func([]byte) error
		q    map[string]any
		// field is the path the error names; "" means decided.
		field string
	}{
		{"a tenant of the longest name", checkEP, limitCheck(withKey("tenant", long)), ""},
		{"a tenant one character longer", checkEP, limitCheck(withKey("tenant", tooLong)), "tenant"},
		{"a user one character too long", checkEP, limitCheck(withKey("subject", map[string]any{"user": tooLong, "role": "SalesUser"})), "subject.user"},
		{"ids, owners and types of the longest name", checkEP, limitCheck(func(q map[string]any) {
			withResource("id", long)(q)
			withResource("owner", long)(q)
			withResource("type", long)(q)
		}), ""},
		{"an id too long", checkEP, limitCheck(withResource("id", tooLong)), "resource.id"},
		{"an owner too long", checkEP, limitCheck(withResource("owner", tooLong)), "resource.owner"},
		{"a type too long", checkEP, limitCheck(withResource("type", tooLong)), "resource.type"},
		{"lists of the most items", checkEP, limitCheck(func(q map[string]any) {
			q["fields"], q["emptyFields"] = full, full
			withResource("sharedWith", full)(q)
		}), ""},
		{"fields, one item too many", checkEP, limitCheck(withKey("fields", append(full, "g"))), "fields"},
		{"emptyFields, one item too many", checkEP, limitCheck(withKey("emptyFields", append(full, "g"))), "emptyFields"},
		{"sharedWith, one item too many", checkEP, limitCheck(withResource("sharedWith", append(full, "g"))), "resource.sharedWith"},
		{"the first field too long", checkEP, limitCheck(withKey("fields", replaced(full, 0, tooLong))), "fields[0]"},
		{"the last field too long", checkEP, limitCheck(withKey("fields", replaced(full, 999, tooLong))), "fields[999]"},
		{"a field of the longest name", checkEP, limitCheck(withKey("fields", []string{long})), ""},
		{"an empty field too long", checkEP, limitCheck(withKey("emptyFields", []string{"a", tooLong})), "emptyFields[1]"},
		{"a sharer too long", checkEP, limitCheck(withResource("sharedWith", replaced(manyNames(20, "u"), 12, tooLong))), "resource.sharedWith[12]"},
		{"create, edit and delete may be bulk", checkEP, limitCheck(withKey("bulk", true)), ""},
		{"a bulk delete", checkEP, limitCheck(func(q map[string]any) { q["bulk"], q["action"] = true, "delete" }), ""},
		{"a bulk create", checkEP, limitCheck(func(q map[string]any) {
			q["bulk"], q["action"] = true, "create"
			delete(q["resource"].(map[string]any), "owner")
		}), ""},
		{"a bulk export", checkEP, limitCheck(func(q map[string]any) { q["bulk"], q["action"] = true, "export" }), "bulk"},
		{"a batch of the most checks", checksEP, limitBatch(service.MaxBatch, -1), ""},
		{"a batch one check too long", checksEP, limitBatch(service.MaxBatch+1, -1), fmt.Sprintf("checks[%d]", service.MaxBatch)},
		{"a bad check late in a batch", checksEP, limitBatch(service.MaxBatch, 57), "checks[57].action"},
		{"a bad first check", checksEP, limitBatch(3, 0), "checks[0].action"},
		{"a session issued as far ahead as clocks may differ", sessionEP, session(limitsNow.Add(service.MaxClockSkew)), ""},
		{"a session issued a second further", sessionEP, session(limitsNow.Add(service.MaxClockSkew + time.Second)), "issuedAt"},
		{"the longest password", passwordEP, map[string]any{"tenant": "acme", "password": strings.Repeat("p", 4096)}, ""},
		{"a password one byte longer", passwordEP, map[string]any{"tenant": "acme", "password": strings.Repeat("p", 4097)}, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(limitBody(t, tc.q))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want a decision, got %v", err)
				}
				return
			}
			ia, ok := service.AsInvalid(err)
			if !ok || ia.Field != tc.field {
				t.Fatalf("want an error naming %s, got %v", tc.field, err)
			}
		})
	}
}

// Every decision is recorded for the decision log with its target (the entity, or the
// feature of an access check) and an id whose counter counts up in hex.
func TestRecordsTargetsAndIDs(t *testing.T) {
	svc := service.New(noTenants{}, func() time.Time { return limitsNow })
	var out service.Reply
	var last uint64
	for i := range 40 {
		q := service.CheckRequest{Tenant: "acme", Subject: service.Subject{User: "u-1", Role: "SalesUser"},
			Action: "view", Resource: service.Resource{Entity: "leads"}}
		want := "leads"
		if i%2 == 1 {
			q.Action, q.Resource = "access", service.Resource{Feature: "Dashboard"}
			want = "Dashboard"
		}
		if err := svc.Check(&q, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != 1 {
			t.Fatalf("%d records, want 1", len(out.Records))
		}
		rec := out.Records[0]
		if rec.Endpoint != "check" || rec.Target != want || rec.Action != q.Action || rec.Allowed {
			t.Errorf("record %+v, want check of %s %s, denied", rec, q.Action, want)
		}
		id := rec.ID.String()
		prefix, counter, ok := strings.Cut(id, "-")
		n, err := strconv.ParseUint(counter, 16, 64)
		if !ok || prefix == "" || err != nil || (i > 0 && n != last+1) {
			t.Fatalf("decision id %q after counter %x: want prefix-counter, counting up in hex", id, last)
		}
		last = n
	}
}

// compiledTenants serves compiled tenants and their reports, as the manager does.
type compiledTenants map[string]struct {
	snap *policy.Snapshot
	rep  *policy.Report
}

func (c compiledTenants) Snapshot(n string) *policy.Snapshot { return c[n].snap }
func (compiledTenants) Ready() bool                          { return true }
func (c compiledTenants) Compiled(n string) (*policy.Snapshot, *policy.Report) {
	return c[n].snap, c[n].rep
}
func (c compiledTenants) Names() []string {
	var out []string
	for n := range c {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func compileTenants(t *testing.T, docs string) compiledTenants {
	t.Helper()
	objs, err := loader.Decode([]byte(docs), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	out := compiledTenants{}
	for ns, in := range loader.Tenants(objs, "acme") {
		in.Now = limitsNow
		snap, rep := policy.Compile(*in)
		out[ns] = struct {
			snap *policy.Snapshot
			rep  *policy.Report
		}{snap, rep}
	}
	return out
}

const describedYAML = `
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west}
spec: {members: [u-1]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: broken}
spec: {appliesTo: {roles: [SuperAdmin]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: LoginPolicy
metadata: {name: login}
spec:
  authProviders: [Google]
  twoFactor: {mode: Required, trustedDevices: {enabled: true, validFor: 720h}}
  session: {revokeSessionsBefore: "2026-11-20T00:00:00Z"}
  passwordPolicy: {minLength: 12}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: east, namespace: initech}
spec: {members: [u-2]}
`

// A tenant's description lists what is in force and what is not, with why, and the
// login policy in force; the summaries count both, per tenant in name order.
func TestDescribeAndSummaries(t *testing.T) {
	ts := compileTenants(t, describedYAML)
	svc := service.New(ts, nil)
	d, err := svc.Describe("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Objects) != 2 || d.Objects[0].Name != "login" || d.Objects[1].Name != "west" || !d.Objects[0].InForce {
		t.Errorf("objects in force %+v, want login and west", d.Objects)
	}
	if len(d.NotReady) != 1 || d.NotReady[0].Name != "broken" || d.NotReady[0].InForce || d.NotReady[0].Reason != "Invalid" ||
		!strings.Contains(d.NotReady[0].Message, "spec.appliesTo.roles[0]") {
		t.Errorf("not ready %+v, want broken, Invalid at spec.appliesTo.roles[0]", d.NotReady)
	}
	l := d.LoginPolicy
	if l.Name != "login" || strings.Join(l.AuthProviders, ",") != "Google" || l.TwoFactor != "Required" || l.TrustedDevicesFor != "720h0m0s" ||
		l.RevokeSessionsBefore != "2026-11-20T00:00:00Z" || l.LoginExpiration != "" || l.Password.MinLength != 12 || l.Password.MaxAge != "" {
		t.Errorf("login policy %+v", l)
	}
	d2, err := svc.Describe("initech")
	if err != nil || d2.LoginPolicy.Name != "" || d2.LoginPolicy.TrustedDevicesFor != "" || d2.LoginPolicy.RevokeSessionsBefore != "" || len(d2.NotReady) != 0 {
		t.Errorf("initech: %+v, %v; want the default login policy and nothing left out", d2, err)
	}
	if _, err := svc.Describe("nobody"); err == nil {
		t.Error("an unknown tenant was described")
	} else if nf := (*service.NotFound)(nil); !errors.As(err, &nf) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("want NotFound naming the tenant, got %v", err)
	}
	sums := svc.Summaries()
	if len(sums) != 2 || sums[0].Tenant != "acme" || sums[0].InForce != 2 || sums[0].LeftOut != 1 ||
		sums[1].Tenant != "initech" || sums[1].InForce != 1 || sums[1].LeftOut != 0 || sums[0].Revision != d.Revision {
		t.Errorf("summaries %+v", sums)
	}
}

// /v1/filter names entity errors by its own field, and records whether anything may
// be listed.
func TestFilterErrorsAndRecords(t *testing.T) {
	svc := service.New(compileTenants(t, describedYAML), nil)
	var out service.Reply
	q := service.FilterRequest{Tenant: "acme", Subject: service.Subject{User: "u-1", Role: "SalesUser"}, Entity: "widgets"}
	if ia, ok := service.AsInvalid(svc.Filter(&q, &out)); !ok || ia.Field != "entity" {
		t.Errorf("unknown entity: want an error naming entity, got %v", ia)
	}
	for _, tc := range []struct {
		tenant, entity string
		allowed        bool
	}{{"acme", "leads", true}, {"acme", "users", false}, {"nobody", "leads", false}} {
		q := service.FilterRequest{Tenant: tc.tenant, Subject: service.Subject{User: "u-1", Role: "MarketingUser"}, Action: "edit", Entity: tc.entity}
		if tc.entity == "users" {
			q.Action = "create"
		}
		if err := svc.Filter(&q, &out); err != nil {
			t.Fatal(err)
		}
		if rec := out.Records[0]; rec.Endpoint != "filter" || rec.Allowed != tc.allowed || rec.Target != tc.entity {
			t.Errorf("%s %s: record %+v, want allowed=%v", tc.tenant, tc.entity, rec, tc.allowed)
		}
	}
}

// A batch answered into a reused Reply allocates nothing once the Reply has held a
// batch as large (the hot path's promise, service.Reply).
func TestBatchIntoAReusedReplyDoesNotAllocate(t *testing.T) {
	svc := service.New(noTenants{}, nil)
	q := service.BatchRequest{Tenant: "acme", Subject: service.Subject{User: "u-1", Role: "SalesUser"}}
	for range 4 {
		q.Checks = append(q.Checks, service.BatchItem{Action: "view", Resource: service.Resource{Entity: "leads"}})
	}
	var out service.Reply
	if err := svc.Checks(&q, &out); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { _ = svc.Checks(&q, &out) }); n != 0 {
		t.Errorf("a batch of %d allocates %.0f times", len(q.Checks), n)
	}
}
