// Package server is the decision API's HTTP transport: routing, body limits, error
// mapping, metrics and the decision log. Deciding is the service layer's job.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// DefaultMaxBodyBytes bounds a request body: a batch of 100 checks fits easily.
const DefaultMaxBodyBytes = 1 << 20

// Authorizer decides whether the caller of r may ask about tenant. It returns who
// the caller is (for the decision log), or an error carrying the HTTP status.
type Authorizer interface {
	Authorize(r *http.Request, tenant string) (caller string, err error)
}

// AuthError is an authentication (401) or authorisation (403) refusal.
type AuthError struct {
	Status  int
	Message string
}

func (e *AuthError) Error() string { return e.Message }

// Options configure a Server.
type Options struct {
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DecisionLog receives one line per decision; nil logs nothing.
	DecisionLog *slog.Logger
	// Auth checks callers; nil accepts everyone (loopback development only).
	Auth Authorizer
	// Metrics registry; nil registers nothing.
	Registry prometheus.Registerer
	// Gatherer serves /metrics; nil serves no metrics endpoint.
	Gatherer prometheus.Gatherer
	// MaxInFlightPerCaller bounds the requests one caller (or, unauthenticated, one
	// client address) may have in flight; 0 means DefaultMaxInFlightPerCaller.
	MaxInFlightPerCaller int
}

// DefaultMaxInFlightPerCaller lets one caller use the server fully without letting it
// starve the others.
const DefaultMaxInFlightPerCaller = 256

// Server serves the decision API of SPEC §3.4.
type Server struct {
	svc      *service.Service
	store    *tenants.Store
	opts     Options
	metrics  *Metrics
	inflight *inflight
}

// New returns a server deciding with svc on the policy in store.
func New(svc *service.Service, store *tenants.Store, opts Options) *Server {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxInFlightPerCaller == 0 {
		opts.MaxInFlightPerCaller = DefaultMaxInFlightPerCaller
	}
	s := &Server{svc: svc, store: store, opts: opts, inflight: &inflight{max: opts.MaxInFlightPerCaller, n: map[string]int{}}}
	if opts.Registry != nil {
		s.metrics = NewMetrics(opts.Registry, store)
	}
	return s
}

// NewHTTPServer wraps h with timeouts and header limits, so slow or idle clients
// cannot hold connections forever.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/check", handle(s, s.checkEndpoint()))
	mux.HandleFunc("POST /v1/checks", handle(s, s.checksEndpoint()))
	mux.HandleFunc("POST /v1/filter", handle(s, single("filter", s.svc.Filter, func(q *service.FilterRequest) string { return q.Tenant }, s.logFilter)))
	mux.HandleFunc("POST /v1/users/visible", handle(s, single("users/visible", s.svc.Visible, func(q *service.VisibleRequest) string { return q.Tenant }, s.logVisible)))
	mux.HandleFunc("POST /v1/login", handle(s, single("login", s.svc.Login, func(q *service.LoginRequest) string { return q.Tenant }, s.logLogin)))
	mux.HandleFunc("POST /v1/session", handle(s, single("session", s.svc.Session, func(q *service.SessionRequest) string { return q.Tenant }, s.logSession)))
	mux.HandleFunc("POST /v1/password", handle(s, single("password", s.svc.Password, func(q *service.PasswordRequest) string { return q.Tenant }, s.logPassword)))
	mux.HandleFunc("GET /v1/tenants/{tenant}", s.tenant)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no endpoint "+r.Method+" "+r.URL.Path, "")
	})
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.store.Ready() {
		writeError(w, http.StatusServiceUnavailable, "Unavailable", "policy not loaded yet", "")
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg, fieldPath string) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Field = code, msg, fieldPath
	writeJSON(w, status, &b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":"Internal","message":"could not encode the response"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// fail maps an error to its status in one place: bad input 400, not ready 503, auth
// 401/403, too large 413, anything else 500. None of them is ever an allow.
func (s *Server) fail(w http.ResponseWriter, endpoint string, err error) {
	status, code, field := http.StatusInternalServerError, "Internal", ""
	msg := "internal error"
	var ia *service.InvalidArgument
	var ae *AuthError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ia):
		status, code, msg, field = http.StatusBadRequest, "InvalidArgument", ia.Error(), ia.Field
	case errors.Is(err, service.Unavailable):
		status, code, msg = http.StatusServiceUnavailable, "Unavailable", err.Error()
	case errors.As(err, &ae):
		status, msg = ae.Status, ae.Message
		code = "Unauthenticated"
		if status == http.StatusForbidden {
			code = "PermissionDenied"
		}
	case errors.As(err, &tooBig):
		status, code = http.StatusRequestEntityTooLarge, "InvalidArgument"
		msg = "request body larger than " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"
	case errors.Is(err, errTooManyInFlight):
		status, code, msg = http.StatusTooManyRequests, "ResourceExhausted", err.Error()
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if s.metrics != nil {
		s.metrics.refused.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	}
	writeError(w, status, code, msg, field)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
}

// admit authenticates and authorises the caller for tenant and takes one of its
// in-flight slots; release gives it back.
func (s *Server) admit(r *http.Request, tenant string) (caller string, release func(), err error) {
	if s.opts.Auth != nil {
		if caller, err = s.opts.Auth.Authorize(r, tenant); err != nil {
			return caller, nil, err
		}
	}
	key := caller
	if key == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			key = host
		}
	}
	release, err = s.inflight.acquire(key)
	return caller, release, err
}

