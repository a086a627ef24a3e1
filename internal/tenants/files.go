package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// Files keeps a store loaded from YAML files, for `crmauthz serve`: every object is
// checked against the CRD schema as the API server would, defaults filled in, and a
// file or object that breaks keeps its last good version in force.
type Files struct {
	Paths            []string
	DefaultNamespace string
	Validator        *schema.Validator
	Builder          *Builder
	Store            *Store
	Log              *slog.Logger

	fingerprint string
	lastFiles   map[string][]loader.Object // per file: the objects last decoded from it
}

// Load reads the files and, when anything changed, rebuilds every tenant. It returns
// the problems found (files that do not parse, objects refused), each naming the file
// and field.
func (f *Files) Load(ctx context.Context) (changed bool, problems []string, err error) {
	files, contents, fp, err := f.read()
	if err != nil {
		return false, nil, err
	}
	if fp == f.fingerprint {
		return false, nil, nil
	}
	if f.lastFiles == nil {
		f.lastFiles = map[string][]loader.Object{}
	}
	var decoded []loader.Object
	next := map[string][]loader.Object{}
	for _, file := range files {
		objs, err := loader.Decode(contents[file], file)
		if err != nil {
			problems = append(problems, err.Error()+" (keeping the objects it last held)")
			objs = f.lastFiles[file]
		}
		next[file] = objs
		decoded = append(decoded, objs...)
	}
	decoded, dups := loader.Unique(decoded, f.DefaultNamespace)
	for _, err := range dups {
		problems = append(problems, err.Error())
	}
	var objs []loader.Object
	refused := map[string][]policy.ObjectStatus{}
	for _, o := range decoded {
		if !f.Validator.Knows(o.Raw) {
			objs = append(objs, o) // a ConfigMap
			continue
		}
		raw := o.Raw.DeepCopy()
		if errs := f.Validator.Validate(ctx, raw); len(errs) > 0 {
			msg := errs.ToAggregate().Error()
			problems = append(problems, fmt.Sprintf("%s %s/%s (%s): %s", o.Kind(), namespace(o, f.DefaultNamespace), o.Typed.GetName(), o.Source, msg))
			ns := namespace(o, f.DefaultNamespace)
			refused[ns] = append(refused[ns], policy.ObjectStatus{Kind: o.Kind(), Name: o.Typed.GetName(), Reason: v1alpha1.ReasonInvalid, Message: msg})
			continue
		}
		// Decode again from the defaulted object, so defaults apply as in a cluster.
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw.Object, o.Typed); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", o.Source, err))
			continue
		}
		objs = append(objs, o)
	}
	f.lastFiles = next
	f.fingerprint = fp

	objs, more, warnings := admit(objs, f.DefaultNamespace)
	for ns, sts := range more {
		refused[ns] = append(refused[ns], sts...)
		for _, st := range sts {
			problems = append(problems, fmt.Sprintf("%s %s/%s: %s", st.Kind, ns, st.Name, st.Message))
		}
	}
	problems = append(problems, warnings...)

	inputs := loader.Tenants(objs, f.DefaultNamespace)
	for ns := range refused {
		if _, ok := inputs[ns]; !ok {
			inputs[ns] = &policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}
		}
	}
	for ns, in := range inputs {
		t := f.Builder.Build(*in, refused[ns]...)
		f.Store.Put(ns, t)
		for _, st := range t.Report.Objects {
			if st.InForce && !st.Ready {
				problems = append(problems, fmt.Sprintf("%s %s/%s: %s", st.Kind, ns, st.Name, st.Message))
			} else if !st.InForce && !refusedHas(refused[ns], st.Kind, st.Name) {
				problems = append(problems, fmt.Sprintf("%s %s/%s left out: %s", st.Kind, ns, st.Name, st.Message))
			}
		}
	}
	for _, ns := range f.Store.Names() {
		if _, ok := inputs[ns]; !ok {
			f.Store.Put(ns, nil)
			f.Builder.Forget(ns)
		}
	}
	sort.Strings(problems)
	return true, problems, nil
}

