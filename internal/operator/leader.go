package operator

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// elector elects the replica that writes status. controller-runtime's own leader
// election stops the whole manager when the lease is lost — and a lease is lost
// whenever the API server is away — which would stop decisions too. This elector only
// gates status writing: losing the lease stops writing, and the replica stands for
// election again, while every replica keeps serving decisions.
type elector struct {
	cfg       *rest.Config
	namespace string
	id        string
	leading   atomic.Bool
	// onElected runs (in its own goroutine) each time this replica becomes leader.
	onElected func(ctx context.Context)
}

func (e *elector) IsLeader() bool { return e.leading.Load() }

func (e *elector) NeedLeaderElection() bool { return false }

func (e *elector) Start(ctx context.Context) error {
	host, _ := os.Hostname()
	identity := host + "_" + uuid.NewString()
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return err
	}
	ns := e.namespace
	if ns == "" {
		ns = PodNamespace()
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, ns, e.id, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	log := ctrl.Log.WithName("leader")
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			ReleaseOnCancel: true, Name: e.id,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					e.leading.Store(true)
					log.Info("Became leader: writing status", "identity", identity)
					if e.onElected != nil {
						go e.onElected(lctx)
					}
				},
				OnStoppedLeading: func() {
					e.leading.Store(false)
					log.Info("Stopped leading: no longer writing status; decisions go on", "identity", identity)
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx) // returns when leadership is lost or ctx ends
	}
	return nil
}

// PodNamespace is the namespace the pod runs in, from the service account mount.
func PodNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return string(b)
	}
	return "default"
}
