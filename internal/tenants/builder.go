package tenants

import (
	"fmt"
	"maps"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	good := maps.Clone(b.lastGood[in.Tenant]) // Replaced writes the builder's own while this reads
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
		if next.Replace(prev) {
			substituted[st.Kind+"/"+st.Name] = st
		}
	}
	for _, st := range refused {
		if prev, ok := good[st.Kind+"/"+st.Name]; ok && next.Add(prev) {
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
	current := byKey(&in)
	kept := make(map[string]any, len(current))
	for _, o := range rep.Objects {
		k := o.Kind + "/" + o.Name
		if _, sub := substituted[k]; sub {
			if prev, ok := good[k]; ok && o.InForce {
				kept[k] = prev
			}
			continue
		}
		if o.InForce {
			if obj, ok := current[k]; ok {
				kept[k] = obj
			}
		}
	}
	b.mu.Lock()
	for k, obj := range kept {
		// A version the cache replaced while this compiled (Replaced) is the one to hold.
		if cur, ok := b.lastGood[in.Tenant][k]; ok && cur != good[k] && sameVersion(cur, obj) {
			kept[k] = cur
		}
	}
	b.lastGood[in.Tenant] = kept
	b.mu.Unlock()
	return &Tenant{Snapshot: snap, Report: rep, LoadedAt: snap.CompiledAt}
}

// Replaced tells the builder that the cache replaced one of the tenant's objects
// without a new generation (its status was written): a last good version held from
// before would keep a second copy of the object alive, so the builder takes obj, which
// is the same spec, instead. An object enforced from an older generation keeps it.
// It is cheap (the informer's event handler calls it for every status write).
func (b *Builder) Replaced(tenant, kind string, obj metav1.Object) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := kind + "/" + obj.GetName()
	if prev, ok := b.lastGood[tenant][k]; ok && sameVersion(prev, obj) {
		b.lastGood[tenant][k] = obj
	}
}

// sameVersion says whether a and b are the same object at the same generation.
func sameVersion(a, b any) bool {
	ma, okA := a.(metav1.Object)
	mb, okB := b.(metav1.Object)
	return okA && okB && ma.GetUID() == mb.GetUID() && ma.GetGeneration() == mb.GetGeneration()
}

// Forget drops a tenant's history (its namespace has no objects left).
func (b *Builder) Forget(tenant string) {
	b.mu.Lock()
	delete(b.lastGood, tenant)
	b.mu.Unlock()
}

// byKey maps kind/name to the input's objects. They are not copied: compiling never
// modifies its input, and the manager's input is the informer cache's own objects,
// which are replaced, never changed, when they change.
func byKey(in *policy.Input) map[string]any {
	m := make(map[string]any, in.Len())
	in.Each(func(kind string, o metav1.Object) { m[kind+"/"+o.GetName()] = o })
	return m
}
