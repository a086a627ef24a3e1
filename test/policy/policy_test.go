// Package policy runs the example policy test suites (what `crmauthz test test/policy`
// runs) as part of `make test`.
package policy

import (
	"testing"

	"github.com/crmauthz/crmauthz/internal/policytest"
)

func TestExampleSuites(t *testing.T) {
	results, err := policytest.RunPaths(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no cases")
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %s: %v", r.File, r.Case, r.Err)
		}
	}
}
