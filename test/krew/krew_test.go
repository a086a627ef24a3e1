// Package krew tests the kubectl plugin's distribution: plugins/crmauthz.yaml, the
// krew-release-bot template of its krew manifest, rendered for an archive built as a
// release builds it (hack/krew), checked by krew's own validate-krew-manifest, and
// installed with krew (bin/krew, `make krew`) — after which `kubectl crmauthz version`
// answers from the installed plugin.
package krew_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/internal/testenv"
)

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestKrewInstallsThePlugin(t *testing.T) {
	g := NewWithT(t)
	for _, tool := range []string{"krew", "validate-krew-manifest"} {
		if _, err := os.Stat(testenv.Path("bin", tool)); err != nil {
			t.Fatalf("no bin/%s: run `make krew` (make test does)", tool)
		}
	}
	dist := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	run(t, nil, "go", "run", "./hack/krew", "-version", "v0.0.1-test", "-out", dist, "-platforms", platform)

	manifest := filepath.Join(dist, "crmauthz.yaml")
	out := run(t, nil, testenv.Path("bin", "validate-krew-manifest"), "-manifest", manifest, "-skip-install")
	g.Expect(out).To(ContainSubstring("structural validation OK"))
	data, err := os.ReadFile(manifest)
	g.Expect(err).NotTo(HaveOccurred())
	var m struct {
		Metadata struct{ Name string }
		Spec     struct {
			Version   string
			Platforms []struct{ URI, Sha256, Bin string }
		}
	}
	g.Expect(yaml.Unmarshal(data, &m)).To(Succeed())
	g.Expect(m.Metadata.Name).To(Equal("crmauthz"))
	g.Expect(m.Spec.Version).To(Equal("v0.0.1-test"))
	g.Expect(m.Spec.Platforms).To(HaveLen(1))
	archive := filepath.Join(dist, "kubectl-crmauthz_"+runtime.GOOS+"_"+runtime.GOARCH+".tar.gz")
	g.Expect(m.Spec.Platforms[0].URI).To(HaveSuffix("/v0.0.1-test/" + filepath.Base(archive)))

	// The template lists every platform a release builds.
	tmpl, err := os.ReadFile(testenv.Path("plugins", "crmauthz.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		g.Expect(string(tmpl)).To(ContainSubstring("kubectl-crmauthz_" + p + ".tar.gz"))
	}

	// Installed by krew from the manifest and the archive (its sha256 checked), then
	// found by kubectl as a plugin.
	root := t.TempDir()
	env := []string{"KREW_ROOT=" + root}
	run(t, env, testenv.Path("bin", "krew"), "install", "--manifest", manifest, "--archive", archive)
	pathEnv := "PATH=" + filepath.Join(root, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")
	out = run(t, []string{pathEnv}, "kubectl", "crmauthz", "version")
	g.Expect(out).To(HavePrefix("kubectl-crmauthz v0.0.1-test"))
	g.Expect(out).To(ContainSubstring("reads policy.crmauthz.io/v1alpha1"))
	out = run(t, []string{pathEnv}, "kubectl", "plugin", "list")
	g.Expect(strings.Contains(out, filepath.Join(root, "bin", "kubectl-crmauthz"))).To(BeTrue(), out)
}
