package e2e

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

// health is what the GitOps tools compute for an object: kstatus (Flux's wait,
// kubectl wait --for=jsonpath aside) and config/argocd/health.lua run by gopher-lua,
// the interpreter Argo CD embeds.
type health struct{ kstatus, argo string }

var healthScript = func() string {
	data, err := os.ReadFile(testenv.Path("config", "argocd", "health.lua"))
	if err != nil {
		panic(err)
	}
	return string(data)
}()

func healthOf(u *unstructured.Unstructured) health {
	res, err := status.Compute(u)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, u.Object))
	ExpectWithOffset(1, L.DoString(healthScript)).To(Succeed())
	hs, ok := L.Get(-1).(*lua.LTable)
	ExpectWithOffset(1, ok).To(BeTrue(), "health.lua returns a table")
	return health{kstatus: res.Status.String(), argo: hs.RawGetString("status").String()}
}

// toLua converts decoded JSON as Argo CD hands objects to health scripts.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	}
	return lua.LNil
}

func getObject(kind, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "policy.crmauthz.io", Version: "v1alpha1", Kind: kind})
	ExpectWithOffset(1, k8sClient.Get(ctx(), client.ObjectKey{Namespace: "health", Name: name}, u)).To(Succeed())
	return u
}

var _ = Describe("GitOps health", Ordered, func() {
	It("keeps config/argocd's ConfigMap patch equal to health.lua", func() {
		data, err := os.ReadFile(testenv.Path("config", "argocd", "argocd-cm-patch.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var cm struct{ Data map[string]string }
		Expect(yaml.Unmarshal(data, &cm)).To(Succeed())
		Expect(cm.Data).To(HaveLen(4))
		for _, kind := range []string{"PermissionTemplate", "SalesGroup", "LoginPolicy", "IPAllowlist"} {
			Expect(cm.Data).To(HaveKeyWithValue("resource.customizations.health.policy.crmauthz.io_"+kind, healthScript))
		}
	})

	It("reads as kstatus and Argo CD expect: created Current, changed InProgress until compiled, left out Failed", func() {
		kubectl("create", "namespace", "health")
		kubectlApply(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: reps, namespace: health}
spec:
  appliesTo: {roles: [SalesUser]}
  restrictedFeatures: [Reports]
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: proxies, namespace: health}
spec:
  cidrs: ["203.0.113.0/24"]
  channels: [API]
  blockAnonymousProxies: true
  anonymousProxyList: {configMapRef: {name: no-such-list, key: exits.txt}}
`)
		Eventually(func() health { return healthOf(getObject("PermissionTemplate", "reps")) }, 20*time.Second, 50*time.Millisecond).
			Should(Equal(health{"Current", "Healthy"}))

		// The object as the change left it: a new generation not compiled yet.
		u := getObject("PermissionTemplate", "reps")
		Expect(unstructured.SetNestedStringSlice(u.Object, []string{"Reports", "Workflow"}, "spec", "restrictedFeatures")).To(Succeed())
		Expect(k8sClient.Update(ctx(), u)).To(Succeed())
		Expect(u.GetGeneration()).To(Equal(int64(2)))
		Expect(healthOf(u)).To(Equal(health{"InProgress", "Progressing"}))
		Eventually(func() health { return healthOf(getObject("PermissionTemplate", "reps")) }, 20*time.Second, 50*time.Millisecond).
			Should(Equal(health{"Current", "Healthy"}))

		// An allowlist whose proxy list is missing fails closed and is left out: a
		// failure for the GitOps tool to report, not progress to wait for.
		Eventually(func() health { return healthOf(getObject("IPAllowlist", "proxies")) }, 20*time.Second, 50*time.Millisecond).
			Should(Equal(health{"Failed", "Degraded"}))
		al := getObject("IPAllowlist", "proxies")
		conds, _, _ := unstructured.NestedSlice(al.Object, "status", "conditions")
		Expect(conds).To(ContainElement(And(HaveKeyWithValue("type", "Stalled"), HaveKeyWithValue("status", "True"),
			HaveKeyWithValue("reason", "ProxyListUnavailable"))))

		// Fixed (the list created with its label), it is Current again.
		kubectlApply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: no-such-list, namespace: health, labels: {policy.crmauthz.io/anonymous-proxy-list: "true"}}
data: {exits.txt: "198.51.100.0/24"}
`)
		Eventually(func() health { return healthOf(getObject("IPAllowlist", "proxies")) }, 20*time.Second, 50*time.Millisecond).
			Should(Equal(health{"Current", "Healthy"}))
		Expect(kubectl("get", "ipal", "-n", "health", "proxies", "-o", "jsonpath={.status.conditions[*].type}")).NotTo(ContainSubstring("Stalled"),
			"no longer stalled: the condition is gone")
	})
})
