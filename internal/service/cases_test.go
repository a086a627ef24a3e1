package service_test

import (
	"path/filepath"
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

var casesDir = filepath.Join("..", "engine", "testdata", "cases")

// TestDecisionCases runs the engine's YAML decision cases from here too: they go
// through this package (decoding, parsing, answers and their messages) exactly as the
// HTTP API does, so the service's own tests cover it through them (make mutate).
func TestDecisionCases(t *testing.T) {
	policytest.RunT(t, 100, casesDir)
}

// TestDecisionCasesInAuthZEN asks every check and batch of the decision cases again
// in the AuthZEN endpoints' shapes: each answer must be the native one.
func TestDecisionCasesInAuthZEN(t *testing.T) {
	results, err := policytest.CompareAuthZEN(casesDir)
	policytest.ReportT(t, 80, results, err)
}

// TestDecisionCasesDecided asks every check of the decision cases again through
// Decide (the SDK's embedded decision point): each answer must be the native one.
func TestDecisionCasesDecided(t *testing.T) {
	results, err := policytest.CompareDecide(casesDir)
	policytest.ReportT(t, 80, results, err)
}
