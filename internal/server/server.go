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
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmauthz/crmauthz/api/openapi"
	"github.com/crmauthz/crmauthz/internal/service"
)

// DefaultMaxBodyBytes bounds a request body: a batch of 100 checks fits easily.
const DefaultMaxBodyBytes = 1 << 20

// Authorizer decides whether the caller of r may ask about tenant. It returns who
// the caller is (for the decision log), or an error carrying the HTTP status.
// AuthorizeMetrics decides whether the caller may read /metrics, which names every
// tenant.
type Authorizer interface {
	Authorize(r *http.Request, tenant string) (caller string, err error)
	AuthorizeMetrics(r *http.Request) (caller string, err error)
}

// Authenticator is what an Authorizer may add: saying who is calling before anything
// about the request is read, so that an unknown caller gets its 401 without the body
// being read or decoded (and learns nothing from a 400).
type Authenticator interface {
	Authenticate(r *http.Request) (caller string, err error)
}

// AuthError is an authentication (401) or authorisation (403) refusal, or 503 when
// the caller cannot be checked now.
type AuthError struct {
	Status  int
	Message string
}

func (e *AuthError) Error() string { return e.Message }

// Options configure a Server.
type Options struct {
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DecisionLog receives one JSON line per decision, written off the request path
	// through a buffer of DecisionLogBuffer lines (0: DefaultDecisionLogBuffer); when
	// the buffer is full, lines are dropped and counted, never waited for. nil logs
	// nothing.
	DecisionLog       io.Writer
	DecisionLogBuffer int
	// Log receives the server's own events (refused callers); nil: slog.Default().
	Log *slog.Logger
	// Auth checks callers; nil accepts everyone (loopback development only).
	Auth Authorizer
	// LoopbackHostsOnly answers only requests whose Host is localhost or a loopback
	// address. Unauthenticated servers on loopback set it: a web page the user visits
	// could otherwise reach them through DNS rebinding.
	LoopbackHostsOnly bool
	// Metrics registry; nil registers nothing.
	Registry prometheus.Registerer
	// Gatherer serves /metrics; nil serves no metrics endpoint. With Auth set,
	// /metrics needs the same credentials as the API (Authorizer.AuthorizeMetrics).
	Gatherer prometheus.Gatherer
	// MaxInFlightPerCaller bounds the requests one caller (or, unauthenticated, one
	// client address) may have in flight; 0 means DefaultMaxInFlightPerCaller.
	MaxInFlightPerCaller int
	// Shard, when set, says which tenants this server holds: a request about
	// another shard's tenant is answered 421, never decided.
	Shard Shard
}

// Shard tells the tenants of other shards.
type Shard interface {
	// Misdirected says whether tenant is another shard's, and this shard's selector.
	Misdirected(tenant string) (selector string, misdirected bool)
}

// MisdirectedError is a request about another shard's tenant: 421.
type MisdirectedError struct{ Tenant, Selector string }

func (e *MisdirectedError) Error() string {
	return "tenant " + e.Tenant + " is served by another crmauthz shard: this one serves the namespaces matching " + e.Selector
}

// DefaultMaxInFlightPerCaller lets one caller use the server fully without letting it
// starve the others.
const DefaultMaxInFlightPerCaller = 256

// Server serves the decision API (docs/api.md).
type Server struct {
	svc      *service.Service
	opts     Options
	metrics  *Metrics
	inflight *inflight
	declog   *decisionLog
	refusals *refusalLog
}

