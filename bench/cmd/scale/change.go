package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

// changedFeature is what the change restricts.
const changedFeature = v1alpha1.FeatureContent

// enforceLimit bounds the wait for the decision API to enforce the change.
const enforceLimit = time.Minute

// probe is a template of the last tenant and a subject it governs whose access to
// changedFeature the change flips from allowed to denied.
type probe struct {
	template string
	features []v1alpha1.Feature // restrictedFeatures after the change
	request  service.CheckRequest
}

// changeResult is what the mid-backlog change measured.
type changeResult struct {
	probe probe
	// convergedBefore is how many statuses had converged when the change was made.
	convergedBefore int
	enforced        time.Duration
	status          time.Duration
	enforcedErr     error
	statusErr       error
	err             error // the change could not be made at all
}

// measureChange restricts changedFeature on a template of the last tenant, then times
// (a) until /v1/check answers the new decision and (b) until the template's status
// reports its new generation, both from just before the write.
func measureChange(ctx context.Context, cl *cluster, apiURL string, cfg config, tr *tracker, deadline time.Time) changeResult {
	t := tenantgen.Generate(tenantName(cfg.n-1), tenantgen.SpecSize, cfg.seed+uint64(cfg.n-1))
	p, err := pickProbe(t)
	if err != nil {
		return changeResult{err: err}
	}
	res := changeResult{probe: p}
	api := &decisionAPI{url: apiURL, http: &http.Client{Timeout: 5 * time.Second}}
	if d, err := api.check(ctx, p.request); err != nil || !d.Allowed {
		res.err = fmt.Errorf("before the change, %s/%s should be allowed %s: %+v, %w", p.request.Subject.User, p.request.Subject.Role, changedFeature, d, err)
		return res
	}

	// The watch starts before the write so its first event cannot be missed.
	statusCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	key := types.NamespacedName{Namespace: t.Input.Tenant, Name: p.template}
	w, err := cl.watcher.Watch(statusCtx, &v1alpha1.PermissionTemplateList{},
		client.InNamespace(key.Namespace), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", key.Name)})
	if err != nil {
		res.err = fmt.Errorf("watching %s: %w", key, err)
		return res
	}
	defer w.Stop()

	res.convergedBefore = tr.count()
	start := time.Now()
	gen, err := restrict(ctx, cl.client, key, p.features)
	if err != nil {
		res.err = err
		return res
	}
	fmt.Printf("   changed PermissionTemplate %s (generation %d) with %d/%d statuses converged\n", key, gen, res.convergedBefore, tr.total)
	res.enforced, res.enforcedErr = api.waitDenied(ctx, p.request, start)
	res.status, res.statusErr = waitObserved(statusCtx, w, gen, start)
	return res
}

// pickProbe finds, by compiling the last tenant in-process before and after the change,
// a template and a subject it governs whose access to changedFeature the change flips;
// the last templates (user templates, the most specific) are tried first.
func pickProbe(t *tenantgen.Tenant) (probe, error) {
	before, _ := policy.Compile(t.Input)
	tpls := t.Input.Templates
	for i := len(tpls) - 1; i >= 0; i-- {
		pt := &tpls[i]
		if slices.Contains(pt.Spec.RestrictedFeatures, changedFeature) {
			continue
		}
		features := append(slices.Clone(pt.Spec.RestrictedFeatures), changedFeature)
		after := compileChanged(t.Input, i, features)
		for _, q := range candidates(t, pt) {
			was := decide(before, q)
			if was.Template == pt.Name && was.Allowed && !decide(after, q).Allowed {
				return probe{template: pt.Name, features: features, request: q}, nil
			}
		}
	}
	return probe{}, errors.New("no template of the last tenant governs a subject whose access the change would flip")
}

// compileChanged compiles the tenant with template i restricting features.
func compileChanged(in policy.Input, i int, features []v1alpha1.Feature) *policy.Snapshot {
	in.Templates = slices.Clone(in.Templates)
	changed := in.Templates[i].DeepCopy()
	changed.Spec.RestrictedFeatures = features
	changed.Generation++
	in.Templates[i] = *changed
	s, _ := policy.Compile(in)
	return s
}

// candidates are requests a template may govern: its users and the manager of its
// first group, in its roles or as a sales user.
func candidates(t *tenantgen.Tenant, pt *v1alpha1.PermissionTemplate) []service.CheckRequest {
	var users []string
	for _, u := range pt.Spec.AppliesTo.Users {
		users = append(users, string(u))
	}
	for _, g := range pt.Spec.AppliesTo.SalesGroups {
		if i := slices.Index(t.GroupNames, string(g)); i >= 0 {
			users = append(users, t.Managers[i])
		}
	}
	users = append(users, t.Users[len(t.Users)-1])
	roles := []string{string(v1alpha1.RoleSalesUser)}
	for _, r := range pt.Spec.AppliesTo.Roles {
		roles = append(roles, string(r))
	}
	var out []service.CheckRequest
	for _, u := range users {
		for _, r := range roles {
			out = append(out, service.CheckRequest{Tenant: t.Input.Tenant, Subject: service.Subject{User: u, Role: r},
				Action: "access", Resource: service.Resource{Feature: string(changedFeature)}, Context: service.Context{Channel: "UI"}})
		}
	}
	return out
}

// decide asks the engine in-process, as the decision API would.
func decide(s *policy.Snapshot, q service.CheckRequest) engine.Decision {
	var r engine.Request
	var d engine.Decision
	if err := service.ParseCheck(&q, &r); err != nil {
		return engine.Decision{Reason: engine.Reason("ParseError: " + err.Error())}
	}
	engine.Check(s, &r, &d)
	return d
}

// restrict sets the template's restrictedFeatures and returns its new generation.
func restrict(ctx context.Context, c client.Client, key types.NamespacedName, features []v1alpha1.Feature) (int64, error) {
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"restrictedFeatures": features}})
	if err != nil {
		return 0, fmt.Errorf("change: %w", err)
	}
	pt := &v1alpha1.PermissionTemplate{}
	pt.Namespace, pt.Name = key.Namespace, key.Name
	if err := c.Patch(ctx, pt, client.RawPatch(types.MergePatchType, body)); err != nil {
		return 0, fmt.Errorf("changing PermissionTemplate %s: %w", key, err)
	}
	return pt.Generation, nil
}

