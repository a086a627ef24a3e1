package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

// TestDecisionCases runs every YAML decision case under testdata/cases: policy
// objects, a request, and the response wanted.
func TestDecisionCases(t *testing.T) {
	results, err := policytest.RunPaths(filepath.Join("testdata", "cases"))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 100 {
		t.Errorf("only %d decision cases; the suite must keep at least 100", len(results))
	}
	for _, r := range results {
		t.Run(filepath.Base(r.File)+"/"+r.Case, func(t *testing.T) {
			if r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
}
