// Package testenv starts the real API server (envtest) that the test suites use, from
// the control plane hack/envtest-bins.sh builds, with this repository's CRDs installed.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the directory holding go.mod, found by walking up from the working
// directory (go test runs each package in its own directory).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Path joins elements onto the repository root.
func Path(elem ...string) string {
	return filepath.Join(append([]string{RepoRoot()}, elem...)...)
}

// New returns an envtest environment with the CRDs of config/crd/bases and the control
// plane from KUBEBUILDER_ASSETS or, when unset, bin/k8s (what `make envtest` links).
func New() (*envtest.Environment, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = Path("bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make envtest` first: %w", assets, err)
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{Path("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}, nil
}

// Kubeconfig writes a kubeconfig for cfg into dir and returns its path, so tests can
// drive the API server with kubectl as a user would.
func Kubeconfig(cfg *rest.Config, dir string) (string, error) {
	api := clientcmdConfig(cfg)
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(api, path); err != nil {
		return "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	return path, nil
}

// Kubectl runs kubectl against the kubeconfig and returns its combined output.
func Kubectl(kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %v: %w: %s", args, err, out)
	}
	return string(out), nil
}
