package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
)

// The AuthZEN 1.0 endpoints, tested as the OpenID certification scenario for AuthZEN
// 1.0 tests a PDP (its test ids in the names): Basic, Batch, Search and Discovery. Its
// fixture (alice, bob, record-1) is not a CRM policy, so the protocol checks run on
// this package's fixture, and every decision is held to the native API's answer to
// the same question (never to a value written here).

const azBase = "/tenants/acme/access/v1/"

// azPolicy is the server tests' policy and a template that restricts features.
const azPolicy = policyYAML + `---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: marketing, namespace: acme}
spec:
  appliesTo: {roles: [MarketingUser]}
  restrictedFeatures: [Reports, Workflow]
`

// azPost sends an AuthZEN request as a PEP would: application/json unless headers
// (pairs of name and value) say otherwise.
func (f *fixture) azPost(path, body string, headers ...string) (int, http.Header, string) {
	return f.request("POST", path, body, append([]string{"Content-Type", "application/json"}, headers...)...)
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return m
}

// question is one access question, asked in both APIs.
type question struct {
	user, role, action string
	// entity and owner for a record; feature for action access
	entity, owner, feature string
	fields                 []string
}

func (q question) native() string {
	res := map[string]any{"entity": q.entity, "id": "L-1", "owner": q.owner}
	if q.feature != "" {
		res = map[string]any{"feature": q.feature}
	}
	b, _ := json.Marshal(map[string]any{"tenant": "acme", "subject": map[string]any{"user": q.user, "role": q.role},
		"action": q.action, "resource": res, "fields": q.fields})
	return string(b)
}

func (q question) subject() map[string]any {
	return map[string]any{"type": "user", "id": q.user, "properties": map[string]any{"role": q.role}}
}

func (q question) resource() map[string]any {
	if q.feature != "" {
		return map[string]any{"type": "feature", "id": q.feature}
	}
	return map[string]any{"type": q.entity, "id": "L-1", "properties": map[string]any{"owner": q.owner, "fields": q.fields}}
}

