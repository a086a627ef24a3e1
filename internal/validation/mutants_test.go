package validation_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// An action may reach as far as view does, not further: a scope equal to view's is
// fine, one step wider is refused at the action's scope (found by make mutate).
func TestActionScopeUpToView(t *testing.T) {
	p := func(scope v1alpha1.Scope) *v1alpha1.Permission { return &v1alpha1.Permission{Scope: scope} }
	for _, tc := range []struct {
		name     string
		leads    v1alpha1.RecordPermissions
		wantPath []string
	}{
		{"every action as wide as view", v1alpha1.RecordPermissions{View: p(v1alpha1.ScopeTeam), Edit: p(v1alpha1.ScopeTeam), Export: p(v1alpha1.ScopeTeam), Delete: p(v1alpha1.ScopeOwn)}, nil},
		{"own under own", v1alpha1.RecordPermissions{View: p(v1alpha1.ScopeOwn), Reassign: p(v1alpha1.ScopeOwn)}, nil},
		{"one step wider", v1alpha1.RecordPermissions{View: p(v1alpha1.ScopeTeam), Edit: p(v1alpha1.ScopeTeam), Export: p(v1alpha1.ScopeAll)}, []string{"spec.entities.leads.export.scope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leads := tc.leads
			errs := validation.TemplateLocal(&v1alpha1.PermissionTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: "reps", Namespace: "acme"},
				Spec: v1alpha1.PermissionTemplateSpec{AppliesTo: v1alpha1.AppliesTo{Roles: []v1alpha1.Role{v1alpha1.RoleSalesUser}},
					Entities: v1alpha1.Entities{Leads: &leads}},
			})
			if len(errs) != len(tc.wantPath) {
				t.Fatalf("want errors at %v, got %v", tc.wantPath, errs)
			}
			for i, want := range tc.wantPath {
				if errs[i].Field != want {
					t.Errorf("error %d at %s, want %s", i, errs[i].Field, want)
				}
			}
		})
	}
}
