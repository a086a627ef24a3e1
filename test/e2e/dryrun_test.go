package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

var _ = Describe("A DryRun template", Ordered, func() {
	It("decides nothing, and logs, counts and reports what it would have changed", func() {
		kubectl("apply", "-k", testenv.Path("config", "samples"))
		dashboard := feature("acme", "u-15", "SalesUser", "Dashboard")
		Eventually(func() bool { return check(dashboard).Allowed }, 20*time.Second, 50*time.Millisecond).Should(BeTrue())

		// A candidate replacement of west-field-sales (which governs u-15), restricting
		// the Dashboard; applied with kubectl, it claims what west-field-sales claims.
		var wfs v1alpha1.PermissionTemplate
		Expect(k8sClient.Get(ctx(), types.NamespacedName{Namespace: "acme", Name: "west-field-sales"}, &wfs)).To(Succeed())
		groups, _ := json.Marshal(wfs.Spec.AppliesTo.SalesGroups)
		kubectlApply(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: west-field-sales-next, namespace: acme}
spec:
  enforcement: DryRun
  appliesTo: {salesGroups: ` + string(groups) + `}
  restrictedFeatures: [Dashboard]
`)
		DeferCleanup(func() { kubectl("delete", "permissiontemplate", "west-field-sales-next", "-n", "acme") })
		Eventually(func(g Gomega) {
			var pt v1alpha1.PermissionTemplate
			g.Expect(k8sClient.Get(ctx(), types.NamespacedName{Namespace: "acme", Name: "west-field-sales-next"}, &pt)).To(Succeed())
			ready := meta.FindStatusCondition(pt.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal("DryRun"))
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(kubectl("get", "pt", "-n", "acme", "west-field-sales-next")).To(ContainSubstring("DryRun"), "kubectl get shows the enforcement")

		// The answer is unchanged; the log line and the metric say what would change.
		d := check(dashboard)
		Expect(d.Allowed).To(BeTrue(), d.Message)
		Expect(d.Template).To(Equal("west-field-sales"))
		Eventually(func() string { return decisionLog.String() }, 5*time.Second, 50*time.Millisecond).
			Should(ContainSubstring(`"decisionId":"` + d.DecisionID + `"`))
		var line map[string]any
		for _, l := range strings.Split(decisionLog.String(), "\n") {
			if strings.Contains(l, `"decisionId":"`+d.DecisionID+`"`) {
				Expect(json.Unmarshal([]byte(l), &line)).To(Succeed())
			}
		}
		Expect(line).To(HaveKeyWithValue("allowed", true))
		Expect(line).To(HaveKeyWithValue("dryRun", map[string]any{"template": "west-field-sales-next", "allowed": false, "reason": "FeatureRestricted"}))
		prometheus := metricsReaderToken()
		var metrics []byte
		Eventually(func() int { code, m := getAs(prometheus, "/metrics"); metrics = m; return code }, 10*time.Second).Should(Equal(http.StatusOK))
		Expect(string(metrics)).To(MatchRegexp(`crmauthz_dryrun_differences_total\{effect="loss",template="west-field-sales-next",tenant="acme"\} [1-9]`))

		// The template's status counts what it would have changed (refreshed each
		// second here, each minute by default).
		Eventually(func(g Gomega) int64 {
			var pt v1alpha1.PermissionTemplate
			g.Expect(k8sClient.Get(ctx(), types.NamespacedName{Namespace: "acme", Name: "west-field-sales-next"}, &pt)).To(Succeed())
			return pt.Status.DryRunDifferences
		}, 20*time.Second, 100*time.Millisecond).Should(BeNumerically(">=", 1))
		Expect(kubectl("get", "pt", "-n", "acme", "west-field-sales-next", "-o", "wide")).To(MatchRegexp(`DryRun\s+[1-9]`), "kubectl get -o wide shows the count")

		// Decisions the candidate makes alike are not flagged.
		alike := check(service.CheckRequest{Tenant: "acme", Subject: subject("u-15", "SalesUser"), Action: "view",
			Resource: service.Resource{Entity: "leads", Owner: "u-15"}})
		Eventually(func() string { return decisionLog.String() }, 5*time.Second, 50*time.Millisecond).
			Should(ContainSubstring(alike.DecisionID))
		for _, l := range strings.Split(decisionLog.String(), "\n") {
			if strings.Contains(l, `"decisionId":"`+alike.DecisionID+`"`) {
				Expect(l).NotTo(ContainSubstring("dryRun"))
			}
		}
	})
})
