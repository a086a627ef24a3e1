package policy_test

import (
	"maps"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
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

// A group's member count is its people, each once: a manager who is also a member,
// or an id listed twice, is one person; people of other groups are not counted.
func TestMemberCountCountsPeopleOnce(t *testing.T) {
	_, rep := policy.Compile(policy.Input{Tenant: "acme", Groups: []v1alpha1.SalesGroup{
		{ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: v1alpha1.SalesGroupSpec{
			Managers: []v1alpha1.UserID{"boss", "deputy"}, Members: []v1alpha1.UserID{"boss", "u-1", "u-2", "u-1"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "west"}, Spec: v1alpha1.SalesGroupSpec{
			Parent: "east", Managers: []v1alpha1.UserID{"boss"}, Members: []v1alpha1.UserID{"u-3"}}},
	}})
	for name, want := range map[string]int32{"east": 4, "west": 2} {
		if st := rep.Find(policy.KindSalesGroup, name); st == nil || st.MemberCount != want {
			t.Errorf("%s: member count %+v, want %d", name, st, want)
		}
	}
}

// TestCompileDoesNotModifyItsInput: the manager compiles the informer cache's own
// objects (no copies), so compiling must only read them — sorting a list in place, say,
// would corrupt the cache.
func TestCompileDoesNotModifyItsInput(t *testing.T) {
	gen := tenantgen.Generate("acme", tenantgen.SpecSize, 3)
	in := gen.Input
	// Conflicts, a cycle and over-limit templates exercise the rarer paths too.
	in.Groups[0].Spec.Parent = v1alpha1.GroupName(in.Groups[len(in.Groups)-1].Name)
	in.Templates = append(in.Templates, in.Templates[0])
	in.Templates[len(in.Templates)-1].Name = "zz-copy"
	want := deepCopy(in)
	policy.Compile(in)
	if !reflect.DeepEqual(want, in) {
		t.Fatal("Compile modified its input")
	}
}

func deepCopy(in policy.Input) policy.Input {
	out := in
	out.Templates, out.Groups, out.LoginPolicies, out.Allowlists = nil, nil, nil, nil
	for i := range in.Templates {
		out.Templates = append(out.Templates, *in.Templates[i].DeepCopy())
	}
	for i := range in.Groups {
		out.Groups = append(out.Groups, *in.Groups[i].DeepCopy())
	}
	for i := range in.LoginPolicies {
		out.LoginPolicies = append(out.LoginPolicies, *in.LoginPolicies[i].DeepCopy())
	}
	for i := range in.Allowlists {
		out.Allowlists = append(out.Allowlists, *in.Allowlists[i].DeepCopy())
	}
	out.ConfigMaps = map[string]map[string]string{}
	for name, data := range in.ConfigMaps {
		out.ConfigMaps[name] = maps.Clone(data)
	}
	return out
}

// TestTeamOwnersAreWhomInTeamReaches: the owner list of /v1/filter, put together from
// group lists when asked for, holds exactly the owners a check finds in Team scope.
func TestTeamOwnersAreWhomInTeamReaches(t *testing.T) {
	gen := tenantgen.Generate("acme", tenantgen.SpecSize, 5)
	s, _ := policy.Compile(gen.Input)
	askers := []string{gen.TopManager}
	for i := 0; i < len(gen.Users); i += 97 {
		askers = append(askers, gen.Users[i])
	}
	askers = append(askers, gen.Managers...)
	for _, asker := range askers {
		list := s.TeamOwners(asker)
		in := map[string]bool{}
		for i := 0; i < list.Len(); i++ {
			if i > 0 && list.At(i-1) >= list.At(i) {
				t.Fatalf("%s: owners not sorted and distinct at %d", asker, i)
			}
			in[list.At(i)] = true
		}
		for _, owner := range gen.Users {
			if want := owner == asker || s.InTeam(asker, owner); in[owner] != want {
				t.Fatalf("%s: owner %s listed=%v, in team=%v", asker, owner, in[owner], want)
			}
		}
	}
}
