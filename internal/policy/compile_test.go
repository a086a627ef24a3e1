package policy_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Two objects of one kind and name cannot exist in a namespace, but files can hold
// them: the compiler keeps the first, reports it once, and hashes only what it kept.
func TestCompileKeepsTheFirstOfTwoObjectsWithOneName(t *testing.T) {
	group := func(members ...v1alpha1.UserID) v1alpha1.SalesGroup {
		return v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: "west"}, Spec: v1alpha1.SalesGroupSpec{Members: members}}
	}
	one, rep := policy.Compile(policy.Input{Tenant: "acme", Groups: []v1alpha1.SalesGroup{group("u-1")}})
	two, rep2 := policy.Compile(policy.Input{Tenant: "acme", Groups: []v1alpha1.SalesGroup{group("u-1"), group("u-2", "u-3")}})
	if len(rep2.Objects) != 1 || !rep2.Objects[0].InForce || !rep2.Objects[0].Ready {
		t.Fatalf("want one ready group in force, got %+v", rep2.Objects)
	}
	if rep2.Objects[0].MemberCount != rep.Objects[0].MemberCount {
		t.Errorf("member count %d, want %d (the first copy's)", rep2.Objects[0].MemberCount, rep.Objects[0].MemberCount)
	}
	if one.Revision != two.Revision {
		t.Errorf("revision %s differs from %s: the ignored copy was hashed", two.Revision, one.Revision)
	}
}