func (q question) authzen(extra map[string]any) string {
	m := map[string]any{"subject": q.subject(), "action": map[string]any{"name": q.action}, "resource": q.resource()}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// nativeAnswer is the native API's answer to q.
func (f *fixture) nativeAnswer(t *testing.T, q question) map[string]any {
	t.Helper()
	code, body := f.do("POST", "/v1/check", q.native())
	if code != http.StatusOK {
		t.Fatalf("native check %s: %d %s", q.native(), code, body)
	}
	return decode(t, body)
}

// expectAgrees holds an AuthZEN decision to the native answer to the same question.
func expectAgrees(g Gomega, got, native map[string]any, what string) {
	g.Expect(got["decision"]).To(Equal(native["allowed"]), what)
	ctx, _ := got["context"].(map[string]any)
	g.Expect(ctx).To(HaveKey("id"), what)
	ra, _ := ctx["reason_admin"].(map[string]any)
	g.Expect(ra["reason"]).To(Equal(native["reason"]), what)
	g.Expect(ra["message"]).To(Equal(native["message"]), what)
	g.Expect(ra["revision"]).To(Equal(native["revision"]), what)
	g.Expect(ctx["deniedFields"]).To(Equal(native["deniedFields"]), what)
}

// questions are asked about this package's fixture; between them they are allowed and
// denied (TestAuthZENBasic checks that, so agreement is not vacuous).
var questions = []question{
	{user: "u-1", role: "SalesUser", action: "view", entity: "leads", owner: "u-1"},
	{user: "u-1", role: "SalesUser", action: "edit", entity: "leads", owner: "u-2", fields: []string{"Stage"}},
	{user: "m-1", role: "SalesManager", action: "edit", entity: "leads", owner: "u-2", fields: []string{"Stage"}},
	{user: "u-1", role: "SalesUser", action: "delete", entity: "accounts", owner: "u-9"},
	{user: "u-1", role: "MarketingUser", action: "access", feature: "Reports"},
	{user: "u-1", role: "SalesUser", action: "access", feature: "Dashboard"},
}

func TestAuthZENBasic(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	seen := map[any]bool{}
	for _, q := range questions {
		native := f.nativeAnswer(t, q)
		seen[native["allowed"]] = true
		// c-2-2-1/2 (fixture decisions), c-2-2-3 (context), c-2-2-8 (more properties),
		// c-2-2-9 (unknown members): each answered as the native API answers.
		for name, extra := range map[string]map[string]any{
			"plain":           nil,
			"context":         {"context": map[string]any{"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}},
			"unknown members": {"foo": "bar", "futureField": map[string]any{"nested": true}},
		} {
			code, _, body := f.azPost(azBase+"evaluation", q.authzen(extra))
			g.Expect(code).To(Equal(http.StatusOK), body)
			expectAgrees(g, decode(t, body), native, name+": "+q.authzen(extra))
		}
		more := decode(t, q.authzen(nil))
		more["subject"].(map[string]any)["properties"].(map[string]any)["department"] = "Sales"
		more["action"].(map[string]any)["properties"] = map[string]any{"method": "GET"}
		more["resource"].(map[string]any)["properties"] = map[string]any{"owner": q.owner, "fields": q.fields, "status": "active"}
		if q.feature != "" {
			more["resource"].(map[string]any)["properties"] = map[string]any{"status": "active"}
		}
		b, _ := json.Marshal(more)
		code, _, body := f.azPost(azBase+"evaluation", string(b))
		g.Expect(code).To(Equal(http.StatusOK), body)
		expectAgrees(g, decode(t, body), native, "more properties: "+string(b))
	}
	g.Expect(seen).To(HaveLen(2), "the questions are both allowed and denied")

	// c-2-3: decision is a boolean, context an object; fields on record checks.
	_, _, body := f.azPost(azBase+"evaluation", questions[0].authzen(nil))
	got := decode(t, body)
	g.Expect(got["decision"]).To(BeAssignableToTypeOf(true))
	g.Expect(got["context"]).To(HaveKeyWithValue("fields", map[string]any{"hidden": []any{}, "masked": []any{}}))

	// c-2-6: idempotency.
	native := f.nativeAnswer(t, questions[1])
	for range 3 {
		_, _, again := f.azPost(azBase+"evaluation", questions[1].authzen(nil))
		g.Expect(decode(t, again)["decision"]).To(Equal(native["allowed"]))
	}
}

func TestAuthZENBasicErrors(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	ok := `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`
	code, _, body := f.azPost(azBase+"evaluation", ok)
	g.Expect(code).To(Equal(http.StatusOK), body)
	// c-2-4-1, c-2-4-2, c-2-4-6, and a member given twice: 400 naming the member.
	for field, bad := range map[string]string{
		"subject":                 `{"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"action":                  `{"subject":{"type":"user","id":"u-1"},"resource":{"type":"leads","id":"L-1"}}`,
		"resource":                `{"subject":{"type":"user","id":"u-1"},"action":{"name":"view"}}`,
		"subject.type":            `{"subject":{"id":"u-1"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"subject.id":              `{"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"action.name":             `{"subject":{"type":"user","id":"u-1"},"action":{},"resource":{"type":"leads","id":"L-1"}}`,
		"resource.type":           `{"subject":{"type":"user","id":"u-1"},"action":{"name":"view"},"resource":{"id":"L-1"}}`,
		"resource.id":             `{"subject":{"type":"user","id":"u-1"},"action":{"name":"view"},"resource":{"type":"leads"}}`,
		"subject ":                `{"subject":"u-1","action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"action.name ":            `{"subject":{"type":"user","id":"u-1"},"action":{"name":123},"resource":{"type":"leads","id":"L-1"}}`,
		"action  ":                `{"subject":{"type":"user","id":"u-1"},"action":{"name":"view"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"subject.properties.role": `{"subject":{"type":"user","id":"u-1","properties":{"role":7}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
	} {
		code, _, body := f.azPost(azBase+"evaluation", bad)
		g.Expect(code).To(Equal(http.StatusBadRequest), bad)
		g.Expect(decode(t, body)).To(HaveKeyWithValue("error", HaveKeyWithValue("field", strings.TrimSpace(field))), bad)
	}
	// c-2-4-3, c-2-4-4, c-2-4-5: not application/json, not JSON, empty.
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
		code, _, body := f.azPost(azBase+"evaluation", ok, "Content-Type", ct)
		g.Expect(code).To(Equal(http.StatusBadRequest), ct)
		g.Expect(body).To(ContainSubstring("Content-Type must be application/json"))
	}
	code, _, _ = f.azPost(azBase+"evaluation", ok, "Content-Type", "application/json; charset=utf-8")
	g.Expect(code).To(Equal(http.StatusOK), "a charset parameter is still JSON")
	for _, bad := range []string{"", "{", "[]", `{"subject":`, ok + "{}"} {
		code, _, _ := f.azPost(azBase+"evaluation", bad)
		g.Expect(code).To(Equal(http.StatusBadRequest), bad)
	}
	// c-2-5: X-Request-ID is echoed, on answers and errors; without one nothing fails.
	_, h, _ := f.azPost(azBase+"evaluation", ok, "X-Request-ID", "bfe9eb29-ab87")
	g.Expect(h.Get("X-Request-ID")).To(Equal("bfe9eb29-ab87"))
	_, h, _ = f.azPost(azBase+"evaluation", "{", "X-Request-ID", "r-2")
	g.Expect(h.Get("X-Request-ID")).To(Equal("r-2"))
	code, h, _ = f.azPost(azBase+"evaluation", ok)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(h.Get("X-Request-ID")).To(BeEmpty())
}

// TestAuthZENUndecidable: what the request names but this PDP cannot decide is a
// decision false saying why, never a 400 and never an allow.
func TestAuthZENUndecidable(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	for field, body := range map[string]string{
		"subject.properties.role":  `{"subject":{"type":"user","id":"u-1"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"subject.properties.role ": `{"subject":{"type":"user","id":"u-1","properties":{"role":"Boss"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"subject.type":             `{"subject":{"type":"group","id":"west","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"action.name":              `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"fly"},"resource":{"type":"leads","id":"L-1"}}`,
		"action.name ":             `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"feature","id":"Dashboard"}}`,
		"resource.type":            `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"record","id":"record-1"}}`,
		"resource.type ":           `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"access"},"resource":{"type":"leads","id":"L-1"}}`,
		"resource.id":              `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"access"},"resource":{"type":"feature","id":"Teleport"}}`,
		"resource.properties.bulk": `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1","properties":{"bulk":true}}}`,
		"context.ip":               `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"},"context":{"ip":"nowhere"}}`,
	} {
		code, _, answer := f.azPost(azBase+"evaluation", body)
		g.Expect(code).To(Equal(http.StatusOK), body)
		got := decode(t, answer)
		g.Expect(got["decision"]).To(BeFalse(), body)
		ctx := got["context"].(map[string]any)
		g.Expect(ctx["reason_admin"]).To(And(HaveKeyWithValue("reason", "InvalidArgument"), HaveKeyWithValue("field", strings.TrimSpace(field))), body)
		g.Expect(ctx["error"]).To(HaveKeyWithValue("status", 400.0), body)
		g.Expect(ctx).NotTo(HaveKey("fields"), "nothing was decided")
	}
	g.Expect(f.log.String()).To(ContainSubstring(`"endpoint":"authzen/evaluation"`))
	g.Expect(f.log.String()).To(ContainSubstring(`"reason":"InvalidArgument"`))
}

