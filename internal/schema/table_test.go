package schema

import (
	"context"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/testenv"
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

// TestDocsAgreeWithTable holds the reference's table of entities and actions
// (docs/concepts.md) to the one in api/v1alpha1.
func TestDocsAgreeWithTable(t *testing.T) {
	data, err := os.ReadFile(testenv.Path("docs", "concepts.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "## Entities and actions\n")
	var header []string
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if header != nil {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells[1:]
		case strings.HasPrefix(cells[0], "---"):
		default:
			for _, e := range strings.Split(cells[0], ",") {
				rows[strings.Trim(strings.TrimSpace(e), "`")] = cells[1:]
			}
		}
	}
	var names []string
	for _, a := range v1alpha1.Actions {
		names = append(names, a.Name)
	}
	if strings.Join(header, " ") != strings.Join(names, " ") {
		t.Fatalf("docs/concepts.md lists the actions %v, the table %v", header, names)
	}
	for e, entity := range v1alpha1.EntityNames {
		row, ok := rows[entity]
		if !ok {
			t.Errorf("docs/concepts.md has no row for %s", entity)
			continue
		}
		for a, name := range names {
			if got := a < len(row) && row[a] == "✓"; got != v1alpha1.EntityHas(e, a) {
				t.Errorf("docs/concepts.md: %s.%s is marked %v, the types say %v", entity, name, got, v1alpha1.EntityHas(e, a))
			}
		}
	}
	if len(rows) != len(v1alpha1.EntityNames) {
		t.Errorf("docs/concepts.md has rows for %d entities, the table %d", len(rows), len(v1alpha1.EntityNames))
	}
}