// admit runs the admission checks (the webhook's) on objects that passed the schema,
// as if they were created one by one in name order, and returns those admitted, the
// refused ones per namespace and the warnings (prefixed "warning: ").
func admit(objs []loader.Object, def string) ([]loader.Object, map[string][]policy.ObjectStatus, []string) {
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Typed.GetName() < objs[j].Typed.GetName() })
	groups := map[string][]v1alpha1.SalesGroup{}
	for _, o := range objs {
		if g, ok := o.Typed.(*v1alpha1.SalesGroup); ok {
			groups[namespace(o, def)] = append(groups[namespace(o, def)], *g)
		}
	}
	admitted := map[string]*validation.Namespace{}
	var out []loader.Object
	refused := map[string][]policy.ObjectStatus{}
	var warnings []string
	for _, o := range objs {
		ns := namespace(o, def)
		vn := admitted[ns]
		if vn == nil {
			vn = &validation.Namespace{Groups: groups[ns]}
			admitted[ns] = vn
		}
		var r validation.Result
		switch t := o.Typed.(type) {
		case *v1alpha1.PermissionTemplate:
			if r = validation.Template(t, vn, true); len(r.Errors) == 0 {
				vn.Templates = append(vn.Templates, *t)
			}
		case *v1alpha1.SalesGroup:
			r = validation.SalesGroup(t, vn)
		case *v1alpha1.LoginPolicy:
			if r = validation.LoginPolicy(t, vn, true); len(r.Errors) == 0 {
				vn.LoginPolicies = append(vn.LoginPolicies, *t)
			}
		case *v1alpha1.IPAllowlist:
			r = validation.IPAllowlist(t)
		}
		for _, w := range r.Warnings {
			warnings = append(warnings, fmt.Sprintf("warning: %s %s/%s (%s): %s", o.Kind(), ns, o.Typed.GetName(), o.Source, w))
		}
		if len(r.Errors) > 0 {
			refused[ns] = append(refused[ns], policy.ObjectStatus{Kind: o.Kind(), Name: o.Typed.GetName(), Reason: v1alpha1.ReasonInvalid,
				Message: r.Errors.ToAggregate().Error() + " (" + o.Source + ")"})
			continue
		}
		out = append(out, o)
	}
	return out, refused, warnings
}

func refusedHas(list []policy.ObjectStatus, kind, name string) bool {
	for _, st := range list {
		if st.Kind == kind && st.Name == name {
			return true
		}
	}
	return false
}

func namespace(o loader.Object, def string) string {
	if ns := o.Typed.GetNamespace(); ns != "" {
		return ns
	}
	return def
}

// read returns the policy files under Paths, their contents and a fingerprint of all.
func (f *Files) read() ([]string, map[string][]byte, string, error) {
	var files []string
	for _, p := range f.Paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			base := filepath.Base(path)
			if strings.HasPrefix(base, ".") || base == "kustomization.yaml" || base == "kustomization.yml" {
				return nil
			}
			switch filepath.Ext(path) {
			case ".yaml", ".yml", ".json":
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, "", err
		}
	}
	sort.Strings(files)
	contents := map[string][]byte{}
	h := sha256.New()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, "", err
		}
		contents[file] = data
		fmt.Fprintf(h, "%s\x00%d\x00", file, len(data))
		h.Write(data)
	}
	return files, contents, hex.EncodeToString(h.Sum(nil)), nil
}

// Run loads the files now, marks the store ready, and reloads every interval until ctx
// ends. A reload that fails keeps what is in force.
func (f *Files) Run(ctx context.Context, interval time.Duration) error {
	if _, problems, err := f.Load(ctx); err != nil {
		return err
	} else {
		f.report(problems)
	}
	f.Store.SetReady()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			changed, problems, err := f.Load(ctx)
			if err != nil {
				f.Log.Error("Reload failed; keeping the policy in force", "err", err)
				continue
			}
			if changed {
				f.Log.Info("Reloaded policies", "tenants", len(f.Store.Names()))
				f.report(problems)
			}
		}
	}
}

func (f *Files) report(problems []string) {
	for _, p := range problems {
		f.Log.Warn("Policy problem", "problem", p)
	}
}
