// Command run is `make run`: the whole of crmauthz on one machine, no cluster needed.
// It starts a real API server and etcd (the envtest control plane that
// hack/envtest-bins.sh builds), installs the CRDs and the admission webhooks, runs the
// manager against them, applies the samples with kubectl and serves the decision API
// on localhost:8080. Ctrl-C stops everything and leaves nothing running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run() error {
	apiAddr := flag.String("addr", "127.0.0.1:8080", "address of the decision API")
	stateDir := flag.String("dir", filepath.Join(testenv.RepoRoot(), "bin", "run"), "where to write the kubeconfig and logs")
	flag.Parse()
	if err := os.MkdirAll(*stateDir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(*stateDir, "manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))

	// Refuse early if the API port is taken, before starting a control plane.
	ln, err := net.Listen("tcp", *apiAddr)
	if err != nil {
		return fmt.Errorf("cannot serve the decision API on %s: %w", *apiAddr, err)
	}

	env, err := testenv.New()
	if err != nil {
		return err
	}
	env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{testenv.Path("config", "webhook")}}
	fmt.Println("Starting kube-apiserver and etcd ...")
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	// From here on, stop the control plane whatever happens.
	defer func() {
		fmt.Println("Stopping the control plane ...")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	kubeconfig, err := testenv.Kubeconfig(cfg, *stateDir)
	if err != nil {
		return err
	}

	decisions, err := os.Create(filepath.Join(*stateDir, "decisions.log"))
	if err != nil {
		return err
	}
	defer decisions.Close()
	op, err := newOperator(cfg, env, ln, decisions)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done, stopManager := startManager(ctx, op)
	defer stopManager()

	base := "http://" + *apiAddr
	if err := waitReady(ctx, base+"/readyz"); err != nil {
		return err
	}
	if err := applySamples(kubeconfig); err != nil {
		return err
	}
	if err := waitReady(ctx, base+"/v1/tenants/acme"); err != nil {
		return err
	}

	printHowTo(base, *stateDir, kubeconfig)

	select {
	case <-ctx.Done():
		fmt.Println("\nShutting down ...")
		return nil
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("manager stopped: %w", err)
		}
		return nil
	}
}

func kubectl(kubeconfig string, args ...string) (string, error) {
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string) error {
	return poll(ctx, 60*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func poll(ctx context.Context, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// startManager runs the manager until stop, which waits for it up to 15 s; done
// reports its end.
func startManager(ctx context.Context, op *operator.Operator) (done <-chan error, stop func()) {
	mgrCtx, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { ended <- op.Manager.Start(mgrCtx) }()
	return ended, func() {
		cancel()
		select {
		case err := <-ended:
			if err != nil {
				fmt.Fprintln(os.Stderr, "manager:", err)
			}
		case <-time.After(15 * time.Second):
		}
	}
}

// newOperator is the manager as `make run` runs it: the API on ln, the webhooks
// served where envtest registered them, decisions logged to decisions.
func newOperator(cfg *rest.Config, env *envtest.Environment, ln net.Listener, decisions io.Writer) (*operator.Operator, error) {
	return operator.New(cfg, operator.Options{
		APIListener: ln, ProbeAddr: "0", MetricsAddr: "0", LeaderElection: false,
		Webhooks: operator.WebhookOptions{Enabled: true, Host: env.WebhookInstallOptions.LocalServingHost,
			Port: env.WebhookInstallOptions.LocalServingPort, CertDir: env.WebhookInstallOptions.LocalServingCertDir},
		DecisionLogWriter: decisions,
	})
}

// applySamples applies the sample tenant acme with kubectl.
func applySamples(kubeconfig string) error {
	fmt.Println("Applying the samples (tenant acme) with kubectl ...")
	// File by file, groups before the templates that name them (and, in their file,
	// parents before children), so the first apply raises no "does not exist (yet)"
	// warnings; `kubectl apply -k` would sort them by kind and name.
	args := []string{"apply"}
	for _, f := range []string{"namespace.yaml", "policy_v1alpha1_salesgroup.yaml", "policy_v1alpha1_permissiontemplate.yaml",
		"policy_v1alpha1_loginpolicy.yaml", "policy_v1alpha1_ipallowlist.yaml"} {
		args = append(args, "-f", testenv.Path("config", "samples", f))
	}
	out, err := kubectl(kubeconfig, args...)
	fmt.Print(out)
	return err
}

// printHowTo prints what to try once everything runs.
func printHowTo(base, stateDir, kubeconfig string) {
	fmt.Printf(`
crmauthz is running. The decision API is on %[1]s; logs are in %[2]s.

  export KUBECONFIG=%[3]s
  kubectl get crmauthz -n acme                       # the samples and whether they are Ready
  kubectl get pt inside-sales -n acme -o yaml        # status: conditions, effective features

  curl -s %[1]s/v1/check -d '{"tenant":"acme","subject":{"user":"u-15","role":"SalesUser"},"action":"edit","resource":{"entity":"leads","id":"L-1","owner":"u-16"},"fields":["Stage"],"explain":true}'
  curl -s %[1]s/v1/filter -d '{"tenant":"acme","subject":{"user":"u-2","role":"SalesManager"},"action":"view","entity":"leads"}'
  curl -s %[1]s/v1/tenants/acme

  bin/crmauthz check --server %[1]s --tenant acme --user u-15 --role SalesUser edit leads/L-1 --owner u-16 --field Stage --explain
  bin/kubectl-crmauthz access --user u-15 --role SalesUser -n acme     # the access matrix

  bin/crmauthz check --server %[1]s --tenant acme --user u-12 --role SalesUser access Dashboard   # DENIED: inside-sales restricts it
  kubectl patch pt inside-sales -n acme --type=merge -p '{"spec":{"restrictedFeatures":["API"]}}'
                                                     # and ask again: ALLOWED within milliseconds

Press Ctrl-C to stop everything.
`, base, stateDir, kubeconfig)
}
