package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crmauthz/crmauthz/api/v1alpha1"

	"github.com/crmauthz/crmauthz/internal/testenv"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
)

var _ = Describe("The Go SDK", Ordered, func() {
	It("decides in process, from an informer on one namespace, as the manager does, and follows changes", func() {
		kubectl("apply", "-k", testenv.Path("config", "samples"))
		pctx, stop := context.WithCancel(ctx())
		defer stop()
		pdp, err := crmauthz.WatchNamespace(pctx, cfg, "acme")
		Expect(err).NotTo(HaveOccurred())
		Expect(pdp.Ready()).To(BeTrue())
		c, err := crmauthz.New(apiURL, crmauthz.WithToken(bearer), crmauthz.WithHTTPClient(apiHTTP))
		Expect(err).NotTo(HaveOccurred())

		agree := func() string {
			// Both compile the same objects: once each has seen the last change, their
			// revisions are equal, and so is every answer.
			var revision string
			Eventually(func(g Gomega) {
				desc, err := c.Tenant(ctx(), "acme")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pdp.Revision("acme")).To(Equal(desc.Revision))
				revision = desc.Revision
			}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
			qs := testenv.SampleQuestions()
			allowed := 0
			for i := range qs {
				local, err := pdp.Check(&qs[i])
				Expect(err).NotTo(HaveOccurred())
				remote, err := c.Check(ctx(), &qs[i])
				Expect(err).NotTo(HaveOccurred())
				if remote.Allowed {
					allowed++
				}
				local.DecisionID, remote.DecisionID = "", ""
				Expect(local).To(Equal(remote), "%+v", qs[i])
			}
			Expect(allowed).To(And(BeNumerically(">", 0), BeNumerically("<", len(qs))), "the questions are both allowed and denied")
			return revision
		}
		before := agree()

		var saved v1alpha1.PermissionTemplate
		Expect(k8sClient.Get(ctx(), types.NamespacedName{Namespace: "acme", Name: "west-field-sales"}, &saved)).To(Succeed())
		DeferCleanup(func() { // as the samples have it, for the specs that follow
			var now v1alpha1.PermissionTemplate
			Expect(k8sClient.Get(ctx(), types.NamespacedName{Namespace: "acme", Name: "west-field-sales"}, &now)).To(Succeed())
			now.Spec = saved.Spec
			Expect(k8sClient.Update(ctx(), &now)).To(Succeed())
		})
		kubectl("patch", "permissiontemplate", "west-field-sales", "-n", "acme", "--type=merge",
			"-p", `{"spec":{"restrictedFeatures":["Reports","Dashboard"]}}`)
		Expect(agree()).NotTo(Equal(before), "the change reached both")
		Expect(pdp.Check(&crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"},
			Action: "access", Resource: crmauthz.Resource{Feature: "Dashboard"}})).To(HaveField("Reason", crmauthz.Reason("FeatureRestricted")))

		stop()
		Eventually(pdp.Done(), 10*time.Second).Should(BeClosed())
	})
})
