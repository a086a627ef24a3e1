package service_test

import (
	"path/filepath"
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

// TestDecisionCases runs the engine's YAML decision cases from here too: they go
// through this package (decoding, parsing, answers and their messages) exactly as the
// HTTP API does, so the service's own tests cover it through them (make mutate).
func TestDecisionCases(t *testing.T) {
	policytest.RunT(t, 100, filepath.Join("..", "engine", "testdata", "cases"))
}
