// Package helm tests the Helm chart (charts/crmauthz) with the pinned helm binary
// (bin/helm, `make helm`): lint, the values schema, agreement with the kustomize
// install (config/default), a server-side dry run of everything it renders against a
// real API server (envtest), and the manager started with the rendered Deployment's
// own flags.
package helm_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

var (
	chart      = testenv.Path("charts", "crmauthz")
	fullValues = filepath.Join("testdata", "full-values.yaml")
)

// helm runs bin/helm and returns its combined output.
func helm(args ...string) (string, error) {
	bin := testenv.Path("bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		return "", errors.New("no bin/helm: run `make helm` (make test does)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// render is `helm template` of release crmauthz into namespace ns, as objects.
func render(t *testing.T, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(append([]string{"template", "crmauthz", chart, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	return decodeAll(t, out)
}

func decodeAll(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(docs), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("decoding rendered objects: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func TestLint(t *testing.T) {
	g := NewWithT(t)
	for _, args := range [][]string{nil, {"--values", fullValues}} {
		out, err := helm(append([]string{"lint", "--strict", chart}, args...)...)
		g.Expect(err).NotTo(HaveOccurred(), out)
		g.Expect(out).To(ContainSubstring("0 chart(s) failed"))
	}
}

// TestValuesSchemaRefusesMistakes: a typo or an unknown choice fails the install
// with the value named, instead of being ignored.
func TestValuesSchemaRefusesMistakes(t *testing.T) {
	g := NewWithT(t)
	for set, want := range map[string]string{
		"replica=3":                    "replica",
		"webhook.certificates=vault":   "certificates",
		"api.auth=basic":               "auth",
		"shards[0].name=A_B":           "name",
		"extraArgs[0]=leader-elect":    "extraArgs",
		"podDisruptionBudget.enbled=1": "enbled",
		"kubeAPI.listPageSize=-1":      "listPageSize",
		"kubeAPI.compression=yes":      "compression",
	} {
		out, err := helm("template", "crmauthz", chart, "--set", set)
		g.Expect(err).To(HaveOccurred(), set)
		g.Expect(out).To(ContainSubstring(want), set)
	}
	out, err := helm("template", "crmauthz", chart, "--set", "shards[0].name=a,shards[0].selector=x=1,shards[1].name=a,shards[1].selector=x=2")
	g.Expect(err).To(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`the name "a" is given twice`))
}

// TestChartAgreesWithKustomize: with default values the chart installs what `kubectl
// apply -k config/default` does — the same objects, RBAC rules, webhooks and
// manager container — plus a PodDisruptionBudget.
func TestChartAgreesWithKustomize(t *testing.T) {
	g := NewWithT(t)
	kout, err := testenv.Kubectl("", "kustomize", testenv.Path("config", "default"))
	g.Expect(err).NotTo(HaveOccurred(), kout)
	kust := decodeAll(t, kout)
	chartObjs := render(t, "crmauthz-system", "--include-crds")

	for _, k := range kust {
		if k.GetKind() == "Namespace" {
			continue // helm install --create-namespace; its Pod Security label is the cluster's choice
		}
		c := find(chartObjs, k.GetKind(), k.GetName())
		g.Expect(c).NotTo(BeNil(), "%s %s from config/default is not in the chart", k.GetKind(), k.GetName())
		g.Expect(c.GetNamespace()).To(Equal(k.GetNamespace()), k.GetName())
		switch k.GetKind() {
		case "CustomResourceDefinition":
			g.Expect(c.Object["spec"]).To(Equal(k.Object["spec"]), k.GetName())
		case "ClusterRole", "Role":
			g.Expect(c.Object["rules"]).To(Equal(k.Object["rules"]), k.GetName())
		case "ClusterRoleBinding", "RoleBinding":
			g.Expect(c.Object["roleRef"]).To(Equal(k.Object["roleRef"]), k.GetName())
			g.Expect(c.Object["subjects"]).To(Equal(k.Object["subjects"]), k.GetName())
		case "ValidatingWebhookConfiguration":
			g.Expect(c.Object["webhooks"]).To(Equal(k.Object["webhooks"]), k.GetName())
		case "Service":
			g.Expect(c.Object["spec"].(map[string]any)["ports"]).To(Equal(k.Object["spec"].(map[string]any)["ports"]), k.GetName())
		case "Deployment":
			expectSameManager(g, c, k)
		}
	}
	g.Expect(ofKind(chartObjs, "PodDisruptionBudget")).To(HaveLen(1))
}

// expectSameManager compares the manager's pod: every argument kustomize gives is
// given alike (the chart spells out the defaults too), and the container's ports,
// probes, mounts, security and resources are the same.
func expectSameManager(g Gomega, chartDep, kustDep *unstructured.Unstructured) {
	pod := func(u *unstructured.Unstructured) (map[string]any, map[string]any) {
		spec, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
		return spec, spec["containers"].([]any)[0].(map[string]any)
	}
	cp, cc := pod(chartDep)
	kp, kc := pod(kustDep)
	g.Expect(cp["securityContext"]).To(Equal(kp["securityContext"]))
	g.Expect(cp["serviceAccountName"]).To(Equal(kp["serviceAccountName"]))
	g.Expect(cp["volumes"]).To(Equal(kp["volumes"]))
	for _, f := range []string{"ports", "volumeMounts", "securityContext", "livenessProbe", "readinessProbe", "resources"} {
		g.Expect(cc[f]).To(Equal(kc[f]), f)
	}
	args := cc["args"].([]any)
	for _, a := range kc["args"].([]any) {
		g.Expect(args).To(ContainElement(a))
	}
	g.Expect(args[0]).To(Equal("manager"))
}

// TestShardsAndOptions: every optional part renders as the values say.
func TestShardsAndOptions(t *testing.T) {
	g := NewWithT(t)
	objs := render(t, "crmauthz-system", "--values", fullValues)
	deps := ofKind(objs, "Deployment")
	g.Expect(deps).To(HaveLen(2))
	for i, sel := range []string{"crmauthz.io/shard=a", "crmauthz.io/shard in (b,c)"} {
		args, _, _ := unstructured.NestedSlice(deps[i].Object, "spec", "template", "spec", "containers")
		g.Expect(args[0].(map[string]any)["args"]).To(ContainElements("--tenant-selector="+sel, "--cert-rotation=false",
			"--tls-cert-file=/etc/crmauthz/api-tls/tls.crt", "--client-ca-file=/etc/crmauthz/client-ca/ca.crt", "--auth-cache-ttl=1m",
			"--decision-log=false", "--api-addr=:8443", "--webhook-port=9444", "--kube-api-compression=true", "--list-page-size=1000"))
	}
	for _, name := range []string{"crmauthz-api-a", "crmauthz-api-b", "crmauthz-webhook-service"} {
		g.Expect(find(objs, "Service", name)).NotTo(BeNil(), name)
	}
	sel, _, _ := unstructured.NestedStringMap(find(objs, "Service", "crmauthz-webhook-service").Object, "spec", "selector")
	g.Expect(sel).NotTo(HaveKey("crmauthz.io/shard"), "every shard serves the webhooks")
	g.Expect(ofKind(objs, "PodDisruptionBudget")).To(HaveLen(2))
	g.Expect(ofKind(objs, "Certificate")).To(HaveLen(1))
	g.Expect(ofKind(objs, "Issuer")).To(HaveLen(1))
	g.Expect(ofKind(objs, "Secret")).To(BeEmpty(), "cert-manager writes the certificate's Secret")
	hooks := ofKind(objs, "ValidatingWebhookConfiguration")[0]
	g.Expect(hooks.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "crmauthz-system/crmauthz-webhook-server-cert"))
	g.Expect(ofKind(objs, "ServiceMonitor")).To(HaveLen(1))
	g.Expect(ofKind(objs, "NetworkPolicy")).To(HaveLen(1))

	var buf bytes.Buffer
	for _, o := range objs {
		data, _ := o.MarshalJSON()
		buf.Write(data)
	}
	g.Expect(buf.String()).NotTo(ContainSubstring("<no value>"))
	g.Expect(slices.ContainsFunc(ofKind(render(t, "x"), "Secret"), func(u *unstructured.Unstructured) bool {
		return u.GetAnnotations()["helm.sh/resource-policy"] == "keep"
	})).To(BeTrue(), "cert-controller's Secret survives upgrades")
}
