// Package operator assembles `crmauthz manager`: the controller-runtime manager with
// the tenant compiler, the status writers, the admission webhooks and the decision API.
package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/controllers"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// Options configure the manager.
type Options struct {
	// APIAddr serves the decision API (and /metrics, /healthz, /readyz); APIListener,
	// when set, is used instead (tests listen on port 0).
	APIAddr     string
	APIListener net.Listener
	// ProbeAddr serves the kubelet's probes; MetricsAddr controller-runtime's metrics
	// ("0" disables).
	ProbeAddr, MetricsAddr string
	// LeaderElection elects the status writer; LeaderElectionNamespace holds its lease.
	LeaderElection          bool
	LeaderElectionNamespace string
	// DecisionLog logs every decision as JSON on stderr.
	DecisionLog bool
	// Auth checks API callers; nil accepts everyone.
	Auth server.Authorizer
}

// Scheme knows the crmauthz kinds and the core kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Operator is an assembled manager and the store its API serves from.
type Operator struct {
	Manager ctrl.Manager
	Store   *tenants.Store
}

// New builds the manager against cfg.
func New(cfg *rest.Config, o Options) (*Operator, error) {
	// No controller-runtime leader election: every runnable runs on every replica, and
	// status writing is gated by our own elector (see elector).
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme(),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
	})
	if err != nil {
		return nil, err
	}
	store := tenants.NewStore(nil)
	var leader controllers.Leader = alwaysLeader{}
	var el *elector
	if o.LeaderElection {
		el = &elector{cfg: cfg, namespace: o.LeaderElectionNamespace, id: "crmauthz.policy.crmauthz.io"}
		leader = el
	}
	writers, err := controllers.Setup(mgr, store, leader)
	if err != nil {
		return nil, err
	}
	if el != nil {
		el.onElected = writers.ResyncAll
		if err := mgr.Add(el); err != nil {
			return nil, err
		}
	}
	ready := func(*http.Request) error {
		if !store.Ready() {
			return errors.New("policy not loaded yet")
		}
		return nil
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("policy-loaded", ready); err != nil {
		return nil, err
	}
	opts := server.Options{Auth: o.Auth, Registry: ctrlmetrics.Registry, Gatherer: ctrlmetrics.Registry}
	if o.DecisionLog {
		opts.DecisionLog = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	api := server.New(service.New(store, nil), store, opts)
	if err := mgr.Add(&apiRunnable{addr: o.APIAddr, ln: o.APIListener, handler: api.Handler()}); err != nil {
		return nil, err
	}
	return &Operator{Manager: mgr, Store: store}, nil
}

// alwaysLeader writes status from this replica when leader election is off (one
// replica, or tests).
type alwaysLeader struct{}

func (alwaysLeader) IsLeader() bool { return true }

// apiRunnable serves the decision API on every replica (not leader-elected).
type apiRunnable struct {
	addr    string
	ln      net.Listener
	handler http.Handler
}

func (a *apiRunnable) NeedLeaderElection() bool { return false }

func (a *apiRunnable) Start(ctx context.Context) error {
	ln := a.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.addr); err != nil {
			return fmt.Errorf("decision API: %w", err)
		}
	}
	srv := server.NewHTTPServer(a.handler)
	ctrl.Log.WithName("api").Info("Serving the decision API", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errc:
		return err
	}
}
