package crmauthz

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// PDP is an embedded decision point: the server's engine in the caller's process,
// deciding on an immutable snapshot of the policy with no network hop (a check takes
// well under a microsecond). It keeps the server's last-good rule: an object that
// stops compiling keeps its previous version in force, and every answer carries the
// revision it was decided on. Safe for concurrent use.
type PDP struct {
	store *tenants.Store
	svc   *service.Service
	done  chan struct{}
	// stopped is why the PDP stopped following its source before its context ended.
	stopped atomic.Pointer[error]
}

func newPDP(store *tenants.Store) *PDP {
	return &PDP{store: store, svc: service.New(store, nil), done: make(chan struct{})}
}

// Check decides as POST /v1/check does. A request it cannot decide (a field missing
// or unknown) is an error naming the field; a denial is a response with Allowed false.
func (p *PDP) Check(q *CheckRequest) (*CheckResponse, error) {
	var out CheckResponse
	if err := p.svc.Decide(q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckInto is Check writing the answer into out, for callers on a hot path that
// keep one CheckResponse per worker. The answer's lists are the snapshot's: read
// them, never change them.
func (p *PDP) CheckInto(q *CheckRequest, out *CheckResponse) error { return p.svc.Decide(q, out) }

// Revision is the revision of tenant's policy in force ("" if there is none).
func (p *PDP) Revision(tenant string) string {
	if s := p.store.Snapshot(tenant); s != nil {
		return s.Revision
	}
	return ""
}

// Ready says whether the first load finished (Check answers an error until then).
func (p *PDP) Ready() bool { return p.store.Ready() }

// Done is closed when the PDP stops following its source: its context ended, or
// (Err) the source failed. It keeps deciding on the last policy it had.
func (p *PDP) Done() <-chan struct{} { return p.done }

// Err is why the PDP stopped following its source before its context ended; nil
// while it follows, and after an end by the context.
func (p *PDP) Err() error {
	if e := p.stopped.Load(); e != nil {
		return *e
	}
	return nil
}

// LoadFiles loads the policy in paths (YAML files or directories, as `crmauthz serve`
// takes them; objects without a namespace belong to defaultNamespace), checked
// against the CRD schema as the API server would. While ctx lives, files that change
// are reloaded (polled every interval; 0: once a second). A load that finds problems
// keeps the last good version of what broke; LoadFiles fails only when the files
// cannot be read at all.
func LoadFiles(ctx context.Context, defaultNamespace string, interval time.Duration, paths ...string) (*PDP, error) {
	if interval <= 0 {
		interval = time.Second
	}
	files := pipeline.NewFiles(paths, defaultNamespace)
	p := newPDP(files.Store)
	if _, _, err := files.Load(ctx); err != nil {
		return nil, err
	}
	p.store.SetReady()
	go func() {
		defer close(p.done)
		if err := files.Run(ctx, interval, 0); err != nil && ctx.Err() == nil {
			p.stopped.Store(&err)
		}
	}()
	return p, nil
}

// WatchNamespace follows one tenant's policy in a cluster: an informer cache on the
// four kinds (and the labelled anonymous-proxy ConfigMaps) in namespace, compiled
// again on every change. It returns once the first load is compiled, or ctx's error.
// cfg's identity needs get, list and watch on those in the namespace.
func WatchNamespace(ctx context.Context, cfg *rest.Config, namespace string) (*PDP, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme,
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.ProxyListLabel: "true"})},
		}})
	if err != nil {
		return nil, err
	}
	p := newPDP(tenants.NewStore(nil))
	changed := make(chan struct{}, 1)
	nudge := func() {
		select {
		case changed <- struct{}{}:
		default: // a rebuild is already due: it will see this change too
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nudge() },
		UpdateFunc: func(any, any) { nudge() },
		DeleteFunc: func(any) { nudge() },
	}
	for _, obj := range []client.Object{&v1alpha1.PermissionTemplate{}, &v1alpha1.SalesGroup{}, &v1alpha1.LoginPolicy{}, &v1alpha1.IPAllowlist{}, &corev1.ConfigMap{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	started := make(chan error, 1)
	go func() { started <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, errors.Join(fmt.Errorf("crmauthz: the cache of namespace %s did not sync", namespace), ctx.Err())
	}
	b := tenants.NewBuilder()
	build := func() error {
		in, err := loader.ReadNamespace(ctx, c, namespace)
		if err != nil {
			return err
		}
		p.store.Put(namespace, b.Build(*in))
		return nil
	}
	if err := build(); err != nil {
		cancel()
		return nil, err
	}
	p.store.SetReady()
	go func() {
		defer close(p.done)
		defer cancel()
		for {
			select {
			case err := <-started: // with ctx, or on its own: decisions stay on the last policy
				if err != nil && ctx.Err() == nil {
					p.stopped.Store(&err)
				}
				return
			case <-changed:
				_ = build() // a list from the cache fails only when it stops: keep the last good
			}
		}
	}()
	return p, nil
}
