package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// dryRunPolicy adds to the server tests' policy a DryRun template that would take
// SalesUser over from reps and restrict the Dashboard.
const dryRunPolicy = policyYAML + `---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: reps-next, namespace: acme}
spec:
  enforcement: DryRun
  appliesTo: {roles: [SalesUser]}
  restrictedFeatures: [Dashboard]
  entities: {leads: {ownerOnlyFields: [Stage]}}
`

// TestDryRunTemplatesDecideNothingAndSaySo: the answer is the one without the DryRun
// template; the decision log and the metrics say what it would have decided.
func TestDryRunTemplatesDecideNothingAndSaySo(t *testing.T) {
	g := NewWithT(t)
	with, without := newFixtureWith(t, true, dryRunPolicy), newFixture(t, true)
	dashboard := `{"tenant":"acme","subject":{"user":"u-1","role":"SalesUser"},"action":"access","resource":{"feature":"Dashboard"}}`
	for _, body := range []string{dashboard, checkBody} {
		code, got := with.do("POST", "/v1/check", body)
		g.Expect(code).To(Equal(http.StatusOK))
		_, want := without.do("POST", "/v1/check", body)
		var a, b map[string]any
		g.Expect(json.Unmarshal([]byte(got), &a)).To(Succeed())
		g.Expect(json.Unmarshal([]byte(want), &b)).To(Succeed())
		for _, k := range []string{"allowed", "reason", "message", "template", "deniedFields", "fields"} {
			g.Expect(a[k]).To(Equal(b[k]), "%s of %s", k, body)
		}
	}
	lines := strings.Split(strings.TrimSpace(with.log.String()), "\n")
	g.Expect(lines).To(HaveLen(2))
	var first, second map[string]any
	g.Expect(json.Unmarshal([]byte(lines[0]), &first)).To(Succeed())
	g.Expect(json.Unmarshal([]byte(lines[1]), &second)).To(Succeed())
	g.Expect(first).To(HaveKeyWithValue("allowed", true))
	g.Expect(first).To(HaveKeyWithValue("dryRun", map[string]any{"template": "reps-next", "allowed": false, "reason": "FeatureRestricted"}))
	g.Expect(second).NotTo(HaveKey("dryRun"), "the candidate decides the lead check alike")

	// AuthZEN evaluations are decisions too.
	code, _, answer := with.azPost(azBase+"evaluation", `{"subject":{"type":"user","id":"u-1","properties":{"role":"SalesUser"}},"action":{"name":"access"},"resource":{"type":"feature","id":"Dashboard"}}`)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(answer).To(ContainSubstring(`"decision":true`))
	g.Expect(with.log.String()).To(MatchRegexp(`"endpoint":"authzen/evaluation".*"dryRun":\{"template":"reps-next","allowed":false,"reason":"FeatureRestricted"\}`))

	_, metrics := with.do("GET", "/metrics", "")
	g.Expect(metrics).To(ContainSubstring(`crmauthz_dryrun_differences_total{effect="loss",template="reps-next",tenant="acme"} 2`))
	_, metrics = without.do("GET", "/metrics", "")
	g.Expect(metrics).NotTo(ContainSubstring(`crmauthz_dryrun_differences_total{`))
}
