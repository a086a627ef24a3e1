// Package crmauthztest runs crmauthz inside a test's own API server (envtest), for CRM
// teams that test their policy in CI: it installs crmauthz's CRDs and admission
// webhooks, runs the manager in the test process, and hands back a client of the
// decision API. Policy applied through it goes through a real API server and the real
// webhooks, exactly as `kubectl apply` in a cluster.
//
//	cr, err := crmauthztest.Start(ctx, crmauthztest.Options{})
//	defer cr.Stop()
//	err = cr.ApplyFiles(ctx, "policy/")
//	err = cr.WaitReady(ctx, "acme")
//	d, err := cr.API.Check(ctx, &crmauthz.CheckRequest{…})
//
// The control plane's binaries come from KUBEBUILDER_ASSETS, as for any envtest suite.
package crmauthztest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/config/crd"
	"github.com/crmauthz/crmauthz/config/webhook"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/operator"
	"github.com/crmauthz/crmauthz/pkg/crmauthz"
)

// Options configure Start.
type Options struct {
	// Environment is the caller's envtest environment, not started yet: crmauthz's
	// CRDs and webhooks are added to what it installs, and Stop stops it. nil: a new
	// one.
	Environment *envtest.Environment
}

// Crmauthz is crmauthz running against a test API server.
type Crmauthz struct {
	// Config reaches the API server as its administrator; Client is a client of it
	// that knows crmauthz's kinds.
	Config *rest.Config
	Client client.Client
	// API is a client of the decision API, served at URL (no credentials needed).
	API *crmauthz.Client
	URL string

	env    *envtest.Environment
	cancel context.CancelFunc
	done   chan error
}

// Start starts the API server with crmauthz's CRDs and webhooks, and the manager; it
// returns once the manager is ready.
func Start(ctx context.Context, o Options) (*Crmauthz, error) {
	env := o.Environment
	if env == nil {
		env = &envtest.Environment{}
	}
	crds, err := crdObjects()
	if err != nil {
		return nil, err
	}
	env.CRDInstallOptions.CRDs = append(env.CRDInstallOptions.CRDs, crds...)
	var hooks admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal(webhook.Manifests, &hooks); err != nil {
		return nil, fmt.Errorf("crmauthztest: webhooks: %w", err)
	}
	hooks.Name = "crmauthz-" + hooks.Name
	env.WebhookInstallOptions.ValidatingWebhooks = append(env.WebhookInstallOptions.ValidatingWebhooks, &hooks)
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("crmauthztest: starting the API server: %w", err)
	}
	c := &Crmauthz{Config: cfg, env: env, done: make(chan error, 1)}
	if err := c.startManager(ctx); err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return c, nil
}

func (c *Crmauthz) startManager(ctx context.Context) error {
	var err error
	if c.Client, err = client.New(c.Config, client.Options{Scheme: operator.Scheme()}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	w := c.env.WebhookInstallOptions
	op, err := operator.New(c.Config, operator.Options{APIListener: ln, ProbeAddr: "0", MetricsAddr: "0",
		Webhooks: operator.WebhookOptions{Enabled: true, Host: w.LocalServingHost, Port: w.LocalServingPort, CertDir: w.LocalServingCertDir}})
	if err != nil {
		_ = ln.Close()
		return err
	}
	var mctx context.Context
	mctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() { c.done <- op.Manager.Start(mctx) }()
	stop := func(err error) error { // the manager is running: stop it before the API server
		c.cancel()
		return errors.Join(err, <-c.done)
	}
	c.URL = "http://" + ln.Addr().String()
	if c.API, err = crmauthz.New(c.URL); err != nil {
		return stop(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(c.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-c.done:
			return fmt.Errorf("crmauthztest: the manager stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return stop(errors.New("crmauthztest: the manager was not ready within a minute"))
		}
	}
}

// Stop stops the manager and the API server.
func (c *Crmauthz) Stop() error {
	c.cancel()
	err := <-c.done
	return errors.Join(err, c.env.Stop())
}

func crdObjects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	err := fs.WalkDir(crd.Bases, "bases", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := crd.Bases.ReadFile(p)
		if err != nil {
			return err
		}
		var c apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			return fmt.Errorf("crmauthztest: %s: %w", p, err)
		}
		out = append(out, &c)
		return nil
	})
	return out, err
}

// Apply creates or updates the objects of YAML documents (server-side apply, as
// `kubectl apply --server-side`), creating their namespaces when missing. An object
// the schema or crmauthz's webhook refuses is an error with the API server's message.
func (c *Crmauthz) Apply(ctx context.Context, yamlDocs []byte) error {
	objs, err := loader.Decode(yamlDocs, "Apply")
	if err != nil {
		return err
	}
	return c.apply(ctx, objs)
}

// ApplyFiles applies the YAML files in paths (files or directories, as `crmauthz
// validate` reads them).
func (c *Crmauthz) ApplyFiles(ctx context.Context, paths ...string) error {
	objs, err := loader.ReadPaths(paths...)
	if err != nil {
		return err
	}
	return c.apply(ctx, objs)
}

func (c *Crmauthz) apply(ctx context.Context, objs []loader.Object) error {
	for _, o := range objs {
		u := o.Raw.DeepCopy()
		if ns := u.GetNamespace(); ns != "" {
			if err := c.ensureNamespace(ctx, ns); err != nil {
				return err
			}
		}
		if err := c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("crmauthztest"), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

func (c *Crmauthz) ensureNamespace(ctx context.Context, name string) error {
	err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// WaitReady waits until every crmauthz object in namespace is compiled at its
// generation and Ready (what the decision API then enforces), or ctx ends. An object
// left out (Ready False) is an error naming it and why.
func (c *Crmauthz) WaitReady(ctx context.Context, namespace string) error {
	for {
		pending, err := c.notReady(ctx, namespace)
		if err != nil || pending == "" {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crmauthztest: %s: %w", pending, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// notReady names an object of namespace not compiled yet ("" when none is), or
// fails on one compiled and left out.
func (c *Crmauthz) notReady(ctx context.Context, namespace string) (string, error) {
	in, err := loader.ReadNamespace(ctx, c.Client, namespace)
	if err != nil {
		return "", err
	}
	if in.Len() == 0 {
		return "", fmt.Errorf("crmauthztest: namespace %s holds no crmauthz object: nothing to wait for", namespace)
	}
	var pending string
	var failed []error
	in.Each(func(kind string, obj metav1.Object) {
		st := obj.(interface{ CommonStatus() *v1alpha1.Status }).CommonStatus()
		ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		switch {
		case st.ObservedGeneration != obj.GetGeneration() || ready == nil:
			pending = kind + " " + obj.GetName() + " is not compiled yet"
		case ready.Status != metav1.ConditionTrue:
			failed = append(failed, fmt.Errorf("%s %s: %s: %s", kind, obj.GetName(), ready.Reason, ready.Message))
		}
	})
	if len(failed) > 0 {
		return "", errors.Join(failed...)
	}
	return pending, nil
}
