package tenants

import (
	"fmt"
	"strings"
	"sync"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// Builder compiles tenants. When an object that compiled before stops compiling (an
// edit the webhook did not stop, a cycle), the builder keeps enforcing the object's
// last good version, so a bad edit never loosens — or tightens — a tenant's policy
// behind its administrators' backs. It remembers one version per object.
type Builder struct {
	mu       sync.Mutex
	lastGood map[string]map[string]any // tenant → kind/name → last version that compiled
}

// NewBuilder returns a builder with no history.
func NewBuilder() *Builder { return &Builder{lastGood: map[string]map[string]any{}} }

// fallbackReasons are the rejections a last good version may stand in for. A template
// over the limit or a second LoginPolicy are refused by rule, whatever their version.
var fallbackReasons = map[string]bool{v1alpha1.ReasonInvalid: true, v1alpha1.ReasonCycle: true}

// Build compiles in, substituting last good versions for objects that no longer
// compile, and returns the tenant to store. refused are objects of the tenant that were
// refused before compiling (by schema validation, in `serve`): they too fall back to
// their last good version. Objects enforced from a last good version are reported not
// ready, with why and which generation is enforced. Tenants build in parallel; the
// caller builds one tenant at a time.
func (b *Builder) Build(in policy.Input, refused ...policy.ObjectStatus) *Tenant {
	b.mu.Lock()
	good := b.lastGood[in.Tenant]
	b.mu.Unlock()
	snap, rep := policy.Compile(in)

	substituted := map[string]policy.ObjectStatus{}
	next := in
	next.Templates = append([]v1alpha1.PermissionTemplate(nil), in.Templates...)
	next.Groups = append([]v1alpha1.SalesGroup(nil), in.Groups...)
	next.LoginPolicies = append([]v1alpha1.LoginPolicy(nil), in.LoginPolicies...)
	next.Allowlists = append([]v1alpha1.IPAllowlist(nil), in.Allowlists...)
	for _, st := range rep.Rejected() {
		if !fallbackReasons[st.Reason] {
			continue
		}
		prev, ok := good[st.Kind+"/"+st.Name]
		if !ok {
			continue
		}
		if replace(&next, st.Name, prev) {
			substituted[st.Kind+"/"+st.Name] = st
		}
	}
	for _, st := range refused {
		if prev, ok := good[st.Kind+"/"+st.Name]; ok && add(&next, prev) {
			substituted[st.Kind+"/"+st.Name] = st
		}
	}
	if len(substituted) > 0 || len(refused) > 0 {
		snap, rep = policy.Compile(next)
		for i := range rep.Objects {
			o := &rep.Objects[i]
			orig, ok := substituted[o.Kind+"/"+o.Name]
			if !ok {
				continue
			}
			enforced := o.Generation
			o.Generation = orig.Generation
			o.Ready, o.Reason = false, orig.Reason
			if o.InForce {
				o.Message = fmt.Sprintf("%s; still enforcing generation %d, the last that compiled", orig.Message, enforced)
			} else {
				o.Message = orig.Message
			}
		}
		// Refused objects without a last good version are reported as left out.
		for _, st := range refused {
			if _, sub := substituted[st.Kind+"/"+st.Name]; !sub {
				st.InForce, st.Ready = false, false
				rep.Objects = append(rep.Objects, st)
			}
		}
	}

	// Remember what compiled now; forget objects that are gone.
	kept := map[string]any{}
	for _, o := range rep.Objects {
		k := o.Kind + "/" + o.Name
		if _, sub := substituted[k]; sub {
			if prev, ok := good[k]; ok && o.InForce {
				kept[k] = prev
			}
			continue
		}
		if o.InForce {
			if obj := find(&in, o.Kind, o.Name); obj != nil {
				kept[k] = obj
			}
		}
	}
	b.mu.Lock()
	b.lastGood[in.Tenant] = kept
	b.mu.Unlock()
	return &Tenant{Snapshot: snap, Report: rep, LoadedAt: snap.CompiledAt}
}

// Refresh points the tenant's last good versions at in's objects where they are the
// same generation: the informer cache replaces an object whenever its status is
// written, and a last good version still held from before would keep a second copy of
// every object alive. Objects enforced from an older version keep theirs.
func (b *Builder) Refresh(in policy.Input) {
	b.mu.Lock()
	defer b.mu.Unlock()
	good := b.lastGood[in.Tenant]
	for k, prev := range good {
		kind, name, _ := strings.Cut(k, "/")
		cur := find(&in, kind, name)
		if cur != nil && generation(cur) == generation(prev) {
			good[k] = cur
		}
	}
}

func generation(o any) int64 {
	if m, ok := o.(interface{ GetGeneration() int64 }); ok {
		return m.GetGeneration()
	}
	return -1
}

// Forget drops a tenant's history (its namespace has no objects left).
func (b *Builder) Forget(tenant string) {
	b.mu.Lock()
	delete(b.lastGood, tenant)
	b.mu.Unlock()
}

// index is the position of the object called name in list, or -1.
func index[T any, PT interface {
	*T
	GetName() string
}](list []T, name string) int {
	for i := range list {
		if PT(&list[i]).GetName() == name {
			return i
		}
	}
	return -1
}

// find returns the input's object of kind called name, or nil. It is not copied:
// compiling never modifies its input, and the manager's input is the informer cache's
// own objects, which are replaced, never changed, when they change.
func find(in *policy.Input, kind, name string) any {
	switch kind {
	case policy.KindPermissionTemplate:
		if i := index(in.Templates, name); i >= 0 {
			return &in.Templates[i]
		}
	case policy.KindSalesGroup:
		if i := index(in.Groups, name); i >= 0 {
			return &in.Groups[i]
		}
	case policy.KindLoginPolicy:
		if i := index(in.LoginPolicies, name); i >= 0 {
			return &in.LoginPolicies[i]
		}
	case policy.KindIPAllowlist:
		if i := index(in.Allowlists, name); i >= 0 {
			return &in.Allowlists[i]
		}
	}
	return nil
}

// add appends prev to the input.
func add(in *policy.Input, prev any) bool {
	switch p := prev.(type) {
	case *v1alpha1.PermissionTemplate:
		in.Templates = append(in.Templates, *p)
	case *v1alpha1.SalesGroup:
		in.Groups = append(in.Groups, *p)
	case *v1alpha1.LoginPolicy:
		in.LoginPolicies = append(in.LoginPolicies, *p)
	case *v1alpha1.IPAllowlist:
		in.Allowlists = append(in.Allowlists, *p)
	default:
		return false
	}
	return true
}

// replace puts prev in place of the input's object of the same kind and name.
func replace(in *policy.Input, name string, prev any) bool {
	switch p := prev.(type) {
	case *v1alpha1.PermissionTemplate:
		if i := index(in.Templates, name); i >= 0 {
			in.Templates[i] = *p
			return true
		}
	case *v1alpha1.SalesGroup:
		if i := index(in.Groups, name); i >= 0 {
			in.Groups[i] = *p
			return true
		}
	case *v1alpha1.LoginPolicy:
		if i := index(in.LoginPolicies, name); i >= 0 {
			in.LoginPolicies[i] = *p
			return true
		}
	case *v1alpha1.IPAllowlist:
		if i := index(in.Allowlists, name); i >= 0 {
			in.Allowlists[i] = *p
			return true
		}
	}
	return false
}
