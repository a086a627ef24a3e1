package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"golang.org/x/sync/errgroup"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

// loadResult is what loading took.
type loadResult struct {
	// objects counts every object created: namespaces, ConfigMaps and crmauthz objects.
	objects int64
	elapsed time.Duration
}

func (l loadResult) rate() float64 { return perSecond(l.objects, l.elapsed) }

// loadTenants creates N tenants: one producer generates a tenant at a time, creates its
// namespace and ConfigMaps (which its objects need first), then hands its crmauthz
// objects to the workers. The channel bounds what is held: a tenant's objects are
// dropped once created, so memory does not grow with N.
func loadTenants(ctx context.Context, c client.Client, cfg config) (loadResult, error) {
	g, ctx := errgroup.WithContext(ctx)
	objs := make(chan client.Object, 4*cfg.workers)
	var created atomic.Int64
	start := time.Now()
	g.Go(func() error {
		defer close(objs)
		return produceTenants(ctx, c, cfg, objs, &created)
	})
	for range cfg.workers {
		g.Go(func() error {
			for o := range objs {
				if err := create(ctx, c, o); err != nil {
					return err
				}
				created.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	res := loadResult{objects: created.Load(), elapsed: time.Since(start)}
	if err != nil {
		return res, fmt.Errorf("loading: %w", err)
	}
	fmt.Printf("   %d objects in %s: %.0f objects/s\n", res.objects, res.elapsed.Round(time.Millisecond), res.rate())
	return res, nil
}

func produceTenants(ctx context.Context, c client.Client, cfg config, objs chan<- client.Object, created *atomic.Int64) error {
	every := max(cfg.n/10, 1)
	for i := range cfg.n {
		ns := tenantName(i)
		t := tenantgen.Generate(ns, tenantgen.SpecSize, cfg.seed+uint64(i))
		for _, o := range prerequisites(t) {
			if err := create(ctx, c, o); err != nil {
				return err
			}
			created.Add(1)
		}
		for _, o := range crmauthzObjects(t) {
			select {
			case objs <- o:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if (i+1)%every == 0 || i+1 == cfg.n {
			fmt.Printf("   %d/%d tenants handed to the writers\n", i+1, cfg.n)
		}
	}
	return nil
}

// prerequisites are the tenant's namespace and its ConfigMaps, in that order.
func prerequisites(t *tenantgen.Tenant) []client.Object {
	ns := t.Input.Tenant
	out := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for name, data := range t.Input.ConfigMaps {
		out = append(out, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{v1alpha1.ProxyListLabel: "true"}}, Data: data})
	}
	return out
}

// crmauthzObjects are the tenant's SalesGroups, PermissionTemplates, LoginPolicies and
// IPAllowlists. tenantgen sets metadata.generation, which the API server sets itself.
func crmauthzObjects(t *tenantgen.Tenant) []client.Object {
	in := &t.Input
	var out []client.Object
	for i := range in.Groups {
		out = append(out, &in.Groups[i])
	}
	for i := range in.Templates {
		out = append(out, &in.Templates[i])
	}
	for i := range in.LoginPolicies {
		out = append(out, &in.LoginPolicies[i])
	}
	for i := range in.Allowlists {
		out = append(out, &in.Allowlists[i])
	}
	for _, o := range out {
		o.SetGeneration(0)
	}
	return out
}

// create creates o, retrying what a busy API server answers, and accepts an object
// that already exists (a retried create whose first attempt got through).
func create(ctx context.Context, c client.Client, o client.Object) error {
	err := retry.OnError(retry.DefaultBackoff, transient, func() error {
		return client.IgnoreAlreadyExists(c.Create(ctx, o))
	})
	if err != nil {
		return fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

func transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
