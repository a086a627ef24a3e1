package controllers

import (
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// object is what every crmauthz kind offers the status writer.
type object[T any] interface {
	client.Object
	CommonStatus() *v1alpha1.Status
	StatusOnly() T
}

// statusReconciler writes one kind's status from what compiling its tenant found. The
// four per-kind reconcilers are this with their kind's fields; it runs on the leader.
type statusReconciler[T object[T]] struct {
	client client.Client
	// rest writes status patches; resource is the kind's, once looked up.
	rest       rest.Interface
	resourceMu sync.Mutex
	resource   string
	store      *tenants.Store
	recorder   record.EventRecorder
	kind       string
	newObj     func() T
	// apply sets the kind's own status fields from the compile status.
	apply func(T, *policy.ObjectStatus)
	// events receives a nudge for every object of a tenant just compiled.
	events nudges
	leader Leader
	shard  *Shard
}

// nudge asks a status writer to look at one object, at a priority: objects of a tenant
// compiled because something changed go ahead of the backlog of a first load.
type nudge struct {
	key      types.NamespacedName
	priority int
}

// nudges carries nudges to one kind's status writer.
type nudges = chan event.TypedGenericEvent[nudge]

// Status writing priorities: a first load's backlog below everything, a change at the
// default (as controller-runtime ranks initial lists and real events).
const (
	backlogPriority = handler.LowPriority
	changePriority  = 0
)

// DefaultStatusWriters is how many status patches each kind's writer has in flight by
// default: each is a round trip of ~20 ms to a busy API server, so one at a time cannot
// keep up with thousands of tenants, and at 4 a 1,000-tenant backlog ran at half the
// rate the API server takes (bench-scale).
const DefaultStatusWriters = 8

// +kubebuilder:rbac:groups=policy.crmauthz.io,resources=permissiontemplates/status;salesgroups/status;loginpolicies/status;ipallowlists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

func (r *statusReconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if !r.leader.IsLeader() || !r.shard.Owns(ctx, req.Namespace) {
		return reconcile.Result{}, nil // the leader of the tenant's shard writes; on election it resyncs all
	}
	obj := r.newObj()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	t := r.store.Get(req.Namespace)
	var st *policy.ObjectStatus
	if t != nil {
		st = t.Report.Find(r.kind, req.Name)
	}
	if st == nil || st.Generation != obj.GetGeneration() {
		// Not compiled at this generation yet: the compile nudges this writer when done
		// (or, before the first load finished, the resync after it does).
		return reconcile.Result{}, nil
	}
	// Diff and patch the status alone: the whole object would be marshalled twice
	// and compared for every write.
	before := obj.StatusOnly()
	after := before.StatusOnly()
	readyBefore := meta.FindStatusCondition(before.CommonStatus().Conditions, v1alpha1.ConditionReady)
	SetStatus(after.CommonStatus(), st, r.kind)
	r.apply(after, st)
	if equality.Semantic.DeepEqual(before, after) {
		return reconcile.Result{}, nil // written only when it changed
	}
	if err := r.patchStatus(ctx, before, after); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	ready := meta.FindStatusCondition(after.CommonStatus().Conditions, v1alpha1.ConditionReady)
	if eventWorthy(readyBefore, ready) {
		kind := corev1.EventTypeNormal
		if ready.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.recorder.Event(obj, kind, ready.Reason, ready.Message)
	}
	log.FromContext(ctx).V(1).Info("Updated status", "ready", ready.Status, "reason", ready.Reason)
	return reconcile.Result{}, nil
}

// eventWorthy says whether a Ready change deserves an Event: a problem, or the end of
// one. An object becoming Ready for the first time does not (a first load of a
// thousand tenants would otherwise write a quarter of a million Events).
func eventWorthy(before, after *metav1.Condition) bool {
	if before == nil {
		return after.Status != metav1.ConditionTrue
	}
	return before.Status != after.Status || before.Reason != after.Reason || before.Message != after.Message
}

// patchStatus sends the merge patch from before to after to the status subresource.
// The answer is not needed (the informer brings the object back): it is asked as
// metadata only, so the API server encodes no spec or status for it (a member list of
// a SalesGroup is most of its bytes), and it is read but not decoded — at a quarter
// of a million first writes, decoding whole objects was a tenth of the manager's CPU.
// An API server that cannot transform the answer sends the whole object instead.
func (r *statusReconciler[T]) patchStatus(ctx context.Context, before, after T) error {
	data, err := client.MergeFrom(before).Data(after)
	if err != nil {
		return err
	}
	resource, err := r.resourceName(after)
	if err != nil {
		return err
	}
	return r.rest.Patch(types.MergePatchType).Namespace(after.GetNamespace()).Resource(resource).
		Name(after.GetName()).SubResource("status").SetHeader("Accept", metadataOnlyAnswer).
		Body(data).Do(ctx).Error()
}

// metadataOnlyAnswer: PartialObjectMetadata, else the object as JSON.
const metadataOnlyAnswer = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// resourceName is the kind's resource (e.g. salesgroups), asked of the REST mapper
// once it is needed rather than at start-up, when the API server may be away.
func (r *statusReconciler[T]) resourceName(obj T) (string, error) {
	r.resourceMu.Lock()
	defer r.resourceMu.Unlock()
	if r.resource == "" {
		gvk, err := apiutil.GVKForObject(obj, r.client.Scheme())
		if err != nil {
			return "", err
		}
		mapping, err := r.client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return "", err
		}
		r.resource = mapping.Resource.Resource
	}
	return r.resource, nil
}