func azItems(items ...map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

func TestAuthZENBatch(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	evaluations := func(req map[string]any) []any {
		b, _ := json.Marshal(req)
		code, _, body := f.azPost(azBase+"evaluations", string(b))
		g.Expect(code).To(Equal(http.StatusOK), string(b)+" -> "+body)
		got := decode(t, body)
		g.Expect(got).NotTo(HaveKey("decision"), "c-3-3-4: no top-level decision with evaluations")
		return got["evaluations"].([]any)
	}
	// c-3-2-5: fully specified items, each answered as the native API, in order.
	var items []map[string]any
	for _, q := range questions {
		items = append(items, map[string]any{"subject": q.subject(), "action": map[string]any{"name": q.action}, "resource": q.resource()})
	}
	got := evaluations(map[string]any{"evaluations": azItems(items...)})
	g.Expect(got).To(HaveLen(len(questions)), "c-3-3-1")
	for i, q := range questions {
		expectAgrees(g, got[i].(map[string]any), f.nativeAnswer(t, q), fmt.Sprint("item ", i))
	}
	// c-3-2-1/2: defaults (subject and resource; action per item), order kept.
	q := questions[1]
	got = evaluations(map[string]any{"subject": q.subject(), "resource": q.resource(),
		"evaluations": azItems(map[string]any{"action": map[string]any{"name": "view"}}, map[string]any{"action": map[string]any{"name": "edit"}})})
	view, edit := q, q
	view.action = "view"
	expectAgrees(g, got[0].(map[string]any), f.nativeAnswer(t, view), "defaults, view")
	expectAgrees(g, got[1].(map[string]any), f.nativeAnswer(t, edit), "defaults, edit")

	// c-3-2-7: an item's member replaces the default whole (no merging of properties).
	owned := questions[1]
	owned.owner, owned.fields = "u-1", nil
	got = evaluations(map[string]any{"subject": owned.subject(), "action": map[string]any{"name": "edit"}, "resource": owned.resource(),
		"evaluations": azItems(map[string]any{}, map[string]any{"resource": map[string]any{"type": "leads", "id": "L-2"}})})
	expectAgrees(g, got[0].(map[string]any), f.nativeAnswer(t, owned), "{} inherits everything")
	unowned := owned
	unowned.owner = ""
	expectAgrees(g, got[1].(map[string]any), f.nativeAnswer(t, unowned), "the item's resource has no owner: none is merged in")

	// c-3-2-6: context defaults and overrides whole: the default's bad address makes
	// the items that inherit it undecidable, not the one that brings its own.
	got = evaluations(map[string]any{"subject": q.subject(), "action": map[string]any{"name": "view"}, "resource": q.resource(),
		"context":     map[string]any{"ip": "nowhere", "time": "2025-06-27T18:03-07:00"},
		"evaluations": azItems(map[string]any{}, map[string]any{"context": map[string]any{"ip": "203.0.113.5", "source": "batch-override"}})})
	g.Expect(got[0]).To(HaveKeyWithValue("context", HaveKeyWithValue("reason_admin", HaveKeyWithValue("field", "context.ip"))))
	expectAgrees(g, got[1].(map[string]any), f.nativeAnswer(t, view), "own context")

	// c-3-4-1: a bad item is that item's false, with the error naming it; the others
	// are decided.
	got = evaluations(map[string]any{"subject": q.subject(), "action": map[string]any{"name": "view"},
		"options":     map[string]any{"evaluations_semantic": "execute_all"},
		"evaluations": []any{map[string]any{"resource": q.resource()}, map[string]any{}, map[string]any{"subject": "u-1", "resource": q.resource()}, 7}})
	g.Expect(got).To(HaveLen(4))
	expectAgrees(g, got[0].(map[string]any), f.nativeAnswer(t, view), "good item")
	for i, want := range []string{"evaluations[1].resource: required", "evaluations[2].subject: expected an object, got a string", "evaluations[3]: expected a JSON object, got a number"} {
		item := got[i+1].(map[string]any)
		g.Expect(item["decision"]).To(BeFalse())
		g.Expect(item["context"]).To(HaveKeyWithValue("error", map[string]any{"status": 400.0, "message": want}))
	}

	// c-3-4-2/3: without items, or with none, it is an evaluation.
	for _, extra := range []map[string]any{nil, {"evaluations": []any{}}} {
		code, _, body := f.azPost(azBase+"evaluations", q.authzen(extra))
		g.Expect(code).To(Equal(http.StatusOK))
		expectAgrees(g, decode(t, body), f.nativeAnswer(t, q), "no items")
	}
	code, _, _ := f.azPost(azBase+"evaluations", `{"evaluations":[]}`)
	g.Expect(code).To(Equal(http.StatusBadRequest), "no items and no evaluation")

	// The payload's own faults are 400.
	for _, bad := range []string{
		`{"options":{"evaluations_semantic":"most"},"evaluations":[{}]}`,
		`{"evaluations":[{}],"subject":"u-1"}`,
		`{"evaluations":{}}`,
		`{"evaluations":[` + strings.Repeat(`{},`, 100) + `{}]}`,
		`{"evaluations":[{"subject":{"type":"user","type":"user"}}]}`,
	} {
		code, _, body := f.azPost(azBase+"evaluations", bad)
		g.Expect(code).To(Equal(http.StatusBadRequest), bad+" -> "+body)
	}
}

// TestAuthZENSemantics: the short-circuiting semantics stop at the first item that
// decides them; execute_all answers every item.
func TestAuthZENSemantics(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	var items []map[string]any
	var decisions []bool
	for _, q := range questions {
		items = append(items, map[string]any{"subject": q.subject(), "action": map[string]any{"name": q.action}, "resource": q.resource()})
		decisions = append(decisions, f.nativeAnswer(t, q)["allowed"].(bool))
	}
	firstDeny, firstPermit := slices.Index(decisions, false), slices.Index(decisions, true)
	g.Expect(firstDeny).To(BeNumerically(">", 0), "the fixture's questions start with an allow")
	for semantic, want := range map[string]int{"execute_all": len(items), "deny_on_first_deny": firstDeny + 1, "permit_on_first_permit": firstPermit + 1, "": len(items)} {
		b, _ := json.Marshal(map[string]any{"options": map[string]any{"evaluations_semantic": semantic}, "evaluations": azItems(items...)})
		code, _, body := f.azPost(azBase+"evaluations", string(b))
		g.Expect(code).To(Equal(http.StatusOK))
		got := decode(t, body)["evaluations"].([]any)
		g.Expect(got).To(HaveLen(want), semantic)
		for i, d := range got {
			g.Expect(d).To(HaveKeyWithValue("decision", decisions[i]), semantic)
		}
	}
}

func results(t *testing.T, body string) (ids []string, page map[string]any) {
	t.Helper()
	got := decode(t, body)
	for _, r := range got["results"].([]any) {
		m := r.(map[string]any)
		if name, ok := m["name"]; ok { // an action
			ids = append(ids, fmt.Sprint("/", name))
			continue
		}
		ids = append(ids, fmt.Sprint(m["type"], "/", m["id"]))
	}
	page, _ = got["page"].(map[string]any)
	return ids, page
}

func TestAuthZENSearch(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	search := func(kind, body string) []string {
		code, _, answer := f.azPost(azBase+"search/"+kind, body)
		g.Expect(code).To(Equal(http.StatusOK), body+" -> "+answer)
		ids, page := results(t, answer)
		g.Expect(page).To(HaveKeyWithValue("next_token", ""))
		g.Expect(page).To(HaveKeyWithValue("total", float64(len(ids))))
		return ids
	}
	// c-4-2-1..3: subject search = the known users the native API allows, in the role;
	// context and a subject id change nothing.
	known := []string{"m-1", "u-1", "u-2"} // policyYAML's group
	for _, action := range []string{"view", "edit"} {
		var want []string
		for _, u := range known {
			q := question{user: u, role: "SalesUser", action: action, entity: "leads", owner: "u-1"}
			if f.nativeAnswer(t, q)["allowed"] == true {
				want = append(want, "user/"+u)
			}
		}
		if action == "view" {
			g.Expect(want).NotTo(BeEmpty(), "the fixture lets someone view u-1's lead")
		}
		body := `{"subject":{"type":"user","properties":{"role":"SalesUser"}},"action":{"name":"` + action + `"},"resource":{"type":"leads","id":"L-1","properties":{"owner":"u-1"}}}`
		g.Expect(search("subject", body)).To(Equal(want), action)
		withID := strings.Replace(body, `"type":"user",`, `"type":"user","id":"u-1",`, 1)
		g.Expect(search("subject", withID)).To(Equal(want), "c-4-2-3 subject.id is ignored")
		withCtx := strings.TrimSuffix(body, "}") + `,"context":{"time":"2025-06-27T18:03-07:00","ip":"192.168.1.1"}}`
		g.Expect(search("subject", withCtx)).To(Equal(want), "c-4-2-2 context")
	}

	// c-4-4-1/2: action search = the entity's actions the native API allows.
	found := 0
	for _, q := range []question{{user: "u-1", role: "SalesUser", entity: "leads", owner: "u-1"}, {user: "u-1", role: "SalesUser", entity: "leads", owner: "u-2"},
		{user: "m-1", role: "SalesManager", entity: "accounts", owner: "u-2"}} {
		var want []string
		for _, a := range v1alpha1.Actions {
			// Actions the entity does not take are refused by the native API (400):
			// the search never lists them.
			q.action = a.Name
			if code, answer := f.do("POST", "/v1/check", q.native()); code == http.StatusOK && decode(t, answer)["allowed"] == true {
				want = append(want, "/"+a.Name)
			}
		}
		found += len(want)
		body := `{"subject":{"type":"user","id":"` + q.user + `","properties":{"role":"` + q.role + `"}},"resource":{"type":"` + q.entity + `","id":"X-1","properties":{"owner":"` + q.owner + `"}}}`
		g.Expect(search("action", body)).To(Equal(want), body)
		withCtx := strings.TrimSuffix(body, "}") + `,"context":{"ip":"192.168.1.1"}}`
		g.Expect(search("action", withCtx)).To(Equal(want), "c-4-4-2")
	}
	g.Expect(found).To(BeNumerically(">", 0), "some action is allowed somewhere")

	// c-4-3-1..3: resource search = the features the native API allows; resource.id
	// and context change nothing.
	var features []string
	for _, feat := range v1alpha1.Features {
		q := question{user: "u-1", role: "MarketingUser", action: "access", feature: string(feat)}
		if f.nativeAnswer(t, q)["allowed"] == true {
			features = append(features, "feature/"+string(feat))
		}
	}
	g.Expect(features).NotTo(BeEmpty())
	g.Expect(len(features)).To(BeNumerically("<", len(v1alpha1.Features)), "MarketingUser has restricted features: the search is not all of them")
	body := `{"subject":{"type":"user","id":"u-1","properties":{"role":"MarketingUser"}},"action":{"name":"access"},"resource":{"type":"feature"}}`
	g.Expect(search("resource", body)).To(Equal(features))
	g.Expect(search("resource", strings.Replace(body, `"type":"feature"`, `"type":"feature","id":"Dashboard"`, 1))).To(Equal(features), "c-4-3-3")

	// Records are not stored: no results, and the query plan POST /v1/filter answers.
	code, _, answer := f.azPost(azBase+"search/resource", `{"subject":{"type":"user","id":"m-1","properties":{"role":"SalesManager"}},"action":{"name":"edit"},"resource":{"type":"leads"}}`)
	g.Expect(code).To(Equal(http.StatusOK))
	got := decode(t, answer)
	g.Expect(got["results"]).To(BeEmpty())
	_, plan := f.do("POST", "/v1/filter", `{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"},"action":"edit","entity":"leads"}`)
	native := decode(t, plan)
	filter := got["context"].(map[string]any)["filter"].(map[string]any)
	delete(native, "decisionId")
	delete(filter, "decisionId")
	g.Expect(filter).To(Equal(native))

	// c-4-6: unknown ids and types: empty results, not an error.
	for kind, body := range map[string]string{
		"action":   `{"subject":{"type":"user","id":"nonexistent-user","properties":{"role":"SalesUser"}},"resource":{"type":"leads","id":"L-1"}}`,
		"subject":  `{"subject":{"type":"spaceship"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
		"resource": `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"view"},"resource":{"type":"spaceship"}}`,
		"action ":  `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"resource":{"type":"spaceship","id":"S-1"}}`,
		"subject ": `{"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1"}}`,
	} {
		g.Expect(search(strings.TrimSpace(kind), body)).To(BeEmpty(), body)
	}

	// c-4-7: a missing member or input identifier is 400, per endpoint.
	for kind, bad := range map[string]string{
		"subject":   `{"subject":{"type":"user"},"resource":{"type":"leads","id":"L-1"}}`,
		"resource":  `{"action":{"name":"view"},"resource":{"type":"leads"}}`,
		"action":    `{"subject":{"type":"user","id":"u-1"}}`,
		"subject ":  `{"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"leads"}}`,
		"resource ": `{"subject":{"type":"user"},"action":{"name":"view"},"resource":{"type":"leads"}}`,
		"action  ":  `{"subject":{"type":"user"},"resource":{"type":"leads","id":"L-1"}}`,
	} {
		code, _, _ := f.azPost(azBase+"search/"+strings.TrimSpace(kind), bad)
		g.Expect(code).To(Equal(http.StatusBadRequest), kind+": "+bad)
	}
}

