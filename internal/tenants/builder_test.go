package tenants

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

func template(gen int64, delete v1alpha1.Access, fields ...v1alpha1.FieldName) v1alpha1.PermissionTemplate {
	return v1alpha1.PermissionTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "reps", Namespace: "acme", Generation: gen},
		Spec: v1alpha1.PermissionTemplateSpec{
			AppliesTo: v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}},
			Entities: v1alpha1.Entities{Leads: &v1alpha1.RecordPermissions{
				Delete: &v1alpha1.Permission{Access: delete, Scope: v1alpha1.ScopeOwn, Fields: fields},
			}},
		},
	}
}

func canDelete(t *Tenant) bool {
	var d engine.Decision
	engine.Check(t.Snapshot, &engine.Request{User: "u-1", Role: policy.RoleSalesUser, Action: policy.ActionDelete, Entity: policy.EntityLeads, Owner: "u-1"}, &d)
	return d.Allowed
}

func TestBuilderKeepsLastGoodVersion(t *testing.T) {
	g := NewWithT(t)
	b := NewBuilder()
	in := policy.Input{Tenant: "acme"}

	// Generation 1 compiles: SalesUsers may delete their own leads.
	in.Templates = []v1alpha1.PermissionTemplate{template(1, v1alpha1.AccessFull)}
	t1 := b.Build(in)
	g.Expect(canDelete(t1)).To(BeTrue())
	g.Expect(t1.Report.Find(policy.KindPermissionTemplate, "reps").Ready).To(BeTrue())

	// Generation 2 does not compile (Partial delete): generation 1 stays enforced.
	in.Templates = []v1alpha1.PermissionTemplate{template(2, v1alpha1.AccessPartial, "Phone")}
	t2 := b.Build(in)
	g.Expect(canDelete(t2)).To(BeTrue(), "the last good version must stay in force")
	st := t2.Report.Find(policy.KindPermissionTemplate, "reps")
	g.Expect(st.InForce).To(BeTrue())
	g.Expect(st.Ready).To(BeFalse())
	g.Expect(st.Generation).To(BeEquivalentTo(2))
	g.Expect(st.Reason).To(Equal(v1alpha1.ReasonInvalid))
	g.Expect(st.Message).To(ContainSubstring("Partial access is allowed only on view, create and edit; still enforcing generation 1"))

	// Generation 3 compiles again and replaces it.
	in.Templates = []v1alpha1.PermissionTemplate{template(3, v1alpha1.AccessNone)}
	t3 := b.Build(in)
	g.Expect(canDelete(t3)).To(BeFalse())
	g.Expect(t3.Report.Find(policy.KindPermissionTemplate, "reps").Ready).To(BeTrue())

	// Deleted, then recreated broken: there is nothing to fall back to.
	in.Templates = nil
	b.Build(in)
	in.Templates = []v1alpha1.PermissionTemplate{template(1, v1alpha1.AccessPartial, "Phone")}
	t4 := b.Build(in)
	g.Expect(t4.Report.Find(policy.KindPermissionTemplate, "reps").InForce).To(BeFalse())
	g.Expect(canDelete(t4)).To(BeFalse(), "the SalesUser baseline applies")
}

func TestStoreSwapsAtomically(t *testing.T) {
	g := NewWithT(t)
	var seen []string
	s := NewStore(func(name string, t *Tenant) { seen = append(seen, name) })
	g.Expect(s.Ready()).To(BeFalse())
	g.Expect(s.Snapshot("acme")).To(BeNil())
	ten := NewBuilder().Build(policy.Input{Tenant: "acme", Templates: []v1alpha1.PermissionTemplate{template(1, v1alpha1.AccessFull)}})
	s.Put("acme", ten)
	g.Expect(s.Snapshot("acme")).To(BeIdenticalTo(ten.Snapshot))
	g.Expect(s.Names()).To(Equal([]string{"acme"}))
	s.Put("acme", nil)
	g.Expect(s.Snapshot("acme")).To(BeNil())
	g.Expect(seen).To(Equal([]string{"acme", "acme"}))
	s.SetReady()
	g.Expect(s.Ready()).To(BeTrue())
}

// TestReplacedLetsGoOfOldObjects: the informer cache replaces an object when its
// status is written; the builder must then hold the new one, not keep the old alive —
// unless the object is enforced from an older generation, whose spec it still needs, or
// the new one is another object of the same name.
func TestReplacedLetsGoOfOldObjects(t *testing.T) {
	g := NewWithT(t)
	b := NewBuilder()
	in := policy.Input{Tenant: "acme", Templates: []v1alpha1.PermissionTemplate{template(1, v1alpha1.AccessFull)}}
	b.Build(in)
	held := func() *v1alpha1.PermissionTemplate {
		return b.lastGood["acme"][policy.KindPermissionTemplate+"/reps"].(*v1alpha1.PermissionTemplate)
	}
	first := held()

	// The status is written: same generation, a new object.
	statusWritten := template(1, v1alpha1.AccessFull)
	b.Replaced("acme", policy.KindPermissionTemplate, &statusWritten)
	g.Expect(held()).To(BeIdenticalTo(&statusWritten))
	g.Expect(held()).NotTo(BeIdenticalTo(first))

	// Another object of the same name (deleted and created again) is not the same.
	other := template(1, v1alpha1.AccessFull)
	other.UID = "another"
	b.Replaced("acme", policy.KindPermissionTemplate, &other)
	g.Expect(held()).To(BeIdenticalTo(&statusWritten))

	// Generation 2 does not compile: generation 1 stays held through status writes.
	broken := policy.Input{Tenant: "acme", Templates: []v1alpha1.PermissionTemplate{template(2, v1alpha1.AccessPartial, "Phone")}}
	b.Build(broken)
	b.Replaced("acme", policy.KindPermissionTemplate, &broken.Templates[0])
	g.Expect(held().Generation).To(BeEquivalentTo(1))
	g.Expect(canDelete(b.Build(broken))).To(BeTrue(), "generation 1 is still enforced")
}
