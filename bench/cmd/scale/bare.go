package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
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
	objects int64 // written within the window timed
	written int64 // written in all, the window's edges included
	workers int
	elapsed time.Duration // the window timed
	// gc is the API server's garbage collections within the window; gcBound says the
	// window starts and ends as one completes.
	gc      gcSnapshot
	gcBound bool
}

func (b bareResult) rate() float64 { return perSecond(b.objects, b.elapsed) }

// measureBare writes the status of loaded objects the way the manager does: one JSON
// merge patch of the status subresource per object (what client.MergeFrom sends)
// setting observedGeneration and the conditions the manager sets
// (controllers.SetStatus: Ready, and Conflict on templates), with no read
// first (the manager reads from its informer cache), from a few concurrent writers
// like the manager's, with the bench's client-side QPS. It goes through whole
// tenants in order, so its kinds come in the manager's proportions (a template's
// status write costs the API server more than a group's: it validates the whole
// object).
//
// The rate is timed from the end of one of the API server's garbage collections to
// the end of another, over at least cfg.bareGCCycles of them and cfg.bareSample
// objects, as the manager's statuses are timed over the dozens of collections its
// backlog takes: at 1,000 tenants a few seconds of writes between two collections
// ran at 435/s and ones across a collection at 254/s. It stops without a
// collection's edge after cfg.bareMax, or once every object is written.
func measureBare(ctx context.Context, cl *cluster, cfg config, sh shape) (bareResult, error) {
	perTenant := len(sh.statusObjects)
	total := cfg.n * perTenant
	patches := map[string][]byte{}
	for _, k := range policy.Kinds {
		p, err := barePatch(k)
		if err != nil {
			return bareResult{}, err
		}
		patches[k] = p
	}
	keys := make(chan client.Object, cfg.bareWorkers)
	var written atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	stop := make(chan struct{})
	g.Go(func() error {
		defer close(keys)
		for k := range total {
			o := sh.statusObjects[k%perTenant].DeepCopyObject().(client.Object)
			o.SetNamespace(tenantName(k / perTenant))
			select {
			case keys <- o:
			case <-stop:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range cfg.bareWorkers {
		g.Go(func() error {
			for o := range keys {
				if err := cl.client.Status().Patch(gctx, o, client.RawPatch(types.MergePatchType, patches[kindOf(o)])); err != nil {
					return fmt.Errorf("patching the status of %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
				}
				written.Add(1)
			}
			return nil
		})
	}
	var writeErr error
	writersDone := make(chan struct{})
	go func() { writeErr = g.Wait(); close(writersDone) }()
	res := timeWindow(gctx, cl.gc, cfg, &written, writersDone)
	close(stop)
	<-writersDone
	if writeErr != nil {
		return bareResult{}, fmt.Errorf("bare status writes: %w", writeErr)
	}
	res.workers = cfg.bareWorkers
	res.written = written.Load()
	fmt.Printf("   %s\n", res)
	return res, nil
}

// timeWindow times the window measureBare describes while the writers run, and
// returns once it ends (or the writers do).
func timeWindow(ctx context.Context, gc *gcTrace, cfg config, written *atomic.Int64, writersDone <-chan struct{}) bareResult {
	limit := time.NewTimer(cfg.bareMax)
	defer limit.Stop()
	// Until a collection completes, the window is the whole run.
	start, next := gc.snapshot()
	startAt, startWritten, onEdge := time.Now(), int64(0), false
	end := func(bound bool) bareResult {
		return bareResult{objects: written.Load() - startWritten, elapsed: time.Since(startAt),
			gc: gc.since(start), gcBound: onEdge && bound}
	}
	for {
		select {
		case <-next:
			var now gcSnapshot
			now, next = gc.snapshot()
			if !onEdge {
				start, startAt, startWritten, onEdge = now, time.Now(), written.Load(), true
				continue
			}
			if now.cycles-start.cycles >= cfg.bareGCCycles && written.Load()-startWritten >= int64(cfg.bareSample) {
				return end(true)
			}
		case <-limit.C:
			return end(false)
		case <-writersDone:
			return end(false)
		case <-ctx.Done():
			return end(false)
		}
	}
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
