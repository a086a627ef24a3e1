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
	ReportT(t, minCases, results, err)
}

// ReportT reports results (of RunPaths or a Compare) as subtests of t (file/case),
// failing t when err is set or there are fewer than minCases.
func ReportT(t *testing.T, minCases int, results []Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < minCases {
		t.Fatalf("only %d decision cases; want at least %d", len(results), minCases)
	}
	for _, r := range results {
		t.Run(filepath.Base(r.File)+"/"+r.Case, func(t *testing.T) {
			if r.Err != nil {
				t.Error(r.Err)
			}
		})
	}
}
