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
// backlog takes: at 1,000 tenants a collection comes every 18–25 s of writes and
// takes 6–9 s of CPU, so a sample of a few seconds ran fast or slow as it fell
// between collections or on one (254/s to 435/s in runs 5–9). It stops early after
// cfg.bareMax, or once every object is written.
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

// edge is the end of one of the API server's garbage collections, and how many
// statuses the writers had written by then.
type edge struct {
	at      time.Time
	written int64
	gc      gcSnapshot
}

// window is the measurement from edge a to edge b.
func window(a, b edge, bound bool) bareResult {
	return bareResult{objects: b.written - a.written, elapsed: b.at.Sub(a.at), gc: b.gc.minus(a.gc), gcBound: bound}
}

// timeWindow times the window measureBare describes while the writers run, and
// returns once it ends.
func timeWindow(ctx context.Context, gc *gcTrace, cfg config, written *atomic.Int64, writersDone <-chan struct{}) bareResult {
	limit := time.NewTimer(cfg.bareMax)
	defer limit.Stop()
	now := func() (edge, <-chan struct{}) {
		snap, next := gc.snapshot()
		return edge{at: time.Now(), written: written.Load(), gc: snap}, next
	}
	began, next := now()
	w := windowTimer{cycles: cfg.bareGCCycles, sample: int64(cfg.bareSample), began: began}
	for {
		select {
		case <-next:
			var e edge
			e, next = now()
			if r, done := w.edge(e); done {
				return r
			}
			continue
		case <-limit.C:
		case <-writersDone:
		case <-ctx.Done():
		}
		e, _ := now()
		return w.stop(e)
	}
}

// windowTimer is timeWindow's bookkeeping: the window opens at the first edge and
// closes at the first one after at least cycles collections and sample statuses.
// Stopped early (-bare-max, or every object written), it keeps the whole collections
// it saw, from the first edge to the last (fewer than asked); with none, the writes
// since began, bound to no collection.
type windowTimer struct {
	cycles      int
	sample      int64
	began       edge
	first, last *edge
}

// edge takes the end of a collection, and says whether the window is complete.
func (w *windowTimer) edge(e edge) (bareResult, bool) {
	if w.first == nil {
		w.first = &e
		return bareResult{}, false
	}
	w.last = &e
	r := window(*w.first, e, true)
	return r, r.gc.cycles >= w.cycles && r.objects >= w.sample
}

// stop is the window when the writing stops at now.
func (w *windowTimer) stop(now edge) bareResult {
	if w.last != nil {
		return window(*w.first, *w.last, true)
	}
	return window(w.began, now, false)
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
