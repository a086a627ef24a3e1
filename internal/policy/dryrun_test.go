package policy_test

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

func template(name string, enforcement v1alpha1.Enforcement, roles []v1alpha1.Role, users []v1alpha1.UserID, restricted ...v1alpha1.Feature) v1alpha1.PermissionTemplate {
	return v1alpha1.PermissionTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme", Generation: 1},
		Spec: v1alpha1.PermissionTemplateSpec{Enforcement: enforcement, AppliesTo: v1alpha1.AppliesTo{Roles: roles, Users: users},
			RestrictedFeatures: restricted}}
}

// TestDryRunTemplates: the snapshot is the policy without DryRun templates; its
// Candidate has them, replacing the claims they make (and only those); their status
// says DryRun, not in force.
func TestDryRunTemplates(t *testing.T) {
	g := NewWithT(t)
	in := policy.Input{Tenant: "acme", Templates: []v1alpha1.PermissionTemplate{
		template("reps", v1alpha1.EnforcementEnforce, []v1alpha1.Role{v1alpha1.RoleSalesUser, v1alpha1.RoleSalesManager}, nil),
		template("reps-next", v1alpha1.EnforcementDryRun, []v1alpha1.Role{v1alpha1.RoleSalesUser}, []v1alpha1.UserID{"u-7"}, v1alpha1.FeatureDashboard),
	}}
	snap, rep := policy.Compile(in)
	g.Expect(snap.Candidate).NotTo(BeNil())
	g.Expect(snap.Governing("u-1", policy.RoleSalesUser).Template).To(Equal("reps"))
	g.Expect(snap.Governing("u-7", policy.RoleSalesManager).Template).To(Equal("reps"))
	g.Expect(snap.Candidate.Governing("u-1", policy.RoleSalesUser).Template).To(Equal("reps-next"), "the role it claims")
	g.Expect(snap.Candidate.Governing("u-7", policy.RoleSalesManager).Template).To(Equal("reps-next"), "the user it claims")
	g.Expect(snap.Candidate.Governing("u-1", policy.RoleSalesManager).Template).To(Equal("reps"), "what it does not claim stays reps'")
	g.Expect(snap.Candidate.Governing("u-1", policy.RoleSalesUser).Restricted.Has(mustFeature(t, "Dashboard"))).To(BeTrue())

	st := rep.Find(policy.KindPermissionTemplate, "reps-next")
	g.Expect(st).NotTo(BeNil())
	g.Expect(st.InForce).To(BeFalse())
	g.Expect(st.Ready).To(BeTrue())
	g.Expect(st.Reason).To(Equal(policy.ReasonDryRun))
	g.Expect(rep.Find(policy.KindPermissionTemplate, "reps").InForce).To(BeTrue())
	for _, o := range snap.Objects {
		g.Expect(o.Name).NotTo(Equal("reps-next"), "not in force")
	}

	enforcedOnly := in
	enforcedOnly.Templates = in.Templates[:1]
	plain, _ := policy.Compile(enforcedOnly)
	g.Expect(plain.Candidate).To(BeNil())
	g.Expect(snap.Revision).NotTo(Equal(plain.Revision), "a DryRun template changes what is logged")
}

func mustFeature(t *testing.T, name string) policy.Feature {
	f, ok := policy.ParseFeature(name)
	if !ok {
		t.Fatalf("no feature %s", name)
	}
	return f
}
