package cli

import (
	"flag"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/crmauthz/crmauthz/controllers"
	"github.com/crmauthz/crmauthz/internal/auth"
	"github.com/crmauthz/crmauthz/internal/operator"
)

// managerFlags are `crmauthz manager`'s flags: the operator's options and the few
// that become options only once parsed.
type managerFlags struct {
	o                     operator.Options
	allowUnauthenticated  bool
	authTTL, authMaxStale time.Duration
	qps                   float32
	burst                 int
	compression           bool
	tenantSelector        string
	zap                   zap.Options
}

func newManagerCmd() *cobra.Command {
	mf := &managerFlags{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the controllers, admission webhooks and decision API in a cluster",
		Long: `manager runs in the cluster (a Deployment): every replica loads all tenants from its
informer cache and serves decisions and webhooks; the elected leader also writes
status. /readyz fails until every tenant is loaded.

Callers of the decision API authenticate with a Kubernetes bearer token (TokenReview)
or a client certificate (--client-ca-file), and need "create" on
accessreviews.policy.crmauthz.io in the tenant's namespace (SubjectAccessReview).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return mf.run() },
	}
	mf.bind(cmd.Flags())
	return cmd
}

func (mf *managerFlags) run() error {
	o := mf.o
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&mf.zap)))
	if o.ListPageSize < 0 {
		return &exitError{code: 2, msg: "--list-page-size must be 0 (no pages) or more"}
	}
	if (o.TLSKeyFile != "" || o.ClientCAFile != "") && o.TLSCertFile == "" {
		return &exitError{code: 2, msg: "--tls-key-file and --client-ca-file need --tls-cert-file"}
	}
	if limit := operator.SetMemoryLimit(); limit > 0 {
		ctrl.Log.Info("Set the Go memory limit from the container's", "bytes", limit)
	}
	cfg := ctrl.GetConfigOrDie()
	// client-go's default (20 a second, bursts of 30) makes a thousand tenants'
	// statuses take an hour; the API server's own flow control protects it.
	cfg.QPS, cfg.Burst = mf.qps, mf.burst
	// With gzip the API server spends a core compressing a thousand tenants' first
	// lists (hundreds of megabytes) and the manager another inflating them, to save
	// bytes that cost little inside a cluster.
	cfg.DisableCompression = !mf.compression
	if mf.allowUnauthenticated {
		ctrl.Log.Info("The decision API accepts unauthenticated callers (--allow-unauthenticated)")
	} else {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		o.Auth = auth.NewKube(cs, mf.authTTL, mf.authMaxStale)
	}
	if mf.tenantSelector != "" {
		sel, err := labels.Parse(mf.tenantSelector)
		if err != nil {
			return &exitError{code: 2, msg: "--tenant-selector: " + err.Error()}
		}
		o.TenantSelector = sel
	}
	if o.Webhooks.Namespace == "" {
		o.Webhooks.Namespace = operator.PodNamespace()
	}
	operator.UsePagedLists()
	op, err := operator.New(cfg, o)
	if err != nil {
		return err
	}
	return op.Manager.Start(ctrl.SetupSignalHandler())
}

func (mf *managerFlags) bind(f *pflag.FlagSet) {
	o := &mf.o
	// controller-runtime's logging flags: --zap-log-level, --zap-devel, --zap-encoder…
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	mf.zap.BindFlags(zapFlags)
	f.AddGoFlagSet(zapFlags)
	// controller-runtime's --kubeconfig (registered on Go's flag set), read by GetConfig:
	// otherwise $KUBECONFIG, in-cluster, then ~/.kube/config.
	if kc := flag.CommandLine.Lookup("kubeconfig"); kc != nil {
		f.AddGoFlag(kc)
	}
	f.StringVar(&o.APIAddr, "api-addr", ":8080", "address of the decision API")
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "address of controller-runtime's metrics (0: off; the API serves /metrics)")
	f.BoolVar(&o.LeaderElection, "leader-elect", true, "elect one replica to write status")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's)")
	f.BoolVar(&o.DecisionLog, "decision-log", true, "log every decision as a JSON line on stderr")
	f.BoolVar(&mf.allowUnauthenticated, "allow-unauthenticated", false, "serve the decision API to anyone, without TokenReview and SubjectAccessReview (off by default)")
	f.DurationVar(&mf.authTTL, "auth-cache-ttl", 30*time.Second, "how long TokenReview and SubjectAccessReview answers are reused")
	f.DurationVar(&mf.authMaxStale, "auth-max-stale", 10*time.Minute, "while the API server is unreachable, reuse answers this old (callers not seen get 503)")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", "", "serve the decision API over TLS with this certificate")
	f.StringVar(&o.TLSKeyFile, "tls-key-file", "", "the TLS certificate's key")
	f.StringVar(&o.ClientCAFile, "client-ca-file", "", "verify client certificates (mTLS) signed by this CA; the certificate's CN is the caller")
	f.IntVar(&o.MaxInFlightPerCaller, "max-in-flight-per-caller", 0, "concurrent requests one caller may have (0: 256)")
	f.Float32Var(&mf.qps, "kube-api-qps", 500, "requests a second to the Kubernetes API server (status writes, reviews)")
	f.IntVar(&mf.burst, "kube-api-burst", 1000, "bursts of requests to the Kubernetes API server")
	f.BoolVar(&mf.compression, "kube-api-compression", false, "ask the Kubernetes API server to gzip its answers (off: in the cluster the CPU it costs the API server outweighs the bytes saved)")
	f.StringVar(&mf.tenantSelector, "tenant-selector", "", "serve only the tenants whose namespace matches this label selector, e.g. crmauthz.io/shard=a (one shard of several; the others answer 421)")
	f.Int64Var(&o.ListPageSize, "list-page-size", 5000, "objects a page of the informers' first lists holds: consistent reads the API server serves from its watch cache since Kubernetes 1.34 (0: one response each, the whole kind at once)")
	f.IntVar(&o.StatusWriters, "status-writers", controllers.DefaultStatusWriters, "status patches each kind's writer has in flight (the leader's backlog after a start drains at about this many round trips at a time)")
	f.StringVar(&o.PprofAddr, "pprof-addr", "", "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off by default)")
	w := &o.Webhooks
	f.BoolVar(&w.Enabled, "webhooks", true, "serve the admission webhooks")
	f.IntVar(&w.Port, "webhook-port", 9443, "port of the admission webhooks")
	f.StringVar(&w.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of the webhooks' serving certificate")
	f.BoolVar(&w.RotateCerts, "cert-rotation", true, "create and rotate the serving certificate (cert-controller); off: use the one in --webhook-cert-dir (e.g. from cert-manager)")
	f.StringVar(&w.Namespace, "webhook-namespace", "", "namespace of the webhook Service and certificate Secret (default: the pod's)")
	f.StringVar(&w.SecretName, "webhook-secret", "crmauthz-webhook-server-cert", "Secret holding the serving certificate")
	f.StringVar(&w.ServiceName, "webhook-service", "crmauthz-webhook-service", "Service in front of the webhooks")
	f.StringVar(&w.ConfigName, "webhook-config", "crmauthz-validating-webhook-configuration", "ValidatingWebhookConfiguration to inject the CA into")
}
