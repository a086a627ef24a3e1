package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAssets writes executable stand-ins for kube-apiserver and etcd into dir.
func fakeAssets(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// assets runs hack/envtest-assets.sh with env added and returns what it printed.
func assets(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(Path("hack", "envtest-assets.sh"))
	cmd.Env = append(os.Environ(), append([]string{"ENVTEST_K8S_VERSION=1.36.3", "ENVTEST_ETCD_VERSION=3.6.16",
		"SETUP_ENVTEST_VERSION=v0.25.1"}, env...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("envtest-assets.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestEnvtestAssetsOrder: a set KUBEBUILDER_ASSETS is used as it is, with nothing
// downloaded or built; without one the build's cache answers (here pre-filled, so the
// test builds nothing either).
func TestEnvtestAssetsOrder(t *testing.T) {
	given, cache := t.TempDir(), t.TempDir()
	fakeAssets(t, given)
	if got := assets(t, "KUBEBUILDER_ASSETS="+given, "CRMAUTHZ_CACHE="+cache); got != given {
		t.Errorf("with KUBEBUILDER_ASSETS set: printed %q, want %q", got, given)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("with KUBEBUILDER_ASSETS set, the cache was written: %v", entries)
	}

	built := filepath.Join(cache, "envtest", "k8s-1.36.3-etcd-3.6.16")
	fakeAssets(t, built)
	empty := t.TempDir()
	if got := assets(t, "KUBEBUILDER_ASSETS="+empty, "CRMAUTHZ_CACHE="+cache, "ENVTEST_SKIP_DOWNLOAD=1"); got != built {
		t.Errorf("with KUBEBUILDER_ASSETS empty: printed %q, want the build's cache %q", got, built)
	}
}
