package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

// etcdQuota lets 1,000 tenants fit: the API server then holds 10–12 GiB, above
// etcd's 2 GiB default quota.
const etcdQuota = "8589934592"

// cluster is a running envtest control plane and the bench's clients of it.
type cluster struct {
	env        *envtest.Environment
	rest       *rest.Config
	client     client.Client
	watcher    client.WithWatch
	kubeconfig string
	tmp        string // holds the kubeconfig and the API server's GC-tracing wrapper
	versions   string
	// gc follows the API server's garbage collections.
	gc *gcTrace
}

// startCluster starts etcd and kube-apiserver from bin/k8s (what `make envtest`
// links) with the repository's CRDs, as internal/testenv does for the tests (whose
// RepoRoot would find bench/go.mod from here, hence the explicit root).
func startCluster(cfg config) (*cluster, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(cfg.root, "bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make envtest` first: %w", assets, err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(cfg.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		// A loaded 2-core machine starts and stops a large etcd slowly.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  2 * time.Minute,
	}
	tmp, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	cl := &cluster{tmp: tmp, versions: versions(assets), gc: newGCTrace()}
	api := env.ControlPlane.GetAPIServer()
	if api.Path, err = gcTracedBinary(tmp, filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, errors.Join(err, os.RemoveAll(tmp))
	}
	api.Err = cl.gc
	env.ControlPlane.Etcd = &envtest.Etcd{}
	env.ControlPlane.Etcd.Configure().Append("quota-backend-bytes", etcdQuota)
	if !cfg.consistencyChecks {
		// Every 5 to 7.5 minutes per kind, the watch cache's consistency checker lists
		// every object from etcd and digests it: here a minute of a core for the
		// SalesGroups alone, on the two cores the manager and the API server share. A
		// restart it overlapped took 68–109 s instead of 50–57 s.
		api.Configure().Append("feature-gates", "DetectCacheInconsistency=false")
	}
	// The API server's in-flight limits are left alone: envtest's admin user, which the
	// bench and the manager both use, is in system:masters, which API Priority and
	// Fairness exempts from them.
	restCfg, err := env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting envtest: %w", err), os.RemoveAll(tmp))
	}
	cl.env = env
	if err := cl.connect(restCfg, cfg); err != nil {
		return cl, errors.Join(err, cl.stop())
	}
	return cl, nil
}

// connect makes the bench's clients (high QPS: the bench must not be the bottleneck
// of what it measures) and the manager's kubeconfig.
func (cl *cluster) connect(restCfg *rest.Config, cfg config) error {
	restCfg = rest.CopyConfig(restCfg)
	restCfg.QPS, restCfg.Burst = cfg.qps, cfg.burst
	cl.rest = restCfg
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	if cl.client, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if cl.watcher, err = client.NewWithWatch(restCfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("watching client: %w", err)
	}
	if cl.kubeconfig, err = testenv.Kubeconfig(restCfg, cl.tmp); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// stop stops the control plane (envtest removes its data) and the kubeconfig.
func (cl *cluster) stop() error {
	if cl.env == nil {
		return nil
	}
	env := cl.env
	cl.env = nil
	err := env.Stop()
	if cl.tmp != "" {
		err = errors.Join(err, os.RemoveAll(cl.tmp))
	}
	return err
}

// newScheme knows the core kinds and crmauthz's (internal/operator's Scheme, without
// depending on the operator package).
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	return s, nil
}

// versions names the control plane by the directory bin/k8s links to, which
// hack/envtest-bins.sh names after the versions it built (the binaries, built from
// source, report a placeholder version themselves).
func versions(assets string) string {
	dir, err := filepath.EvalSymlinks(assets)
	if err != nil {
		return assets
	}
	return filepath.Base(dir)
}

// buildManager builds the real crmauthz binary from the repository root, so the run
// measures the code in the work tree.
func buildManager(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, "bin", "crmauthz")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crmauthz")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/crmauthz: %w", err)
	}
	return bin, nil
}