var errTooManyInFlight = errors.New("too many requests in flight")

// inflight counts each caller's requests in flight.
type inflight struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (l *inflight) acquire(key string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return nil, fmt.Errorf("%w: %s already has %d, the most one caller may have", errTooManyInFlight, displayCaller(key), l.max)
	}
	l.n[key]++
	return func() {
		l.mu.Lock()
		if l.n[key]--; l.n[key] <= 0 {
			delete(l.n, key)
		}
		l.mu.Unlock()
	}, nil
}

func displayCaller(k string) string {
	if k == "" {
		return "the caller"
	}
	return "caller " + k
}

func (s *Server) observe(endpoint string, start time.Time, reasons ...engine.Reason) {
	if s.metrics == nil {
		return
	}
	for _, r := range reasons {
		s.metrics.decisions.WithLabelValues(endpoint, string(r)).Inc()
	}
	s.metrics.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

// endpoint describes one decision endpoint for handle: how to decide a request of type
// Q, what to answer, what to log and which reasons to count.
type endpoint[Q any, R any] struct {
	name    string
	decide  func(*Q) (R, error)
	tenant  func(*Q) string
	body    func(R) any
	log     func(caller string, q *Q, r R)
	reasons func(R) []engine.Reason
}

// handle serves one endpoint: read, decode, authorise, decide, answer, log, count.
func handle[Q any, R any](s *Server, e endpoint[Q, R]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body, err := s.readBody(w, r)
		if err != nil {
			s.fail(w, e.name, err)
			return
		}
		var q Q
		if err := service.Decode(body, &q); err != nil {
			s.fail(w, e.name, err)
			return
		}
		caller, release, err := s.admit(r, e.tenant(&q))
		if err != nil {
			s.fail(w, e.name, err)
			return
		}
		defer release()
		res, err := e.decide(&q)
		if err != nil {
			s.fail(w, e.name, err)
			return
		}
		writeJSON(w, http.StatusOK, e.body(res))
		e.log(caller, &q, res)
		s.observe(e.name, start, e.reasons(res)...)
	}
}

// single adapts the one-decision endpoints, whose response is the answer.
func single[Q any, R any](name string, decide func(*Q) (*R, error), tenant func(*Q) string, log func(string, *Q, *R)) endpoint[Q, *R] {
	return endpoint[Q, *R]{name: name, decide: decide, tenant: tenant, log: log,
		body:    func(r *R) any { return r },
		reasons: func(r *R) []engine.Reason { return []engine.Reason{reasonOf(r)} }}
}

func reasonOf(resp any) engine.Reason {
	switch r := resp.(type) {
	case *service.FilterResponse:
		return r.Reason
	case *service.VisibleResponse:
		return r.Reason
	case *service.LoginResponse:
		return r.Reason
	case *service.SessionResponse:
		return r.Reason
	case *service.PasswordResponse:
		if r.Reason != "" {
			return r.Reason
		}
		if r.Valid {
			return engine.Allowed
		}
		return "PasswordPolicy"
	}
	return ""
}

// checked is a check's answer with the parsed request, for the decision log.
type checked struct {
	resp *service.CheckResponse
	req  *engine.Request
}

func (s *Server) checkEndpoint() endpoint[service.CheckRequest, checked] {
	return endpoint[service.CheckRequest, checked]{
		name: "check",
		decide: func(q *service.CheckRequest) (checked, error) {
			resp, req, err := s.svc.Check(q)
			return checked{resp, req}, err
		},
		tenant: func(q *service.CheckRequest) string { return q.Tenant },
		body:   func(c checked) any { return c.resp },
		log: func(caller string, q *service.CheckRequest, c checked) {
			s.logCheck(caller, q.Tenant, q.Resource.ID, c.req, c.resp)
		},
		reasons: func(c checked) []engine.Reason { return []engine.Reason{c.resp.Reason} },
	}
}

// batch is a batch's answers with the parsed requests.
type batch struct {
	resp *service.BatchResponse
	reqs []engine.Request
}

func (s *Server) checksEndpoint() endpoint[service.BatchRequest, batch] {
	return endpoint[service.BatchRequest, batch]{
		name: "checks",
		decide: func(q *service.BatchRequest) (batch, error) {
			resp, reqs, err := s.svc.Checks(q)
			return batch{resp, reqs}, err
		},
		tenant: func(q *service.BatchRequest) string { return q.Tenant },
		body:   func(b batch) any { return b.resp },
		log: func(caller string, q *service.BatchRequest, b batch) {
			for i := range b.resp.Results {
				s.logCheck(caller, q.Tenant, q.Checks[i].Resource.ID, &b.reqs[i], &b.resp.Results[i])
			}
		},
		reasons: func(b batch) []engine.Reason {
			out := make([]engine.Reason, len(b.resp.Results))
			for i := range b.resp.Results {
				out[i] = b.resp.Results[i].Reason
			}
			return out
		},
	}
}

func (s *Server) tenant(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("tenant")
	_, release, err := s.admit(r, name)
	if err != nil {
		s.fail(w, "tenants", err)
		return
	}
	defer release()
	if !s.store.Ready() {
		s.fail(w, "tenants", service.Unavailable)
		return
	}
	t := s.store.Get(name)
	if t == nil {
		writeError(w, http.StatusNotFound, "NotFound", "tenant "+name+" has no crmauthz policy", "")
		return
	}
	writeJSON(w, http.StatusOK, describeTenant(name, t))
}
