package server_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
)

// stalled is a decision log sink that never returns from Write, as a full pipe whose
// reader stopped (`crmauthz serve 2>&1 >/dev/null | sleep 300`) does not.
type stalled struct{ release chan struct{} }

func (s stalled) Write(p []byte) (int, error) {
	<-s.release
	return len(p), nil
}

// TestAStalledDecisionLogNeverStopsDecisions: with the log's sink stuck, every
// decision is still answered at once, and the lines that do not fit the buffer are
// dropped and counted.
func TestAStalledDecisionLogNeverStopsDecisions(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	sink := stalled{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	s := server.New(service.New(f.store, nil), server.Options{DecisionLog: sink, DecisionLogBuffer: 64, Registry: reg, Gatherer: reg})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	defer close(sink.release)

	client := &http.Client{Timeout: 2 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				resp, err := client.Post(srv.URL+"/v1/check", "application/json", strings.NewReader(checkBody))
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- &server.AuthError{Status: resp.StatusCode, Message: "status"}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a decision failed while the log was stalled: %v", err)
	}
	// 800 decisions: a few lines taken by the stuck writer, 64 in the buffer, the
	// rest dropped and counted.
	g.Expect(counter(reg, "crmauthz_decision_log_dropped_total", nil)).To(BeNumerically(">=", 600))
	// Nor does it hold up a shutdown.
	start := time.Now()
	s.Close(200 * time.Millisecond)
	g.Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second))
}

// counter is the value of the counter name whose labels include want (0 if none).
func counter(reg prometheus.Gatherer, name string, want map[string]string) float64 {
	families, _ := reg.Gather()
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// rawRequest sends bytes as they are over a new connection to srv and returns the
// status of the answer (0 if none).
func rawRequest(t *testing.T, addr, req string, closeWrite bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBodiesThatCannotBeReadAre4xx: a body that ends before its Content-Length or has
// broken chunked encoding is the client's fault (400), and one that does not arrive
// in time is 408, each counted as such; none is a 500.
func TestBodiesThatCannotBeReadAre4xx(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	reg := prometheus.NewRegistry()
	s := server.New(service.New(f.store, nil), server.Options{Registry: reg})
	hs := &http.Server{Handler: validated(t, s.Handler()), ReadTimeout: 300 * time.Millisecond, WriteTimeout: 2 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	addr := ln.Addr().String()
	head := "POST /v1/check HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"

	short := head + "Content-Length: 500\r\n\r\n" + checkBody[:40]
	g.Expect(rawRequest(t, addr, short, true)).To(Equal(http.StatusBadRequest), "a body that ends early")
	chunked := head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + checkBody + "\r\n0\r\n\r\n"
	g.Expect(rawRequest(t, addr, chunked, false)).To(Equal(http.StatusBadRequest), "bad chunked encoding")
	g.Expect(rawRequest(t, addr, short, false)).To(Equal(http.StatusRequestTimeout), "a body that never comes")

	counts := func(code string) float64 {
		return counter(reg, "crmauthz_requests_refused_total", map[string]string{"endpoint": "check", "code": code})
	}
	g.Expect(counts("400")).To(Equal(2.0))
	g.Expect(counts("408")).To(Equal(1.0))
	g.Expect(counts("500")).To(BeZero())
	g.Expect(server.NewHTTPServer(nil).WriteTimeout).To(BeNumerically(">", server.NewHTTPServer(nil).ReadTimeout),
		"a body that times out still gets its 408 written")
}

// tokens authorises "ops" (every tenant, may read metrics) and "crm" (tenant acme).
type tokens struct{}

func (tokens) Authorize(r *http.Request, tenant string) (string, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer ops":
		return "ops", nil
	case "Bearer crm":
		if tenant == "acme" {
			return "crm", nil
		}
		return "crm", &server.AuthError{Status: http.StatusForbidden, Message: "crm may not ask about " + tenant}
	}
	return "", &server.AuthError{Status: http.StatusUnauthorized, Message: "the bearer token is not valid"}
}

func (t tokens) AuthorizeMetrics(r *http.Request) (string, error) {
	caller, err := t.Authorize(r, "*")
	if err != nil {
		return caller, err
	}
	if caller != "ops" {
		return caller, &server.AuthError{Status: http.StatusForbidden, Message: "no metrics for " + caller}
	}
	return caller, nil
}

func get(t *testing.T, url, token, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsNeedTheAPIsCredentials: /metrics names every tenant; with callers
// authenticating it needs credentials too.
func TestMetricsNeedTheAPIsCredentials(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	reg := prometheus.NewRegistry()
	s := server.New(service.New(f.store, nil), server.Options{Auth: tokens{}, Registry: reg, Gatherer: reg})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics", "", "")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	g.Expect(body).NotTo(ContainSubstring("acme"))
	code, _ = get(t, srv.URL+"/metrics", "crm", "")
	g.Expect(code).To(Equal(http.StatusForbidden))
	code, body = get(t, srv.URL+"/metrics", "ops", "")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(body).To(ContainSubstring(`crmauthz_tenant_revision_info{revision=`))
}

// TestRefusedCallersAreLoggedRateLimited: 401 and 403 are logged with the caller, the
// tenant and the reason, but a flood is not: lines beyond the limit are counted into
// the next one.
func TestRefusedCallersAreLoggedRateLimited(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
	s := server.New(service.New(f.store, nil), server.Options{Auth: tokens{}, Log: log})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/check", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		return resp.StatusCode
	}
	g.Expect(post("crm", strings.Replace(checkBody, `"acme"`, `"globex"`, 1))).To(Equal(http.StatusForbidden))
	mu.Lock()
	g.Expect(buf.String()).To(And(ContainSubstring(`"caller":"crm"`), ContainSubstring(`"tenant":"globex"`),
		ContainSubstring(`"status":403`), ContainSubstring(`"reason":"crm may not ask about globex"`)))
	mu.Unlock()
	for i := 0; i < 200; i++ {
		g.Expect(post("forged", checkBody)).To(Equal(http.StatusUnauthorized))
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Count(buf.String(), "Refused a caller")
	g.Expect(lines).To(BeNumerically("<", 40), "a flood of forged tokens does not flood the log")
	g.Expect(buf.String()).To(ContainSubstring(`"reason":"the bearer token is not valid"`))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLoopbackServersAnswerOnlyLocalHostNames: an unauthenticated loopback server is
// not reachable by DNS rebinding (a page whose own name now resolves to 127.0.0.1).
func TestLoopbackServersAnswerOnlyLocalHostNames(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, true)
	s := server.New(service.New(f.store, nil), server.Options{LoopbackHostsOnly: true})
	srv := httptest.NewServer(validated(t, s.Handler()))
	defer srv.Close()
	for _, host := range []string{"localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"} {
		code, _ := get(t, srv.URL+"/healthz", "", host)
		g.Expect(code).To(Equal(http.StatusOK), host)
	}
	for _, host := range []string{"attacker.example", "attacker.example:8080", "127.0.0.1.nip.io", "10.0.0.1:8080"} {
		code, body := get(t, srv.URL+"/v1/tenants/acme", "", host)
		g.Expect(code).To(Equal(http.StatusForbidden), host)
		g.Expect(body).To(ContainSubstring("is not localhost or a loopback address"))
	}
}
