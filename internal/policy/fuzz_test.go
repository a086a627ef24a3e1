package policy_test

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// base is a small tenant every fuzzed object is added to.
const base = `
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: base-west, namespace: acme}
spec: {managers: [m-1], members: [u-1, u-2]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: base-reps, namespace: acme}
spec:
  appliesTo: {roles: [SalesUser]}
  entities: {leads: {view: {access: Partial, scope: Team, fields: [Income]}, maskedFields: [Phone]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: base-office, namespace: acme}
spec: {cidrs: ["203.0.113.0/24"]}
`

var seeds = []string{
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: PermissionTemplate, metadata: {name: t, namespace: acme}, spec: {appliesTo: {users: [u-1]}, restrictedFeatures: [API]}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: PermissionTemplate, metadata: {name: t, namespace: acme}, spec: {appliesTo: {roles: [Boss]}}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: PermissionTemplate, metadata: {name: t, namespace: acme}, spec: {appliesTo: {salesGroups: [base-west]}, entities: {leads: {delete: {access: Partial, fields: [x]}}}}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: PermissionTemplate, metadata: {name: t, namespace: acme}, spec: {appliesTo: {roles: [SalesManager]}, entities: {tasks: {view: {access: None}, markComplete: {scope: All}}, users: {edit: {access: Partial, fields: [EmployeeId]}}}}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: SalesGroup, metadata: {name: g, namespace: acme}, spec: {parent: g, members: [u-3]}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: SalesGroup, metadata: {name: g, namespace: acme}, spec: {parent: base-west, managers: [""]}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: IPAllowlist, metadata: {name: i, namespace: acme}, spec: {cidrs: ["10.0.0.1/8"]}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: IPAllowlist, metadata: {name: i, namespace: acme}, spec: {cidrs: ["::/0"], channels: [API], blockAnonymousProxies: true, anonymousProxyList: {configMapRef: {name: nope, key: k}}}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: LoginPolicy, metadata: {name: l, namespace: acme}, spec: {session: {idleTimeout: 13h, loginExpiration: 12h}}}`,
	`{apiVersion: policy.crmauthz.io/v1alpha1, kind: LoginPolicy, metadata: {name: l, namespace: acme}, spec: {authProviders: [Google], twoFactor: {mode: Required, trustedDevices: {enabled: true, validFor: "-1h"}}, passwordPolicy: {minLength: 200}}}`,
	`{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: acme}, data: {k: "1.2.3.4\nzz"}}`,
	"not: [valid",
}

// probes are the requests both snapshots are asked.
func probes() []engine.Request {
	var out []engine.Request
	ip := netip.MustParseAddr("203.0.113.9")
	for _, user := range []string{"u-1", "u-3", "m-1", "x"} {
		for role := policy.Role(0); role < policy.NumRoles; role++ {
			for e := policy.Entity(0); e < policy.NumEntities; e++ {
				for a := policy.Action(0); a < policy.NumRecordActions; a++ {
					if e.Accepts(a) {
						out = append(out, engine.Request{User: user, Role: role, Entity: e, Action: a, Owner: "u-2", Fields: []string{"Phone", "Income"}, IP: ip, Channel: policy.Channel(int(a) % 3)})
					}
				}
			}
			out = append(out, engine.Request{User: user, Role: role, Action: policy.ActionAccess, Feature: policy.Feature(int(role) * 3)})
		}
	}
	return out
}

// FuzzCompile feeds arbitrary documents to the compiler next to a valid tenant. It
// must never panic, must report every object, and an object it leaves out must change
// no decision.
func FuzzCompile(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	baseObjs, err := loader.Decode([]byte(base), "base")
	if err != nil {
		f.Fatal(err)
	}
	reqs := probes()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, doc []byte) {
		extra, err := loader.Decode(doc, "fuzz")
		if err != nil {
			return // refused before compiling, as serve and validate refuse it
		}
		// Callers refuse a second object of the same name (loader.Unique); the compiler
		// keeps the first. Count what it is given once.
		all, _ := loader.Unique(append(append([]loader.Object{}, baseObjs...), extra...), "acme")
		with := loader.Tenants(all, "acme")["acme"]
		without := loader.Tenants(baseObjs, "acme")["acme"]
		with.Now, without.Now = now, now
		s1, rep := policy.Compile(*with)
		s2, _ := policy.Compile(*without)
		if s1.Revision == "" {
			t.Fatal("no revision")
		}
		n := len(with.Templates) + len(with.Groups) + len(with.LoginPolicies) + len(with.Allowlists)
		if len(rep.Objects) != n {
			t.Fatalf("%d objects reported, %d compiled", len(rep.Objects), n)
		}
		var d1, d2 engine.Decision
		for i := range reqs {
			engine.Check(s1, &reqs[i], &d1)
			if d1.Reason == "" || (d1.Allowed != (d1.Reason == engine.Allowed)) {
				t.Fatalf("inconsistent decision %+v", d1)
			}
		}
		// An object left out must leave the decisions as they were.
		for _, o := range extra {
			if ns := o.Typed.GetNamespace(); ns != "acme" && ns != "" {
				continue
			}
			if o.Kind() == "ConfigMap" {
				return
			}
			st := rep.Find(o.Kind(), o.Typed.GetName())
			if st == nil || st.InForce {
				return
			}
		}
		for i := range reqs {
			engine.Check(s1, &reqs[i], &d1)
			engine.Check(s2, &reqs[i], &d2)
			if d1.Allowed != d2.Allowed || d1.Reason != d2.Reason || d1.Template != d2.Template || !reflect.DeepEqual(d1.DeniedFields, d2.DeniedFields) {
				t.Fatalf("an object left out changed a decision: request %+v: %+v vs %+v", reqs[i], d1, d2)
			}
		}
	})
}
