package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

// TestDecisionCases runs every YAML decision case under testdata/cases: policy
// objects, a request, and the response wanted. The suite must keep at least 100.
func TestDecisionCases(t *testing.T) {
	policytest.RunT(t, 100, filepath.Join("testdata", "cases"))
}
