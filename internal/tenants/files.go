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

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// Files keeps a store loaded from YAML files, for `crmauthz serve`: every object is
// checked against the CRD schema as the API server would, defaults filled in, and a
// file or object that breaks keeps its last good version in force. A file that
// becomes empty (0 bytes, as a failed or half-done write leaves it) keeps the objects
// it last held until it has content again or is deleted.
type Files struct {
	Paths            []string
	DefaultNamespace string
	// Validator checks objects against the CRD schema. nil: one is built for each load
	// and dropped after it, so a long-running serve does not keep the schema's
	// compiled CEL programs (most of its heap, rescanned by every GC) between reloads.
	Validator *schema.Validator
	Builder   *Builder
	Store     *Store
	Log       *slog.Logger
	// Removed counts objects a reload took out of force, by tenant and kind; nil
	// counts nothing (they are logged at WARN either way).
	Removed *prometheus.CounterVec

	fingerprint string
	lastFiles   map[string][]loader.Object // per file: the objects last decoded from it
	inForce     map[objectKey]string       // what the last load put in force, and from which file
}

// objectKey names a policy object of a tenant.
type objectKey struct{ tenant, kind, name string }

// DefaultQuietPeriod is how long files must stay unchanged before a reload applies them.
const DefaultQuietPeriod = time.Second

// Load reads the files and, when anything changed, rebuilds every tenant. It returns
// the problems found (files that do not parse, objects refused), each naming the file
// and field.
func (f *Files) Load(ctx context.Context) (changed bool, problems []string, err error) {
	files, contents, fp, err := f.read()
	if err != nil {
		return false, nil, err
	}
	return f.apply(ctx, files, contents, fp)
}

// apply loads files read by read, unless they are what is in force.
func (f *Files) apply(ctx context.Context, files []string, contents map[string][]byte, fp string) (changed bool, problems []string, err error) {
	if fp == f.fingerprint {
		return false, nil, nil
	}
	if f.lastFiles == nil {
		f.lastFiles = map[string][]loader.Object{}
	}
	validator := f.Validator
	if validator == nil {
		if validator, err = schema.New(); err != nil {
			return false, nil, err
		}
	}
	decoded, next, problems := f.decode(files, contents)
	decoded, dups := loader.Unique(decoded, f.DefaultNamespace)
	for _, err := range dups {
		problems = append(problems, err.Error())
	}
	objs, refused, more := f.checkSchema(ctx, validator, decoded)
	problems = append(problems, more...)
	f.lastFiles = next
	f.fingerprint = fp

	objs, admitted, warnings := admit(objs, f.DefaultNamespace)
	for ns, sts := range admitted {
		refused[ns] = append(refused[ns], sts...)
		for _, st := range sts {
			problems = append(problems, fmt.Sprintf("%s %s/%s: %s", st.Kind, ns, st.Name, st.Message))
		}
	}
	problems = append(problems, warnings...)
	problems = append(problems, f.build(decoded, objs, refused)...)
	sort.Strings(problems)
	return true, problems, nil
}

// decode parses every file; a file that is empty or does not parse keeps the objects
// it last held (next maps each file to what it holds now).
func (f *Files) decode(files []string, contents map[string][]byte) (decoded []loader.Object, next map[string][]loader.Object, problems []string) {
	next = map[string][]loader.Object{}
	for _, file := range files {
		last, seen := f.lastFiles[file]
		if len(contents[file]) == 0 && seen && len(last) > 0 {
			problems = append(problems, fmt.Sprintf("%s: empty (0 bytes): keeping the %d objects it last held until it has content again or is deleted", file, len(last)))
			next[file] = last
			decoded = append(decoded, last...)
			continue
		}
		objs, err := loader.Decode(contents[file], file)
		if err != nil {
			problems = append(problems, err.Error()+" (keeping the objects it last held)")
			objs = last
		}
		next[file] = objs
		decoded = append(decoded, objs...)
	}
	return decoded, next, problems
}

