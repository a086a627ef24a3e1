// Package policytest runs policy test suites: YAML files holding policy objects and
// requests with the answers wanted, decided offline through the same service layer as
// the HTTP API. The engine's decision cases and `crmauthz test` both use it.
package policytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/pipeline"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenants"
)

// Suite is one test file.
type Suite struct {
	// Name describes the suite.
	Name string `json:"name"`
	// Tenant is the namespace of objects without one and of requests without a
	// tenant; default "acme".
	Tenant string `json:"tenant,omitempty"`
	// Now is the clock for compiling, logins, sessions and passwords; default
	// 2026-11-22T12:00:00Z.
	Now string `json:"now,omitempty"`
	// PolicyFiles are files or directories of objects, relative to the suite file.
	PolicyFiles []string `json:"policyFiles,omitempty"`
	// Policy are objects written in the suite itself.
	Policy []json.RawMessage `json:"policy,omitempty"`
	// SkipSchemaValidation compiles the policy without checking it against the CRD
	// schema first (to test what the compiler does with objects that never went
	// through the API server). By default a suite's policy must be valid.
	SkipSchemaValidation bool `json:"skipSchemaValidation,omitempty"`
	// WantStatus maps "Kind/name" to the compile status wanted (a subset).
	WantStatus map[string]map[string]any `json:"wantStatus,omitempty"`
	Cases      []Case                    `json:"cases"`
}

// Case is one request and the answer wanted. Exactly one request field is set.
type Case struct {
	Name     string         `json:"name"`
	Check    map[string]any `json:"check,omitempty"`
	Checks   map[string]any `json:"checks,omitempty"`
	Filter   map[string]any `json:"filter,omitempty"`
	Visible  map[string]any `json:"visible,omitempty"`
	Login    map[string]any `json:"login,omitempty"`
	Session  map[string]any `json:"session,omitempty"`
	Password map[string]any `json:"password,omitempty"`
	// Want is compared with the response as a subset: every key given must match;
	// arrays must match element by element.
	Want map[string]any `json:"want,omitempty"`
	// WantError is a part of the message of the 400 error wanted.
	WantError string `json:"wantError,omitempty"`
}

// Result is the outcome of one case (or of a suite-level check, Case "").
type Result struct {
	File string
	Case string
	// Kind is the request kind (check, filter, ...); "" for suite-level checks.
	Kind string
	Err  error
	// Reason is the decision's reason, when there was one.
	Reason string
}

// Passed says whether the case passed.
func (r Result) Passed() bool { return r.Err == nil }

// DefaultNow is the clock suites run at unless they say otherwise.
const DefaultNow = "2026-11-22T12:00:00Z"

