package pipeline

import (
	"context"
	"errors"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/schema"
	"github.com/crmauthz/crmauthz/internal/tenants"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// Options say how Check judges objects.
type Options struct {
	// DefaultNamespace is the tenant of objects without a namespace.
	DefaultNamespace string
	// Validator checks objects against the CRD schema. nil: one is built for this
	// check and dropped after it (its compiled CEL programs are most of its heap).
	Validator *schema.Validator
	// SkipChecks skips the schema and admission: objects reach the compiler as read,
	// to test what it does with objects no API server has seen.
	SkipChecks bool
	// SkipAdmission skips the webhook's checks only. Admission is not transactional
	// (two concurrent writes can both pass it), so a cluster can hold what it refuses,
	// such as two templates claiming one role; test suites cover how the compiler
	// settles that.
	SkipAdmission bool
}

// Checked is what Check leaves for the compiler.
type Checked struct {
	// Objects passed every check, with the schema's defaults filled in; ConfigMaps too.
	Objects []loader.Object
	// Refused are the objects a check refused, per namespace, as statuses the
	// compiler's report carries (and the builder replaces by last good versions).
	Refused  map[string][]policy.ObjectStatus
	Problems Problems

	defaultNamespace string
}

// Check runs the steps between decoding and compiling: one object per kind, namespace
// and name (later copies are problems), the CRD schema with its defaults, and the
// admission webhook's checks as if the objects were created one by one in name order.
// An error means the checks could not run (the schema did not load).
func Check(ctx context.Context, objs []loader.Object, o Options) (*Checked, error) {
	c := &Checked{Refused: map[string][]policy.ObjectStatus{}, defaultNamespace: o.DefaultNamespace}
	objs, dups := loader.Unique(objs, o.DefaultNamespace)
	for _, err := range dups {
		var d *loader.DuplicateError
		if errors.As(err, &d) {
			c.Problems = append(c.Problems, objectProblem(Error, d.Copy, d.Namespace, "metadata.name", d.Detail()))
		}
	}
	if o.SkipChecks {
		c.Objects = objs
		return c, nil
	}
	v := o.Validator
	if v == nil {
		var err error
		if v, err = schema.New(); err != nil {
			return nil, err
		}
	}
	c.Objects = c.checkSchema(ctx, v, objs)
	if !o.SkipAdmission {
		c.Objects = c.admit(c.Objects)
	}
	return c, nil
}

// refuse records o as refused by a check, with problem p.
func (c *Checked) refuse(o loader.Object, p Problem, msg string) {
	c.Problems = append(c.Problems, p)
	c.Refused[p.Namespace] = append(c.Refused[p.Namespace], policy.ObjectStatus{Kind: o.Kind(), Name: o.Typed.GetName(), Reason: v1alpha1.ReasonInvalid, Message: msg})
}

// checkSchema validates the policy objects against the CRD schema and decodes each
// again from its defaulted form, as in a cluster; it returns those that pass, with
// the ConfigMaps.
func (c *Checked) checkSchema(ctx context.Context, v *schema.Validator, objs []loader.Object) []loader.Object {
	var out []loader.Object
	for _, o := range objs {
		if !v.Knows(o.Raw) {
			out = append(out, o) // a ConfigMap
			continue
		}
		ns := c.namespace(o)
		raw := o.Raw.DeepCopy()
		if errs := v.Validate(ctx, raw); len(errs) > 0 {
			p := fieldProblem(Error, o, ns, errs)
			c.refuse(o, p, p.Message)
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw.Object, o.Typed); err != nil {
			c.Problems = append(c.Problems, objectProblem(Error, o, ns, "", err.Error()))
			continue
		}
		out = append(out, o)
	}
	return out
}

// admit runs the admission webhook's checks on objects that passed the schema, as if
// they were created one by one in name order, and returns those admitted.
func (c *Checked) admit(objs []loader.Object) []loader.Object {
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Typed.GetName() < objs[j].Typed.GetName() })
	namespaces := c.namespaces(objs)
	var out []loader.Object
	for _, o := range objs {
		ns := c.namespace(o)
		vn := namespaces[ns]
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
			c.Problems = append(c.Problems, objectProblem(Warning, o, ns, "", w))
		}
		if len(r.Errors) > 0 {
			p := fieldProblem(Error, o, ns, r.Errors)
			c.refuse(o, p, p.Message+" ("+o.Source+")")
			continue
		}
		out = append(out, o)
	}
	return out
}

// namespaces is what admission knows of each namespace before any template or
// LoginPolicy is admitted: every sales group and labelled proxy list.
func (c *Checked) namespaces(objs []loader.Object) map[string]*validation.Namespace {
	out := map[string]*validation.Namespace{}
	for _, o := range objs {
		ns := c.namespace(o)
		vn := out[ns]
		if vn == nil {
			vn = &validation.Namespace{ProxyLists: map[string]bool{}}
			out[ns] = vn
		}
		switch t := o.Typed.(type) {
		case *v1alpha1.SalesGroup:
			vn.Groups = append(vn.Groups, *t)
		case *corev1.ConfigMap:
			if loader.IsProxyList(t) {
				vn.ProxyLists[t.Name] = true
			}
		}
	}
	return out
}

func (c *Checked) namespace(o loader.Object) string {
	if ns := o.Typed.GetNamespace(); ns != "" {
		return ns
	}
	return c.defaultNamespace
}

// Inputs are the compile inputs, one per tenant: the objects that passed, and an
// empty input for a namespace whose every object was refused, so that its refusals
// are reported and its last good versions stay in force.
func (c *Checked) Inputs() map[string]*policy.Input {
	inputs := loader.Tenants(c.Objects, c.defaultNamespace)
	for ns := range c.Refused {
		if _, ok := inputs[ns]; !ok {
			inputs[ns] = &policy.Input{Tenant: ns, ConfigMaps: map[string]map[string]string{}}
		}
	}
	return inputs
}

// Compile builds every tenant with b at now (zero: the clock), refused objects falling
// back to their last good versions. It returns every tenant, and a problem for every
// object in force but not ready, or left out by the compiler.
func (c *Checked) Compile(b *tenants.Builder, now time.Time) (map[string]*tenants.Tenant, Problems) {
	out := map[string]*tenants.Tenant{}
	var problems Problems
	sources := map[[3]string]string{}
	for _, o := range c.Objects {
		sources[[3]string{c.namespace(o), o.Kind(), o.Typed.GetName()}] = o.Source
	}
	for ns, in := range c.Inputs() {
		in.Now = now
		t := b.Build(*in, c.Refused[ns]...)
		out[ns] = t
		for _, st := range t.Report.Objects {
			p := Problem{Severity: Error, Kind: st.Kind, Namespace: ns, Name: st.Name, Source: sources[[3]string{ns, st.Kind, st.Name}], Message: st.Message}
			switch {
			case st.InForce:
				if !st.Ready {
					problems = append(problems, p)
				}
			case !refused(c.Refused[ns], st.Kind, st.Name):
				p.Message = "left out: " + p.Message
				problems = append(problems, p)
			}
		}
	}
	return out, problems
}

func refused(list []policy.ObjectStatus, kind, name string) bool {
	for _, st := range list {
		if st.Kind == kind && st.Name == name {
			return true
		}
	}
	return false
}

// InForce counts t's objects in force.
func InForce(t *tenants.Tenant) int {
	n := 0
	for _, st := range t.Report.Objects {
		if st.InForce {
			n++
		}
	}
	return n
}
