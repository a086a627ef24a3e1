package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// statusObject is what every crmauthz kind offers: its shared status.
type statusObject interface {
	client.Object
	CommonStatus() *v1alpha1.Status
}

// kind is one crmauthz kind the tracker watches.
type kind struct {
	name    string
	newList func() client.ObjectList
}

func crmauthzKinds() []kind {
	return []kind{
		{"SalesGroup", func() client.ObjectList { return &v1alpha1.SalesGroupList{} }},
		{"PermissionTemplate", func() client.ObjectList { return &v1alpha1.PermissionTemplateList{} }},
		{"LoginPolicy", func() client.ObjectList { return &v1alpha1.LoginPolicyList{} }},
		{"IPAllowlist", func() client.ObjectList { return &v1alpha1.IPAllowlistList{} }},
	}
}

// converged says whether the manager has written o's status for its generation: the
// bench's own bare writes carry bareReason and do not count.
func converged(o statusObject) bool {
	s := o.CommonStatus()
	if s.ObservedGeneration != o.GetGeneration() {
		return false
	}
	ready := meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady)
	return ready != nil && ready.Reason != bareReason
}

// milestonePercents are the fractions of all statuses whose times the report shows
// (read only; an array so that its length sizes the tracker's).
var milestonePercents = [...]int{1, 10, 25, 50, 75, 90, 99, 100}

// tracker counts objects whose status the manager has written, each once, from one
// cluster-wide watch per kind. It keeps a set of keys, never the objects: the API
// server may hold 10 GiB of them.
type tracker struct {
	total int
	done  chan struct{} // closed when every object has converged

	mu        sync.Mutex
	seen      map[string]struct{}
	origin    time.Time // the manager's start: times are from there
	first     time.Duration
	last      time.Duration
	reached   [len(milestonePercents)]time.Duration
	nextMile  int
	watchErrs []error
}

// progress is a copy of what the tracker knows.
type progress struct {
	total, count int
	first, last  time.Duration
	reached      [len(milestonePercents)]time.Duration // 0: not reached
	elapsed      time.Duration                         // from the manager's start to the end of the wait
	timedOut     bool
	watchErrs    []error
}

// startTracker starts the watches from the current resource version of each kind: no
// object has been written by the manager yet, so only later changes matter, and
// nothing is listed.
func startTracker(ctx context.Context, c client.WithWatch, total int) (*tracker, error) {
	t := &tracker{total: total, done: make(chan struct{}), seen: make(map[string]struct{}, total), origin: time.Now()}
	for _, k := range crmauthzKinds() {
		l := k.newList()
		if err := c.List(ctx, l, client.Limit(1)); err != nil {
			return nil, fmt.Errorf("resource version of %s: %w", k.name, err)
		}
		rv := l.GetResourceVersion()
		go func() {
			if err := t.watchKind(ctx, c, k, rv); err != nil && ctx.Err() == nil {
				t.mu.Lock()
				t.watchErrs = append(t.watchErrs, fmt.Errorf("watching %s: %w", k.name, err))
				t.mu.Unlock()
			}
		}()
	}
	return t, nil
}

// setOrigin sets the moment the times are measured from.
func (t *tracker) setOrigin(at time.Time) {
	t.mu.Lock()
	t.origin = at
	t.mu.Unlock()
}

// errGone says a watch's resource version is too old to resume from.
var errGone = errors.New("resource version expired")

