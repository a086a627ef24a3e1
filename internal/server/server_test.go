package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/openapitest"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

const policyYAML = `
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
  entities: {leads: {ownerOnlyFields: [Stage]}}
`

type fixture struct {
	server *server.Server
	store  *tenants.Store
	srv    *httptest.Server
	log    *bytes.Buffer
	reg    *prometheus.Registry
}

func newFixture(t testing.TB, ready bool) *fixture { return newFixtureWith(t, ready, policyYAML) }

// newFixtureWith serves the policy in policy (YAML objects of tenant acme).
func newFixtureWith(t testing.TB, ready bool, policy string) *fixture {
	objs, err := loader.Decode([]byte(policy), "policy")
	if err != nil {
		t.Fatal(err)
	}
	store := tenants.NewStore(nil)
	b := tenants.NewBuilder()
	for ns, in := range loader.Tenants(objs, "acme") {
		store.Put(ns, b.Build(*in))
	}
	if ready {
		store.SetReady()
	}
	f := &fixture{store: store, log: &bytes.Buffer{}, reg: prometheus.NewRegistry()}
	s := server.New(service.New(store, nil), server.Options{
		DecisionLog: f.log, Registry: f.reg, Gatherer: f.reg, MaxBodyBytes: 64 << 10,
	})
	f.server = s
	t.Cleanup(func() { s.Close(time.Second) })
	f.srv = httptest.NewServer(validated(t, s.Handler()))
	t.Cleanup(f.srv.Close)
	return f
}

// validated wraps h so that every request the tests send and every answer are held
// to the OpenAPI document (api/openapi/openapi.json): a mismatch fails t.
func validated(t testing.TB, h http.Handler) http.Handler {
	return openapitest.MustLoad(t).Handler(t, h)
}

// do sends one request and returns the status and body, once the decisions it made
// are in the decision log.
func (f *fixture) do(method, path, body string) (int, string) {
	code, _, b := f.request(method, path, body)
	return code, b
}

// request is do with headers (pairs of name and value, in order; a value "" removes
// the header) that also returns the answer's headers.
func (f *fixture) request(method, path, body string, headers ...string) (int, http.Header, string) {
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	f.server.SyncDecisionLog(5 * time.Second)
	return resp.StatusCode, resp.Header, string(b)
}

const checkBody = `{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","owner":"u-2","sharedWith":["u-1"]},"fields":["Stage"]}`

func TestNotReadyAnswers503(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, false)
	code, body := f.do("POST", "/v1/check", checkBody)
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	g.Expect(body).To(ContainSubstring(`"code":"Unavailable"`))
	code, _ = f.do("GET", "/readyz", "")
	g.Expect(code).To(Equal(http.StatusServiceUnavailable))
	code, _ = f.do("GET", "/healthz", "")
	g.Expect(code).To(Equal(http.StatusOK))
	f.store.SetReady()
	code, _ = f.do("POST", "/v1/check", checkBody)
	g.Expect(code).To(Equal(http.StatusOK))
}

func TestCheckShapeAndDecisionLog(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	code, body := f.do("POST", "/v1/check", checkBody)
	g.Expect(code).To(Equal(http.StatusOK))
	var got map[string]any
	g.Expect(json.Unmarshal([]byte(body), &got)).To(Succeed())
	g.Expect(got).To(HaveKeyWithValue("allowed", false))
	g.Expect(got).To(HaveKeyWithValue("reason", "FieldRestricted"))
	g.Expect(got).To(HaveKeyWithValue("template", "reps"))
	g.Expect(got).To(HaveKeyWithValue("deniedFields", []any{"Stage"}))
	g.Expect(got).To(HaveKeyWithValue("fields", map[string]any{"hidden": []any{}, "masked": []any{}}))
	g.Expect(got).To(HaveKey("revision"))
	g.Expect(got).To(HaveKey("decisionId"))
	g.Expect(got).To(HaveKey("message"))
	g.Expect(got).NotTo(HaveKey("trace"))

	var line map[string]any
	g.Expect(json.Unmarshal(f.log.Bytes(), &line)).To(Succeed())
	g.Expect(line).To(HaveKeyWithValue("decisionId", got["decisionId"]))
	g.Expect(line).To(HaveKeyWithValue("tenant", "acme"))
	g.Expect(line).To(HaveKeyWithValue("user", "u-1"))
	g.Expect(line).To(HaveKeyWithValue("action", "edit"))
	g.Expect(line).To(HaveKeyWithValue("allowed", false))
	g.Expect(line).To(HaveKeyWithValue("revision", got["revision"]))
}

