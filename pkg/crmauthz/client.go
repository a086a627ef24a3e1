package crmauthz

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client calls a crmauthz server. It is safe for concurrent use; make one per server
// and keep it.
//
// Every call honours its context's deadline. A call answered 503 (the server is not
// ready, or cannot check the caller now) or 429 (too many of this caller's requests in
// flight), or that could not reach the server, is retried with exponential backoff and
// jitter, waiting at least what Retry-After asks; every endpoint decides without side
// effects, so a retry is always safe. Other errors are returned as *Error at once.
type Client struct {
	base    *url.URL
	http    *http.Client
	token   *tokenFile
	bearer  string
	retries int
	backoff time.Duration
	maxWait time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithTokenFile sends the token in path as a bearer token, read again whenever the
// file changes: a projected service-account token (the usual credential of
// `crmauthz manager`) is rotated by the kubelet in place.
func WithTokenFile(path string) Option {
	return func(c *Client) error {
		c.token = &tokenFile{path: path}
		_, err := c.token.get()
		return err
	}
}

// WithToken sends a fixed bearer token.
func WithToken(token string) Option {
	return func(c *Client) error { c.bearer = token; return nil }
}

// WithTLS trusts the server certificates signed by the PEM CA in caFile (empty: the
// system's roots) and, when certFile and keyFile are set, presents that client
// certificate (mTLS: `crmauthz manager --client-ca-file`).
func WithTLS(caFile, certFile, keyFile string) Option {
	return func(c *Client) error {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s: no PEM certificate", caFile)
			}
		}
		if certFile != "" || keyFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return err
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return WithTLSConfig(cfg)(c)
	}
}

// WithTLSConfig uses cfg for HTTPS (for certificates that rotate, say, with
// GetClientCertificate).
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *Client) error {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg
		c.http = &http.Client{Transport: t}
		return nil
	}
}

// WithHTTPClient sends requests with hc (its transport, timeouts and TLS).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error { c.http = hc; return nil }
}

// WithRetries retries a call up to n times (default 4), waiting base, 2×base, 4×base…
// (default 50 ms) with jitter, never more than maxWait (default 2 s) at a time unless
// Retry-After asks for longer. 0 retries nothing.
func WithRetries(n int, base, maxWait time.Duration) Option {
	return func(c *Client) error {
		if n < 0 || base <= 0 || maxWait < base {
			return errors.New("WithRetries: n >= 0 and 0 < base <= maxWait")
		}
		c.retries, c.backoff, c.maxWait = n, base, maxWait
		return nil
	}
}

// New returns a client of the server at baseURL (e.g. http://crmauthz.crmauthz-system:8080).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("crmauthz: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: &http.Client{Transport: http.DefaultTransport}, retries: 4, backoff: 50 * time.Millisecond, maxWait: 2 * time.Second}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Error is an answer that is not a decision: 4xx or 5xx with the server's error body.
// A denial is never an Error: it is a response with allowed false.
type Error struct {
	Status int    // HTTP status
	Code   string // InvalidArgument, Unauthenticated, PermissionDenied, NotFound, Misdirected, ResourceExhausted, Unavailable, Internal
	// Message says what is wrong; Field names the request field at fault, when one is.
	Message, Field string
	// RetryAfter is what the server asked to wait (503, 429).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("crmauthz: %d %s: %s", e.Status, e.Code, e.Message)
}

// Check asks POST /v1/check.
func (c *Client) Check(ctx context.Context, q *CheckRequest) (*CheckResponse, error) {
	return call[CheckResponse](ctx, c, http.MethodPost, "/v1/check", q)
}

// Checks asks POST /v1/checks: up to MaxBatch checks on one policy snapshot.
func (c *Client) Checks(ctx context.Context, q *BatchRequest) (*BatchResponse, error) {
	return call[BatchResponse](ctx, c, http.MethodPost, "/v1/checks", q)
}

// CheckAll decides any number of checks of one subject, MaxBatch to a request, and
// returns the decisions in order. Each request is decided on one snapshot; a long
// list may span a policy change between two of them (each decision's revision says).
func (c *Client) CheckAll(ctx context.Context, tenant string, subject Subject, reqCtx Context, items []BatchItem) ([]CheckResponse, error) {
	out := make([]CheckResponse, 0, len(items))
	for start := 0; start < len(items); start += MaxBatch {
		end := min(start+MaxBatch, len(items))
		resp, err := c.Checks(ctx, &BatchRequest{Tenant: tenant, Subject: subject, Context: reqCtx, Checks: items[start:end]})
		if err != nil {
			return out, err
		}
		if len(resp.Results) != end-start {
			return out, fmt.Errorf("crmauthz: %d results for %d checks", len(resp.Results), end-start)
		}
		out = append(out, resp.Results...)
	}
	return out, nil
}

