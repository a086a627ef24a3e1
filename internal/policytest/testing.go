package policytest

import (
	"path/filepath"
	"testing"
)

// RunT runs every suite under paths as subtests of t (file/case), failing t when the
// suites cannot run or hold fewer than minCases cases.
func RunT(t *testing.T, minCases int, paths ...string) {
	t.Helper()
	results, err := RunPaths(paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < minCases {
		t.Fatalf("only %d decision cases under %v; want at least %d", len(results), paths, minCases)
	}
	for _, r := range results {
		t.Run(filepath.Base(r.File)+"/"+r.Case, func(t *testing.T) {
			if r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
}
