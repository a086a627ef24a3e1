// Package loader is where policy comes from: it reads policy objects from YAML or JSON
// (files, directories, test cases) and groups them into one compile input per tenant,
// or reads one namespace's objects from a cluster. The pipeline package checks what is
// read from files; objects read from a cluster were checked by its API server.
package loader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Object is one decoded document.
type Object struct {
	// Source says where it came from: file and document number.
	Source string
	// Raw is the document as read, for schema validation.
	Raw *unstructured.Unstructured
	// Typed is a *v1alpha1.PermissionTemplate, *SalesGroup, *LoginPolicy,
	// *IPAllowlist or *corev1.ConfigMap.
	Typed metav1.Object
}

// Kind is the object's kind.
func (o Object) Kind() string { return o.Raw.GetKind() }

// Decode reads every document of data (YAML, possibly multi-document, or JSON).
// Documents of other API groups (a Namespace, a kustomization) are skipped; a crmauthz
// document that does not decode is an error naming source and document.
func Decode(data []byte, source string) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	for doc := 1; ; doc++ {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: document %d: %w", source, doc, err)
		}
		if len(bytes.TrimSpace(chunk)) == 0 {
			continue
		}
		where := fmt.Sprintf("%s#%d", source, doc)
		o, err := decodeOne(chunk, where)
		if err != nil {
			return out, err
		}
		if o != nil {
			out = append(out, *o)
		}
	}
}

func decodeOne(chunk []byte, where string) (*Object, error) {
	js, err := yaml.YAMLToJSONStrict(chunk) // a key given twice is an error, as kubectl makes it
	if err != nil {
		return nil, fmt.Errorf("%s: not YAML: %w", where, err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil // a document holding only comments
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	gv := u.GetAPIVersion()
	var typed metav1.Object
	switch {
	case gv == v1alpha1.GroupVersion.String():
		if typed = policy.New(u.GetKind()); typed == nil {
			return nil, fmt.Errorf("%s: unknown kind %q in %s", where, u.GetKind(), gv)
		}
	case strings.HasPrefix(gv, v1alpha1.GroupVersion.Group+"/"):
		return nil, fmt.Errorf("%s: unsupported apiVersion %q (use %s)", where, gv, v1alpha1.GroupVersion)
	case gv == "v1" && u.GetKind() == "ConfigMap":
		typed = &corev1.ConfigMap{}
	default:
		return nil, nil
	}
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name: required", where)
	}
	// Case-sensitive, as the API server decodes: "speC" is not "spec". Unknown fields
	// are left to schema validation, which names each one with its path.
	strictErrs, err := kjson.UnmarshalStrict(js, typed, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, fmt.Errorf("%s (%s %s): %w", where, u.GetKind(), u.GetName(), err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%s (%s %s): %w", where, u.GetKind(), u.GetName(), errors.Join(strictErrs...))
	}
	return &Object{Source: where, Raw: u, Typed: typed}, nil
}

// Walk lists the files under paths (files or directories, recursively) whose names end
// in one of exts, sorted: the one walk every offline command uses. Kustomization files
// are skipped, and so are hidden files and directories below a path given: a Kubernetes
// ConfigMap volume keeps its files in a hidden timestamped directory behind the `..data`
// symlink and shows them at the top through symlinks, so reading both would read every
// object twice.
func Walk(paths []string, exts ...string) ([]string, error) {
	var files []string
	for _, p := range paths {
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
			if (path != p && strings.HasPrefix(base, ".")) || base == "kustomization.yaml" || base == "kustomization.yml" {
				return nil
			}
			if slices.Contains(exts, filepath.Ext(path)) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}

// PolicyExtensions are the file names Walk takes policy objects from.
var PolicyExtensions = []string{".yaml", ".yml", ".json"}

// ReadPaths decodes every policy file under paths (see Walk), in path order.
func ReadPaths(paths ...string) ([]Object, error) {
	files, err := Walk(paths, PolicyExtensions...)
	if err != nil {
		return nil, err
	}
	var out []Object
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs, err := Decode(data, f)
		out = append(out, objs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Tenants groups objects into one compile input per namespace; objects without a
// namespace go to defaultNamespace.
func Tenants(objs []Object, defaultNamespace string) map[string]*policy.Input {
	out := map[string]*policy.Input{}
	in := func(ns string) *policy.Input {
		if ns == "" {
			ns = defaultNamespace
		}
		i, ok := out[ns]
		if !ok {
			i = &policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}
			out[ns] = i
		}
		return i
	}
	for _, o := range objs {
		// A ConfigMap alone does not make a tenant known; it is attached only where
		// policy objects exist (below).
		if policy.KindOf(o.Typed) != "" {
			in(o.Typed.GetNamespace()).Add(o.Typed)
		}
	}
	for _, o := range objs {
		// As in a cluster, only ConfigMaps labelled as proxy lists are read.
		if cm, ok := o.Typed.(*corev1.ConfigMap); ok && IsProxyList(cm) {
			ns := cm.Namespace
			if ns == "" {
				ns = defaultNamespace
			}
			if i, ok := out[ns]; ok {
				i.ConfigMaps[cm.Name] = cm.Data
			}
		}
	}
	return out
}

// IsProxyList says whether a ConfigMap is labelled as an anonymous-proxy list: the
// only ConfigMaps the manager watches, and so the only ones `serve` reads too.
func IsProxyList(cm *corev1.ConfigMap) bool {
	return cm.Labels[v1alpha1.ProxyListLabel] == "true"
}

// Unique keeps the first object of each kind, namespace and name, in the order given,
// and returns a *DuplicateError for every later one: a namespace holds one object per
// name, and two files defining the same object is a mistake to show, not one to settle
// silently by file order.
func Unique(objs []Object, defaultNamespace string) ([]Object, []error) {
	first := map[string]string{}
	out := make([]Object, 0, len(objs))
	var errs []error
	for _, o := range objs {
		ns := o.Typed.GetNamespace()
		if ns == "" {
			ns = defaultNamespace
		}
		k := o.Kind() + " " + ns + "/" + o.Typed.GetName()
		if src, dup := first[k]; dup {
			errs = append(errs, &DuplicateError{Copy: o, Namespace: ns, First: src})
			continue
		}
		first[k] = o.Source
		out = append(out, o)
	}
	return out, errs
}

// DuplicateError is an object defined a second time: Copy, ignored, in Namespace;
// First is where the kept one came from.
type DuplicateError struct {
	Copy      Object
	Namespace string
	First     string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: %s %s/%s %s", e.Copy.Source, e.Copy.Kind(), e.Namespace, e.Copy.Typed.GetName(), e.Detail())
}

// Detail says what is wrong, without naming the copy.
func (e *DuplicateError) Detail() string {
	return fmt.Sprintf("is already defined in %s; this copy is ignored", e.First)
}