// TestAuthZENSearchPages: c-4-5: page.limit cuts the results; following next_token
// gives every result once; a token replayed with another search is refused.
func TestAuthZENSearchPages(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	body := func(page string) string {
		return `{"subject":{"type":"user","properties":{"role":"SalesManager"}},"action":{"name":"view"},"resource":{"type":"leads","id":"L-1","properties":{"owner":"u-1"}},"page":` + page + `}`
	}
	_, _, all := f.azPost(azBase+"search/subject", body(`{}`))
	want, _ := results(t, all)
	g.Expect(len(want)).To(BeNumerically(">=", 2), "enough users to page through")
	var got []string
	token := ""
	for i := 0; ; i++ {
		g.Expect(i).To(BeNumerically("<", 10))
		code, _, answer := f.azPost(azBase+"search/subject", body(`{"limit":1,"token":"`+token+`"}`))
		g.Expect(code).To(Equal(http.StatusOK), answer)
		ids, page := results(t, answer)
		g.Expect(ids).To(HaveLen(1))
		g.Expect(page).To(HaveKeyWithValue("total", float64(len(want))))
		got = append(got, ids...)
		token = page["next_token"].(string)
		if token == "" {
			break
		}
	}
	g.Expect(got).To(Equal(want))

	_, _, first := f.azPost(azBase+"search/subject", body(`{"limit":1}`))
	_, page := results(t, first)
	token = page["next_token"].(string)
	other := strings.Replace(body(`{"limit":1,"token":"`+token+`"}`), `"view"`, `"edit"`, 1)
	code, _, answer := f.azPost(azBase+"search/subject", other)
	g.Expect(code).To(Equal(http.StatusBadRequest), answer)
	g.Expect(answer).To(ContainSubstring(`"field":"page.token"`))
	for _, bad := range []string{`{"token":"!!"}`, `{"limit":-1}`, `{"limit":1.5}`, `{"limit":"2"}`} {
		code, _, _ := f.azPost(azBase+"search/subject", body(bad))
		g.Expect(code).To(Equal(http.StatusBadRequest), bad)
	}
}

