package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/auth"
	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

type serveOptions struct {
	policies    []string
	addr        string
	namespace   string
	tokenFile   string
	decisionLog bool
	reload      time.Duration
	quiet       time.Duration
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --policies DIR [--addr 127.0.0.1:8080]",
		Short: "Serve the decision API from YAML files, without a cluster",
		Long: `serve loads PermissionTemplates, SalesGroups, LoginPolicies, IPAllowlists (and the
ConfigMaps allowlists reference) from files, checks them against the CRD schema as
the API server would, and serves the same decision API as the manager. Files are
looked at every --reload-interval and loaded once they have not changed for
--reload-quiet. An edit that breaks a file or an object keeps its last good version
in force; a file that becomes empty keeps the objects it last held until it has
content again or is deleted; every object a reload removes is logged (WARN) and
counted. Ship files as a Kubernetes ConfigMap volume (or swap a ..data symlink the
same way): the swap is atomic and a load never mixes two versions. Objects without a
namespace belong to --namespace.

Without --token-file only a loopback --addr is accepted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.policies, "policies", nil, "files or directories of policy objects (repeatable)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to serve the decision API on")
	f.StringVar(&o.namespace, "namespace", "default", "tenant of objects without a namespace")
	f.StringVar(&o.tokenFile, "token-file", "", "bearer tokens allowed to ask, one `TOKEN CALLER TENANTS` a line")
	f.BoolVar(&o.decisionLog, "decision-log", true, "log every decision as a JSON line on stderr")
	f.DurationVar(&o.reload, "reload-interval", time.Second, "how often to look for changed files")
	f.DurationVar(&o.quiet, "reload-quiet", pipeline.DefaultQuietPeriod, "how long changed files must stay unchanged before they are loaded")
	_ = cmd.MarkFlagRequired("policies")
	return cmd
}

// DefaultServeGCPercent is serve's GOGC unless the environment sets one. A decision
// allocates little of its own, but net/http allocates a few KB per request and the
// process's fixed heap (the Kubernetes libraries' type registries) is rescanned by
// every collection: at the default 100 that costs about 7% of the CPU at full load,
// at 400 a quarter of that, for some 30 MB more heap.
const DefaultServeGCPercent = 400

func (o *serveOptions) run(ctx context.Context) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultServeGCPercent)
	}
	var authz server.Authorizer
	if o.tokenFile != "" {
		tf, err := auth.LoadTokenFile(o.tokenFile)
		if err != nil {
			return err
		}
		authz = tf
	} else if !server.IsLoopbackHost(o.addr) {
		return &exitError{code: 2, msg: fmt.Sprintf("refusing to serve unauthenticated callers on %s: bind a loopback address (--addr 127.0.0.1:8080) or pass --token-file", o.addr)}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store := tenants.NewStore(nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	removed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmauthz_policy_objects_removed_total",
		Help: "Policy objects a reload of the policy files took out of force, by tenant and kind.",
	}, []string{"tenant", "kind"})
	reg.MustRegister(removed)
	// No Validator: one is built for each load (the CRD schema's CEL programs are most
	// of the heap, and every GC would rescan them between reloads).
	files := &pipeline.Files{Paths: o.policies, DefaultNamespace: o.namespace,
		Builder: tenants.NewBuilder(), Store: store, Log: logger, Removed: removed}

	// Without tokens the server is on loopback (checked above) and answers local
	// Host names only.
	opts := server.Options{Auth: authz, Registry: reg, Gatherer: reg, Log: logger, LoopbackHostsOnly: authz == nil}
	if o.decisionLog {
		opts.DecisionLog = os.Stderr
	}
	srv := server.New(service.New(store, nil), opts)
	defer srv.Close(2 * time.Second)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	httpSrv := server.NewHTTPServer(srv.Handler())
	errc := make(chan error, 2)
	go func() { errc <- files.Run(ctx, o.reload, o.quiet) }()
	go func() { errc <- httpSrv.Serve(ln) }()
	logger.Info("Serving the decision API", "addr", ln.Addr().String(), "policies", o.policies, "authenticated", authz != nil)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return httpSrv.Shutdown(shutdown)
}