// watchKind follows one kind until ctx ends, resuming after the API server closes the
// watch (it does every few minutes) and catching up with a paged list when it cannot.
func (t *tracker) watchKind(ctx context.Context, c client.WithWatch, k kind, rv string) error {
	failures := 0
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, k.newList(), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err == nil {
			rv, err = t.drain(ctx, k, w, rv)
			w.Stop()
		}
		switch {
		case err == nil:
			failures = 0
		case errors.Is(err, errGone) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			if rv, err = t.relist(ctx, c, k); err != nil {
				return err
			}
		default:
			if failures++; failures > 10 {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// drain observes a watch's events until it closes, and returns the last resource
// version seen.
func (t *tracker) drain(ctx context.Context, k kind, w watch.Interface, rv string) (string, error) {
	for {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			return rv, nil
		case ev, ok = <-w.ResultChan():
		}
		if !ok {
			return rv, nil
		}
		switch ev.Type {
		case watch.Added, watch.Modified:
			if o, isStatus := ev.Object.(statusObject); isStatus {
				t.observe(k, o)
				rv = o.GetResourceVersion()
			}
		case watch.Bookmark:
			if o, isObj := ev.Object.(client.Object); isObj {
				rv = o.GetResourceVersion()
			}
		case watch.Error:
			err := apierrors.FromObject(ev.Object)
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				return rv, errGone
			}
			return rv, err
		}
	}
}

// relist observes every object of a kind, a page at a time, and returns the list's
// resource version to watch from.
func (t *tracker) relist(ctx context.Context, c client.Client, k kind) (string, error) {
	cont := ""
	for {
		l := k.newList()
		if err := c.List(ctx, l, client.Limit(500), client.Continue(cont)); err != nil {
			return "", fmt.Errorf("listing %s: %w", k.name, err)
		}
		err := meta.EachListItem(l, func(o runtime.Object) error {
			if so, ok := o.(statusObject); ok {
				t.observe(k, so)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("listing %s: %w", k.name, err)
		}
		if cont = l.GetContinue(); cont == "" {
			return l.GetResourceVersion(), nil
		}
	}
}

// observe counts o the first time it is seen converged.
func (t *tracker) observe(k kind, o statusObject) {
	if !converged(o) {
		return
	}
	key := k.name + "/" + o.GetNamespace() + "/" + o.GetName()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.seen[key]; dup {
		return
	}
	t.seen[key] = struct{}{}
	at := time.Since(t.origin)
	if len(t.seen) == 1 {
		t.first = at
	}
	t.last = at
	for t.nextMile < len(milestonePercents) && len(t.seen)*100 >= milestonePercents[t.nextMile]*t.total {
		t.reached[t.nextMile] = at
		t.nextMile++
	}
	if len(t.seen) == t.total {
		close(t.done)
	}
}

// count is how many objects have converged so far.
func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

func (t *tracker) snapshot() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return progress{total: t.total, count: len(t.seen), first: t.first, last: t.last, reached: t.reached,
		elapsed: time.Since(t.origin), watchErrs: append([]error(nil), t.watchErrs...)}
}

// wait returns once every status has converged, at deadline, when the manager exits,
// or when ctx ends, printing progress every ten seconds.
func (t *tracker) wait(ctx context.Context, deadline time.Time, exited <-chan struct{}) progress {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-t.done:
			p := t.snapshot()
			fmt.Printf("   all %d converged, the last %s after the manager's start\n", p.total, p.last.Round(time.Millisecond))
			return p
		case <-timer.C:
			p := t.snapshot()
			p.timedOut = true
			fmt.Printf("   time limit: %d/%d converged\n", p.count, p.total)
			return p
		case <-exited:
			fmt.Fprintln(os.Stderr, "bench-scale: the manager exited while statuses converged")
			return t.snapshot()
		case <-ctx.Done():
			return t.snapshot()
		case <-tick.C:
			p := t.snapshot()
			fmt.Printf("   %s: %d/%d converged (%.1f%%)\n", p.elapsed.Round(time.Second), p.count, p.total, 100*float64(p.count)/float64(p.total))
		}
	}
}

// rate is statuses per second from the first convergence to the last.
func (p progress) rate() float64 {
	if p.count < 2 {
		return 0
	}
	return perSecond(int64(p.count-1), p.last-p.first)
}

// midRate is statuses per second between the 10% and 90% milestones: the rate once
// the manager is writing, without its ramp-up and tail.
func (p progress) midRate() float64 {
	at10, at90 := p.reached[1], p.reached[5]
	if at10 == 0 || at90 <= at10 {
		return 0
	}
	return float64(p.total) * 0.8 / (at90 - at10).Seconds()
}
