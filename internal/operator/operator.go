// Package operator assembles `crmauthz manager`: the controller-runtime manager with
// the tenant compiler, the status writers, the admission webhooks and the decision API.
package operator

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"
	"unique"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/controllers"
	"github.com/crmauthz/crmauthz/internal/server"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/webhook"
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
	// DecisionLog logs every decision as JSON on stderr; DecisionLogWriter, when set,
	// receives the lines instead.
	DecisionLog       bool
	DecisionLogWriter io.Writer
	// Auth checks API callers; nil accepts everyone (and, on a loopback address, only
	// requests whose Host is a loopback name).
	Auth server.Authorizer
	// TLSCertFile and TLSKeyFile serve the decision API over TLS; ClientCAFile then
	// also verifies client certificates (mTLS) signed by that CA when presented.
	TLSCertFile, TLSKeyFile, ClientCAFile string
	// MaxInFlightPerCaller bounds each caller's concurrent requests (0: default).
	MaxInFlightPerCaller int
	// PprofAddr serves Go's profiles (net/http/pprof) when set; "" or "0": off.
	PprofAddr string
	// TenantSelector, when set, makes this manager one shard: it compiles, serves and
	// writes the status of the tenants whose namespace matches, and answers 421 for
	// the others. Webhooks still admit objects of every tenant.
	TenantSelector labels.Selector
	// StatusWriters is how many status patches each kind's writer has in flight (0: 8).
	StatusWriters int
	// ListPageSize is how many objects a page of the informers' first lists holds
	// (see pagedInformers); 0: one response from the watch cache.
	ListPageSize int64
	// DryRunStatusPeriod is how often DryRun templates' counts of decisions they would
	// have changed are written to their status (0: a minute).
	DryRunStatusPeriod time.Duration
	// Webhooks serves admission for the four kinds.
	Webhooks WebhookOptions
}

// WebhookOptions configure admission.
type WebhookOptions struct {
	Enabled bool
	Host    string
	Port    int
	CertDir string
	// RotateCerts has cert-controller create and rotate the serving certificate in
	// Secret Namespace/SecretName and inject its CA into ConfigName; off, the
	// certificate in CertDir is used as is (tests, cert-manager).
	RotateCerts bool
	Namespace   string
	SecretName  string
	ServiceName string
	ConfigName  string
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

// lean drops from every cached object what nothing here reads: managed fields and
// kubectl's last-applied copy of the whole object. With thousands of tenants they are
// most of the informer cache. It also trims the user lists of sales groups to their
// length (the JSON decoder grows them by doubling: a quarter of their memory was
// slack) and keeps one copy of the strings a quarter of a million statuses repeat
// (condition types, reasons, messages) and of namespace names.
func lean(obj any) (any, error) {
	if g, ok := obj.(*v1alpha1.SalesGroup); ok {
		g.Spec.Members = slices.Clone(g.Spec.Members)
		g.Spec.Managers = slices.Clone(g.Spec.Managers)
	}
	if o, ok := obj.(interface{ CommonStatus() *v1alpha1.Status }); ok {
		for i := range o.CommonStatus().Conditions {
			c := &o.CommonStatus().Conditions[i]
			c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
			c.Status = metav1.ConditionStatus(intern(string(c.Status)))
		}
	}
	if o, ok := obj.(metav1.Object); ok {
		o.SetNamespace(intern(o.GetNamespace()))
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				o.SetAnnotations(a)
			}
		}
	}
	return obj, nil
}

// intern returns the one copy of s that every cached object shares.
func intern(s string) string { return unique.Make(s).Value() }

// leaseName is the status writers' lease: one per shard, so each shard elects its own
// writer.
func leaseName(selector labels.Selector) string {
	const base = "crmauthz.policy.crmauthz.io"
	if selector == nil {
		return base
	}
	sum := sha256.Sum256([]byte(selector.String()))
	return base + "-" + hex.EncodeToString(sum[:4])
}

