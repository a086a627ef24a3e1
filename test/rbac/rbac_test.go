// Package rbac guards the manager's least privilege: no wildcards, no Secrets beyond
// the webhook certificate in its own namespace, and a snapshot of every rule, so a
// widening shows up in review as a change to testdata/rbac.golden.
package rbac

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type role struct {
	Kind     string                           `json:"kind"`
	Metadata struct{ Name, Namespace string } `json:"metadata"`
	Rules    []rbacv1.PolicyRule              `json:"rules"`
}

func roles(t *testing.T) []role {
	files, _ := filepath.Glob(filepath.Join("..", "..", "config", "rbac", "*.yaml"))
	var out []role
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var ro role
			if err := yaml.Unmarshal(doc, &ro); err != nil {
				t.Fatal(err)
			}
			if ro.Kind == "ClusterRole" || ro.Kind == "Role" {
				out = append(out, ro)
			}
		}
	}
	return out
}

func TestLeastPrivilege(t *testing.T) {
	for _, ro := range roles(t) {
		for _, rule := range ro.Rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
				for _, v := range list {
					if strings.Contains(v, "*") {
						t.Errorf("%s %s has a wildcard: %+v", ro.Kind, ro.Metadata.Name, rule)
					}
				}
			}
			for _, res := range rule.Resources {
				if res == "secrets" && (ro.Kind != "Role" || ro.Metadata.Namespace != "system") {
					t.Errorf("%s %s reads Secrets outside the manager's namespace: %+v", ro.Kind, ro.Metadata.Name, rule)
				}
			}
		}
	}
}

func TestRBACSnapshot(t *testing.T) {
	var lines []string
	for _, ro := range roles(t) {
		for _, rule := range ro.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					verbs := append([]string(nil), rule.Verbs...)
					sort.Strings(verbs)
					ns := ro.Metadata.Namespace
					if ns == "" {
						ns = "(cluster)"
					}
					lines = append(lines, strings.Join([]string{ro.Kind, ro.Metadata.Name, ns, "group=" + g, res, strings.Join(verbs, ",")}, " "))
				}
			}
		}
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "rbac.golden")
	if os.Getenv("UPDATE_RBAC_SNAPSHOT") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatalf("the RBAC rules changed; review the change and run UPDATE_RBAC_SNAPSHOT=1 go test ./test/rbac\n--- snapshot\n%s--- now\n%s", want, got)
	}
}
