package diff_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/diff"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

type diffCase struct {
	Name    string        `json:"name"`
	Before  string        `json:"before"`
	After   string        `json:"after"`
	Roster  []string      `json:"roster"`
	Want    []diff.Change `json:"want"`
	Summary diff.Summary  `json:"summary"`
}

// compile checks and compiles YAML objects of tenant acme as validate does.
func compile(t *testing.T, docs string) *policy.Snapshot {
	t.Helper()
	objs, err := loader.Decode([]byte(docs), "case")
	if err != nil {
		t.Fatal(err)
	}
	checked, err := pipeline.Check(context.Background(), objs, pipeline.Options{DefaultNamespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if checked.Problems.Errors() > 0 {
		t.Fatalf("the case's policy is not valid: %v", checked.Problems)
	}
	built, _ := checked.Compile(tenants.NewBuilder(), time.Now())
	return built["acme"].Snapshot
}

func TestChanges(t *testing.T) {
	data, err := os.ReadFile("testdata/changes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Cases []diffCase }
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		t.Fatal(err)
	}
	kinds, effects := map[string]bool{}, map[string]bool{}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			g := NewWithT(t)
			before, after := compile(t, c.Before), compile(t, c.After)
			subjects := diff.Subjects(before, after)
			if c.Roster != nil {
				subjects = nil
				for _, line := range c.Roster {
					user, role, _ := strings.Cut(line, ",")
					r, ok := policy.ParseRole(role)
					g.Expect(ok).To(BeTrue(), line)
					subjects = append(subjects, diff.Subject{User: user, Role: r})
				}
			}
			got := diff.Compare("acme", before, after, subjects)
			for i := range c.Want {
				c.Want[i].Tenant = "acme"
			}
			g.Expect(got.Changes).To(Equal(c.Want))
			g.Expect(got.Summary).To(Equal(c.Summary))

			back := diff.Compare("acme", after, before, subjects)
			g.Expect(back.Summary.Gains).To(Equal(got.Summary.Losses), "undoing the change turns losses into gains")
			g.Expect(back.Summary.Losses).To(Equal(got.Summary.Gains))
			g.Expect(diff.Compare("acme", after, after, subjects).Changes).To(BeEmpty(), "a policy does not differ from itself")
		})
		for _, w := range c.Want {
			kinds[w.Kind], effects[w.Effect] = true, true
		}
	}
	g := NewWithT(t)
	g.Expect(kinds).To(HaveLen(8), "the cases show every kind of change")
	g.Expect(effects).To(HaveLen(2))
}

// TestJSONShape: the documented shape, for CI tools.
func TestJSONShape(t *testing.T) {
	g := NewWithT(t)
	res := diff.Result{Changes: []diff.Change{{Tenant: "acme", User: "u-1", Role: "SalesUser", Kind: diff.KindScope, Entity: "leads",
		Action: "edit", Before: "Own", After: "Shared", Effect: diff.Gain}}, Summary: diff.Summary{Subjects: 1, Gains: 1}}
	data, err := json.Marshal(res)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(Equal(`{"changes":[{"tenant":"acme","user":"u-1","role":"SalesUser","kind":"scope","entity":"leads","action":"edit","before":"Own","after":"Shared","effect":"gain"}],"summary":{"subjects":1,"gains":1,"losses":0}}`))
}

// BenchmarkCompareSpecTenant is a diff of SPEC §6's tenant (50 templates, 200
// groups, 10,000 users: 40,000 subjects) after one template's change, which is what
// a CI check on a pull request does once the two sides are compiled.
func BenchmarkCompareSpecTenant(b *testing.B) {
	gen := tenantgen.Generate("acme", tenantgen.SpecSize, 7)
	before := tenants.NewBuilder().Build(gen.Input).Snapshot
	changed := gen.Input
	changed.Templates = slices.Clone(changed.Templates)
	t := changed.Templates[3].DeepCopy()
	t.Spec.RestrictedFeatures = append(t.Spec.RestrictedFeatures, v1alpha1.FeatureWorkflow)
	t.Generation++
	changed.Templates[3] = *t
	after := tenants.NewBuilder().Build(changed).Snapshot
	subjects := diff.Subjects(before, after)
	if len(subjects) < 40000 {
		b.Fatalf("%d subjects", len(subjects))
	}
	var res diff.Result
	b.ReportAllocs()
	for b.Loop() {
		res = diff.Compare("acme", before, after, subjects)
	}
	if res.Summary.Losses == 0 {
		b.Fatal("the change restricts a feature: somebody loses it")
	}
	b.ReportMetric(float64(len(subjects)), "subjects")
}
