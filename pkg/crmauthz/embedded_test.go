package crmauthz_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/testenv"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
)

// TestEmbeddedAgreesWithTheServer: the embedded decision point, loaded from files,
// answers every sample question as a server on the same files does, and follows
// the files as they change (keeping the last good version of a file that breaks).
func TestEmbeddedAgreesWithTheServer(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := testenv.CopySamples(t, nil)
	pdp, err := crmauthz.LoadFiles(ctx, "acme", 20*time.Millisecond, dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(pdp.Ready()).To(BeTrue())
	srv := httptest.NewServer(sampleHandler(t, server.Options{}))
	defer srv.Close()
	c, err := crmauthz.New(srv.URL)
	g.Expect(err).NotTo(HaveOccurred())

	revision := pdp.Revision("acme")
	desc, err := c.Tenant(ctx, "acme")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(revision).To(Equal(desc.Revision), "the same files compile to the same revision")
	qs := testenv.SampleQuestions()
	allowed := 0
	for i := range qs {
		local, err := pdp.Check(&qs[i])
		g.Expect(err).NotTo(HaveOccurred())
		remote, err := c.Check(ctx, &qs[i])
		g.Expect(err).NotTo(HaveOccurred())
		if local.Allowed {
			allowed++
		}
		local.DecisionID, remote.DecisionID = "", ""
		g.Expect(local).To(Equal(remote), "%+v", qs[i])
	}
	g.Expect(allowed).To(And(BeNumerically(">", 0), BeNumerically("<", len(qs))))

	_, err = pdp.Check(&crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "Boss"}, Action: "view",
		Resource: crmauthz.Resource{Entity: "leads"}})
	g.Expect(err).To(MatchError(ContainSubstring("subject.role")), "a request it cannot decide is an error naming the field")

	// A file that breaks keeps its last good objects in force.
	groups := filepath.Join(dir, "policy_v1alpha1_salesgroup.yaml")
	g.Expect(os.WriteFile(groups, []byte("kind: SalesGroup\nspec: ["), 0o600)).To(Succeed())
	g.Consistently(func() string { return pdp.Revision("acme") }, 200*time.Millisecond, 20*time.Millisecond).Should(Equal(revision))

	// A change is followed.
	dashboard := &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Action: "access",
		Resource: crmauthz.Resource{Feature: "Dashboard"}}
	before, _ := pdp.Check(dashboard)
	g.Expect(before.Allowed).To(BeTrue())
	templates := filepath.Join(dir, "policy_v1alpha1_permissiontemplate.yaml")
	data, err := os.ReadFile(templates)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(templates, append(data, []byte(`---
apiVersion: policy.crmauthz.io/v1alpha1
kind: PermissionTemplate
metadata: {name: no-dashboard, namespace: acme}
spec:
  appliesTo: {users: [u-15]}
  restrictedFeatures: [Dashboard]
`)...), 0o600)).To(Succeed())
	g.Eventually(func() crmauthz.Reason {
		d, _ := pdp.Check(dashboard)
		return d.Reason
	}, 5*time.Second, 20*time.Millisecond).Should(Equal(crmauthz.Reason("FeatureRestricted")))
	g.Expect(pdp.Revision("acme")).NotTo(Equal(revision))

	cancel()
	g.Eventually(pdp.Done(), 5*time.Second).Should(BeClosed())
}

// BenchmarkEmbeddedCheck is a decision in the caller's process, from the request
// struct to the answer struct.
func BenchmarkEmbeddedCheck(b *testing.B) {
	pdp, err := crmauthz.LoadFiles(b.Context(), "acme", time.Hour, testenv.Path("config", "samples"))
	if err != nil {
		b.Fatal(err)
	}
	q := &crmauthz.CheckRequest{Tenant: "acme", Subject: crmauthz.Subject{User: "u-15", Role: "SalesUser"}, Action: "edit",
		Resource: crmauthz.Resource{Entity: "leads", ID: "L-1", Owner: "u-16"}, Fields: []string{"Stage"}}
	var out crmauthz.CheckResponse
	b.ReportAllocs()
	for b.Loop() {
		if err := pdp.CheckInto(q, &out); err != nil {
			b.Fatal(err)
		}
	}
	if out.Allowed || out.Reason != "OutOfScope" {
		b.Fatalf("the sample question is decided %v %s", out.Allowed, out.Reason)
	}
}
