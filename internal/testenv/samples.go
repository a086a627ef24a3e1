package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// CopySamples copies config/samples' policy files into a new directory, each passed
// through edit (nil: as they are), for tests that change a policy on disk.
func CopySamples(t testing.TB, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(Path("config", "samples", "policy_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if edit != nil {
			s = edit(s)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
