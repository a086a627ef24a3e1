package crmauthz_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/openapitest"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
)

// sampleHandler is a real crmauthz server on config/samples (tenant acme), every
// exchange held to the OpenAPI document.
func sampleHandler(t *testing.T, opts server.Options) http.Handler {
	t.Helper()
	s := server.New(service.New(sampleStore(), nil), opts)
	t.Cleanup(func() { s.Close(time.Second) })
	return openapitest.MustLoad(t).Handler(t, s.Handler())
}

func edit(owner string) *crmauthz.CheckRequest {
	return &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Action: "edit",
		Resource: crmauthz.Resource{Entity: "leads", ID: "L-1", Owner: owner}, Fields: []string{"Stage"}}
}

func TestClientAsksEveryEndpoint(t *testing.T) {
	g := NewWithT(t)
	srv := httptest.NewServer(sampleHandler(t, server.Options{}))
	defer srv.Close()
	c, err := crmauthz.New(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	own, err := c.Check(ctx, edit("u-15"))
	g.Expect(err).NotTo(HaveOccurred())
	other, err := c.Check(ctx, edit("u-999"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(own.Allowed).NotTo(Equal(other.Allowed), "the sample allows editing one's own lead, not a stranger's")
	g.Expect(own.Revision).NotTo(BeEmpty())
	g.Expect(own.DecisionID).NotTo(Equal(other.DecisionID))

	batch, err := c.Checks(ctx, &crmauthz.BatchRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"},
		Checks: []crmauthz.BatchItem{{Action: "edit", Resource: crmauthz.Resource{Entity: "leads", Owner: "u-15"}, Fields: []string{"Stage"}},
			{Action: "edit", Resource: crmauthz.Resource{Entity: "leads", Owner: "u-999"}, Fields: []string{"Stage"}}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(batch.Results).To(HaveLen(2))
	g.Expect(batch.Results[0].Reason).To(Equal(own.Reason))
	g.Expect(batch.Results[1].Reason).To(Equal(other.Reason))

	plan, err := c.Filter(ctx, &crmauthz.FilterRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Entity: "leads"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Kind).NotTo(BeEmpty())
	visible, err := c.VisibleUsers(ctx, &crmauthz.VisibleRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(visible.Reason).To(Equal(crmauthz.Reason("Allowed")))
	login, err := c.Login(ctx, &crmauthz.LoginRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, IP: "203.0.113.5", Provider: "Password"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(login.Reason).NotTo(BeEmpty())
	session, err := c.Session(ctx, &crmauthz.SessionRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, IP: "203.0.113.5",
		IssuedAt: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(session.Reason).NotTo(BeEmpty())
	pw, err := c.Password(ctx, &crmauthz.PasswordRequest{Tenant: "acme", Password: "short"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pw.Valid).To(BeFalse())
	g.Expect(pw.Violations).NotTo(BeEmpty())
	desc, err := c.Tenant(ctx, "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.Revision).To(Equal(own.Revision))

	// An error is an *Error naming the field, not retried; a denial is never one.
	_, err = c.Check(ctx, &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "Boss"}, Action: "view",
		Resource: crmauthz.Resource{Entity: "leads"}})
	var apiErr *crmauthz.Error
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(apiErr.Status).To(Equal(http.StatusBadRequest))
	g.Expect(apiErr.Code).To(Equal("InvalidArgument"))
	g.Expect(apiErr.Field).To(Equal("subject.role"))
	_, err = c.Tenant(ctx, "globex")
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(apiErr.Status).To(Equal(http.StatusNotFound))
}

// TestCheckAllSplitsBatches: any number of checks, MaxBatch to a request, in order.
func TestCheckAllSplitsBatches(t *testing.T) {
	g := NewWithT(t)
	var requests atomic.Int32
	h := sampleHandler(t, server.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := crmauthz.New(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())
	items := make([]crmauthz.BatchItem, 2*crmauthz.MaxBatch+50)
	owners := []string{"u-15", "u-999"}
	for i := range items {
		items[i] = crmauthz.BatchItem{Action: "edit", Resource: crmauthz.Resource{Entity: "leads", Owner: owners[i%2]}, Fields: []string{"Stage"}}
	}
	got, err := c.CheckAll(context.Background(), "acme", crmauthz.Subject{User: "u-15", Role: "SalesUser"}, crmauthz.Context{}, items)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(requests.Load()).To(Equal(int32(3)))
	g.Expect(got).To(HaveLen(len(items)))
	own, _ := c.Check(context.Background(), edit("u-15"))
	other, _ := c.Check(context.Background(), edit("u-999"))
	for i, d := range got {
		want := own
		if i%2 == 1 {
			want = other
		}
		g.Expect(d.Allowed).To(Equal(want.Allowed), "item %d", i)
		g.Expect(d.Reason).To(Equal(want.Reason), "item %d", i)
	}
}

// flaky answers the first fails requests with status (and Retry-After when set).
func flaky(h http.Handler, fails int32, status int, retryAfter string) (http.Handler, *atomic.Int32) {
	var n atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fails {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"Unavailable","message":"policy not loaded yet"}}`))
			return
		}
		h.ServeHTTP(w, r)
	}), &n
}

func TestClientRetries(t *testing.T) {
	g := NewWithT(t)
	h := sampleHandler(t, server.Options{})

	// 429 and 503 are retried until the answer comes, Retry-After honoured.
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		fl, n := flaky(h, 2, status, "")
		srv := httptest.NewServer(fl)
		c, _ := crmauthz.New(srv.URL, crmauthz.WithRetries(3, time.Millisecond, 10*time.Millisecond))
		d, err := c.Check(context.Background(), edit("u-15"))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Allowed).To(BeTrue())
		g.Expect(n.Load()).To(Equal(int32(3)))
		srv.Close()
	}
	fl, n := flaky(h, 1, http.StatusServiceUnavailable, "1")
	srv := httptest.NewServer(fl)
	c, _ := crmauthz.New(srv.URL, crmauthz.WithRetries(3, time.Millisecond, 10*time.Millisecond))
	start := time.Now()
	_, err := c.Check(context.Background(), edit("u-15"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(time.Since(start)).To(BeNumerically(">=", time.Second), "Retry-After: 1 is waited out")
	g.Expect(n.Load()).To(Equal(int32(2)))
	srv.Close()

	// Retries stop at the limit with the server's error, and at the context's deadline.
	fl, n = flaky(h, 100, http.StatusServiceUnavailable, "")
	srv = httptest.NewServer(fl)
	defer srv.Close()
	c, _ = crmauthz.New(srv.URL, crmauthz.WithRetries(2, time.Millisecond, 10*time.Millisecond))
	_, err = c.Check(context.Background(), edit("u-15"))
	var apiErr *crmauthz.Error
	g.Expect(errors.As(err, &apiErr)).To(BeTrue())
	g.Expect(apiErr.Status).To(Equal(http.StatusServiceUnavailable))
	g.Expect(n.Load()).To(Equal(int32(3)), "one try and two retries")
	c, _ = crmauthz.New(srv.URL, crmauthz.WithRetries(1000, 20*time.Millisecond, 20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Check(ctx, edit("u-15"))
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "%v", err)

	// An unreachable server is retried too, then reported.
	dead := httptest.NewServer(h)
	dead.Close()
	c, _ = crmauthz.New(dead.URL, crmauthz.WithRetries(2, time.Millisecond, time.Millisecond))
	_, err = c.Check(context.Background(), edit("u-15"))
	g.Expect(err).To(HaveOccurred())
}

// tokenAuth accepts one bearer token at a time (the one in want).
type tokenAuth struct{ want *atomic.Value }

func (a tokenAuth) Authorize(r *http.Request, _ string) (string, error) {
	if r.Header.Get("Authorization") != "Bearer "+a.want.Load().(string) {
		return "", &server.AuthError{Status: http.StatusUnauthorized, Message: "the bearer token is not valid"}
	}
	return "crm", nil
}

func (a tokenAuth) AuthorizeMetrics(r *http.Request) (string, error) { return a.Authorize(r, "") }

// TestClientRereadsARotatedTokenFile: a projected service-account token is replaced
// in place; the client sends the new one without being rebuilt.
func TestClientRereadsARotatedTokenFile(t *testing.T) {
	g := NewWithT(t)
	want := &atomic.Value{}
	want.Store("first")
	srv := httptest.NewServer(sampleHandler(t, server.Options{Auth: tokenAuth{want}}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "token")
	g.Expect(os.WriteFile(path, []byte("first\n"), 0o600)).To(Succeed())
	c, err := crmauthz.New(srv.URL, crmauthz.WithTokenFile(path))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.Check(context.Background(), edit("u-15"))
	g.Expect(err).NotTo(HaveOccurred())

	// Rotated in place, same length (so neither size nor, within a tick, time tells):
	// the 401 makes the client read the file again at once.
	g.Expect(os.WriteFile(path, []byte("other\n"), 0o600)).To(Succeed())
	want.Store("other")
	_, err = c.Check(context.Background(), edit("u-15"))
	g.Expect(err).NotTo(HaveOccurred(), "a 401 re-reads the rotated token")

	_, err = crmauthz.New(srv.URL, crmauthz.WithTokenFile(filepath.Join(t.TempDir(), "missing")))
	g.Expect(err).To(HaveOccurred(), "a token file that cannot be read fails at New")
}

// TestClientMutualTLS: with WithTLS the client verifies the server and presents its
// certificate; without a certificate the server refuses the handshake.
func TestClientMutualTLS(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	g.Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewUnstartedServer(sampleHandler(t, server.Options{}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()

	c, err := crmauthz.New(srv.URL, crmauthz.WithTLS(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")))
	g.Expect(err).NotTo(HaveOccurred())
	d, err := c.Check(context.Background(), edit("u-15"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Allowed).To(BeTrue())

	anonymous, err := crmauthz.New(srv.URL, crmauthz.WithTLS(filepath.Join(dir, "ca.crt"), "", ""), crmauthz.WithRetries(0, time.Millisecond, time.Millisecond))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = anonymous.Check(context.Background(), edit("u-15"))
	g.Expect(err).To(HaveOccurred(), "no client certificate")
	untrusting, err := crmauthz.New(srv.URL, crmauthz.WithRetries(0, time.Millisecond, time.Millisecond))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = untrusting.Check(context.Background(), edit("u-15"))
	g.Expect(err).To(HaveOccurred(), "the server's CA is not trusted by default")
}

// newCert writes name.crt and name.key into dir: a CA when parent is nil, else a
// certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