// TestAuthZENMetadata: c-6: the metadata names the PDP as the caller reached it, and
// every endpoint it lists is served.
func TestAuthZENMetadata(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	resp, err := http.Get(f.srv.URL + "/.well-known/authzen-configuration/tenants/acme")
	g.Expect(err).NotTo(HaveOccurred())
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	md := decode(t, string(data))
	pdp := f.srv.URL + "/tenants/acme"
	g.Expect(md).To(HaveKeyWithValue("policy_decision_point", pdp))
	for key, path := range map[string]string{"access_evaluation_endpoint": "evaluation", "access_evaluations_endpoint": "evaluations",
		"search_subject_endpoint": "search/subject", "search_resource_endpoint": "search/resource", "search_action_endpoint": "search/action"} {
		g.Expect(md).To(HaveKeyWithValue(key, pdp+"/access/v1/"+path))
		code, _, body := f.azPost(strings.TrimPrefix(md[key].(string), f.srv.URL), questions[0].authzen(nil))
		g.Expect(code).NotTo(Equal(http.StatusNotFound), key+": "+body)
	}

	req, _ := http.NewRequest("GET", f.srv.URL+"/.well-known/authzen-configuration/tenants/acme", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(decode(t, string(data))["policy_decision_point"]).To(Equal("https://" + strings.TrimPrefix(f.srv.URL, "http://") + "/tenants/acme"))

	code, _ := f.do("GET", "/.well-known/authzen-configuration/tenants/"+strings.Repeat("a", 300), "")
	g.Expect(code).To(Equal(http.StatusBadRequest))
	code, _ = f.do("GET", "/.well-known/authzen-configuration", "")
	g.Expect(code).To(Equal(http.StatusNotFound), "each tenant is a PDP: there is no PDP at the root")
}

// TestAuthZENSharesTheAPIsGuards: credentials, shards, the decision log and the
// metrics are the native API's.
func TestAuthZENSharesTheAPIsGuards(t *testing.T) {
	g := NewWithT(t)
	f := newFixtureWith(t, true, azPolicy)
	s := server.New(service.New(f.store, nil), server.Options{Auth: tokens{}, Shard: otherShard{}})
	defer s.Close(time.Second)
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	post := func(tenant, token string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/tenants/"+tenant+"/access/v1/evaluation", strings.NewReader(questions[0].authzen(nil)))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		return resp.StatusCode
	}
	g.Expect(post("acme", "")).To(Equal(http.StatusUnauthorized))
	g.Expect(post("acme", "crm")).To(Equal(http.StatusOK))
	g.Expect(post("globex", "crm")).To(Equal(http.StatusForbidden))
	g.Expect(post("shard-b", "ops")).To(Equal(http.StatusMisdirectedRequest))

	f.azPost(azBase+"evaluation", questions[0].authzen(nil))
	f.azPost(azBase+"search/action", `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"resource":{"type":"leads","id":"L-1"}}`)
	g.Expect(f.log.String()).To(ContainSubstring(`"endpoint":"authzen/evaluation"`))
	g.Expect(f.log.String()).To(ContainSubstring(`"endpoint":"authzen/search/action"`))
	_, metrics := f.do("GET", "/metrics", "")
	g.Expect(metrics).To(MatchRegexp(`crmauthz_decisions_total\{endpoint="authzen/evaluation",reason="\w+"\} 1`))
	g.Expect(metrics).To(ContainSubstring(`crmauthz_decision_duration_seconds_count{endpoint="authzen/search/action"} 1`))
}
