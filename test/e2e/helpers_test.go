package e2e

import (
	"context"
	"os"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }

// ctx is a fresh context for client calls.
func ctx() context.Context { return context.Background() }

// serverSideApply applies a JSON object through the API (server-side apply), without
// forking kubectl, so the measured delay is the operator's, not kubectl's start-up.
func serverSideApply(doc string) {
	u := &unstructured.Unstructured{}
	ExpectWithOffset(1, u.UnmarshalJSON([]byte(doc))).To(Succeed())
	ExpectWithOffset(1, k8sClient.Apply(ctx(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("e2e"), client.ForceOwnership)).To(Succeed())
}

// withoutWebhooks runs fn with the validating webhook configuration removed, as in a
// cluster where admission did not run (not installed yet, or bypassed), then restores it.
func withoutWebhooks(fn func()) {
	var list admissionregistrationv1.ValidatingWebhookConfigurationList
	ExpectWithOffset(1, k8sClient.List(ctx(), &list)).To(Succeed())
	ExpectWithOffset(1, list.Items).NotTo(BeEmpty())
	for i := range list.Items {
		ExpectWithOffset(1, k8sClient.Delete(ctx(), &list.Items[i])).To(Succeed())
	}
	defer func() {
		for i := range list.Items {
			c := list.Items[i].DeepCopy()
			c.ResourceVersion, c.UID = "", ""
			ExpectWithOffset(2, k8sClient.Create(ctx(), c)).To(Succeed())
		}
	}()
	fn()
}

// metricsReaderToken is the token of a Prometheus service account bound to the
// metrics-reader ClusterRole, as the docs ask.
func metricsReaderToken() string {
	out, err := testenv.Kubectl(kubeconfig, "apply", "-f", testenv.Path("config", "rbac", "metrics_reader_role.yaml"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), out)
	ExpectWithOffset(1, client.IgnoreAlreadyExists(k8sClient.Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}))).To(Succeed())
	ExpectWithOffset(1, client.IgnoreAlreadyExists(k8sClient.Create(ctx(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "prometheus"}}))).To(Succeed())
	ExpectWithOffset(1, client.IgnoreAlreadyExists(k8sClient.Create(ctx(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "monitoring", Name: "prometheus"}}}))).To(Succeed())
	return serviceAccountToken("monitoring", "prometheus")
}
