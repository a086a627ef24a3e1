package controllers

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// object is what every crmauthz kind offers the status writer.
type object interface {
	client.Object
	CommonStatus() *v1alpha1.Status
}

// statusReconciler writes one kind's status from what compiling its tenant found. The
// four per-kind reconcilers are this with their kind's fields; it runs on the leader.
type statusReconciler[T object] struct {
	client   client.Client
	store    *tenants.Store
	recorder record.EventRecorder
	kind     string
	newObj   func() T
	// apply sets the kind's own status fields from the compile status.
	apply func(T, *policy.ObjectStatus)
	// events receives a nudge for every object of a tenant just compiled.
	events chan event.GenericEvent
	leader Leader
}

// notCompiledYet is how long to wait before looking again when the tenant has not yet
// been compiled with the object's generation.
const notCompiledYet = 2 * time.Second

// +kubebuilder:rbac:groups=policy.crmauthz.io,resources=permissiontemplates/status;salesgroups/status;loginpolicies/status;ipallowlists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

func (r *statusReconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if !r.leader.IsLeader() {
		return reconcile.Result{}, nil // the leader writes; on election it resyncs all
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
		return reconcile.Result{RequeueAfter: notCompiledYet}, nil
	}
	before := obj.DeepCopyObject().(T)
	readyBefore := meta.FindStatusCondition(before.CommonStatus().Conditions, v1alpha1.ConditionReady)
	SetStatus(obj.CommonStatus(), st, r.kind)
	r.apply(obj, st)
	if equality.Semantic.DeepEqual(before, obj) {
		return reconcile.Result{}, nil // written only when it changed
	}
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	ready := meta.FindStatusCondition(obj.CommonStatus().Conditions, v1alpha1.ConditionReady)
	if readyBefore == nil || readyBefore.Status != ready.Status || readyBefore.Reason != ready.Reason || readyBefore.Message != ready.Message {
		kind := corev1.EventTypeNormal
		if ready.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.recorder.Event(obj, kind, ready.Reason, ready.Message)
	}
	log.FromContext(ctx).V(1).Info("Updated status", "ready", ready.Status, "reason", ready.Reason)
	return reconcile.Result{}, nil
}

func (r *statusReconciler[T]) setup(mgr ctrl.Manager, name string, leader Leader) error {
	r.client, r.leader = mgr.GetClient(), leader
	r.recorder = mgr.GetEventRecorderFor("crmauthz")
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		For(r.newObj()).
		WatchesRawSource(source.Channel(r.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(r)
}

// SetStatus writes the Ready (and, for templates, Conflict) conditions and
// observedGeneration from what compiling found. Conditions keep their transition time
// when their status does not change.
func SetStatus(s *v1alpha1.Status, st *policy.ObjectStatus, kind string) {
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: st.Reason, Message: st.Message, ObservedGeneration: st.Generation}
	if !st.Ready {
		ready.Status = metav1.ConditionFalse
	}
	meta.SetStatusCondition(&s.Conditions, ready)
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
	channels map[string]chan event.GenericEvent
}

// Notify nudges the status writer of every object of a tenant just compiled. Off the
// leader nobody writes status, so nothing is sent: on election, ResyncAll catches up.
func (w *StatusWriters) Notify(ns string, t *tenants.Tenant) {
	if w.leader.IsLeader() {
		w.send(context.Background(), ns, t)
	}
}

// ResyncAll nudges the writer of every object of every tenant (on election).
func (w *StatusWriters) ResyncAll(ctx context.Context) {
	for _, ns := range w.store.Names() {
		if t := w.store.Get(ns); t != nil {
			w.send(ctx, ns, t)
		}
	}
}

func (w *StatusWriters) send(ctx context.Context, ns string, t *tenants.Tenant) {
	for _, o := range t.Report.Objects {
		ch := w.channels[o.Kind]
		if ch == nil {
			continue
		}
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: o.Name}}
		// The channel feeds a work queue that deduplicates; a send blocks only while
		// the queue's reader catches up.
		select {
		case ch <- event.GenericEvent{Object: obj}:
		case <-ctx.Done():
			return
		}
	}
}