func (r *statusReconciler[T]) setup(mgr ctrl.Manager, name string, leader Leader, shard *Shard, concurrency int) error {
	r.client, r.leader, r.shard = mgr.GetClient(), leader, shard
	gvk, err := apiutil.GVKForObject(r.newObj(), mgr.GetScheme())
	if err != nil {
		return err
	}
	if r.rest, err = apiutil.RESTClientForGVK(gvk, true, false, mgr.GetConfig(), serializer.NewCodecFactory(mgr.GetScheme()), mgr.GetHTTPClient()); err != nil {
		return err
	}
	//nolint:staticcheck // core/v1 Events, the ones kubectl describe shows (RBAC: events create, patch)
	r.recorder = mgr.GetEventRecorderFor("crmauthz")
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		// A spec change recompiles the tenant, which nudges; the watch brings new
		// objects and resyncs. Our own status patches must not come back as work, nor
		// the first list: the resync after the first load looks at every object.
		For(r.newObj(), builder.WithPredicates(predicate.GenerationChangedPredicate{}, notInFirstList)).
		WatchesRawSource(source.TypedChannel[nudge, reconcile.Request](r.events, nudgeHandler)).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: concurrency}).
		Complete(r)
}

// notInFirstList drops the creates of an informer's first list.
var notInFirstList = predicate.Funcs{CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList }}

// nudgeHandler queues a nudge at its priority.
var nudgeHandler = handler.TypedFuncs[nudge, reconcile.Request]{
	GenericFunc: func(_ context.Context, e event.TypedGenericEvent[nudge], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		req := reconcile.Request{NamespacedName: e.Object.key}
		if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: &e.Object.priority}, req)
			return
		}
		q.Add(req)
	},
}

