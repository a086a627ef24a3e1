package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"golang.org/x/sync/errgroup"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
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

// measureBare writes the status of a sample of the loaded SalesGroups the way the
// manager does: one JSON merge patch of the status subresource per object (what
// client.MergeFrom sends) setting observedGeneration and a Ready condition, with no
// read first (the manager reads from its informer cache), from a few concurrent
// writers like the manager's, with the bench's client-side QPS.
func measureBare(ctx context.Context, c client.Client, cfg config, sh shape) (bareResult, error) {
	total := min(cfg.bareSample, cfg.n*len(sh.groupNames))
	patch, err := barePatch()
	if err != nil {
		return bareResult{}, err
	}
	keys := make(chan types.NamespacedName, cfg.bareWorkers)
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	g.Go(func() error {
		defer close(keys)
		// Spread over the tenants: sample k is tenant k mod N's group k div N.
		for k := range total {
			key := types.NamespacedName{Namespace: tenantName(k % cfg.n), Name: sh.groupNames[k/cfg.n]}
			select {
			case keys <- key:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range cfg.bareWorkers {
		g.Go(func() error {
			for key := range keys {
				sg := &v1alpha1.SalesGroup{}
				sg.Namespace, sg.Name = key.Namespace, key.Name
				if err := c.Status().Patch(ctx, sg, client.RawPatch(types.MergePatchType, patch)); err != nil {
					return fmt.Errorf("patching the status of SalesGroup %s: %w", key, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return bareResult{}, fmt.Errorf("bare status writes: %w", err)
	}
	res := bareResult{objects: int64(total), workers: cfg.bareWorkers, elapsed: time.Since(start)}
	fmt.Printf("   %d SalesGroup statuses in %s: %.0f objects/s\n", res.objects, res.elapsed.Round(time.Millisecond), res.rate())
	return res, nil
}

// barePatch is the status the bare measurement writes: observedGeneration 1 (every
// object was just created) and a Ready condition with bareReason.
func barePatch() ([]byte, error) {
	ready := metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: bareReason,
		Message:            "written by bench-scale's bare status-write measurement; the manager overwrites it",
		LastTransitionTime: metav1.Now(), ObservedGeneration: 1,
	}
	b, err := json.Marshal(map[string]any{"status": map[string]any{
		"observedGeneration": 1,
		"conditions":         []metav1.Condition{ready},
	}})
	if err != nil {
		return nil, fmt.Errorf("bare status patch: %w", err)
	}
	return b, nil
}