// checkSchema validates the policy objects against the CRD schema (with its defaults
// applied, as in a cluster): it returns those that pass, with the ConfigMaps, and the
// refused ones per namespace.
func (f *Files) checkSchema(ctx context.Context, validator *schema.Validator, decoded []loader.Object) ([]loader.Object, map[string][]policy.ObjectStatus, []string) {
	var objs []loader.Object
	var problems []string
	refused := map[string][]policy.ObjectStatus{}
	for _, o := range decoded {
		if !validator.Knows(o.Raw) {
			objs = append(objs, o) // a ConfigMap
			continue
		}
		raw := o.Raw.DeepCopy()
		if errs := validator.Validate(ctx, raw); len(errs) > 0 {
			msg := errs.ToAggregate().Error()
			ns := namespace(o, f.DefaultNamespace)
			problems = append(problems, fmt.Sprintf("%s %s/%s (%s): %s", o.Kind(), ns, o.Typed.GetName(), o.Source, msg))
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
	return objs, refused, problems
}

// build compiles every tenant of objs (refused objects falling back to their last
// good versions) into the store, forgets tenants with nothing left, and reports what
// is not in force or not ready.
func (f *Files) build(decoded, objs []loader.Object, refused map[string][]policy.ObjectStatus) (problems []string) {
	inputs := loader.Tenants(objs, f.DefaultNamespace)
	for ns := range refused {
		if _, ok := inputs[ns]; !ok {
			inputs[ns] = &policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}
		}
	}
	sources := map[objectKey]string{}
	for _, o := range decoded {
		sources[objectKey{namespace(o, f.DefaultNamespace), o.Kind(), o.Typed.GetName()}] = o.Source
	}
	inForce := map[objectKey]string{}
	for ns, in := range inputs {
		t := f.Builder.Build(*in, refused[ns]...)
		held := 0
		for _, st := range t.Report.Objects {
			if st.InForce {
				held++
				k := objectKey{ns, st.Kind, st.Name}
				inForce[k] = sources[k]
			}
			if st.InForce && !st.Ready {
				problems = append(problems, fmt.Sprintf("%s %s/%s: %s", st.Kind, ns, st.Name, st.Message))
			} else if !st.InForce && !refusedHas(refused[ns], st.Kind, st.Name) {
				problems = append(problems, fmt.Sprintf("%s %s/%s left out: %s", st.Kind, ns, st.Name, st.Message))
			}
		}
		if held == 0 {
			// Every object refused and none held from before: the tenant is unknown
			// (denied), not decided on the role baselines alone.
			delete(inputs, ns)
			continue
		}
		f.Store.Put(ns, t)
	}
	for _, ns := range f.Store.Names() {
		if _, ok := inputs[ns]; !ok {
			f.Store.Put(ns, nil)
			f.Builder.Forget(ns)
		}
	}
	f.reportRemoved(inForce)
	return problems
}

// admit runs the admission checks (the webhook's) on objects that passed the schema,
// as if they were created one by one in name order, and returns those admitted, the
// refused ones per namespace and the warnings (prefixed "warning: ").
func admit(objs []loader.Object, def string) ([]loader.Object, map[string][]policy.ObjectStatus, []string) {
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Typed.GetName() < objs[j].Typed.GetName() })
	groups := map[string][]v1alpha1.SalesGroup{}
	proxyLists := map[string]map[string]bool{}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *v1alpha1.SalesGroup:
			groups[namespace(o, def)] = append(groups[namespace(o, def)], *t)
		case *corev1.ConfigMap:
			ns := namespace(o, def)
			if proxyLists[ns] == nil {
				proxyLists[ns] = map[string]bool{}
			}
			if loader.IsProxyList(t) {
				proxyLists[ns][t.Name] = true
			}
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
			vn = &validation.Namespace{Groups: groups[ns], ProxyLists: proxyLists[ns]}
			if vn.ProxyLists == nil {
				vn.ProxyLists = map[string]bool{}
			}
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
			r = validation.IPAllowlist(t, vn)
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

// reportRemoved logs at WARN, and counts, every policy object the last load had in
// force that this one has not: a file cut short must not shed objects unnoticed.
func (f *Files) reportRemoved(inForce map[objectKey]string) {
	for k, source := range f.inForce {
		if _, ok := inForce[k]; ok {
			continue
		}
		if f.Log != nil {
			f.Log.Warn("Removed a policy object: it is no longer in force", "tenant", k.tenant, "kind", k.kind, "name", k.name, "lastSource", source)
		}
		if f.Removed != nil {
			f.Removed.WithLabelValues(k.tenant, k.kind).Inc()
		}
	}
	f.inForce = inForce
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
// Hidden files and directories are skipped: a Kubernetes ConfigMap volume keeps its
// files in a hidden timestamped directory behind the `..data` symlink, and shows them
// at the top through symlinks. When that symlink is swapped (a new ConfigMap version)
// while the files are read, they are read again: a load never mixes two versions.
func (f *Files) read() ([]string, map[string][]byte, string, error) {
	for attempt := 0; ; attempt++ {
		before := dataLinks(f.Paths)
		files, contents, fp, err := f.readOnce()
		if err != nil || dataLinks(f.Paths) == before || attempt == 4 {
			return files, contents, fp, err
		}
	}
}

// dataLinks is where each path's `..data` symlink points ("" where there is none).
func dataLinks(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		target, _ := os.Readlink(filepath.Join(p, "..data"))
		b.WriteString(target)
		b.WriteByte(0)
	}
	return b.String()
}

func (f *Files) readOnce() ([]string, map[string][]byte, string, error) {
	var files []string
	for _, p := range f.Paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			base := filepath.Base(path)
			if d.IsDir() {
				if path != p && strings.HasPrefix(base, ".") {
					return fs.SkipDir
				}
				return nil
			}
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

// Run loads the files now, marks the store ready, and then looks at them every
// interval. A change is applied once the files have stayed the same for quiet (0:
// DefaultQuietPeriod): an editor or a copy that writes a file in pieces is never
// loaded half-way. A reload that fails keeps what is in force.
func (f *Files) Run(ctx context.Context, interval, quiet time.Duration) error {
	if _, problems, err := f.Load(ctx); err != nil {
		return err
	} else {
		f.report(problems)
	}
	f.Store.SetReady()
	if quiet <= 0 {
		quiet = DefaultQuietPeriod
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending string // the fingerprint of a change not yet applied
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			files, contents, fp, err := f.read()
			if err != nil {
				f.Log.Error("Reading the policy files failed; keeping the policy in force", "err", err)
				continue
			}
			if fp == f.fingerprint {
				pending = ""
				continue
			}
			if fp != pending {
				pending, since = fp, now // changed again: wait until it is quiet
				continue
			}
			if now.Sub(since) < quiet {
				continue
			}
			changed, problems, err := f.apply(ctx, files, contents, fp)
			if err != nil {
				f.Log.Error("Reload failed; keeping the policy in force", "err", err)
				continue
			}
			pending = ""
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
