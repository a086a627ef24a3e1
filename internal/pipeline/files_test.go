package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/internal/testenv"
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

func dashboardAllowed(s *tenants.Store) bool {
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
	store := tenants.NewStore(nil)
	f := &Files{Paths: []string{dir}, DefaultNamespace: "default", Validator: v, Builder: tenants.NewBuilder(), Store: store,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()

	write("group.yaml", group)
	write("template.yaml", templateYAML("[Dashboard]"))
	changed, problems, err := f.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(changed).To(BeTrue())
	g.Expect(texts(problems)).To(BeEmpty())
	g.Expect(dashboardAllowed(store)).To(BeFalse())

	// Nothing changed: nothing reloaded.
	changed, _, _ = f.Load(ctx)
	g.Expect(changed).To(BeFalse())

	// A good edit is picked up.
	write("template.yaml", templateYAML("[Reports]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(texts(problems)).To(BeEmpty())
	g.Expect(dashboardAllowed(store)).To(BeTrue())

	// A file that no longer parses keeps its objects in force.
	write("template.yaml", "apiVersion: policy.crmauthz.io/v1alpha1\nkind: PermissionTemplate\nspec: [oops")
	_, problems, _ = f.Load(ctx)
	g.Expect(texts(problems)).To(ContainElement(ContainSubstring("template.yaml")))
	g.Expect(texts(problems)).To(ContainElement(ContainSubstring("keeping the objects it last held")))
	g.Expect(store.Snapshot("acme").Templates()).To(Equal(1))

	// An object the schema refuses keeps its last good version, reported not ready.
	write("template.yaml", templateYAML("[Dashboard, Telepathy]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(texts(problems)).To(ContainElement(ContainSubstring(`spec.restrictedFeatures[1]: Unsupported value: "Telepathy"`)))
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
	g.Expect(texts(problems)).To(ConsistOf(And(ContainSubstring("PermissionTemplate acme/reps ("+filepath.Join(dir, "zz-copy.yaml")), ContainSubstring("is already defined in "+filepath.Join(dir, "template.yaml")))))
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

func newFiles(dir string, log *testenv.SyncBuffer) (*Files, *prometheus.CounterVec) {
	removed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "removed"}, []string{"tenant", "kind"})
	return &Files{Paths: []string{dir}, DefaultNamespace: "default", Builder: tenants.NewBuilder(), Store: tenants.NewStore(nil),
		Log: slog.New(slog.NewTextHandler(log, nil)), Removed: removed}, removed
}

// TestAnEmptyFileKeepsItsObjects: `: > file` or a write cut short by a full disk
// leaves 0 bytes; the objects the file held stay in force (a template removed would
// fall its users back to a wider role baseline) until it has content or is deleted.
// Whatever a reload does remove is logged at WARN and counted.
func TestAnEmptyFileKeepsItsObjects(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	write := func(name, data string) {
		g.Expect(os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600)).To(Succeed())
	}
	var log testenv.SyncBuffer
	f, removed := newFiles(dir, &log)
	ctx := context.Background()
	write("group.yaml", group)
	write("template.yaml", templateYAML("[Dashboard]"))
	_, _, err := f.Load(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dashboardAllowed(f.Store)).To(BeFalse())

	write("template.yaml", "")
	_, problems, _ := f.Load(ctx)
	g.Expect(texts(problems)).To(ContainElement(ContainSubstring("template.yaml: empty (0 bytes): keeping the 1 objects it last held")))
	g.Expect(dashboardAllowed(f.Store)).To(BeFalse(), "the template stays in force")
	g.Expect(log.String()).NotTo(ContainSubstring("Removed a policy object"))

	write("template.yaml", templateYAML("[Reports]"))
	_, problems, _ = f.Load(ctx)
	g.Expect(texts(problems)).To(BeEmpty())
	g.Expect(dashboardAllowed(f.Store)).To(BeTrue(), "content again: it is loaded")

	g.Expect(os.Remove(filepath.Join(dir, "template.yaml"))).To(Succeed())
	_, _, _ = f.Load(ctx)
	g.Expect(f.Store.Snapshot("acme").Templates()).To(BeZero(), "deleted: its objects go")
	g.Expect(log.String()).To(And(ContainSubstring("level=WARN msg=\"Removed a policy object"), ContainSubstring("kind=PermissionTemplate name=reps")))
	g.Expect(testutil.ToFloat64(removed.WithLabelValues("acme", "PermissionTemplate"))).To(Equal(1.0))
}

// TestConfigMapVolumeLayout: a ConfigMap volume holds its files in a hidden
// timestamped directory behind `..data` and shows them through symlinks; each object
// is loaded once, and swapping `..data` (as the kubelet does) swaps the policy whole.
func TestConfigMapVolumeLayout(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	version := func(name string, files map[string]string) {
		g.Expect(os.Mkdir(filepath.Join(dir, name), 0o700)).To(Succeed())
		for file, data := range files {
			g.Expect(os.WriteFile(filepath.Join(dir, name, file), []byte(data), 0o600)).To(Succeed())
		}
		g.Expect(os.Symlink(name, filepath.Join(dir, "..data_tmp"))).To(Succeed())
		g.Expect(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))).To(Succeed()) // atomic
	}
	version("..2026_11_25_10_00_00.1", map[string]string{"group.yaml": group, "template.yaml": templateYAML("[Dashboard]")})
	for _, file := range []string{"group.yaml", "template.yaml"} {
		g.Expect(os.Symlink(filepath.Join("..data", file), filepath.Join(dir, file))).To(Succeed())
	}
	var log testenv.SyncBuffer
	f, _ := newFiles(dir, &log)
	_, problems, err := f.Load(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(texts(problems)).To(BeEmpty(), "no object is read twice (through the symlink and the hidden directory)")
	g.Expect(dashboardAllowed(f.Store)).To(BeFalse())

	version("..2026_11_25_10_05_00.2", map[string]string{"group.yaml": group, "template.yaml": templateYAML("[Reports]")})
	_, problems, _ = f.Load(context.Background())
	g.Expect(texts(problems)).To(BeEmpty())
	g.Expect(dashboardAllowed(f.Store)).To(BeTrue())
}

// TestReloadsWaitUntilFilesAreQuiet: a file written in two steps within the quiet
// period is loaded once, whole; its first half is never in force.
func TestReloadsWaitUntilFilesAreQuiet(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	write := func(name, data string) {
		g.Expect(os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600)).To(Succeed())
	}
	write("policy.yaml", group+"---\n"+templateYAML("[Dashboard]"))
	var log testenv.SyncBuffer
	f, removed := newFiles(dir, &log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.Run(ctx, 20*time.Millisecond, time.Second) }()
	g.Eventually(f.Store.Ready).Should(BeTrue())

	write("policy.yaml", group) // the first half of a rewrite
	time.Sleep(100 * time.Millisecond)
	write("policy.yaml", group+"---\n"+templateYAML("[Reports]"))
	g.Eventually(func() bool { return dashboardAllowed(f.Store) }, 5*time.Second).Should(BeTrue())
	g.Expect(strings.Count(log.String(), "Reloaded policies")).To(Equal(1))
	g.Expect(testutil.ToFloat64(removed.WithLabelValues("acme", "PermissionTemplate"))).To(BeZero(), "the half-written file was never loaded")
}

// TestATenantWhoseEveryObjectIsRefusedIsUnknown: with nothing in force and nothing
// held from before, the namespace is no tenant (its requests are UnknownTenant), not a
// tenant decided on the role baselines alone.
func TestATenantWhoseEveryObjectIsRefusedIsUnknown(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	bad := strings.Replace(templateYAML("[Dashboard]"), "restrictedFeatures:", "restrictedFeaturez:", 1)
	g.Expect(os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(bad), 0o600)).To(Succeed())
	var log testenv.SyncBuffer
	f, _ := newFiles(dir, &log)
	_, problems, err := f.Load(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(texts(problems)).To(ContainElement(ContainSubstring("restrictedFeaturez")))
	g.Expect(f.Store.Snapshot("acme")).To(BeNil())

	g.Expect(os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(templateYAML("[Dashboard]")), 0o600)).To(Succeed())
	_, _, _ = f.Load(context.Background())
	g.Expect(f.Store.Snapshot("acme")).NotTo(BeNil())
	g.Expect(os.WriteFile(filepath.Join(dir, "template.yaml"), []byte(bad), 0o600)).To(Succeed())
	_, _, _ = f.Load(context.Background())
	g.Expect(f.Store.Snapshot("acme")).NotTo(BeNil(), "refused again, its last good version stays in force")
}

// texts are problems as printed.
func texts(ps Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
