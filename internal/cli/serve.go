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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/internal/auth"
	"github.com/crmauthz/crmauthz/internal/schema"
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
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --policies DIR [--addr 127.0.0.1:8080]",
		Short: "Serve the decision API from YAML files, without a cluster",
		Long: `serve loads PermissionTemplates, SalesGroups, LoginPolicies, IPAllowlists (and the
ConfigMaps allowlists reference) from files, checks them against the CRD schema as
the API server would, and serves the same decision API as the manager. Files are
re-read every --reload-interval; an edit that breaks a file or an object keeps its
last good version in force. Objects without a namespace belong to --namespace.

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
	_ = cmd.MarkFlagRequired("policies")
	return cmd
}

func (o *serveOptions) run(ctx context.Context) error {
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
	validator, err := schema.New()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store := tenants.NewStore(nil)
	files := &tenants.Files{Paths: o.policies, DefaultNamespace: o.namespace, Validator: validator,
		Builder: tenants.NewBuilder(), Store: store, Log: logger}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Without tokens the server is on loopback (checked above) and answers local
	// Host names only.
	opts := server.Options{Auth: authz, Registry: reg, Gatherer: reg, Log: logger, LoopbackHostsOnly: authz == nil}
	if o.decisionLog {
		opts.DecisionLog = os.Stderr
	}
	srv := server.New(service.New(store, nil), store, opts)
	defer srv.Close(2 * time.Second)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	httpSrv := server.NewHTTPServer(srv.Handler())
	errc := make(chan error, 2)
	go func() { errc <- files.Run(ctx, o.reload) }()
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
