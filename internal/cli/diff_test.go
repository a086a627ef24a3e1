package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/diff"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// samplesChanged is config/samples' policy with the marketing template restricting
// Reports too.
func samplesChanged(t *testing.T) string {
	return testenv.CopySamples(t, func(s string) string {
		return strings.Replace(s, "restrictedFeatures: [CallRecordings, Accounts]", "restrictedFeatures: [CallRecordings, Accounts, Reports]", 1)
	})
}

func TestDiffCommand(t *testing.T) {
	g := NewWithT(t)
	samples, changed := testenv.Path("config", "samples"), samplesChanged(t)

	out, code := run("diff", samples, samples)
	g.Expect(code).To(Equal(0), out)
	g.Expect(out).To(ContainSubstring("0 gain(s), 0 loss(es)"))

	out, code = run("diff", samples, changed)
	g.Expect(code).To(Equal(0), "differences alone do not fail: %s", out)
	g.Expect(out).To(MatchRegexp(`acme: u-\d+ \(MarketingUser\)\n\s+loss\s+feature\s+Reports\s+available → restricted`))

	out, code = run("diff", samples, changed, "--fail-on", "loss")
	g.Expect(code).To(Equal(1), out)
	out, code = run("diff", samples, changed, "--fail-on", "gain")
	g.Expect(code).To(Equal(0), out)
	out, code = run("diff", changed, samples, "--fail-on", "gain")
	g.Expect(code).To(Equal(1), "undone, the change is a gain: %s", out)
	out, code = run("diff", samples, changed, "--fail-on", "any")
	g.Expect(code).To(Equal(1), out)

	out, code = run("diff", samples, changed, "-o", "json")
	g.Expect(code).To(Equal(0), out)
	var res diff.Result
	g.Expect(json.Unmarshal([]byte(out), &res)).To(Succeed())
	g.Expect(res.Summary.Losses).To(BeNumerically(">", 0))
	g.Expect(res.Summary.Gains).To(BeZero())
	for _, c := range res.Changes {
		g.Expect(c).To(And(HaveField("Kind", diff.KindFeature), HaveField("Feature", "Reports"), HaveField("Role", "MarketingUser")))
	}

	who := ""
	for _, c := range res.Changes {
		if strings.HasPrefix(c.User, "u-") && who == "" {
			who = c.User // a user the marketing template governs as MarketingUser
		}
	}
	g.Expect(res.Changes[0].User).To(Equal(diff.Unnamed), "the users no policy names are compared too")
	roster := filepath.Join(t.TempDir(), "users.csv")
	g.Expect(os.WriteFile(roster, []byte("user,role\n"+who+",MarketingUser\n"+who+",SalesUser\n"), 0o600)).To(Succeed())
	out, code = run("diff", samples, changed, "--roster", roster, "-o", "json")
	g.Expect(code).To(Equal(0), out)
	g.Expect(json.Unmarshal([]byte(out), &res)).To(Succeed())
	g.Expect(res.Summary.Subjects).To(Equal(2))
	g.Expect(res.Changes).To(HaveLen(1))
	g.Expect(res.Changes[0].User).To(Equal(who))

	// Refusals: invalid policy on either side, a bad roster, bad flags.
	bad := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(bad, "t.yaml"), []byte("apiVersion: policy.crmauthz.io/v1alpha1\nkind: PermissionTemplate\nmetadata: {name: x, namespace: acme}\nspec: {appliesTo: {roles: [Boss]}}\n"), 0o600)).To(Succeed())
	out, code = run("diff", samples, bad)
	g.Expect(code).To(Equal(2), out)
	g.Expect(out).To(ContainSubstring("AFTER is not valid policy"))
	g.Expect(out).To(ContainSubstring("spec.appliesTo.roles"))
	g.Expect(os.WriteFile(roster, []byte("u-15,Boss\n"), 0o600)).To(Succeed())
	out, code = run("diff", samples, changed, "--roster", roster)
	g.Expect(code).To(Equal(2), out)
	g.Expect(out).To(ContainSubstring(`line 1: role "Boss"`))
	_, code = run("diff", samples, changed, "--fail-on", "some")
	g.Expect(code).To(Equal(2))
}