func TestPasswordIsNeverLogged(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	code, body := f.do("POST", "/v1/password", `{"tenant":"acme","password":"Sw0rdfish-Secret!"}`)
	g.Expect(code).To(Equal(http.StatusOK), body)
	g.Expect(body).To(ContainSubstring(`"valid":true`))
	g.Expect(f.log.String()).To(ContainSubstring(`"endpoint":"password"`))
	g.Expect(f.log.String()).NotTo(ContainSubstring("Sw0rdfish"))
}

func TestLimitsAndErrors(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	code, body := f.do("POST", "/v1/check", `{"tenant":"acme","subject":{"user":"u-1","role":"Boss"}}`)
	g.Expect(code).To(Equal(http.StatusBadRequest))
	g.Expect(body).To(ContainSubstring(`"field":"subject.role"`))

	huge := `{"tenant":"acme","password":"` + strings.Repeat("x", 70<<10) + `"}`
	code, body = f.do("POST", "/v1/password", huge)
	g.Expect(code).To(Equal(http.StatusRequestEntityTooLarge), body)

	checks := make([]string, 101)
	for i := range checks {
		checks[i] = `{"action":"view","resource":{"entity":"leads"}}`
	}
	code, body = f.do("POST", "/v1/checks", fmt.Sprintf(`{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"checks":[%s]}`, strings.Join(checks, ",")))
	g.Expect(code).To(Equal(http.StatusBadRequest))
	g.Expect(body).To(ContainSubstring("checks[100]: more than 100 checks in one batch"))

	code, _ = f.do("GET", "/v1/check", "")
	g.Expect(code).To(Equal(http.StatusNotFound))
	code, _ = f.do("GET", "/v1/tenants/globex", "")
	g.Expect(code).To(Equal(http.StatusNotFound))
}

func TestTenantAndMetrics(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	code, body := f.do("GET", "/v1/tenants/acme", "")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(body).To(ContainSubstring(`"kind":"PermissionTemplate","name":"reps"`))
	g.Expect(body).To(ContainSubstring(`"authProviders":["Password"]`))
	g.Expect(body).To(ContainSubstring(`"minLength":8`))

	f.do("POST", "/v1/check", checkBody)
	f.do("POST", "/v1/filter", `{"tenant":"acme","subject":{"user":"m-1","role":"SalesManager"},"entity":"leads"}`)
	code, body = f.do("GET", "/metrics", "")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(body).To(ContainSubstring(`crmauthz_decisions_total{endpoint="check",reason="FieldRestricted"} 1`))
	g.Expect(body).To(ContainSubstring(`crmauthz_decisions_total{endpoint="filter",reason="Allowed"} 1`))
	g.Expect(body).To(ContainSubstring(`crmauthz_decision_duration_seconds_count{endpoint="check"} 1`))
	g.Expect(body).To(MatchRegexp(`crmauthz_tenant_revision_info\{revision="[0-9a-f]+",tenant="acme"\} 1`))
	g.Expect(body).To(ContainSubstring(`crmauthz_tenant_snapshot_age_seconds{tenant="acme"}`))
}

type fixedCaller string

func (c fixedCaller) AuthorizeMetrics(*http.Request) (string, error) { return string(c), nil }

func (c fixedCaller) Authorize(_ *http.Request, tenant string) (string, error) {
	if tenant != "acme" {
		return string(c), &server.AuthError{Status: http.StatusForbidden, Message: string(c) + " may not ask about " + tenant}
	}
	return string(c), nil
}

func TestDecisionLogNamesTheCaller(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	store := f.store
	var log bytes.Buffer
	s := server.New(service.New(store, nil), server.Options{Auth: fixedCaller("system:serviceaccount:crm:backend"), DecisionLog: &log})
	defer s.Close(time.Second)
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/check", "application/json", strings.NewReader(checkBody))
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	s.SyncDecisionLog(time.Second)
	g.Expect(log.String()).To(ContainSubstring(`"caller":"system:serviceaccount:crm:backend"`))
	resp, err = http.Post(srv.URL+"/v1/check", "application/json", strings.NewReader(strings.Replace(checkBody, `"acme"`, `"globex"`, 1)))
	g.Expect(err).NotTo(HaveOccurred())
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
	g.Expect(string(body)).To(ContainSubstring(`"code":"PermissionDenied"`))
}

func TestReadyzRetryAfterAndTenantNameBound(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, false)
	resp, err := http.Get(f.srv.URL + "/readyz")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("1"), "a load balancer or client knows when to ask again")

	f.store.SetReady()
	long := strings.Repeat("a", 300)
	code, body := f.do("GET", "/v1/tenants/"+long, "")
	g.Expect(code).To(Equal(http.StatusBadRequest))
	g.Expect(body).To(ContainSubstring(`"field":"tenant"`))
	g.Expect(body).NotTo(ContainSubstring(long), "the name is not echoed back")
}
