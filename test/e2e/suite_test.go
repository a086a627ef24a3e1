// Package e2e runs the manager in-process against a real API server (envtest) and
// drives it as users would: kubectl for policy, HTTP for decisions.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/crmauthz/crmauthz/internal/auth"
	"github.com/crmauthz/crmauthz/internal/openapitest"
	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

var (
	testEnv    *envtest.Environment
	cfg        *rest.Config
	k8sClient  client.Client
	kubeconfig string
	apiURL     string
	op         *operator.Operator
	apiProxy   *tcpProxy
	cancel     context.CancelFunc
	managerErr = make(chan error, 1)
	// bearer is the suite's own token, allowed to ask about every tenant.
	bearer string
	// apiHTTP sends the suite's requests to the decision API, every exchange held to
	// the OpenAPI document (a mismatch fails the spec).
	apiHTTP *http.Client
	// decisionLog holds the manager's decision log lines.
	decisionLog = &testenv.SyncBuffer{}
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager end-to-end suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	testEnv, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	// The API server calls the manager's webhooks, as in a cluster.
	testEnv.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{testenv.Path("config", "webhook")}}
	// A certificate directory of our own lets a test restart the API server process
	// with the same certificates and port: envtest makes new ones in a fresh directory.
	testEnv.ControlPlane.APIServer = &envtest.APIServer{CertDir: GinkgoT().TempDir()}
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	contract, err := openapitest.Load()
	Expect(err).NotTo(HaveOccurred())
	apiHTTP = &http.Client{Transport: contract.Transport(GinkgoT(), nil)}
	k8sClient, err = client.New(cfg, client.Options{Scheme: operator.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err = testenv.Kubeconfig(cfg, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())

	// The manager reaches the API server through a proxy the tests can cut.
	u, err := url.Parse(cfg.Host)
	Expect(err).NotTo(HaveOccurred())
	apiProxy, err = startProxy(u.Host)
	Expect(err).NotTo(HaveOccurred())
	managerCfg := rest.CopyConfig(cfg)
	managerCfg.Host = "https://" + apiProxy.addr()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	apiURL = "http://" + ln.Addr().String()
	// Callers authenticate: the suite asks with a service account allowed every tenant.
	managerClients, err := kubernetes.NewForConfig(managerCfg)
	Expect(err).NotTo(HaveOccurred())
	op, err = operator.New(managerCfg, operator.Options{
		Auth:        auth.NewKube(managerClients, 30*time.Second, 10*time.Minute),
		APIListener: ln, ProbeAddr: "0", MetricsAddr: "0",
		DecisionLog: true, DecisionLogWriter: decisionLog, DryRunStatusPeriod: time.Second,
		LeaderElection: true, LeaderElectionNamespace: "default",
		Webhooks: operator.WebhookOptions{Enabled: true,
			Host:    testEnv.WebhookInstallOptions.LocalServingHost,
			Port:    testEnv.WebhookInstallOptions.LocalServingPort,
			CertDir: testEnv.WebhookInstallOptions.LocalServingCertDir},
	})
	Expect(err).NotTo(HaveOccurred())
	var managerCtx context.Context
	managerCtx, cancel = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		managerErr <- op.Manager.Start(managerCtx)
	}()
	Eventually(func() int { code, _ := get("/readyz"); return code }, 60*time.Second, 50*time.Millisecond).Should(Equal(http.StatusOK))

	out, err := testenv.Kubectl(kubeconfig, "apply", "-f", testenv.Path("config", "rbac", "decision_caller_role.yaml"))
	Expect(err).NotTo(HaveOccurred(), out)
	// Under the name config/default gives it.
	Expect(k8sClient.Create(ctx(), renamedCallerRole())).To(Succeed())
	bearer = serviceAccountToken("e2e", "suite", "*")
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
		Eventually(managerErr, 30*time.Second).Should(Receive(BeNil()))
	}
	if apiProxy != nil {
		apiProxy.close()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// post sends a JSON body to the decision API and returns the status and body.
func post(path string, body any) (int, []byte) {
	data, err := json.Marshal(body)
	Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequest(http.MethodPost, apiURL+path, bytes.NewReader(data))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := apiHTTP.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, out
}

// check asks /v1/check and decodes the decision.
func check(q service.CheckRequest) service.CheckResponse {
	code, body := post("/v1/check", q)
	ExpectWithOffset(1, code).To(Equal(http.StatusOK), "%s", body)
	var d service.CheckResponse
	ExpectWithOffset(1, json.Unmarshal(body, &d)).To(Succeed())
	return d
}

func get(path string) (int, []byte) { return getAs(bearer, path) }

// getAs is get with another token ("" sends none).
func getAs(token, path string) (int, []byte) {
	req, err := http.NewRequest(http.MethodGet, apiURL+path, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiHTTP.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// renamedCallerRole is config/rbac's decision-caller ClusterRole under the name
// config/default gives it (crmauthz-decision-caller).
func renamedCallerRole() *rbacv1.ClusterRole {
	var r rbacv1.ClusterRole
	Expect(k8sClient.Get(ctx(), client.ObjectKey{Name: "decision-caller"}, &r)).To(Succeed())
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "crmauthz-decision-caller"}, Rules: r.Rules}
}

func kubectl(args ...string) string {
	out, err := testenv.Kubectl(kubeconfig, args...)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), out)
	return out
}

// kubectlApply applies a YAML document.
func kubectlApply(doc string) {
	path := fmt.Sprintf("%s/%d.yaml", GinkgoT().TempDir(), time.Now().UnixNano())
	ExpectWithOffset(1, writeFile(path, doc)).To(Succeed())
	kubectl("apply", "-f", path)
}