// RunPaths runs every suite file (*.yaml, *.yml) under paths, in path order.
func RunPaths(paths ...string) ([]Result, error) {
	files, err := loader.Walk(paths, ".yaml", ".yml")
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, f := range files {
		rs, err := RunFile(f)
		if err != nil {
			return out, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// RunFile runs one suite file. An error means the suite itself could not be run.
func RunFile(path string) ([]Result, error) {
	s, err := readSuite(path)
	if err != nil {
		return nil, err
	}
	return s.Run(path)
}

func readSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Suite
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

type staticTenants map[string]*policy.Snapshot

func (t staticTenants) Snapshot(tenant string) *policy.Snapshot { return t[tenant] }
func (staticTenants) Ready() bool                               { return true }

// Run compiles the suite's policy and runs its cases; file names results.
func (s *Suite) Run(file string) ([]Result, error) {
	svc, results, err := s.compile(file)
	if err != nil {
		return nil, err
	}
	for i := range s.Cases {
		results = append(results, s.runCase(file, svc, &s.Cases[i]))
	}
	return results, nil
}

// compile builds the suite's policy into a service deciding on it, with the results
// of its wantStatus checks.
func (s *Suite) compile(file string) (*service.Service, []Result, error) {
	if s.Tenant == "" {
		s.Tenant = "acme"
	}
	if s.Now == "" {
		s.Now = DefaultNow
	}
	now, err := time.Parse(time.RFC3339, s.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: now: %w", file, err)
	}
	objs, err := s.objects(file)
	if err != nil {
		return nil, nil, err
	}
	// The offline pipeline: a suite tests the policy a cluster can hold, schema checked
	// and defaults filled in (unless it opts out). Not admission: concurrent writes
	// can get past it, and suites test how the compiler settles what they leave.
	checked, err := pipeline.Check(context.Background(), objs, pipeline.Options{
		DefaultNamespace: s.Tenant, SkipChecks: s.SkipSchemaValidation, SkipAdmission: true})
	if err != nil {
		return nil, nil, err
	}
	if checked.Problems.Errors() > 0 {
		var errs []error
		for _, p := range checked.Problems {
			if p.Severity == pipeline.Error {
				errs = append(errs, errors.New(p.String()))
			}
		}
		return nil, nil, fmt.Errorf("%s: %w", file, errors.Join(errs...))
	}
	built, _ := checked.Compile(tenants.NewBuilder(), now)
	snapshots := staticTenants{}
	reports := map[string]*policy.Report{}
	for ns, t := range built {
		snapshots[ns], reports[ns] = t.Snapshot, t.Report
	}
	var results []Result
	for key, want := range s.WantStatus {
		results = append(results, checkStatus(file, key, want, reports[s.Tenant]))
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Case < results[j].Case })
	return service.New(snapshots, func() time.Time { return now }), results, nil
}

func (s *Suite) objects(file string) ([]loader.Object, error) {
	var paths []string
	for _, p := range s.PolicyFiles {
		paths = append(paths, filepath.Join(filepath.Dir(file), p))
	}
	objs, err := loader.ReadPaths(paths...)
	if err != nil {
		return nil, fmt.Errorf("%s: policyFiles: %w", file, err)
	}
	for i, raw := range s.Policy {
		o, err := loader.Decode(raw, fmt.Sprintf("%s: policy[%d]", file, i))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

func checkStatus(file, key string, want map[string]any, rep *policy.Report) Result {
	r := Result{File: file, Case: "status of " + key}
	kind, name, _ := strings.Cut(key, "/")
	var st *policy.ObjectStatus
	if rep != nil {
		st = rep.Find(kind, name)
	}
	if st == nil {
		r.Err = fmt.Errorf("no object %s in the tenant", key)
		return r
	}
	got := map[string]any{
		"inForce": st.InForce, "ready": st.Ready, "reason": st.Reason, "message": st.Message,
		"conflicts": st.Conflicts, "effectiveRestrictedFeatures": st.EffectiveRestrictedFeatures,
		"memberCount": st.MemberCount, "depth": st.Depth, "proxyEntries": st.ProxyEntries,
	}
	r.Err = match(want, normalise(got), "")
	return r
}

func (s *Suite) runCase(file string, svc *service.Service, c *Case) Result {
	res := Result{File: file, Case: c.Name}
	type call struct {
		kind string
		req  map[string]any
		run  func([]byte) ([]byte, error)
	}
	calls := []call{
		{"check", c.Check, answer(svc.Check)},
		{"checks", c.Checks, answer(svc.Checks)},
		{"filter", c.Filter, answer(svc.Filter)},
		{"visible", c.Visible, answer(svc.Visible)},
		{"login", c.Login, answer(svc.Login)},
		{"session", c.Session, answer(svc.Session)},
		{"password", c.Password, answer(svc.Password)},
	}
	var chosen []call
	for _, cl := range calls {
		if cl.req != nil {
			chosen = append(chosen, cl)
		}
	}
	if len(chosen) != 1 {
		res.Err = fmt.Errorf("a case needs exactly one of check, checks, filter, visible, login, session, password (has %d)", len(chosen))
		return res
	}
	cl := chosen[0]
	res.Kind = cl.kind
	if _, ok := cl.req["tenant"]; !ok {
		cl.req["tenant"] = s.Tenant
	}
	body, err := json.Marshal(cl.req)
	if err != nil {
		res.Err = err
		return res
	}
	resp, err := cl.run(body)
	if c.WantError != "" {
		switch {
		case err == nil:
			res.Err = fmt.Errorf("wanted an error containing %q, got a decision", c.WantError)
		case !strings.Contains(err.Error(), c.WantError):
			res.Err = fmt.Errorf("wanted an error containing %q, got %q", c.WantError, err.Error())
		}
		return res
	}
	if err != nil {
		res.Err = fmt.Errorf("request refused: %w", err)
		return res
	}
	var got map[string]any
	if err := json.Unmarshal(resp, &got); err != nil {
		res.Err = err
		return res
	}
	if r, ok := got["reason"].(string); ok {
		res.Reason = r
	}
	if c.Want == nil {
		res.Err = errors.New("the case has no want")
		return res
	}
	res.Err = match(normalise(c.Want).(map[string]any), got, "")
	return res
}

func answer[Q any](decide func(*Q, *service.Reply) error) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) { return service.Answer(b, decide) }
}

// normalise round-trips a value through JSON so numbers and lists compare alike.
func normalise(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// match compares want with got: maps as subsets, arrays element by element.
func match(want, got any, path string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %s", name(path), show(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if !present && w[k] != nil {
				if arr, ok := w[k].([]any); ok && len(arr) == 0 {
					continue // omitted empty list
				}
				return fmt.Errorf("%s: missing (want %s)", name(path+"."+k), show(w[k]))
			}
			if err := match(w[k], gv, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, _ := got.([]any)
		if len(g) != len(w) {
			return fmt.Errorf("%s: want %s, got %s", name(path), show(w), show(got))
		}
		for i := range w {
			if err := match(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		if want == nil && (got == nil || reflect.DeepEqual(got, []any{})) {
			return nil
		}
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: want %s, got %s", name(path), show(want), show(got))
		}
		return nil
	}
}

func name(path string) string { return strings.TrimPrefix(path, ".") }

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