// New returns a server deciding with svc. Close stops its decision log.
func New(svc *service.Service, opts Options) *Server {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxInFlightPerCaller == 0 {
		opts.MaxInFlightPerCaller = DefaultMaxInFlightPerCaller
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{svc: svc, opts: opts, inflight: &inflight{max: opts.MaxInFlightPerCaller, n: map[string]int{}},
		refusals: newRefusalLog(opts.Log)}
	if opts.Registry != nil {
		s.metrics = NewMetrics(opts.Registry, svc)
	}
	if opts.DecisionLog != nil {
		var dropped prometheus.Counter
		if s.metrics != nil {
			dropped = s.metrics.logDropped
		}
		s.declog = newDecisionLog(opts.DecisionLog, opts.DecisionLogBuffer, dropped)
	}
	return s
}

// Close writes out the decision log lines still buffered (for up to timeout: a sink
// that does not take them loses them) and stops the log.
func (s *Server) Close(timeout time.Duration) {
	if s.declog != nil {
		s.declog.close(timeout)
	}
}

// SyncDecisionLog waits until every decision made so far has been written (or
// dropped), for up to timeout.
func (s *Server) SyncDecisionLog(timeout time.Duration) bool {
	return s.declog == nil || s.declog.sync(timeout)
}

// NewHTTPServer wraps h with timeouts and header limits, so slow or idle clients
// cannot hold connections forever. Writing may take longer than reading, so a body
// that times out still gets its 408.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// Handler routes every endpoint; api/openapi/openapi.json describes them all, and is
// served at GET /openapi.json (no credentials, as /healthz).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/check", handle(s, "check", s.svc.Check, func(_ *http.Request, q *service.CheckRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/checks", handle(s, "checks", s.svc.Checks, func(_ *http.Request, q *service.BatchRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/filter", handle(s, "filter", s.svc.Filter, func(_ *http.Request, q *service.FilterRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/users/visible", handle(s, "users/visible", s.svc.Visible, func(_ *http.Request, q *service.VisibleRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/login", handle(s, "login", s.svc.Login, func(_ *http.Request, q *service.LoginRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/session", handle(s, "session", s.svc.Session, func(_ *http.Request, q *service.SessionRequest) string { return q.Tenant }))
	mux.HandleFunc("POST /v1/password", handle(s, "password", s.svc.Password, func(_ *http.Request, q *service.PasswordRequest) string { return q.Tenant }))
	mux.HandleFunc("GET /v1/tenants/{tenant}", s.tenant)
	s.authzenRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonType
		_, _ = w.Write(openapi.JSON)
	})
	if s.opts.Gatherer != nil {
		mux.Handle("GET /metrics", s.metricsHandler(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{})))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no endpoint "+r.Method+" "+r.URL.Path, "")
	})
	var h http.Handler = mux
	if s.opts.LoopbackHostsOnly {
		h = s.loopbackHostsOnly(h)
	}
	return echoRequestID(h) // outermost: every answer, refusals included
}

// echoRequestID answers with the caller's X-Request-ID, as AuthZEN asks (and any
// caller tracing a request across services can use).
func echoRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header["X-Request-Id"]; len(id) > 0 {
			w.Header()["X-Request-Id"] = id[:1]
		}
		h.ServeHTTP(w, r)
	})
}

