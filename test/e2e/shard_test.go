package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// shardManager is a `crmauthz manager` process serving one shard, as a Deployment of
// its own would.
type shardManager struct {
	cmd *exec.Cmd
	url string
	log *testenv.SyncBuffer
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startShard(bin, selector string) *shardManager {
	port := freePort()
	m := &shardManager{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: &testenv.SyncBuffer{}}
	m.cmd = exec.Command(bin, "manager", "--tenant-selector", selector,
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0", "--metrics-bind-address", "0",
		"--webhooks=false", "--allow-unauthenticated", "--decision-log=false",
		"--leader-elect=true", "--leader-election-namespace", "default")
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	Expect(m.cmd.Start()).To(Succeed())
	Eventually(func() int { return m.status("GET", "/readyz", nil) }, 60*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK), "shard %s did not get ready:\n%s", selector, m.log)
	return m
}

func (m *shardManager) status(method, path string, body any) int {
	code, _ := m.do(method, path, body)
	return code
}

func (m *shardManager) do(method, path string, body any) (int, string) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, m.url+path, r)
	Expect(err).NotTo(HaveOccurred())
	resp, err := apiHTTP.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (m *shardManager) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	_ = m.cmd.Wait()
}

var _ = Describe("Shards", Ordered, func() {
	var a, b *shardManager

	BeforeAll(func() {
		bin := filepath.Join(GinkgoT().TempDir(), "crmauthz")
		build := exec.Command("go", "build", "-o", bin, "./cmd/crmauthz")
		build.Dir = testenv.RepoRoot()
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		for _, t := range []struct{ ns, shard string }{{"shard-a-acme", "a"}, {"shard-b-globex", "b"}} {
			kubectlApply(fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, labels: {crmauthz.io/shard: %[2]s}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: marketing, namespace: %[1]s}
spec: {appliesTo: {roles: [MarketingUser]}, restrictedFeatures: [Content]}
`, t.ns, t.shard))
		}
		a, b = startShard(bin, "crmauthz.io/shard=a"), startShard(bin, "crmauthz.io/shard=b")
		DeferCleanup(func() { a.stop(); b.stop() })
	})

	ask := func(tenant string) service.CheckRequest {
		return service.CheckRequest{Tenant: tenant, Subject: subject("u-1", "MarketingUser"), Action: "access",
			Resource: service.Resource{Feature: "Content"}}
	}

	It("decides each shard's own tenants and refuses the other's with 421 naming its selector", func() {
		for _, c := range []struct {
			m            *shardManager
			own, foreign string
			selector     string
		}{{a, "shard-a-acme", "shard-b-globex", "crmauthz.io/shard=a"}, {b, "shard-b-globex", "shard-a-acme", "crmauthz.io/shard=b"}} {
			code, body := c.m.do("POST", "/v1/check", ask(c.own))
			Expect(code).To(Equal(http.StatusOK), body)
			Expect(body).To(ContainSubstring(`"reason":"FeatureRestricted"`), "its own tenant is decided on its policy")
			code, body = c.m.do("POST", "/v1/check", ask(c.foreign))
			Expect(code).To(Equal(http.StatusMisdirectedRequest), body)
			Expect(body).To(And(ContainSubstring(`"code":"Misdirected"`), ContainSubstring(c.selector)))
			Expect(body).NotTo(ContainSubstring(`"allowed"`), "never a deny that looks like policy")
			code, _ = c.m.do("GET", "/v1/tenants/"+c.foreign, nil)
			Expect(code).To(Equal(http.StatusMisdirectedRequest))
		}
		code, body := a.do("POST", "/v1/check", ask("no-such-namespace"))
		Expect(code).To(Equal(http.StatusOK), "a tenant nobody has is unknown, not misdirected")
		Expect(body).To(ContainSubstring(`"reason":"UnknownTenant"`))
	})

	It("hands a tenant over when its namespace moves to another shard", func() {
		kubectl("label", "namespace", "shard-a-acme", "crmauthz.io/shard=b", "--overwrite")
		Eventually(func() int { return a.status("POST", "/v1/check", ask("shard-a-acme")) }, 10*time.Second).Should(Equal(http.StatusMisdirectedRequest))
		Eventually(func() string { _, body := b.do("POST", "/v1/check", ask("shard-a-acme")); return body }, 10*time.Second).
			Should(ContainSubstring(`"reason":"FeatureRestricted"`))
		Expect(strings.Count(a.log.String(), "Handed tenant over")).To(BeNumerically(">=", 1))
	})
})
