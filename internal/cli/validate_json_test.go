package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func TestValidateJSON(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west, namespace: acme}
spec: {parent: west, members: [u-1]}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: open, namespace: acme}
spec: {cidrs: ["0.0.0.0/0"]}
`), 0o600)).To(Succeed())
	out, code := run("validate", "-o", "json", dir)
	g.Expect(code).To(Equal(1))
	var r validateReport
	g.Expect(json.Unmarshal([]byte(out), &r)).To(Succeed(), out)
	g.Expect(r.Errors).To(Equal(1))
	g.Expect(r.Problems).To(ContainElements(
		And(HaveField("Severity", BeEquivalentTo("error")), HaveField("Kind", "SalesGroup"), HaveField("Namespace", "acme"),
			HaveField("Name", "west"), HaveField("Source", filepath.Join(dir, "p.yaml")+"#1"), HaveField("Field", "spec.parent")),
		And(HaveField("Severity", BeEquivalentTo("warning")), HaveField("Kind", "IPAllowlist"), HaveField("Name", "open")),
	))

	g.Expect(os.Remove(filepath.Join(dir, "p.yaml"))).To(Succeed())
	out, code = run("validate", "-o", "json", dir)
	g.Expect(code).To(Equal(0))
	g.Expect(out).To(MatchJSON(`{"problems":[],"errors":0,"objects":0,"tenants":0}`))

	_, code = run("validate", "-o", "yaml", dir)
	g.Expect(code).To(Equal(2))
}