// waitObserved waits on the template's watch until its status reports generation gen.
func waitObserved(ctx context.Context, w watch.Interface, gen int64, start time.Time) (time.Duration, error) {
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("status of generation %d not written before the time limit: %w", gen, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, errors.New("the template's watch closed")
			}
			if pt, isPT := ev.Object.(*v1alpha1.PermissionTemplate); isPT && pt.Status.ObservedGeneration >= gen {
				return time.Since(start), nil
			}
		}
	}
}

// decisionAPI is the manager's /v1/check.
type decisionAPI struct {
	url  string
	http *http.Client
}

func (a *decisionAPI) check(ctx context.Context, q service.CheckRequest) (service.CheckResponse, error) {
	var d service.CheckResponse
	body, err := json.Marshal(q)
	if err != nil {
		return d, fmt.Errorf("check request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url+"/v1/check", bytes.NewReader(body))
	if err != nil {
		return d, fmt.Errorf("check request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return d, fmt.Errorf("POST /v1/check: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return d, fmt.Errorf("POST /v1/check: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("POST /v1/check: %s: %s", resp.Status, b)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("POST /v1/check answer: %w", err)
	}
	return d, nil
}

// waitDenied polls /v1/check every 2 ms (gently: the manager shares two cores with
// the API server and etcd) until it denies q, and returns the time since start.
func (a *decisionAPI) waitDenied(ctx context.Context, q service.CheckRequest, start time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, enforceLimit)
	defer cancel()
	for {
		d, err := a.check(ctx, q)
		if err == nil && !d.Allowed {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("still allowed after %s (last error: %v)", enforceLimit, err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}
