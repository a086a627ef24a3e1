package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"golang.org/x/sync/errgroup"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/controllers"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// bareReason marks a Ready condition the bare measurement wrote: the manager writes its
// own reason (Compiled, Invalid, …), so every object the bench touched must still be
// written by the manager, and the convergence count does not take the bench's writes
// for the manager's.
const bareReason = "BenchBare"

// bareResult is the API server's own status-write rate, without the manager.
type bareResult struct {
	objects int64
	workers int
	elapsed time.Duration
}

func (b bareResult) rate() float64 { return perSecond(b.objects, b.elapsed) }

// measureBare writes the status of a sample of the loaded objects the way the manager
// does: one JSON merge patch of the status subresource per object (what
// client.MergeFrom sends) setting observedGeneration and the conditions the manager
// sets (controllers.SetStatus: Ready and Stalled, and Conflict on templates), with no
// read first (the manager reads from its informer cache), from a few concurrent
// writers like the manager's, with the bench's client-side QPS. The sample is whole
// tenants spread over all of them, so its kinds come in the manager's proportions (a
// template's status write costs the API server more than a group's: it validates the
// whole object).
func measureBare(ctx context.Context, c client.Client, cfg config, sh shape) (bareResult, error) {
	perTenant := len(sh.statusObjects)
	total := min(cfg.bareSample, cfg.n*perTenant)
	patches := map[string][]byte{}
	for _, k := range policy.Kinds {
		p, err := barePatch(k)
		if err != nil {
			return bareResult{}, err
		}
		patches[k] = p
	}
	keys := make(chan client.Object, cfg.bareWorkers)
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	g.Go(func() error {
		defer close(keys)
		// Whole tenants, spread evenly over the N.
		tenants := (total + perTenant - 1) / perTenant
		for k := range total {
			o := sh.statusObjects[k%perTenant].DeepCopyObject().(client.Object)
			o.SetNamespace(tenantName((k / perTenant) * cfg.n / tenants))
			select {
			case keys <- o:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range cfg.bareWorkers {
		g.Go(func() error {
			for o := range keys {
				if err := c.Status().Patch(ctx, o, client.RawPatch(types.MergePatchType, patches[kindOf(o)])); err != nil {
					return fmt.Errorf("patching the status of %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return bareResult{}, fmt.Errorf("bare status writes: %w", err)
	}
	res := bareResult{objects: int64(total), workers: cfg.bareWorkers, elapsed: time.Since(start)}
	fmt.Printf("   %d statuses in %s: %.0f objects/s\n", res.objects, res.elapsed.Round(time.Millisecond), res.rate())
	return res, nil
}

// barePatch is the status the bare measurement writes on an object of kind k: what
// the manager writes on a compiled object of the kind (observedGeneration 1, as every
// object was just created), with bareReason as the reason.
func barePatch(k string) ([]byte, error) {
	var st v1alpha1.Status
	controllers.SetStatus(&st, &policy.ObjectStatus{Kind: k, Generation: 1, InForce: true, Ready: true, Reason: bareReason,
		Message: "written by bench-scale's bare status-write measurement; the manager overwrites it"}, k)
	b, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return nil, fmt.Errorf("bare status patch: %w", err)
	}
	return b, nil
}

// kindOf is the policy kind of o, one of shape's statusObjects.
func kindOf(o client.Object) string {
	switch o.(type) {
	case *v1alpha1.PermissionTemplate:
		return policy.KindPermissionTemplate
	case *v1alpha1.SalesGroup:
		return policy.KindSalesGroup
	case *v1alpha1.LoginPolicy:
		return policy.KindLoginPolicy
	default:
		return policy.KindIPAllowlist
	}
}
