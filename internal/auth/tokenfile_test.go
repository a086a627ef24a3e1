package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestTokenFile(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	g.Expect(os.WriteFile(path, []byte("# token caller tenants\ns3cret-acme crm-acme acme\ns3cret-ops ops *\n"), 0o600)).To(Succeed())
	tf, err := LoadTokenFile(path)
	g.Expect(err).NotTo(HaveOccurred())

	caller, err := tf.Authorize(request("s3cret-acme"), "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("crm-acme"))
	_, err = tf.Authorize(request("s3cret-acme"), "globex")
	g.Expect(status(err)).To(Equal(http.StatusForbidden))
	_, err = tf.Authorize(request("s3cret-ops"), "globex")
	g.Expect(err).NotTo(HaveOccurred(), "* is every tenant")
	_, err = tf.Authorize(request("guess"), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	_, err = tf.Authorize(request(""), "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))

	// /metrics names every tenant: only a caller of every tenant may read it.
	caller, err = tf.AuthorizeMetrics(request("s3cret-ops"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("ops"))
	_, err = tf.AuthorizeMetrics(request("s3cret-acme"))
	g.Expect(status(err)).To(Equal(http.StatusForbidden))
	_, err = tf.AuthorizeMetrics(request(""))
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))

	g.Expect(os.WriteFile(path, []byte("only-a-token\n"), 0o600)).To(Succeed())
	_, err = LoadTokenFile(path)
	g.Expect(err).To(MatchError(ContainSubstring("tokens:1: want `TOKEN CALLER TENANTS`")))
}

func TestClientCertificateIsTheCaller(t *testing.T) {
	g := NewWithT(t)
	var down atomic.Bool
	var calls atomic.Int32
	k := NewKube(fakeCluster(&down, &calls), time.Hour, time.Hour)
	r := request("")
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "alice", Organization: []string{"crm"}}}
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	caller, err := k.Authorize(r, "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("alice"))
	_, err = k.Authorize(r, "globex")
	g.Expect(status(err)).To(Equal(http.StatusForbidden))
	// An unverified certificate is no identity.
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	_, err = k.Authorize(r, "acme")
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
}

func TestTokenFileAuthenticate(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "tokens")
	g.Expect(os.WriteFile(path, []byte("s3cret-acme crm-acme acme\n"), 0o600)).To(Succeed())
	tf, err := LoadTokenFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	caller, err := tf.Authenticate(request("s3cret-acme"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(caller).To(Equal("crm-acme"), "known, whatever tenant it will ask about")
	_, err = tf.Authenticate(request("guess"))
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
	_, err = tf.Authenticate(request(""))
	g.Expect(status(err)).To(Equal(http.StatusUnauthorized))
}