// SetStatus writes the Ready, Stalled (only while True) and, for templates, Conflict
// conditions and observedGeneration from what compiling found. Conditions keep their
// transition time when their status does not change.
func SetStatus(s *v1alpha1.Status, st *policy.ObjectStatus, kind string) {
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: st.Reason, Message: st.Message, ObservedGeneration: st.Generation}
	// Stalled follows the kstatus conventions: an object left out is a failure to
	// report, not progress to wait for (Ready=False alone reads as InProgress). It is
	// there only while True, as Flux's own controllers do and kstatus reads it: a
	// Stalled=False on each of a quarter of a million healthy objects was ~9% of their
	// bytes (the condition and its managed fields) in every list, watch and write.
	if !st.Ready {
		ready.Status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&s.Conditions, ready)
	if st.Ready {
		meta.RemoveStatusCondition(&s.Conditions, v1alpha1.ConditionStalled)
	} else {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: st.Reason, Message: st.Message, ObservedGeneration: st.Generation})
	}
	if kind == policy.KindPermissionTemplate {
		conflict := metav1.Condition{Type: v1alpha1.ConditionConflict, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNoConflict,
			Message: "The template governs everyone it names", ObservedGeneration: st.Generation}
		if len(st.Conflicts) > 0 {
			conflict.Status, conflict.Reason = metav1.ConditionTrue, v1alpha1.ReasonTie
			conflict.Message = truncate(strings.Join(st.Conflicts, "; "), 32768)
		}
		meta.SetStatusCondition(&s.Conditions, conflict)
	}
	s.ObservedGeneration = st.Generation
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// StatusWriters are the four per-kind status reconcilers' fan-out: after each compile
// it nudges the writer of every object of the tenant.
type StatusWriters struct {
	leader   Leader
	store    *tenants.Store
	channels map[string]nudges
}

// Notify nudges the status writer of every object of a tenant just compiled: a
// tenant's first compile joins the backlog, a recompile (something changed) goes
// ahead of it. Off the leader nobody writes status, so nothing is sent: on election,
// ResyncAll catches up.
func (w *StatusWriters) Notify(ns string, t *tenants.Tenant, first bool) {
	if !w.leader.IsLeader() || !w.store.Ready() {
		return // before the first load is done, ResyncIfLeader follows it
	}
	priority := changePriority
	if first {
		priority = backlogPriority
	}
	w.send(context.Background(), ns, t, priority)
}

// ResyncIfLeader nudges the writer of every object of every tenant when this replica
// writes status (once the first load is done).
func (w *StatusWriters) ResyncIfLeader(ctx context.Context) {
	if w.leader.IsLeader() {
		w.ResyncAll(ctx)
	}
}

// ResyncAll nudges the writer of every object of every tenant (on election).
func (w *StatusWriters) ResyncAll(ctx context.Context) {
	for _, ns := range w.store.Names() {
		if t := w.store.Get(ns); t != nil {
			w.send(ctx, ns, t, backlogPriority)
		}
	}
}

// DryRunStatus refreshes the status of DryRun templates every period while ctx
// lives: their count of decisions they would have changed moves with traffic, not
// with compiles. Only the leader writes; a count that did not move writes nothing.
type DryRunStatus struct {
	Writers *StatusWriters
	Period  time.Duration
}

// Start runs the refresh (a manager Runnable, on every replica: the writers check
// leadership).
func (d *DryRunStatus) Start(ctx context.Context) error {
	t := time.NewTicker(d.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.Writers.nudgeDryRun(ctx)
		}
	}
}

func (w *StatusWriters) nudgeDryRun(ctx context.Context) {
	if !w.leader.IsLeader() {
		return
	}
	ch := w.channels[policy.KindPermissionTemplate]
	for _, ns := range w.store.Names() {
		t := w.store.Get(ns)
		if t == nil {
			continue
		}
		for _, o := range t.Report.Objects {
			if o.Kind == policy.KindPermissionTemplate && o.Reason == policy.ReasonDryRun && !nudgeOne(ctx, ch, ns, o.Name, changePriority) {
				return
			}
		}
	}
}

func (w *StatusWriters) send(ctx context.Context, ns string, t *tenants.Tenant, priority int) {
	for _, o := range t.Report.Objects {
		ch := w.channels[o.Kind]
		if ch == nil {
			continue
		}
		if !nudgeOne(ctx, ch, ns, o.Name, priority) {
			return
		}
	}
}

// nudgeOne sends one object's nudge; false when ctx ended first. The channel feeds a
// work queue that deduplicates; a send blocks only while the queue's reader catches up.
func nudgeOne(ctx context.Context, ch nudges, ns, name string, priority int) bool {
	select {
	case ch <- event.TypedGenericEvent[nudge]{Object: nudge{key: types.NamespacedName{Namespace: ns, Name: name}, priority: priority}}:
		return true
	case <-ctx.Done():
		return false
	}
}
