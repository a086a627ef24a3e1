// Package controllers loads crmauthz objects from the API server into the tenant
// store (every replica) and writes their status (the leader only).
package controllers

import (
	"context"
	"crypto/sha256"
	"fmt"
	goruntime "runtime"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// proxyListIndex indexes IPAllowlists by the ConfigMap they read, so a ConfigMap
// change recompiles only the tenants that use it.
const proxyListIndex = "spec.anonymousProxyList.configMapRef.name"

// TenantReconciler compiles a whole tenant (a namespace) whenever any of its objects,
// or a ConfigMap one of its allowlists reads, changes, and swaps the tenant's snapshot
// in the store. It runs on every replica: each serves decisions from its own cache.
type TenantReconciler struct {
	Reader  client.Reader
	Store   *tenants.Store
	Builder *tenants.Builder
	// Shard is the share of tenants this manager compiles; nil: all.
	Shard *Shard
	// Informers, when set (the manager's cache), let the builder hold the cache's own
	// objects as last good versions (adopt).
	Informers cache.Informers
	// Compiled is told of each compiled tenant (the status writers listen); first
	// says it is the tenant's first compile in this process.
	Compiled func(namespace string, t *tenants.Tenant, first bool)

	// compiled remembers, per tenant, the fingerprint of the input last compiled: the
	// events of a first load (one per object) and of anything that leaves the input as
	// it was must not recompile a tenant (tens of milliseconds each).
	compiled sync.Map // namespace → string
	// locks make one tenant compile at a time: the first load compiles beside the
	// controller's workers, and an older input must not be stored over a newer one.
	locks sync.Map // namespace → *sync.Mutex
}

// +kubebuilder:rbac:groups=policy.crmauthz.io,resources=permissiontemplates;salesgroups;loginpolicies;ipallowlists,verbs=get;list;watch
// Only ConfigMaps labelled as anonymous-proxy lists are cached (operator.go); listing and
// watching them needs no right to read them one by one.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=list;watch

// Reconcile compiles the tenant named by req.Name (a namespace).
func (r *TenantReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := req.Name
	lock, _ := r.locks.LoadOrStore(ns, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	defer lock.(*sync.Mutex).Unlock()
	in := &policy.Input{Tenant: ns} // another shard's tenant: hold nothing of it
	if r.Shard.Owns(ctx, ns) {
		var err error
		if in, err = r.input(ctx, ns); err != nil {
			return reconcile.Result{}, err
		}
	} else if r.Store.Get(ns) != nil {
		log.FromContext(ctx).Info("Handed tenant over: its namespace is no longer in this shard", "tenant", ns)
	}
	if len(in.Templates)+len(in.Groups)+len(in.LoginPolicies)+len(in.Allowlists) == 0 {
		if r.Store.Get(ns) != nil {
			log.FromContext(ctx).Info("Removed tenant: no policy objects left", "tenant", ns)
		}
		r.Store.Put(ns, nil)
		r.Builder.Forget(ns)
		r.compiled.Delete(ns)
		return reconcile.Result{}, nil
	}
	fp := fingerprint(in)
	if last, ok := r.compiled.Load(ns); ok && last == fp && r.Store.Get(ns) != nil {
		return reconcile.Result{}, nil // e.g. a label changed: nothing to compile
	}
	// Before the first full load, and for a tenant never compiled, statuses are a
	// backlog; after, a recompile means something changed and goes ahead of it.
	first := !r.Store.Ready() || r.Store.Get(ns) == nil
	t := r.Builder.Build(*in)
	r.adopt(ctx, ns)
	r.Store.Put(ns, t)
	r.compiled.Store(ns, fp)
	log.FromContext(ctx).V(1).Info("Compiled tenant", "tenant", ns, "revision", t.Snapshot.Revision, "objects", len(t.Snapshot.Objects))
	if r.Compiled != nil {
		r.Compiled(ns, t, first)
	}
	return reconcile.Result{}, nil
}

// adopt points the builder's last good versions of tenant ns at the informer cache's
// own objects. The input was read as copies of each object's top level (a List copies
// every object into its Items), and holding those kept a second set of a thousand
// tenants' object shells alive — until each object's status was written, and never
// after a restart, when nothing is written.
func (r *TenantReconciler) adopt(ctx context.Context, ns string) {
	if r.Informers == nil {
		return
	}
	for _, k := range policy.Kinds {
		inf, err := r.Informers.GetInformer(ctx, newObject(k), cache.BlockUntilSynced(false))
		if err != nil {
			continue
		}
		indexed, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			continue
		}
		objs, err := indexed.GetIndexer().ByIndex(toolscache.NamespaceIndex, ns)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if m, ok := o.(metav1.Object); ok {
				r.Builder.Replaced(ns, k, m)
			}
		}
	}
}