// Filter asks POST /v1/filter: which records of an entity the user may act on.
func (c *Client) Filter(ctx context.Context, q *FilterRequest) (*FilterResponse, error) {
	return call[FilterResponse](ctx, c, http.MethodPost, "/v1/filter", q)
}

// VisibleUsers asks POST /v1/users/visible: whom the user sees in user pickers.
func (c *Client) VisibleUsers(ctx context.Context, q *VisibleRequest) (*VisibleResponse, error) {
	return call[VisibleResponse](ctx, c, http.MethodPost, "/v1/users/visible", q)
}

// Login asks POST /v1/login.
func (c *Client) Login(ctx context.Context, q *LoginRequest) (*LoginResponse, error) {
	return call[LoginResponse](ctx, c, http.MethodPost, "/v1/login", q)
}

// Session asks POST /v1/session.
func (c *Client) Session(ctx context.Context, q *SessionRequest) (*SessionResponse, error) {
	return call[SessionResponse](ctx, c, http.MethodPost, "/v1/session", q)
}

// Password asks POST /v1/password.
func (c *Client) Password(ctx context.Context, q *PasswordRequest) (*PasswordResponse, error) {
	return call[PasswordResponse](ctx, c, http.MethodPost, "/v1/password", q)
}

// Tenant asks GET /v1/tenants/{tenant}: what is in force for a tenant.
func (c *Client) Tenant(ctx context.Context, tenant string) (*TenantDescription, error) {
	return call[TenantDescription](ctx, c, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenant), nil)
}

// call sends one request, retrying what may be retried, and decodes a 200's body.
func call[R any](ctx context.Context, c *Client, method, path string, body any) (*R, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	reread := c.token != nil
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, path, data)
		var apiErr *Error
		if reread && errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			// The token may have been rotated since it was last read: read it now and
			// try once more.
			reread = false
			c.token.invalidate()
			resp, err = c.send(ctx, method, path, data)
		}
		if err == nil {
			var out R
			if err := json.Unmarshal(resp, &out); err != nil {
				return nil, fmt.Errorf("crmauthz: %s %s: %w", method, path, err)
			}
			return &out, nil
		}
		wait, retry := c.retryAfter(err, attempt)
		if !retry || attempt >= c.retries {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// retryAfter says whether err may be retried, and after how long.
func (c *Client) retryAfter(err error, attempt int) (time.Duration, bool) {
	var apiErr *Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		if apiErr.Status != http.StatusServiceUnavailable && apiErr.Status != http.StatusTooManyRequests {
			return 0, false
		}
	case permanent(err):
		return 0, false
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
	default:
		return 0, false
	}
	wait := min(c.backoff<<attempt, c.maxWait)
	wait = wait/2 + rand.N(wait/2+1) // jitter: callers that failed together do not retry together
	if apiErr != nil && apiErr.RetryAfter > wait {
		wait = apiErr.RetryAfter
	}
	return wait, true
}

// permanent says whether a transport error would come back on every attempt: a
// certificate that is not trusted, a handshake that fails, a cancelled call.
func permanent(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &record) || errors.As(err, &alert) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// send makes one attempt: the body of a 200, or an error.
func (c *Client) send(ctx context.Context, method, path string, data []byte) ([]byte, error) {
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := c.bearer
	if c.token != nil {
		if token, err = c.token.get(); err != nil {
			return nil, err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return b, nil
	}
	e := &Error{Status: resp.StatusCode}
	var eb struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
	} else {
		e.Code, e.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b))
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, e
}

// tokenFile is a bearer token kept in a file that may be replaced at any time.
type tokenFile struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
	checked time.Time
}

// tokenRecheck is how often the file is looked at: a rotated token is picked up
// within it, and a busy client does not stat the file on every call.
const tokenRecheck = time.Second

// invalidate makes the next get read the file whatever its time and size.
func (t *tokenFile) invalidate() {
	t.mu.Lock()
	t.checked, t.modTime, t.size = time.Time{}, time.Time{}, -1
	t.mu.Unlock()
}

func (t *tokenFile) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.token != "" && now.Sub(t.checked) < tokenRecheck {
		return t.token, nil
	}
	t.checked = now
	fi, err := os.Stat(t.path)
	if err != nil {
		if t.token != "" {
			return t.token, nil // being replaced (kubelet swaps a symlink): keep the last one
		}
		return "", fmt.Errorf("crmauthz: token file: %w", err)
	}
	if t.token != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return t.token, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		if t.token != "" {
			return t.token, nil
		}
		return "", fmt.Errorf("crmauthz: token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		if t.token != "" {
			return t.token, nil
		}
		return "", fmt.Errorf("crmauthz: token file %s is empty", t.path)
	}
	t.token, t.modTime, t.size = tok, fi.ModTime(), fi.Size()
	return t.token, nil
}