// metricsOptions serves controller-runtime's metrics, when asked for, over HTTPS with
// the authentication and authorisation filter kubebuilder scaffolds: callers need
// get on /metrics, as on the decision API's /metrics (the same registry: it names
// every tenant).
func metricsOptions(addr string) metricsserver.Options {
	if addr == "" || addr == "0" {
		return metricsserver.Options{BindAddress: "0"}
	}
	return metricsserver.Options{BindAddress: addr, SecureServing: true, FilterProvider: filters.WithAuthenticationAndAuthorization}
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
		Metrics:                metricsOptions(o.MetricsAddr),
		HealthProbeBindAddress: o.ProbeAddr,
		PprofBindAddress:       o.PprofAddr,
		Cache: cache.Options{DefaultTransform: lean, NewInformer: pagedInformers(o.ListPageSize), ByObject: map[client.Object]cache.ByObject{
			// Anonymous-proxy lists only: not every application's configuration.
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.ProxyListLabel: "true"})},
		}},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: o.Webhooks.Host, Port: o.Webhooks.Port, CertDir: o.Webhooks.CertDir,
		}),
	})
	if err != nil {
		return nil, err
	}
	store := tenants.NewStore(nil)
	shard := &controllers.Shard{Selector: o.TenantSelector, Reader: mgr.GetClient()}
	var leader controllers.Leader = alwaysLeader{}
	var el *elector
	if o.LeaderElection {
		el = &elector{cfg: cfg, namespace: o.LeaderElectionNamespace, id: leaseName(o.TenantSelector)}
		leader = el
	}
	writers, err := controllers.Setup(mgr, store, leader, shard, o.StatusWriters, o.DryRunStatusPeriod)
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
	if o.Webhooks.Enabled {
		if err := setupWebhooks(mgr, o.Webhooks); err != nil {
			return nil, err
		}
	}
	opts := server.Options{Auth: o.Auth, Registry: ctrlmetrics.Registry, Gatherer: ctrlmetrics.Registry, MaxInFlightPerCaller: o.MaxInFlightPerCaller,
		Log: slog.New(logr.ToSlogHandler(ctrl.Log.WithName("api")))}
	if o.TenantSelector != nil {
		opts.Shard = shard
	}
	switch {
	case o.DecisionLogWriter != nil:
		opts.DecisionLog = o.DecisionLogWriter
	case o.DecisionLog:
		opts.DecisionLog = os.Stderr
	}
	if o.Auth == nil {
		addr := o.APIAddr
		if o.APIListener != nil {
			addr = o.APIListener.Addr().String()
		}
		opts.LoopbackHostsOnly = server.IsLoopbackHost(addr)
	}
	api := server.New(service.New(store, nil), opts)
	tlsConfig, err := apiTLS(o)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(&apiRunnable{addr: o.APIAddr, ln: o.APIListener, api: api, tls: tlsConfig}); err != nil {
		return nil, err
	}
	return &Operator{Manager: mgr, Store: store}, nil
}

// setupWebhooks registers admission; with rotation, only once cert-controller has
// written a serving certificate (the webhook server starts when first registered).
func setupWebhooks(mgr ctrl.Manager, o WebhookOptions) error {
	certsReady := make(chan struct{})
	if !o.RotateCerts {
		close(certsReady)
	} else if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "crmauthz-ca",
		CAOrganization: "crmauthz",
		DNSName:        o.ServiceName + "." + o.Namespace + ".svc",
		ExtraDNSNames:  []string{o.ServiceName + "." + o.Namespace + ".svc.cluster.local"},
		IsReady:        certsReady,
		Webhooks:       []rotator.WebhookInfo{{Name: o.ConfigName, Type: rotator.Validating}},
		// Every replica serves admission, so every replica needs the certificate.
		RequireLeaderElection: false,
	}); err != nil {
		return fmt.Errorf("certificate rotation: %w", err)
	}
	registered := make(chan struct{})
	go func() {
		<-certsReady
		if err := webhook.Setup(mgr); err != nil {
			ctrl.Log.Error(err, "Could not register the admission webhooks")
			return
		}
		close(registered)
	}()
	return mgr.AddReadyzCheck("webhooks", func(req *http.Request) error {
		select {
		case <-registered:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook serving certificate not ready yet")
		}
	})
}

// alwaysLeader writes status from this replica when leader election is off (one
// replica, or tests).
type alwaysLeader struct{}

func (alwaysLeader) IsLeader() bool { return true }

// apiRunnable serves the decision API on every replica (not leader-elected).
type apiRunnable struct {
	addr string
	ln   net.Listener
	api  *server.Server
	tls  *tls.Config
}

// apiTLS builds the API's TLS configuration: none without a certificate; with a client
// CA, client certificates are verified when presented (callers may still use tokens).
func apiTLS(o Options) (*tls.Config, error) {
	if o.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("decision API certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.ClientCAFile != "" {
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no certificates", o.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
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
	srv := server.NewHTTPServer(a.api.Handler())
	if a.tls != nil {
		ln = tls.NewListener(ln, a.tls)
	}
	ctrl.Log.WithName("api").Info("Serving the decision API", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(shutdown)
		a.api.Close(2 * time.Second) // write out the decision log
		return err
	case err := <-errc:
		return err
	}
}

// cert-controller injects the CA into our webhook configuration and keeps the serving
// certificate in one Secret of the manager's namespace (no Secret access elsewhere).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;list;watch;update;patch
