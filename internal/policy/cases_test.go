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
	policytest.RunT(t, 100, filepath.Join("..", "engine", "testdata", "cases"))
}
