package pipeline

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

const mixed = `apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: a, namespace: acme}
spec: {appliesTo: {roles: [SalesUser]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: b, namespace: acme}
spec: {appliesTo: {roles: [SalesUser]}}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: SalesGroup
metadata: {name: west}
spec: {members: [u-1], colour: red}
---
apiVersion: policy.crmauthz.io/v1alpha1
kind: IPAllowlist
metadata: {name: open, namespace: acme}
spec: {cidrs: ["0.0.0.0/0"]}
`

func decode(t *testing.T, data string) []loader.Object {
	objs, err := loader.Decode([]byte(data), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestCheckReportsTypedProblemsPerStep(t *testing.T) {
	g := NewWithT(t)
	objs := decode(t, mixed)
	objs = append(objs, decode(t, mixed)[0]) // a second copy of a
	c, err := Check(context.Background(), objs, Options{DefaultNamespace: "other"})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(c.Problems).To(ContainElements(
		// one per name
		And(HaveField("Severity", Error), HaveField("Kind", "PermissionTemplate"), HaveField("Name", "a"), HaveField("Field", "metadata.name"),
			HaveField("Message", ContainSubstring("already defined in p.yaml#1"))),
		// the schema, in the default namespace
		And(HaveField("Severity", Error), HaveField("Kind", "SalesGroup"), HaveField("Namespace", "other"), HaveField("Source", "p.yaml#3"),
			HaveField("Field", "spec.colour"), HaveField("Message", ContainSubstring(`unknown field "spec.colour"`))),
		// admission, in name order: a claims SalesUser first
		And(HaveField("Severity", Error), HaveField("Name", "b"), HaveField("Field", "spec.appliesTo.roles[0]"),
			HaveField("Message", ContainSubstring("already claimed by PermissionTemplate a"))),
		// a warning does not refuse
		And(HaveField("Severity", Warning), HaveField("Kind", "IPAllowlist"), HaveField("Name", "open")),
	))
	g.Expect(c.Problems.Errors()).To(Equal(3))
	g.Expect(c.Refused["acme"]).To(ConsistOf(HaveField("Name", "b")))
	g.Expect(c.Refused["other"]).To(ConsistOf(HaveField("Name", "west")))

	var names []string
	for _, o := range c.Objects {
		names = append(names, o.Typed.GetName())
	}
	g.Expect(names).To(ConsistOf("a", "open"))

	built, problems := c.Compile(tenants.NewBuilder(), time.Time{})
	g.Expect(built).To(HaveKey("other"), "a namespace whose every object was refused is still built, to report them")
	g.Expect(InForce(built["other"])).To(Equal(0))
	g.Expect(InForce(built["acme"])).To(Equal(2))
	g.Expect(problems).To(BeEmpty(), "refused objects are reported once, by the check that refused them")
}

func TestCheckSkips(t *testing.T) {
	g := NewWithT(t)
	c, err := Check(context.Background(), decode(t, mixed), Options{DefaultNamespace: "other", SkipAdmission: true})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Problems.Errors()).To(Equal(1), "only the schema's problem: admission is skipped")

	c, err = Check(context.Background(), decode(t, mixed), Options{DefaultNamespace: "other", SkipChecks: true})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Problems).To(BeEmpty())
	g.Expect(c.Objects).To(HaveLen(4))

	// The compiler settles what the checks did not: b loses the role to a.
	built, _ := c.Compile(tenants.NewBuilder(), time.Time{})
	st := built["acme"].Report.Find("PermissionTemplate", "b")
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.Conflicts).NotTo(BeEmpty())
}

func TestProblemString(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Problem{Severity: Warning, Kind: "IPAllowlist", Namespace: "acme", Name: "open", Source: "a.yaml#2", Message: "wide"}.String()).
		To(Equal("warning: IPAllowlist acme/open (a.yaml#2): wide"))
	g.Expect(Problem{Severity: Error, Kind: "SalesGroup", Namespace: "acme", Name: "west", Message: "cycle"}.String()).
		To(Equal("SalesGroup acme/west: cycle"))
	g.Expect(Problem{Severity: Error, Source: "a.yaml", Message: "not YAML"}.String()).To(Equal("a.yaml: not YAML"))
}
