// Package openapitest holds a decision API server's answers to its OpenAPI document
// (api/openapi/openapi.json), so that the document cannot drift from the server: tests
// wrap the server's handler (Handler) or their client's transport (Transport), and
// every request and answer that goes through is checked with kin-openapi's
// openapi3filter.
//
// What is checked, for each exchange:
//   - the answer's status is documented for the operation, and its Content-Type and
//     body (and headers such as Retry-After) match the document;
//   - a request the document refuses (unknown member, wrong type, value out of an
//     enum, over a limit, ...) is never answered 2xx: the document is never more
//     lenient than the server (it may be stricter only in what docs/api.md says is
//     checked beyond the JSON, which the schemas cannot say);
//   - a method or path the document lacks is answered 404 NotFound (or 403 by a
//     loopback-only server), with the error body;
//   - no answer is a 5xx other than 503 (a 500 is a bug).
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/crmauthz/crmauthz/api/openapi"
)

// Validator checks exchanges against the document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	once    sync.Once
	shared  *Validator
	loadErr error
)

// Load returns the validator of api/openapi/openapi.json, loaded and checked once.
func Load() (*Validator, error) {
	once.Do(func() { shared, loadErr = load(openapi.JSON) })
	return shared, loadErr
}

// MustLoad is Load for tests: it fails t when the document does not load.
func MustLoad(t testing.TB) *Validator {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatalf("api/openapi/openapi.json: %v", err)
	}
	return v
}

func load(data []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI document: %w", err)
	}
	// Servers answer on any address (tests listen on random ports): match paths only.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Validator{doc: doc, router: router}, nil
}

// Doc is the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Exchange is one request and its answer.
type Exchange struct {
	// Request is the request as sent (its Body is not read; Body below is used).
	Request *http.Request
	// Body is the request body as the server read it; BodyComplete says the server
	// read all of it (a server that refuses a body early, 413 or 408, does not).
	Body         []byte
	BodyComplete bool
	// The answer.
	Status       int
	Header       http.Header
	ResponseBody []byte
}

// Check checks one exchange against the document (see the package's doc).
func (v *Validator) Check(x *Exchange) error {
	req := x.Request.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(x.Body))
	req.ContentLength = int64(len(x.Body))
	if len(x.Body) > 0 || req.Method == http.MethodPost {
		// The server reads every body as JSON whatever its Content-Type (docs/api.md).
		req.Header.Set("Content-Type", "application/json")
	}
	where := req.Method + " " + req.URL.RequestURI()
	if x.Status >= 500 && x.Status != http.StatusServiceUnavailable {
		return fmt.Errorf("%s: answered %d: %s", where, x.Status, x.ResponseBody)
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return v.checkUnrouted(where, x, err)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		ExcludeRequestBody: !x.BodyComplete,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && (x.Status < 400 || x.Status >= 500) {
		return fmt.Errorf("%s: the document refuses the request, but the server answered %d (the document is stricter than the server): %w\nrequest: %.500s",
			where, x.Status, reqErr, x.Body)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 x.Status,
		Header:                 x.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(x.ResponseBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s: the answer %d does not match the document: %w\nanswer: %.1000s", where, x.Status, err, x.ResponseBody)
	}
	return nil
}

// checkUnrouted checks the answer to a method or path the document does not have:
// the server's 404 for unknown endpoints, or a loopback-only server's 403.
func (v *Validator) checkUnrouted(where string, x *Exchange, routeErr error) error {
	if !errors.Is(routeErr, routers.ErrPathNotFound) && !errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		return fmt.Errorf("%s: %w", where, routeErr)
	}
	want := map[int]string{http.StatusNotFound: "NotFoundError", http.StatusForbidden: "PermissionDeniedError"}
	name, ok := want[x.Status]
	if !ok {
		return fmt.Errorf("%s: not in the document (%v), and answered %d rather than 404", where, routeErr, x.Status)
	}
	if ct := x.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("%s: answered %d with Content-Type %q", where, x.Status, ct)
	}
	value, err := decodeJSON(x.ResponseBody)
	if err != nil {
		return fmt.Errorf("%s: answered %d with a body that is not JSON: %w", where, x.Status, err)
	}
	schema := v.doc.Components.Schemas[name].Value
	if err := schema.VisitJSON(value, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("%s: the answer %d does not match %s: %w", where, x.Status, name, err)
	}
	return nil
}

// Reporter is where mismatches go: a *testing.T, or Ginkgo's GinkgoT().
type Reporter interface {
	Errorf(format string, args ...any)
}

// Handler wraps h so that every exchange through it is checked; a mismatch fails t
// (with Errorf: the request goes on). The answer is held until it is checked, then
// sent as h wrote it.
func (v *Validator) Handler(t Reporter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := &teeBody{rc: r.Body}
		r.Body = body
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		x := &Exchange{Request: r, Body: body.buf.Bytes(), BodyComplete: body.eof,
			Status: rec.Code, Header: rec.Header(), ResponseBody: rec.Body.Bytes()}
		if err := v.Check(x); err != nil {
			t.Errorf("openapi: %v", err)
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// teeBody keeps what the handler reads of a request body.
type teeBody struct {
	rc  io.ReadCloser
	buf bytes.Buffer
	eof bool
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.buf.Write(p[:n])
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// Transport wraps base (nil: http.DefaultTransport) so that every exchange a client
// makes through it is checked, as Handler does on the server's side: for tests that
// talk to a running server, such as test/e2e's (with GinkgoT() and openapitest.Load):
//
//	client := &http.Client{Transport: v.Transport(GinkgoT(), nil)}
func (v *Validator) Transport(t Reporter, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				return nil, err
			}
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := base.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		answer, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(answer))
		x := &Exchange{Request: r, Body: body, BodyComplete: true, Status: resp.StatusCode, Header: resp.Header, ResponseBody: answer}
		if err := v.Check(x); err != nil {
			t.Errorf("openapi: %v", err)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Operations lists the document's operations as "METHOD /path" (Go's ServeMux
// patterns: {name} path parameters are written alike).
func (v *Validator) Operations() []string {
	var out []string
	for _, path := range v.doc.Paths.InMatchingOrder() {
		for method := range v.doc.Paths.Value(path).Operations() {
			out = append(out, method+" "+path)
		}
	}
	return out
}

// URL returns path with its parameters filled in from the document's examples, for
// probing an operation.
func (v *Validator) URL(method, path string) string {
	op := v.doc.Paths.Value(path).GetOperation(method)
	for _, p := range op.Parameters {
		if p.Value.In == openapi3.ParameterInPath {
			path = replaceParam(path, p.Value.Name, fmt.Sprint(p.Value.Example))
		}
	}
	return path
}

func replaceParam(path, name, value string) string {
	return string(bytes.ReplaceAll([]byte(path), []byte("{"+name+"}"), []byte(url.PathEscape(value))))
}

func decodeJSON(data []byte) (any, error) {
	var v any
	err := json.Unmarshal(data, &v)
	return v, err
}
