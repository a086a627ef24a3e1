package helm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

// TestAgainstARealAPIServer: everything the chart renders, with default and with
// full values, is accepted by a real API server (server-side dry run; stand-in CRDs
// for cert-manager's and the Prometheus Operator's kinds), and the manager started
// with the rendered Deployment's own arguments comes up as it would in a pod.
func TestAgainstARealAPIServer(t *testing.T) {
	g := NewWithT(t)
	env, err := testenv.New()
	g.Expect(err).NotTo(HaveOccurred())
	env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join("testdata", "thirdparty-crds.yaml"))
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	kubeconfig, err := testenv.Kubeconfig(cfg, t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), "kubectl %v: %s", args, out)
		return string(out)
	}
	kubectl("", "create", "namespace", "crmauthz-system")

	t.Run("server-side dry run", func(t *testing.T) {
		g := NewWithT(t)
		for _, args := range [][]string{nil, {"--values", fullValues}} {
			out, err := helm(append([]string{"template", "crmauthz", chart, "--namespace", "crmauthz-system"}, args...)...)
			g.Expect(err).NotTo(HaveOccurred(), out)
			applied := kubectl(out, "apply", "--dry-run=server", "-f", "-")
			g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(decodeAll(t, out))), applied)
		}
	})

	t.Run("the manager as the Deployment runs it", func(t *testing.T) {
		managerAsDeployed(t, cfg, kubeconfig, kubectl)
	})
}

// managerAsDeployed installs the chart's default rendering into namespace default
// (where a process outside a pod finds itself), then runs bin/crmauthz with the
// Deployment's arguments — only the listen addresses and the certificate mount are
// this machine's — and plays the kubelet: it copies the Secret cert-controller fills
// into the mounted directory.
func managerAsDeployed(t *testing.T, cfg *rest.Config, kubeconfig string, kubectl func(string, ...string) string) {
	g := NewWithT(t)
	// Policy first: the rendered webhook points at a Service this API server cannot
	// reach, and fails closed.
	kubectl("", "apply", "-k", testenv.Path("config", "samples"))
	out, err := helm("template", "crmauthz", chart, "--namespace", "default")
	g.Expect(err).NotTo(HaveOccurred(), out)
	kubectl(out, "apply", "-f", "-")
	var args []any
	for _, o := range decodeAll(t, out) {
		if o.GetKind() == "Deployment" {
			args, _, _ = unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			args = args[0].(map[string]any)["args"].([]any)
		}
	}
	g.Expect(args).NotTo(BeEmpty())

	bin := filepath.Join(t.TempDir(), "crmauthz")
	build := exec.Command("go", "build", "-o", bin, "./cmd/crmauthz")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certDir := t.TempDir()
	api, probes, hook := freePort(t), freePort(t), freePort(t)
	var cmdArgs []string
	for _, a := range args {
		s := a.(string)
		switch {
		case strings.HasPrefix(s, "--api-addr="):
			s = "--api-addr=127.0.0.1:" + api
		case strings.HasPrefix(s, "--health-probe-bind-address="):
			s = "--health-probe-bind-address=127.0.0.1:" + probes
		case strings.HasPrefix(s, "--webhook-port="):
			s = "--webhook-port=" + hook
		case strings.HasPrefix(s, "--webhook-cert-dir="):
			s = "--webhook-cert-dir=" + certDir
		}
		cmdArgs = append(cmdArgs, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testenv.SyncBuffer{} // written by exec's copying goroutines, read by the test
	manager := exec.CommandContext(ctx, bin, append(cmdArgs, "--kubeconfig", kubeconfig)...)
	manager.Stdout, manager.Stderr = logs, logs
	g.Expect(manager.Start()).To(Succeed())
	defer func() { _ = manager.Process.Kill(); _ = manager.Wait() }()

	// The kubelet's part: the Secret cert-controller fills, mounted into the pod.
	clients, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	var secret *corev1.Secret
	g.Eventually(func(g Gomega) {
		secret, err = clients.CoreV1().Secrets("default").Get(context.Background(), "crmauthz-webhook-server-cert", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(secret.Data).To(HaveKey("tls.crt"))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	for name, data := range secret.Data {
		g.Expect(os.WriteFile(filepath.Join(certDir, name), data, 0o600)).To(Succeed())
	}
	// Ready as the readiness probe sees it: every tenant loaded, webhooks serving.
	g.Eventually(func() int { return status("http://127.0.0.1:" + probes + "/readyz") }, 60*time.Second, 100*time.Millisecond).
		Should(Equal(http.StatusOK), func() string { return logs.String() })
	// cert-controller put its CA into the chart's webhook configuration.
	g.Eventually(func(g Gomega) {
		hooks, err := clients.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(),
			"crmauthz-validating-webhook-configuration", metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		for _, w := range hooks.Webhooks {
			g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), w.Name)
		}
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())

	// The webhooks are served with that certificate, for the Service's DNS name.
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		ServerName: "crmauthz-webhook-service.default.svc", MinVersion: tls.VersionTLS12}}}
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Namespace: "acme", Name: "x",
			Kind:   metav1.GroupVersionKind{Group: "policy.crmauthz.io", Version: "v1alpha1", Kind: "SalesGroup"},
			Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"policy.crmauthz.io/v1alpha1","kind":"SalesGroup","metadata":{"name":"x","namespace":"acme"},"spec":{"parent":"x"}}`)}}}
	body, _ := json.Marshal(review)
	g.Eventually(func(g Gomega) {
		resp, err := hc.Post(fmt.Sprintf("https://127.0.0.1:%s/validate-policy-crmauthz-io-v1alpha1-salesgroup", hook), "application/json", bytes.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var answer admissionv1.AdmissionReview
		data, _ := io.ReadAll(resp.Body)
		g.Expect(json.Unmarshal(data, &answer)).To(Succeed(), string(data))
		g.Expect(answer.Response.Allowed).To(BeFalse(), "a group that is its own parent is refused")
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed(), func() string { return logs.String() })

	// Decisions, to a caller the chart's decision-caller ClusterRole lets in.
	token := callerToken(t, clients)
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+api+"/v1/check", strings.NewReader(
		`{"tenant":"acme","subject":{"user":"u-15","role":"SalesUser"},"action":"view","resource":{"entity":"leads","owner":"u-16"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(data))
	g.Expect(string(data)).To(ContainSubstring(`"allowed":true`))
}

// callerToken is a token of a service account bound to the chart's decision-caller
// ClusterRole in tenant acme, as the NOTES tell an operator to bind a CRM workload.
func callerToken(t *testing.T, clients *kubernetes.Clientset) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "crm", Namespace: "acme"}}
	if _, err := clients.CoreV1().ServiceAccounts("acme").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "crm-decisions", Namespace: "acme"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "crmauthz-decision-caller"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "crm", Namespace: "acme"}}}
	if _, err := clients.RbacV1().RoleBindings("acme").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := clients.CoreV1().ServiceAccounts("acme").CreateToken(ctx, "crm", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
