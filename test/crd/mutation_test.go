package crd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// TestEveryRefusalDependsOnItsRule proves each refusal case tests a rule of the
// schema: the offline validator (the API server's own validation code) refuses the
// case with the same field and message as the API server does in the envtest suite,
// and once the one rule behind that error is removed from the CRD, that error is gone,
// so the envtest case would fail.
func TestEveryRefusalDependsOnItsRule(t *testing.T) {
	ctx := context.Background()
	v, err := schema.New()
	if err != nil {
		t.Fatal(err)
	}
	crds := loadCRDs(t)
	for name, build := range refusals {
		t.Run(name, func(t *testing.T) {
			r := build()
			errs := v.Validate(ctx, r.obj.DeepCopy())
			var hit *field.Error
			for _, e := range errs {
				if (r.field == "" || e.Field == r.field) && strings.Contains(e.Error(), r.message) {
					hit = e
					break
				}
			}
			if hit == nil {
				t.Fatalf("offline validation does not report %s %q; it reports %v", r.field, r.message, errs)
			}
			doc := crds[r.obj.GetKind()]
			mutant := deepCopyMap(doc)
			if err := removeRule(mutant, hit); err != nil {
				t.Fatal(err)
			}
			mv, err := schema.FromCRDs([]*apiextensionsv1.CustomResourceDefinition{toCRD(t, mutant)})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range mv.Validate(ctx, r.obj.DeepCopy()) {
				if e.Field == hit.Field && e.Detail == hit.Detail {
					t.Fatalf("still refused with %q once its rule is removed: the case does not test that rule", hit.Error())
				}
			}
		})
	}
}

func loadCRDs(t *testing.T) map[string]map[string]any {
	out := map[string]map[string]any{}
	files, err := filepath.Glob(testenv.Path("config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		kind := doc["spec"].(map[string]any)["names"].(map[string]any)["kind"].(string)
		out[kind] = doc
	}
	return out
}

func toCRD(t *testing.T, doc map[string]any) *apiextensionsv1.CustomResourceDefinition {
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func deepCopyMap(m map[string]any) map[string]any {
	data, _ := yaml.Marshal(m)
	var out map[string]any
	_ = yaml.Unmarshal(data, &out)
	return out
}

// schemaNodes returns the schema nodes from the root to the one describing path
// ("spec.cidrs[0]"), following properties and items.
func schemaNodes(doc map[string]any, path string) ([]map[string]any, error) {
	nodes, _, err := schemaNodePaths(doc, path)
	return nodes, err
}

// schemaNodePaths also returns each node's field path ("spec.cidrs[0]").
func schemaNodePaths(doc map[string]any, path string) ([]map[string]any, []string, error) {
	versions := doc["spec"].(map[string]any)["versions"].([]any)
	node := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	nodes, paths := []map[string]any{node}, []string{""}
	if path == "" {
		return nodes, paths, nil
	}
	cur := ""
	for _, part := range strings.Split(path, ".") {
		name, index, _ := strings.Cut(part, "[")
		props, _ := node["properties"].(map[string]any)
		next, ok := props[name].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("no schema for %q in %s", name, path)
		}
		node = next
		cur = strings.TrimPrefix(cur+"."+name, ".")
		nodes, paths = append(nodes, node), append(paths, cur)
		if index != "" {
			if _, err := strconv.Atoi(strings.TrimSuffix(index, "]")); err != nil {
				return nil, nil, err
			}
			node = node["items"].(map[string]any)
			cur += "[" + index
			nodes, paths = append(nodes, node), append(paths, cur)
		}
	}
	return nodes, paths, nil
}

// removeRule deletes from the CRD the one constraint that produced e.
func removeRule(doc map[string]any, e *field.Error) error {
	if after, ok := strings.CutPrefix(e.Detail, "unknown field "); ok {
		// Strict field validation: "remove the rule" by declaring the field.
		path, _ := strconv.Unquote(after)
		i := strings.LastIndex(path, ".")
		nodes, err := schemaNodes(doc, path[:i])
		if err != nil {
			return err
		}
		parent := nodes[len(nodes)-1]
		parent["properties"].(map[string]any)[path[i+1:]] = map[string]any{"x-kubernetes-preserve-unknown-fields": true}
		return nil
	}
	path := e.Field
	if e.Type == field.ErrorTypeRequired {
		i := strings.LastIndex(path, ".")
		nodes, err := schemaNodes(doc, path[:i])
		if err != nil {
			return err
		}
		parent := nodes[len(nodes)-1]
		var kept []any
		for _, r := range parent["required"].([]any) {
			if r != path[i+1:] {
				kept = append(kept, r)
			}
		}
		parent["required"] = kept
		return nil
	}
	if e.Type == field.ErrorTypeDuplicate {
		path = path[:strings.LastIndex(path, "[")]
	}
	nodes, paths, err := schemaNodePaths(doc, path)
	if err != nil {
		return err
	}
	node := nodes[len(nodes)-1]
	keyword := ""
	switch {
	case e.Type == field.ErrorTypeNotSupported:
		keyword = "enum"
	case e.Type == field.ErrorTypeDuplicate:
		keyword = "x-kubernetes-list-type"
	case e.Type == field.ErrorTypeTooLong:
		keyword = "maxLength"
	case e.Type == field.ErrorTypeTooMany:
		keyword = "maxItems"
	case strings.Contains(e.Detail, "should match"):
		keyword = "pattern"
	case strings.Contains(e.Detail, "should be greater than or equal to"):
		keyword = "minimum"
	case strings.Contains(e.Detail, "should be less than or equal to"):
		keyword = "maximum"
	case strings.Contains(e.Detail, "should have at least"):
		keyword = "minItems"
	case strings.Contains(e.Detail, "in body must be of type date-time"):
		keyword = "format"
	}
	if keyword != "" {
		if _, ok := node[keyword]; !ok {
			return fmt.Errorf("%s has no %s to remove", path, keyword)
		}
		delete(node, keyword)
		return nil
	}
	// A CEL rule: the one whose message is the error's, on the node or an ancestor
	// whose fieldPath points at the error's field.
	for i := len(nodes) - 1; i >= 0; i-- {
		rules, _ := nodes[i]["x-kubernetes-validations"].([]any)
		for j, r := range rules {
			rule := r.(map[string]any)
			fp, _ := rule["fieldPath"].(string)
			if strings.TrimPrefix(paths[i]+fp, ".") != e.Field {
				continue
			}
			if celMessageMatches(rule, e.Detail) {
				nodes[i]["x-kubernetes-validations"] = append(rules[:j:j], rules[j+1:]...)
				return nil
			}
		}
	}
	return fmt.Errorf("no rule found behind %q", e.Error())
}

func celMessageMatches(rule map[string]any, detail string) bool {
	if m, ok := rule["message"].(string); ok && m != "" {
		return detail == m
	}
	// messageExpression: its literal parts appear in the message.
	expr, _ := rule["messageExpression"].(string)
	parts := strings.Split(expr, "'")
	found := false
	for i := 1; i < len(parts); i += 2 {
		lit := strings.ReplaceAll(parts[i], `\"`, `"`)
		if len(strings.TrimSpace(lit)) > 3 {
			if !strings.Contains(detail, lit) {
				return false
			}
			found = true
		}
	}
	return found
}
