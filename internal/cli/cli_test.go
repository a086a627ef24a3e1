package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

func run(args ...string) (string, int) {
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	code := Execute(root)
	return out.String(), code
}

func TestValidateSamples(t *testing.T) {
	g := NewWithT(t)
	out, code := run("validate", testenv.Path("config", "samples"))
	g.Expect(code).To(Equal(0), out)
	g.Expect(out).To(ContainSubstring("14 object(s) in 1 tenant(s): all valid"))
}

func TestValidatePrintsEveryProblem(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: a, namespace: acme}
spec: {appliesTo: {roles: [SalesUser]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: b, namespace: acme}
spec:
  appliesTo: {roles: [SalesUser]}
  entities: {leads: {view: {access: None}, export: {access: Full}}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west, namespace: acme}
spec: {parent: west, membres: [u-1]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: open, namespace: acme}
spec: {cidrs: ["0.0.0.0/0"]}
`), 0o600)).To(Succeed())
	out, code := run("validate", dir)
	g.Expect(code).To(Equal(1))
	// The webhook's messages, word for word, and the schema's.
	g.Expect(out).To(ContainSubstring(`spec.appliesTo.roles[0]: Invalid value: "SalesUser": already claimed by PermissionTemplate a: one template per role`))
	g.Expect(out).To(ContainSubstring(`spec.entities.leads.export.access: Invalid value: "Full": leads.export cannot be allowed while leads.view is None`))
	g.Expect(out).To(ContainSubstring(`unknown field "spec.membres"`))
	g.Expect(out).To(ContainSubstring("spec.parent may not name the group itself"))
	g.Expect(out).To(ContainSubstring("warning: IPAllowlist acme/open"))
	g.Expect(out).To(ContainSubstring("2 problem(s)")) // objects with problems
}

func TestPolicyTestCommand(t *testing.T) {
	g := NewWithT(t)
	out, code := run("test", testenv.Path("internal", "engine", "testdata", "cases"))
	g.Expect(code).To(Equal(0), out)
	g.Expect(out).To(MatchRegexp(`PASS: \d+ cases`))

	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "failing.yaml"), []byte(`
name: a wrong expectation
policy:
  - {apiVersion: policy.crmauthz.io/v1alpha1, kind: SalesGroup, metadata: {name: g}, spec: {members: [u-1]}}
cases:
  - name: SalesUsers cannot delete
    check: {subject: {user: u-1, role: SalesUser}, action: delete, resource: {entity: leads, owner: u-1}}
    want: {allowed: true}
`), 0o600)).To(Succeed())
	out, code = run("test", dir)
	g.Expect(code).To(Equal(1))
	g.Expect(out).To(ContainSubstring("FAIL"))
	g.Expect(out).To(ContainSubstring("SalesUsers cannot delete"))
	g.Expect(out).To(ContainSubstring("allowed: want true, got false"))
}

func TestServeRefusesUnauthenticatedNonLoopback(t *testing.T) {
	g := NewWithT(t)
	out, code := run("serve", "--policies", testenv.Path("config", "samples"), "--addr", ":0")
	g.Expect(code).To(Equal(2))
	g.Expect(out).To(ContainSubstring("refusing to serve unauthenticated callers on :0"))
}

// A negative page size is refused before the manager connects anywhere.
func TestManagerRefusesANegativePageSize(t *testing.T) {
	g := NewWithT(t)
	out, code := run("manager", "--list-page-size=-1")
	g.Expect(code).To(Equal(2), out)
	g.Expect(out).To(ContainSubstring("--list-page-size"))
}