// fingerprint identifies what a compile of in would read: every object's identity and
// generation (spec changes bump it; status, label and annotation changes do not) and
// every ConfigMap's content, in an order of their own (a cache lists in any order).
func fingerprint(in *policy.Input) string {
	var ids []string
	in.Each(func(kind string, o metav1.Object) {
		ids = append(ids, fmt.Sprintf("%s/%s/%s/%d", kind, o.GetName(), o.GetUID(), o.GetGeneration()))
	})
	for name, data := range in.ConfigMaps {
		for k, v := range data {
			ids = append(ids, fmt.Sprintf("ConfigMap/%s/%s/%d/%s", name, k, len(v), v))
		}
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, s := range ids {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

func (r *TenantReconciler) input(ctx context.Context, ns string) (*policy.Input, error) {
	return loader.ReadNamespace(ctx, r.Reader, ns)
}

// SetupWithManager watches the four kinds and ConfigMaps, keyed by namespace.
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.IPAllowlist{}, proxyListIndex, func(o client.Object) []string {
		al := o.(*v1alpha1.IPAllowlist)
		if al.Spec.AnonymousProxyList == nil {
			return nil
		}
		return []string{al.Spec.AnonymousProxyList.ConfigMapRef.Name}
	}); err != nil {
		return err
	}
	// A spec change, a create or a delete recompiles the tenant; a status write (every
	// object's, by the leader) changes nothing compiled and only swaps the builder's
	// reference (tenantHandler.Update).
	toTenant := func(kind string) tenantHandler { return tenantHandler{kind: kind, builder: r.Builder} }
	dataChanged := builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldCM, okOld := e.ObjectOld.(*corev1.ConfigMap)
		newCM, okNew := e.ObjectNew.(*corev1.ConfigMap)
		return !okOld || !okNew || !equality.Semantic.DeepEqual(oldCM.Data, newCM.Data) || !equality.Semantic.DeepEqual(oldCM.BinaryData, newCM.BinaryData)
	}})
	configMapToTenant := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var als v1alpha1.IPAllowlistList
		if err := r.Reader.List(ctx, &als, client.InNamespace(o.GetNamespace()), client.MatchingFields{proxyListIndex: o.GetName()}); err != nil || len(als.Items) == 0 {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("tenant").
		Watches(&v1alpha1.PermissionTemplate{}, toTenant(policy.KindPermissionTemplate)).
		Watches(&v1alpha1.SalesGroup{}, toTenant(policy.KindSalesGroup)).
		Watches(&v1alpha1.LoginPolicy{}, toTenant(policy.KindLoginPolicy)).
		Watches(&v1alpha1.IPAllowlist{}, toTenant(policy.KindIPAllowlist)).
		Watches(&corev1.ConfigMap{}, configMapToTenant, dataChanged).
		// A namespace's labels decide which shard holds its tenant.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
		}), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 2}).
		Complete(r)
}

// tenantHandler queues an object's tenant when the object is created, changed or
// deleted; objects of the first list are InitialLoad's. An update that left the spec
// as it was (a status written) compiles nothing: the builder is told of the cache's new
// object instead, in the informer's goroutine, as recompiling the tenant for it cost
// more than writing it.
type tenantHandler struct {
	kind    string
	builder *tenants.Builder
}

// add queues o's tenant (at the default priority: a change goes ahead of status
// writers' backlog, which is another queue).
func (tenantHandler) add(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}})
}

func (h tenantHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.IsInInitialList {
		return // InitialLoad compiles every tenant of the first list, once it is all in
	}
	h.add(q, e.Object)
}

func (h tenantHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.ObjectOld.GetUID() == e.ObjectNew.GetUID() && e.ObjectOld.GetGeneration() == e.ObjectNew.GetGeneration() {
		h.builder.Replaced(e.ObjectNew.GetNamespace(), h.kind, e.ObjectNew)
		return
	}
	h.add(q, e.ObjectNew)
}

func (h tenantHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object)
}

func (h tenantHandler) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(q, e.Object)
}

// InitialLoad compiles every tenant once the caches have synced, then marks the store
// ready: until then /readyz fails and the API answers 503, so no replica decides on a
// half-loaded policy. Statuses wait until then (Ready is called after): writing them
// during the load made it slower, and every object is looked at once after it anyway.
type InitialLoad struct {
	Cache interface {
		WaitForCacheSync(ctx context.Context) bool
		cache.Informers
	}
	Tenant *TenantReconciler
	// Ready, if set, is called once the store is ready.
	Ready func(ctx context.Context)
}

// NeedLeaderElection: every replica loads.
func (l *InitialLoad) NeedLeaderElection() bool { return false }

// Start runs the load.
func (l *InitialLoad) Start(ctx context.Context) error {
	if !l.Cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("caches did not sync")
	}
	// The namespaces holding policy objects, from the informers' namespace indexes:
	// listing a quarter of a million objects to read their namespaces copied them all.
	namespaces := map[string]bool{}
	for _, k := range policy.Kinds {
		inf, err := l.Cache.GetInformer(ctx, newObject(k))
		if err != nil {
			return fmt.Errorf("initial load: %w", err)
		}
		indexed, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
		if !ok {
			return fmt.Errorf("initial load: the %s informer has no indexer", k)
		}
		for _, ns := range indexed.GetIndexer().ListIndexFuncValues(toolscache.NamespaceIndex) {
			namespaces[ns] = true
		}
	}
	// One compile per core: a thousand tenants one after another would hold readiness
	// back for a minute.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(goruntime.GOMAXPROCS(0))
	for ns := range namespaces {
		if !l.Tenant.Shard.Owns(ctx, ns) {
			delete(namespaces, ns)
			continue
		}
		g.Go(func() error {
			if _, err := l.Tenant.Reconcile(gctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: ns}}); err != nil {
				return fmt.Errorf("initial load of tenant %s: %w", ns, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	l.Tenant.Store.SetReady()
	log.FromContext(ctx).Info("Loaded every tenant; serving decisions", "tenants", len(namespaces))
	if l.Ready != nil {
		l.Ready(ctx)
	}
	return nil
}

// newObject is an empty object of policy kind k, as the cache wants it.
func newObject(k string) client.Object { return policy.New(k).(client.Object) }
