package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/tenants"
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
	Builder   *tenants.Builder
	Store     *tenants.Store
	Log       *slog.Logger
	// Removed counts objects a reload took out of force, by tenant and kind; nil
	// counts nothing (they are logged at WARN either way).
	Removed *prometheus.CounterVec

	fingerprint string
	lastFiles   map[string][]loader.Object // per file: the objects last decoded from it
	inForce     map[objectKey]string       // what the last load put in force, and from which file
}

// NewFiles is Files over paths filling a new store, with a new last-good builder and a
// silent log: how validate, diff, the SDK's embedded decision point and tests load
// policy files (serve adds its log and metrics).
func NewFiles(paths []string, defaultNamespace string) *Files {
	return &Files{Paths: paths, DefaultNamespace: defaultNamespace, Builder: tenants.NewBuilder(), Store: tenants.NewStore(nil),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// objectKey names a policy object of a tenant.
type objectKey struct{ tenant, kind, name string }

// DefaultQuietPeriod is how long files must stay unchanged before a reload applies them.
const DefaultQuietPeriod = time.Second

// Load reads the files and, when anything changed, rebuilds every tenant. It returns
// the problems found (files that do not parse, objects refused or not ready), each
// naming the file and field.
func (f *Files) Load(ctx context.Context) (changed bool, problems Problems, err error) {
	files, contents, fp, err := f.read()
	if err != nil {
		return false, nil, err
	}
	return f.apply(ctx, files, contents, fp)
}

// apply loads files read by read, unless they are what is in force.
func (f *Files) apply(ctx context.Context, files []string, contents map[string][]byte, fp string) (changed bool, problems Problems, err error) {
	if fp == f.fingerprint {
		return false, nil, nil
	}
	if f.lastFiles == nil {
		f.lastFiles = map[string][]loader.Object{}
	}
	decoded, next, problems := f.decode(files, contents)
	checked, err := Check(ctx, decoded, Options{DefaultNamespace: f.DefaultNamespace, Validator: f.Validator})
	if err != nil {
		return false, nil, err
	}
	f.lastFiles = next
	f.fingerprint = fp
	problems = append(problems, checked.Problems...)
	problems = append(problems, f.build(decoded, checked)...)
	problems.Sort()
	return true, problems, nil
}

// decode parses every file; a file that is empty or does not parse keeps the objects
// it last held (next maps each file to what it holds now).
func (f *Files) decode(files []string, contents map[string][]byte) (decoded []loader.Object, next map[string][]loader.Object, problems Problems) {
	next = map[string][]loader.Object{}
	for _, file := range files {
		last, seen := f.lastFiles[file]
		if len(contents[file]) == 0 && seen && len(last) > 0 {
			problems = append(problems, fileProblem(file, fmt.Errorf("empty (0 bytes): keeping the %d objects it last held until it has content again or is deleted", len(last))))
			next[file] = last
			decoded = append(decoded, last...)
			continue
		}
		objs, err := loader.Decode(contents[file], file)
		if err != nil {
			problems = append(problems, fileProblem(file, fmt.Errorf("%w (keeping the objects it last held)", err)))
			objs = last
		}
		next[file] = objs
		decoded = append(decoded, objs...)
	}
	return decoded, next, problems
}

// build compiles every tenant (refused objects falling back to their last good
// versions) into the store, forgets tenants with nothing left in force, and returns
// the compiler's problems.
func (f *Files) build(decoded []loader.Object, checked *Checked) Problems {
	built, problems := checked.Compile(f.Builder, time.Time{})
	sources := map[objectKey]string{}
	for _, o := range decoded {
		sources[objectKey{checked.namespace(o), o.Kind(), o.Typed.GetName()}] = o.Source
	}
	inForce := map[objectKey]string{}
	for ns, t := range built {
		if InForce(t) == 0 {
			// Every object refused and none held from before: the tenant is unknown
			// (denied), not decided on the role baselines alone.
			delete(built, ns)
			continue
		}
		f.Store.Put(ns, t)
		for _, st := range t.Report.Objects {
			if st.InForce {
				k := objectKey{ns, st.Kind, st.Name}
				inForce[k] = sources[k]
			}
		}
	}
	for _, ns := range f.Store.Names() {
		if _, ok := built[ns]; !ok {
			f.Store.Put(ns, nil)
			f.Builder.Forget(ns)
		}
	}
	f.reportRemoved(inForce)
	return problems
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
	files, err := loader.Walk(f.Paths, loader.PolicyExtensions...)
	if err != nil {
		return nil, nil, "", err
	}
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

func (f *Files) report(problems Problems) {
	for _, p := range problems {
		f.Log.Warn("Policy problem", "problem", p.String())
	}
}
