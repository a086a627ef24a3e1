package tenants

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/schema"
)

const group = `apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west, namespace: acme}
spec: {members: [u-1]}
`

func templateYAML(features string) string {
	return `apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: reps, namespace: acme}
spec:
  appliesTo: {roles: [SalesUser]}
  restrictedFeatures: ` + features + "\n"
}

func dashboardAllowed(s *Store) bool {
	var d engine.Decision
	f, _ := policy.ParseFeature("Dashboard")
	engine.Check(s.Snapshot("acme"), &engine.Request{User: "u-1", Role: policy.RoleSalesUser, Action: policy.ActionAccess, Feature: f}, &d)
	return d.Allowed
}

func TestFilesReloadAndKeepLastGood(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	write := func(name, data string) {
		g.Expect(os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600)).To(Succeed())
	}
	v, err := schema.New()
	g.Expect(err).NotTo(HaveOccurred())
	store := NewStore(nil)
	f := &Files{Paths: []string{dir}, DefaultNamespace: "default", Validator: v, Builder: NewBuilder(), Store: store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()

	write("group.yaml", group)
	write("template.yaml", templateYAML("[Dashboard]"))
	changed, problems, err := f.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(problems).To(BeEmpty())
	g.Expect(dashboardAllowed(store)).To(BeFalse())

	// Nothing changed: nothing reloaded.
	changed, _, _ = f.Load(ctx)
	g.Expect(changed).To(BeFalse())

	// A good edit is picked up.
	write("template.yaml", templateYAML("[Reports]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(problems).To(BeEmpty())
	g.Expect(dashboardAllowed(store)).To(BeTrue())

	// A file that no longer parses keeps its objects in force.
	write("template.yaml", "apiVersion: policy.crmauthz.io/v1alpha1\nkind: PermissionTemplate\nspec: [oops")
	_, problems, _ = f.Load(ctx)
	g.Expect(problems).To(ContainElement(ContainSubstring("template.yaml")))
	g.Expect(problems).To(ContainElement(ContainSubstring("keeping the objects it last held")))
	g.Expect(store.Snapshot("acme").Templates()).To(Equal(1))

	// An object the schema refuses keeps its last good version, reported not ready.
	write("template.yaml", templateYAML("[Dashboard, Telepathy]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(problems).To(ContainElement(ContainSubstring(`spec.restrictedFeatures[1]: Unsupported value: "Telepathy"`)))
	g.Expect(dashboardAllowed(store)).To(BeTrue(), "the last good version (Reports) stays in force")
	st := store.Get("acme").Report.Find(policy.KindPermissionTemplate, "reps")
	g.Expect(st.InForce).To(BeTrue())
	g.Expect(st.Ready).To(BeFalse())

	// Schema defaults apply to files as they would in a cluster.
	g.Expect(store.Snapshot("acme").Login.Password.MinLength).To(Equal(8))

	// A second file defining the same template is reported with both files and ignored:
	// the first, by file name, stays in force.
	write("template.yaml", templateYAML("[Reports]"))
	write("zz-copy.yaml", templateYAML("[Dashboard]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(problems).To(ConsistOf(And(ContainSubstring("zz-copy.yaml"), ContainSubstring("PermissionTemplate acme/reps is already defined in "+filepath.Join(dir, "template.yaml")))))
	g.Expect(dashboardAllowed(store)).To(BeTrue(), "the copy restricting Dashboard is ignored")
	st = store.Get("acme").Report.Find(policy.KindPermissionTemplate, "reps")
	g.Expect(st.Ready).To(BeTrue())
	g.Expect(os.Remove(filepath.Join(dir, "zz-copy.yaml"))).To(Succeed())

	// Removing every object forgets the tenant.
	g.Expect(os.Remove(filepath.Join(dir, "template.yaml"))).To(Succeed())
	g.Expect(os.Remove(filepath.Join(dir, "group.yaml"))).To(Succeed())
	_, _, _ = f.Load(ctx)
	g.Expect(store.Snapshot("acme")).To(BeNil())
}
