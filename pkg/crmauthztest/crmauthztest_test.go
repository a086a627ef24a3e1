package crmauthztest_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/crmauthz/crmauthz/internal/testenv"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
	"github.com/crmauthz/crmauthz/pkg/crmauthztest"
)

// TestACRMTeamsSuite is what a CRM team's CI does: apply its policy through a real API
// server and crmauthz's webhooks, wait until it is enforced, and assert decisions.
func TestACRMTeamsSuite(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := testenv.New() // this repository's binaries (KUBEBUILDER_ASSETS or bin/k8s)
	g.Expect(err).NotTo(HaveOccurred())
	cr, err := crmauthztest.Start(ctx, crmauthztest.Options{Environment: &envtest.Environment{BinaryAssetsDirectory: env.BinaryAssetsDirectory}})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(cr.Stop()).To(Succeed()) }()

	g.Expect(cr.ApplyFiles(ctx, testenv.Path("config", "samples"))).To(Succeed())
	g.Expect(cr.WaitReady(ctx, "acme")).To(Succeed())
	q := &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Action: "edit",
		Resource: crmauthz.Resource{Entity: "leads", ID: "L-1", Owner: "u-16"}, Fields: []string{"Stage"}}
	d, err := cr.API.Check(ctx, q)
	g.Expect(err).NotTo(HaveOccurred())
	pdp, err := crmauthz.LoadFiles(ctx, "acme", time.Hour, testenv.Path("config", "samples"))
	g.Expect(err).NotTo(HaveOccurred())
	want, err := pdp.Check(q)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Allowed).To(Equal(want.Allowed))
	g.Expect(d.Reason).To(Equal(want.Reason))
	g.Expect(d.Message).To(Equal(want.Message))

	// The webhook refuses what a cluster refuses, with its message.
	err = cr.Apply(ctx, []byte(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: second-claim, namespace: acme}
spec:
  appliesTo: {roles: [MarketingUser]}
`))
	g.Expect(err).To(MatchError(ContainSubstring("MarketingUser")), "a role already claimed by the sample's marketing template")

	// A change is enforced once WaitReady returns.
	g.Expect(cr.Apply(ctx, []byte(`
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: no-dashboard, namespace: acme}
spec:
  appliesTo: {users: [u-15]}
  restrictedFeatures: [Dashboard]
`))).To(Succeed())
	g.Expect(cr.WaitReady(ctx, "acme")).To(Succeed())
	d, err = cr.API.Check(ctx, &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Action: "access",
		Resource: crmauthz.Resource{Feature: "Dashboard"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.Reason).To(Equal(crmauthz.Reason("FeatureRestricted")))
}
