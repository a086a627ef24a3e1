package cli

import (
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/crmauthz/crmauthz/internal/operator"
)

func newManagerCmd() *cobra.Command {
	o := operator.Options{}
	var allowUnauthenticated bool
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the controllers, admission webhooks and decision API in a cluster",
		Long: `manager runs in the cluster (a Deployment): every replica loads all tenants from its
informer cache and serves decisions and webhooks; the elected leader also writes
status. /readyz fails until every tenant is loaded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			if !allowUnauthenticated {
				return &exitError{code: 2, msg: "refusing to start: the decision API would accept unauthenticated callers; pass --allow-unauthenticated to say that is intended"}
			}
			op, err := operator.New(ctrl.GetConfigOrDie(), o)
			if err != nil {
				return err
			}
			return op.Manager.Start(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.APIAddr, "api-addr", ":8080", "address of the decision API")
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", "0", "address of controller-runtime's metrics (0: off; the API serves /metrics)")
	f.BoolVar(&o.LeaderElection, "leader-elect", true, "elect one replica to write status")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader lease (default: the pod's)")
	f.BoolVar(&o.DecisionLog, "decision-log", true, "log every decision as a JSON line on stderr")
	f.BoolVar(&allowUnauthenticated, "allow-unauthenticated", false, "serve the decision API without authenticating callers")
	return cmd
}
