package policy_test

import (
	"path/filepath"
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

// TestDecisionCases runs the engine's YAML decision cases from here too: they are how
// the compiler is specified (compile statuses, reasons, and the decisions its tables
// lead to), so the policy package's own tests cover it through them (make mutate).
func TestDecisionCases(t *testing.T) {
	results, err := policytest.RunPaths(filepath.Join("..", "engine", "testdata", "cases"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no decision cases found")
	}
	for _, r := range results {
		t.Run(filepath.Base(r.File)+"/"+r.Case, func(t *testing.T) {
			if r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
}
