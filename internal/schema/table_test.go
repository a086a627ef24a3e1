package schema

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// TestCRDAgreesWithTable holds the API server's copy of the rules (the CRD's schema
// and CEL markers) to the one table in api/v1alpha1: for every entity and action, the
// schema accepts the action where the types have it, Partial where the table allows
// it, and bulk where the table allows it — and refuses each elsewhere.
func TestCRDAgreesWithTable(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for e, entity := range v1alpha1.EntityNames {
		for a, rule := range v1alpha1.Actions {
			has := v1alpha1.EntityHas(e, a)
			for _, c := range []struct {
				what string
				perm map[string]any
				want bool
			}{
				{"the action", map[string]any{"access": "Full"}, has},
				{"Partial", map[string]any{"access": "Partial", "fields": []any{"mx_Custom_9"}}, has && rule.Partial},
				{"bulk", map[string]any{"access": "Full", "bulk": "Deny"}, has && rule.Bulk},
			} {
				errs := v.Validate(context.Background(), template(entity, rule.Name, c.perm))
				if got := len(errs) == 0; got != c.want {
					t.Errorf("%s.%s: %s: the CRD accepts it: %v, the table: %v (%v)", entity, rule.Name, c.what, got, c.want, errs)
				}
				if !c.want && has && !strings.Contains(errs.ToAggregate().Error(), "allowed only on") {
					t.Errorf("%s.%s: %s refused with another message than the compiler's: %v", entity, rule.Name, c.what, errs)
				}
			}
		}
	}
}

func template(entity, action string, perm map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "PermissionTemplate",
		"metadata":   map[string]any{"name": "t", "namespace": "acme"},
		"spec": map[string]any{
			"appliesTo": map[string]any{"roles": []any{"SalesUser"}},
			"entities":  map[string]any{entity: map[string]any{action: perm}},
		},
	}}
}
