package loader

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

const docs = `# a comment-only document first
---
apiVersion: v1
kind: Namespace
metadata: {name: acme}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west, namespace: acme}
spec: {members: [u-1]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tor, namespace: acme, labels: {policy.crmauthz.io/anonymous-proxy-list: "true"}}
data: {exits: "203.0.113.66\n"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: acme}
data: {secret: "not ours"}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: reps}
spec: {appliesTo: {roles: [SalesUser]}}
`

func TestDecodeKeepsOurKindsAndConfigMaps(t *testing.T) {
	g := NewWithT(t)
	objs, err := Decode([]byte(docs), "policy.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(objs).To(HaveLen(4), "the Namespace and the comment-only document are skipped")
	g.Expect(objs[0].Source).To(Equal("policy.yaml#3"), "documents are numbered as in the file")
	g.Expect(objs[0].Typed).To(BeAssignableToTypeOf(&v1alpha1.SalesGroup{}))
	g.Expect(objs[0].Typed.(*v1alpha1.SalesGroup).Spec.Members).To(Equal([]v1alpha1.UserID{"u-1"}))
	g.Expect(objs[3].Kind()).To(Equal("PermissionTemplate"))
}

func TestDecodeNamesWhatIsWrong(t *testing.T) {
	for name, c := range map[string]struct{ doc, want string }{
		"unknown kind":          {"apiVersion: policy.crmauthz.io/v1alpha1\nkind: Team\nmetadata: {name: x}\n", `f.yaml#1: unknown kind "Team" in policy.crmauthz.io/v1alpha1`},
		"another version":       {"apiVersion: policy.crmauthz.io/v1\nkind: SalesGroup\nmetadata: {name: x}\n", `f.yaml#1: unsupported apiVersion "policy.crmauthz.io/v1" (use policy.crmauthz.io/v1alpha1)`},
		"no name":               {"apiVersion: policy.crmauthz.io/v1alpha1\nkind: SalesGroup\nmetadata: {namespace: acme}\n", "f.yaml#1: metadata.name: required"},
		"a key given twice":     {"apiVersion: policy.crmauthz.io/v1alpha1\nkind: SalesGroup\nmetadata: {name: x}\nspec: {parent: a}\nspec: {parent: b}\n", "f.yaml#1"},
		"not YAML":              {"apiVersion: [\n", "f.yaml#1"},
		"a wrongly typed field": {"apiVersion: policy.crmauthz.io/v1alpha1\nkind: SalesGroup\nmetadata: {name: x}\nspec: {members: u-1}\n", "f.yaml#1 (SalesGroup x)"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Decode([]byte(c.doc), "f.yaml")
			g.Expect(err).To(MatchError(ContainSubstring(c.want)))
		})
	}
}

func TestReadPathsWalksInOrderAndSkipsKustomizations(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, rel)
		g.Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		g.Expect(os.WriteFile(p, []byte(data), 0o600)).To(Succeed())
	}
	group := func(name string) string {
		return "apiVersion: policy.crmauthz.io/v1alpha1\nkind: SalesGroup\nmetadata: {name: " + name + "}\n"
	}
	write("b.yaml", group("b"))
	write("sub/a.yml", group("a"))
	write("c.json", `{"apiVersion":"policy.crmauthz.io/v1alpha1","kind":"SalesGroup","metadata":{"name":"c"}}`)
	write("kustomization.yaml", "resources: [b.yaml]\n")
	write("notes.txt", group("ignored"))
	objs, err := ReadPaths(dir)
	g.Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, o := range objs {
		names = append(names, o.Typed.GetName())
	}
	g.Expect(names).To(Equal([]string{"b", "c", "a"}), "files in path order: b.yaml, c.json, sub/a.yml")
}

func TestTenantsAndUnique(t *testing.T) {
	g := NewWithT(t)
	objs, err := Decode([]byte(docs), "policy.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	again, err := Decode([]byte(docs), "copy.yaml")
	g.Expect(err).NotTo(HaveOccurred())

	kept, dups := Unique(append(objs, again...), "acme")
	g.Expect(kept).To(HaveLen(4))
	g.Expect(dups).To(HaveLen(4))
	g.Expect(dups[0]).To(MatchError("copy.yaml#3: SalesGroup acme/west is already defined in policy.yaml#3; this copy is ignored"))

	tenants := Tenants(kept, "acme")
	g.Expect(tenants).To(HaveKey("acme"))
	in := tenants["acme"]
	g.Expect(in.Groups).To(HaveLen(1))
	g.Expect(in.Templates).To(HaveLen(1), "an object without a namespace goes to the default one")
	g.Expect(in.ConfigMaps).To(Equal(map[string]map[string]string{"tor": {"exits": "203.0.113.66\n"}}), "only labelled proxy lists are read")

	alone := Tenants([]Object{{Raw: kept[1].Raw, Typed: &corev1.ConfigMap{}}}, "other")
	g.Expect(alone).To(BeEmpty(), "a ConfigMap alone makes no tenant")
}
