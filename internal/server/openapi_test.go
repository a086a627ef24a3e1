package server_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/api/openapi"
	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/openapitest"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// TestOpenAPIIsServedByteForByte: GET /openapi.json is the document in the
// repository, as JSON, without credentials.
func TestOpenAPIIsServedByteForByte(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, false)
	resp, err := http.Get(f.srv.URL + "/openapi.json")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	g.Expect(bytes.Equal(body, openapi.JSON)).To(BeTrue(), "served byte for byte")
	onDisk, err := os.ReadFile(testenv.Path("api", "openapi", "openapi.json"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bytes.Equal(onDisk, openapi.JSON)).To(BeTrue())

	s := server.New(service.New(f.store, nil), server.Options{Auth: tokens{}})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	code, _ := get(t, srv.URL+"/openapi.json", "", "")
	g.Expect(code).To(Equal(http.StatusOK), "no credentials needed, as for /healthz")
}

// muxPatterns reads the patterns Handler registers from server.go: every
// mux.HandleFunc and mux.Handle with a literal pattern, but the catch-all "/".
func muxPatterns(t *testing.T) []string {
	var out []string
	for _, name := range []string{"server.go", "authzen.go"} {
		out = append(out, filePatterns(t, name)...)
	}
	sort.Strings(out)
	return out
}

func filePatterns(t *testing.T, name string) []string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, testenv.Path("internal", "server", name), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "mux" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			t.Errorf("%s: a route whose pattern is not a literal: the test cannot hold it to the document", fset.Position(call.Pos()))
			return true
		}
		if p, _ := strconv.Unquote(lit.Value); p != "/" {
			out = append(out, p)
		}
		return true
	})
	return out
}

// TestOpenAPIHasEveryRouteAndNoOther: the document's operations are the routes of
// Handler, and each of them is served (not answered "no endpoint").
func TestOpenAPIHasEveryRouteAndNoOther(t *testing.T) {
	g := NewWithT(t)
	v := openapitest.MustLoad(t)
	ops := v.Operations()
	sort.Strings(ops)
	routes := muxPatterns(t)
	g.Expect(routes).To(HaveLen(18), "server.go's and authzen.go's routes as this test reads them")
	g.Expect(ops).To(Equal(routes), "operations in api/openapi/openapi.json vs routes in server.go")

	f := newFixture(t, true)
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		code, body := f.do(method, v.URL(method, path), "{}")
		g.Expect(body).NotTo(HavePrefix(`{"error":{"code":"NotFound","message":"no endpoint`), op)
		g.Expect(code).NotTo(Equal(http.StatusNotFound), op)
	}
}

func enum(t *testing.T, schema string) []string {
	t.Helper()
	ref := openapitest.MustLoad(t).Doc().Components.Schemas[schema]
	if ref == nil {
		t.Fatalf("no schema %s", schema)
	}
	return strs(ref.Value.Enum)
}