// metricsHandler asks for the API's credentials before showing metrics, which name
// every tenant and its policy revision.
func (s *Server) metricsHandler(h http.Handler) http.Handler {
	if s.opts.Auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := s.opts.Auth.AuthorizeMetrics(r)
		if err != nil {
			s.fail(w, r, "metrics", "", caller, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHostsOnly refuses requests whose Host header is not a loopback name: a page
// in the user's browser that rebinds its own DNS name to 127.0.0.1 sends its own name.
func (s *Server) loopbackHostsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsLoopbackHost(r.Host) {
			s.fail(w, r, "host", "", "", &AuthError{Status: http.StatusForbidden, Message: "Host " + strconv.Quote(r.Host) +
				" is not localhost or a loopback address: this unauthenticated server answers only local names"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsLoopbackHost says whether host (a Host header or listen address, with or without
// a port) names this machine's loopback: localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.svc.Ready() {
		w.Header().Set("Retry-After", "1")
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
	data, _ := json.Marshal(&b)
	writeBody(w, status, data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":"Internal","message":"could not encode the response"}}`)
	}
	writeBody(w, status, data)
}

var jsonType = []string{"application/json"}

// writeBody sends data and a newline. net/http adds Content-Length itself when the
// answer fits its buffer (and chunks a larger batch).
func writeBody(w http.ResponseWriter, status int, data []byte) {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// Errors reading a body.
var (
	errBodyTooLarge = errors.New("request body too large")
	errBodyTimeout  = errors.New("the body was not received in time")
)

// fail maps an error to its status in one place: bad input 400, a body not received
// in time 408, too large 413, another shard's tenant 421, too many in flight 429, not
// ready 503, auth 401/403, anything else 500. None of them is ever an allow. Refused callers are logged, rate
// limited.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, endpoint, tenant, caller string, err error) {
	status, code, field := http.StatusInternalServerError, "Internal", ""
	msg := "internal error"
	var ia *service.InvalidArgument
	var ae *AuthError
	var body *bodyError
	var mis *MisdirectedError
	var nf *service.NotFound
	switch {
	case errors.As(err, &ia):
		status, code, msg, field = http.StatusBadRequest, "InvalidArgument", ia.Error(), ia.Field
	case errors.Is(err, service.ErrUnavailable):
		status, code, msg = http.StatusServiceUnavailable, "Unavailable", err.Error()
	case errors.As(err, &ae):
		status, msg = ae.Status, ae.Message
		switch status {
		case http.StatusForbidden:
			code = "PermissionDenied"
		case http.StatusServiceUnavailable:
			code = "Unavailable"
		default:
			code = "Unauthenticated"
		}
		s.refusals.logRefusal(r, endpoint, tenant, caller, status, msg)
	case errors.Is(err, errBodyTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "InvalidArgument"
		msg = "request body larger than " + strconv.FormatInt(s.opts.MaxBodyBytes, 10) + " bytes"
		w.Header().Set("Connection", "close") // do not read the rest of it
	case errors.Is(err, errBodyTimeout):
		status, code, msg = http.StatusRequestTimeout, "InvalidArgument", err.Error()
		w.Header().Set("Connection", "close")
	case errors.As(err, &body):
		status, code, msg = http.StatusBadRequest, "InvalidArgument", body.Error()
		w.Header().Set("Connection", "close")
	case errors.As(err, &nf):
		status, code, msg = http.StatusNotFound, "NotFound", nf.Error()
	case errors.As(err, &mis):
		status, code, msg = http.StatusMisdirectedRequest, "Misdirected", mis.Error()
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

// bodyError is a body that could not be read as sent: it ended before its
// Content-Length, or its chunked encoding is broken. It is the client's fault: 400.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "the request body could not be read: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// readBody reads r's body into buf (reusing its capacity), refusing more than
// MaxBodyBytes before reading it.
func (s *Server) readBody(r *http.Request, buf []byte) ([]byte, error) {
	max := s.opts.MaxBodyBytes
	if r.ContentLength > max {
		return buf, errBodyTooLarge
	}
	// Room for the announced length, up to maxPooled: a client that announces a
	// megabyte and sends it slowly must not get a megabyte per connection up front.
	if want := min(r.ContentLength, maxPooled); want > 0 && int64(cap(buf)) < want {
		buf = make([]byte, 0, want)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return buf, errBodyTooLarge
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return buf, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return buf, errBodyTimeout
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return buf, errBodyTimeout
			}
			return buf, &bodyError{err}
		}
	}
}

// misdirected refuses a request about another shard's tenant.
func (s *Server) misdirected(tenant string) error {
	if s.opts.Shard == nil {
		return nil
	}
	if selector, mis := s.opts.Shard.Misdirected(tenant); mis {
		return &MisdirectedError{Tenant: tenant, Selector: selector}
	}
	return nil
}

// admit authenticates and authorises the caller for tenant and takes one of its
// in-flight slots; s.inflight.release(slot) gives it back.
func (s *Server) admit(r *http.Request, tenant string) (caller, slot string, err error) {
	if s.opts.Auth != nil {
		if caller, err = s.opts.Auth.Authorize(r, tenant); err != nil {
			return caller, "", err
		}
	}
	slot = caller
	if slot == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			slot = host
		}
	}
	return caller, slot, s.inflight.acquire(slot)
}

var errTooManyInFlight = errors.New("too many requests in flight")

// inflight counts each caller's requests in flight.
type inflight struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (l *inflight) acquire(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return fmt.Errorf("%w: %s already has %d, the most one caller may have", errTooManyInFlight, displayCaller(key), l.max)
	}
	l.n[key]++
	return nil
}

func (l *inflight) release(key string) {
	l.mu.Lock()
	if l.n[key]--; l.n[key] <= 0 {
		delete(l.n, key)
	}
	l.mu.Unlock()
}

func displayCaller(k string) string {
	if k == "" {
		return "the caller"
	}
	return "caller " + k
}

// call is one request's working memory, pooled per endpoint: the body, the decoded
// request and the reply keep their buffers from one request to the next.
type call[Q any] struct {
	body  []byte
	q     Q
	reply service.Reply
}

// maxPooled is the largest body or reply buffer kept for reuse; a rare large batch
// does not pin a megabyte per pooled call.
const maxPooled = 64 << 10

// handle serves one decision endpoint: read, decode, authorise, decide, answer, then
// hand the decisions to the log and the metrics.
func handle[Q any](s *Server, endpoint string, decide func(*Q, *service.Reply) error, tenant func(*http.Request, *Q) string) http.HandlerFunc {
	pool := sync.Pool{New: func() any { return new(call[Q]) }}
	var counts *endpointMetrics
	if s.metrics != nil {
		counts = s.metrics.forEndpoint(endpoint)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := pool.Get().(*call[Q])
		defer func() {
			if cap(c.body) <= maxPooled && cap(c.reply.Body) <= maxPooled {
				pool.Put(c)
			}
		}()
		if a, ok := s.opts.Auth.(Authenticator); ok {
			if caller, err := a.Authenticate(r); err != nil {
				s.fail(w, r, endpoint, "", caller, err)
				return
			}
		}
		var err error
		if c.body, err = s.readBody(r, c.body[:0]); err != nil {
			s.fail(w, r, endpoint, "", "", err)
			return
		}
		if err := service.Decode(c.body, &c.q); err != nil {
			s.fail(w, r, endpoint, "", "", err)
			return
		}
		t := tenant(r, &c.q)
		caller, slot, err := s.admit(r, t)
		if err != nil {
			s.fail(w, r, endpoint, t, caller, err)
			return
		}
		defer s.inflight.release(slot)
		if err := s.misdirected(t); err != nil {
			s.fail(w, r, endpoint, t, caller, err)
			return
		}
		if err := decide(&c.q, &c.reply); err != nil {
			s.fail(w, r, endpoint, t, caller, err)
			return
		}
		writeBody(w, http.StatusOK, c.reply.Body)
		for i := range c.reply.Records {
			rec := &c.reply.Records[i]
			if rec.DryRun.Set {
				s.svc.CountDryRun(rec)
			}
			if s.declog != nil {
				s.declog.add(caller, rec)
			}
			if counts != nil {
				counts.decided(rec.Reason)
				if rec.DryRun.Set {
					s.metrics.dryRunDiffered(rec)
				}
			}
		}
		if counts != nil {
			counts.latency.Observe(time.Since(start).Seconds())
		}
	}
}

func (s *Server) tenant(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("tenant")
	caller, slot, err := s.admit(r, name)
	if err != nil {
		s.fail(w, r, "tenants", name, caller, err)
		return
	}
	defer s.inflight.release(slot)
	if err := s.misdirected(name); err != nil {
		s.fail(w, r, "tenants", name, caller, err)
		return
	}
	doc, err := s.svc.Describe(name)
	if err != nil {
		s.fail(w, r, "tenants", name, caller, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}