func strs(vs []any) []string {
	var out []string
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// stringConsts reads the string constants of a Go file that keep (by name and
// declared type).
func stringConsts(t *testing.T, path string, keep func(name, typ string) bool) []string {
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			typ := ""
			if id, ok := vs.Type.(*ast.Ident); ok {
				typ = id.Name
			}
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if ok && lit.Kind == token.STRING && keep(name.Name, typ) {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// TestOpenAPIEnumsAreTheCodes: every enum of the document is the list the code
// works from (the API's table, the policy's enums, the engine's reasons), so that a
// new role, entity, action, feature or reason cannot be left out of it.
func TestOpenAPIEnumsAreTheCodes(t *testing.T) {
	g := NewWithT(t)
	features := make([]string, len(v1alpha1.Features))
	for i, f := range v1alpha1.Features {
		features[i] = string(f)
	}
	g.Expect(enum(t, "Role")).To(Equal(policy.Names(policy.NumRoles)))
	g.Expect(enum(t, "Entity")).To(Equal(policy.Names(policy.NumEntities)))
	g.Expect(enum(t, "Action")).To(Equal(policy.Names(policy.ActionAccess + 1)))
	g.Expect(enum(t, "RecordAction")).To(Equal(policy.Names(policy.NumRecordActions)))
	g.Expect(enum(t, "Channel")).To(Equal(policy.Names(policy.NumChannels)))
	g.Expect(enum(t, "Feature")).To(Equal(features))
	g.Expect(enum(t, "Provider")).To(Equal(policy.Names(policy.NumProviders)))
	g.Expect(enum(t, "TwoFactor")).To(Equal(policy.Names(policy.TwoFactorRequired + 1)))
	g.Expect(enum(t, "Kind")).To(Equal(policy.Kinds[:]))

	engineDir := testenv.Path("internal", "engine")
	reasons := stringConsts(t, engineDir+"/check.go", func(_, typ string) bool { return typ == "Reason" })
	g.Expect(reasons).To(HaveLen(15))
	union := map[string]bool{}
	for _, s := range []string{"CheckReason", "FilterReason", "VisibleReason", "LoginReason", "SessionReason", "PasswordReason"} {
		sub := enum(t, s)
		g.Expect(reasons).To(ContainElements(sub), s)
		for _, r := range sub {
			union[r] = true
		}
	}
	g.Expect(union).To(HaveLen(len(reasons)), "every reason of internal/engine/check.go is some endpoint's")

	violations := stringConsts(t, engineDir+"/login.go", func(name, _ string) bool { return strings.HasPrefix(name, "Violation") })
	g.Expect(violations).To(HaveLen(5))
	doc := openapitest.MustLoad(t).Doc().Components.Schemas
	g.Expect(strs(doc["PasswordResponse"].Value.Properties["violations"].Value.Items.Value.Enum)).To(Equal(violations))
	g.Expect(strs(doc["FilterResponse"].Value.Properties["kind"].Value.Enum)).To(Equal([]string{
		string(engine.FilterAll), string(engine.FilterNone), string(engine.FilterConditional)}))
	g.Expect(strs(doc["Step"].Value.Properties["step"].Value.Enum)).To(Equal(stepNames(t)))
	var codes []string
	for name, schema := range doc {
		if code, ok := strings.CutSuffix(name, "Error"); ok {
			g.Expect(strs(schema.Value.Properties["error"].Value.Properties["code"].Value.Enum)).To(Equal([]string{code}), name)
			codes = append(codes, code)
		}
	}
	g.Expect(codes).To(ConsistOf(errorCodes(t)), "the codes server.go answers with")
}

// stepNames reads the explain trace's step names from internal/engine/check.go.
func stepNames(t *testing.T) []string {
	data, err := os.ReadFile(testenv.Path("internal", "engine", "check.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?s)var stepNames = \[\.\.\.\]string\{(.*?)\}`).FindSubmatch(data)
	if decl == nil {
		t.Fatal("no stepNames in internal/engine/check.go")
	}
	var out []string
	for _, m := range regexp.MustCompile(`\d+: "(\w+)"`).FindAllSubmatch(decl[1], -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// errorCodes reads the error codes server.go answers with: assigned to code in
// fail, or passed to writeError.
func errorCodes(t *testing.T) []string {
	file, err := parser.ParseFile(token.NewFileSet(), testenv.Path("internal", "server", "server.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			codes[s] = true
		}
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				if id, ok := lhs.(*ast.Ident); ok && id.Name == "code" && i < len(n.Rhs) {
					add(n.Rhs[i])
				}
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "writeError" && len(n.Args) > 2 {
				add(n.Args[2])
			}
		}
		return true
	})
	out := make([]string, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	g := NewWithT(t)
	g.Expect(out).To(HaveLen(8))
	return out
}

// sampleServer serves the sample policy (config/samples, tenant acme), as
// `crmauthz serve --policies config/samples` does, with every answer held to the
// document.
func sampleServer(t *testing.T, opts server.Options) *httptest.Server {
	objs, err := loader.ReadPaths(testenv.Path("config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	store := tenants.NewStore(nil)
	b := tenants.NewBuilder()
	for ns, in := range loader.Tenants(objs, "default") {
		store.Put(ns, b.Build(*in))
	}
	store.SetReady()
	s := server.New(service.New(store, nil), opts)
	t.Cleanup(func() { s.Close(time.Second) })
	srv := httptest.NewServer(validated(t, s.Handler()))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // as AuthZEN requires; the native API does not look
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// curl is a request of docs/api.md: `curl -s localhost:8080/PATH [-d 'BODY']`.
var curl = regexp.MustCompile(`(?m)^curl -s localhost:8080(/\S+)(?: -d '([^']*)')?`)

// TestAPIReferenceRequestsMatchTheDocument sends every request of docs/api.md, the
// README and the document's examples to a server of the sample policy: each is answered
// 200, and held to the document.
func TestAPIReferenceRequestsMatchTheDocument(t *testing.T) {
	g := NewWithT(t)
	srv := sampleServer(t, server.Options{})
	for file, least := range map[string]int{"docs/api.md": 9, "README.md": 9, "docs/authzen.md": 1} {
		text, err := os.ReadFile(testenv.Path(file))
		g.Expect(err).NotTo(HaveOccurred())
		matches := curl.FindAllStringSubmatch(string(text), -1)
		g.Expect(len(matches)).To(BeNumerically(">=", least), file)
		for _, m := range matches {
			method := http.MethodGet
			if m[2] != "" {
				method = http.MethodPost
			}
			code, body := send(t, srv, method, m[1], m[2])
			g.Expect(code).To(Equal(http.StatusOK), "%s: %s %s: %s", file, m[1], m[2], body)
		}
	}
	v := openapitest.MustLoad(t)
	doc := v.Doc()
	for _, path := range doc.Paths.InMatchingOrder() {
		op := doc.Paths.Value(path).Post
		if op == nil {
			continue
		}
		ex := op.RequestBody.Value.Content.Get("application/json").Example
		g.Expect(ex).NotTo(BeNil(), path)
		data, _ := json.Marshal(ex)
		code, body := send(t, srv, http.MethodPost, v.URL(http.MethodPost, path), string(data))
		g.Expect(code).To(Equal(http.StatusOK), "%s %s: %s", path, data, body)
	}
}

// TestOpenAPIContract sends requests that reach every kind of answer (every
// endpoint, unknown tenants, explain traces, nulls, each error status the fixture
// can provoke), each held to the document by the fixture.
func TestOpenAPIContract(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	srv := sampleServer(t, server.Options{Shard: otherShard{}, Registry: reg, Gatherer: reg})
	subj := `"subject":{"user":"u-12","role":"SalesUser"}`
	cases := []struct {
		path, body string
		code       int
	}{
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"edit","resource":{"entity":"leads","owner":"u-2"},"fields":["Stage"],"explain":true}`, 200},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"access","resource":{"feature":"Reports"},"explain":true}`, 200},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"delete","resource":{"entity":"leads","owner":"u-12"},"bulk":true,"context":{"channel":"API","ip":"198.51.100.7"},"explain":true}`, 200},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","owner":null,"sharedWith":null,"id":null,"type":null,"feature":null},"fields":null,"emptyFields":null,"bulk":null,"context":null,"explain":null}`, 200},
		{"/v1/check", `{"tenant":"acme",` + subj + `,"action":"view","resource":{"entity":"leads","feature":""},"context":{"channel":"","ip":""}}`, 200},
		{"/v1/check", `{"tenant":"nobody",` + subj + `,"action":"view","resource":{"entity":"leads"},"explain":true}`, 200},
		{"/v1/check", `{"tenant":"shard-b",` + subj + `,"action":"view","resource":{"entity":"leads"}}`, 421},
		{"/v1/checks", `{"tenant":"nobody",` + subj + `,"context":null,"checks":[{"action":"view","resource":{"entity":"users"}}]}`, 400},
		{"/v1/checks", `{"tenant":"acme",` + subj + `,"checks":[]}`, 400},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"entity":"leads","action":null,"context":{"channel":"Mobile"}}`, 200},
		{"/v1/filter", `{"tenant":"acme","subject":{"user":"u-1","role":"SuperAdmin"},"entity":"accounts","action":""}`, 200},
		{"/v1/filter", `{"tenant":"nobody",` + subj + `,"entity":"tasks","action":"markComplete"}`, 200},
		{"/v1/filter", `{"tenant":"acme",` + subj + `,"entity":"leads","action":"access"}`, 400},
		{"/v1/users/visible", `{"tenant":"nobody",` + subj + `}`, 200},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.20","provider":"Password"}`, 200},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.20","provider":"Google","secondFactorVerified":null,"trustedDeviceSince":"2026-01-01T00:00:00+01:00"}`, 200},
		{"/v1/login", `{"tenant":"nobody",` + subj + `,"ip":"::1","provider":"ADFS","trustedDeviceSince":""}`, 200},
		{"/v1/login", `{"tenant":"acme",` + subj + `,"provider":"Google"}`, 400},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.20","issuedAt":"` + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano) + `","lastActivityAt":null}`, 200},
		{"/v1/session", `{"tenant":"acme",` + subj + `,"ip":"203.0.113.20","issuedAt":"9999-01-01T00:00:00Z"}`, 400},
		{"/v1/password", `{"tenant":"acme","password":null,"changedAt":"2000-01-01T00:00:00Z"}`, 200},
		{"/v1/password", `{"tenant":"nobody","password":"x"}`, 200},
		{"/v1/password", `{"tenant":"acme","password":"x","subject":{"user":"u-1","role":"SalesUser"}}`, 400},
	}
	for _, c := range cases {
		code, body := send(t, srv, http.MethodPost, c.path, c.body)
		g.Expect(code).To(Equal(c.code), "%s %s: %s", c.path, c.body, body)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/tenants/acme", 200}, {"GET", "/v1/tenants/nobody", 404}, {"GET", "/v1/tenants/shard-b", 421},
		{"GET", "/v1/tenants/" + strings.Repeat("x", 257), 400}, {"PUT", "/v1/tenants/acme", 404}, {"GET", "/v1/nothing", 404},
		{"DELETE", "/v1/check", 404}, {"GET", "/metrics", 200}, {"GET", "/healthz", 200}, {"GET", "/readyz", 200}, {"GET", "/openapi.json", 200},
	} {
		code, body := send(t, srv, c.method, c.path, "")
		g.Expect(code).To(Equal(c.code), "%s %s: %s", c.method, c.path, body)
	}
}

// otherShard says tenants named shard-b are another shard's.
type otherShard struct{}

func (otherShard) Misdirected(tenant string) (string, bool) {
	return "crmauthz.io/shard=a", slices.Contains([]string{"shard-b"}, tenant)
}
