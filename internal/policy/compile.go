package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// Input is everything one tenant's policy is compiled from (kinds.go: adding to it,
// and going through it, kind by kind).
type Input struct {
	Tenant        string
	Templates     []v1alpha1.PermissionTemplate
	Groups        []v1alpha1.SalesGroup
	LoginPolicies []v1alpha1.LoginPolicy
	Allowlists    []v1alpha1.IPAllowlist
	// ConfigMaps holds the data of the ConfigMaps allowlists reference, by name; a name
	// absent from the map is a missing ConfigMap.
	ConfigMaps map[string]map[string]string
	// Now is the compile time (injected for tests); zero means time.Now().
	Now time.Time
}

// ObjectStatus is what compiling found about one object: whether it is in force and
// the facts its status shows.
type ObjectStatus struct {
	Kind       string
	Name       string
	Generation int64
	// InForce: the object is part of the snapshot.
	InForce bool
	// Ready, Reason and Message make the object's Ready condition. An object can be in
	// force and not ready: an allowlist whose proxy list is unreadable fails closed.
	Ready   bool
	Reason  string
	Message string
	// Conflicts (templates) name the users, groups and roles the template claims but
	// loses to a template whose name sorts first.
	Conflicts []string
	// EffectiveRestrictedFeatures (templates) are the features restricted in effect.
	EffectiveRestrictedFeatures []string
	// MemberCount and Depth (sales groups).
	MemberCount, Depth int32
	// ProxyEntries (allowlists) is the number of anonymous-proxy entries loaded.
	ProxyEntries int32
}

// Report lists the status of every input object, by kind then name.
type Report struct {
	Objects []ObjectStatus
}

// Find returns the status of an object, or nil.
func (r *Report) Find(kind, name string) *ObjectStatus {
	for i := range r.Objects {
		if r.Objects[i].Kind == kind && r.Objects[i].Name == name {
			return &r.Objects[i]
		}
	}
	return nil
}

// Rejected returns the objects left out of the snapshot.
func (r *Report) Rejected() []ObjectStatus {
	var out []ObjectStatus
	for _, o := range r.Objects {
		if !o.InForce {
			out = append(out, o)
		}
	}
	return out
}

// compiler carries one compilation's working state.
type compiler struct {
	in     Input
	s      *Snapshot
	report map[string]*ObjectStatus // kind/name
	// users under construction, by id
	userIDs []string
	ub      map[string]*userBuild
	slab    []userBuild // where ub's users live
	// template claims, filled by compileTemplates
	parsed     []*parsedTemplate
	userClaim  map[string]int32
	groupClaim map[int32]int32
	// entities interns the snapshot's EntityPolicies.
	entities entityTable
}

type userBuild struct {
	groups, managed []int32
}

func key(kind, name string) string { return kind + "/" + name }

// Compile turns one tenant's objects into an immutable snapshot. Objects that do not
// compile are left out and reported, so the caller can mark them not ready and keep
// the rest; nothing in the input can make Compile fail as a whole.
func Compile(in Input) (*Snapshot, *Report) {
	var enforced, dry []v1alpha1.PermissionTemplate
	for _, t := range in.Templates {
		if t.Spec.Enforcement == v1alpha1.EnforcementDryRun {
			dry = append(dry, t)
		} else {
			enforced = append(enforced, t)
		}
	}
	if len(dry) == 0 {
		return compile(in)
	}
	// DryRun templates decide nothing: the snapshot is the policy without them. Its
	// Candidate is the policy with each of them applied as if enforced, replacing
	// what it claims, on which every decision is made again to say where they would
	// change it.
	enforcedIn, candidateIn := in, in
	enforcedIn.Templates = enforced
	candidateIn.Templates = append(withoutClaims(enforced, dry), dry...)
	snap, rep := compile(enforcedIn)
	cand, candRep := compile(candidateIn)
	snap.Candidate = cand
	snap.Revision = revision(in) // a DryRun template's change is a change of what is logged
	for _, t := range dry {
		st := candRep.Find(KindPermissionTemplate, t.Name)
		if st == nil {
			continue // dropped as a duplicate name
		}
		st.InForce = false
		if st.Ready {
			st.Reason, st.Message = ReasonDryRun, "Compiled, in dry run: it decides nothing; decisions it would change are logged"
		}
		rep.Objects = append(rep.Objects, *st)
	}
	sort.Slice(rep.Objects, func(i, j int) bool {
		a, b := rep.Objects[i], rep.Objects[j]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.Name < b.Name)
	})
	return snap, rep
}

// ReasonDryRun is the Ready reason of a DryRun template that compiles.
const ReasonDryRun = "DryRun"

// withoutClaims is enforced with every user, sales group and role a DryRun template
// claims taken out of the Enforce templates' appliesTo (copies where changed).
func withoutClaims(enforced, dry []v1alpha1.PermissionTemplate) []v1alpha1.PermissionTemplate {
	users, groups, roles := map[v1alpha1.UserID]bool{}, map[v1alpha1.GroupName]bool{}, map[v1alpha1.Role]bool{}
	for _, t := range dry {
		for _, u := range t.Spec.AppliesTo.Users {
			users[u] = true
		}
		for _, g := range t.Spec.AppliesTo.SalesGroups {
			groups[g] = true
		}
		for _, r := range t.Spec.AppliesTo.Roles {
			roles[r] = true
		}
	}
	out := make([]v1alpha1.PermissionTemplate, len(enforced))
	for i, t := range enforced {
		at := t.Spec.AppliesTo
		keepU := slices.DeleteFunc(slices.Clone(at.Users), func(u v1alpha1.UserID) bool { return users[u] })
		keepG := slices.DeleteFunc(slices.Clone(at.SalesGroups), func(g v1alpha1.GroupName) bool { return groups[g] })
		keepR := slices.DeleteFunc(slices.Clone(at.Roles), func(r v1alpha1.Role) bool { return roles[r] })
		if len(keepU) == len(at.Users) && len(keepG) == len(at.SalesGroups) && len(keepR) == len(at.Roles) {
			out[i] = t
			continue
		}
		c := t.DeepCopy()
		c.Spec.AppliesTo.Users, c.Spec.AppliesTo.SalesGroups, c.Spec.AppliesTo.Roles = keepU, keepG, keepR
		out[i] = *c
	}
	return out
}

func compile(in Input) (*Snapshot, *Report) {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	// A namespace holds one object per kind and name; input read from files may not
	// (callers refuse such duplicates with their sources: loader.Unique). Keep the first.
	in.Templates = firstOfEachName(in.Templates, func(t *v1alpha1.PermissionTemplate) string { return t.Name })
	in.Groups = firstOfEachName(in.Groups, func(g *v1alpha1.SalesGroup) string { return g.Name })
	in.LoginPolicies = firstOfEachName(in.LoginPolicies, func(l *v1alpha1.LoginPolicy) string { return l.Name })
	in.Allowlists = firstOfEachName(in.Allowlists, func(a *v1alpha1.IPAllowlist) string { return a.Name })
	// At most this many users: the map of them and their slab are allocated once.
	people := 0
	for i := range in.Groups {
		people += len(in.Groups[i].Spec.Managers) + len(in.Groups[i].Spec.Members)
	}
	for i := range in.Templates {
		people += len(in.Templates[i].Spec.AppliesTo.Users)
	}
	c := &compiler{
		in:       in,
		s:        &Snapshot{Tenant: in.Tenant, CompiledAt: now},
		report:   map[string]*ObjectStatus{},
		ub:       make(map[string]*userBuild, people),
		userIDs:  make([]string, 0, people),
		slab:     make([]userBuild, 0, people),
		entities: entityTable{},
	}
	for r := Role(0); r < NumRoles; r++ {
		c.s.baseline[r] = baselinePolicy(r, c.entities)
		c.s.roleClaim[r] = -1
	}
	groupIdx := c.compileGroups()
	c.compileTemplates(groupIdx)
	c.compileUsers()
	c.compileAllowlists()
	c.compileLogin()
	c.s.Revision = revision(in)
	return c.s, c.finishReport()
}

func firstOfEachName[T any](list []T, name func(*T) string) []T {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for i := range list {
		if n := name(&list[i]); !seen[n] {
			seen[n] = true
			out = append(out, list[i])
		}
	}
	return out
}

func (c *compiler) status(kind, name string, generation int64) *ObjectStatus {
	st := &ObjectStatus{Kind: kind, Name: name, Generation: generation, InForce: true, Ready: true, Reason: v1alpha1.ReasonCompiled, Message: "Compiled and enforced"}
	c.report[key(kind, name)] = st
	return st
}

func reject(st *ObjectStatus, reason, msg string) {
	st.InForce, st.Ready, st.Reason, st.Message = false, false, reason, msg
}

func (c *compiler) finishReport() *Report {
	r := &Report{Objects: make([]ObjectStatus, 0, len(c.report))}
	for _, st := range c.report {
		r.Objects = append(r.Objects, *st)
		if st.InForce {
			c.s.Objects = append(c.s.Objects, ObjectRef{Kind: st.Kind, Name: st.Name, Generation: st.Generation})
		}
	}
	sort.Slice(r.Objects, func(i, j int) bool {
		a, b := r.Objects[i], r.Objects[j]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.Name < b.Name)
	})
	sort.Slice(c.s.Objects, func(i, j int) bool {
		a, b := c.s.Objects[i], c.s.Objects[j]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.Name < b.Name)
	})
	return r
}

func (c *compiler) user(id string) *userBuild {
	u, ok := c.ub[id]
	if !ok {
		// From a slab: ten thousand users were ten thousand small allocations. A full
		// slab (people counted short) is left as it is, as users point into it.
		if len(c.slab) == cap(c.slab) {
			c.slab = make([]userBuild, 0, 64)
		}
		c.slab = append(c.slab, userBuild{})
		u = &c.slab[len(c.slab)-1]
		c.ub[id] = u
		c.userIDs = append(c.userIDs, id)
	}
	return u
}

// byAge orders objects oldest first, then by name: the deterministic order in which
// limits (50 templates, one LoginPolicy) keep objects.
func byAge(at, bt time.Time, an, bn string) bool {
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	return an < bn
}

// revision hashes everything the snapshot was compiled from, in a canonical order, so
// every replica names the same policy the same way.
func revision(in Input) string {
	type named struct {
		Name string
		Spec any
	}
	collect := func(n int, get func(i int) (string, any)) []named {
		out := make([]named, n)
		for i := range out {
			out[i].Name, out[i].Spec = get(i)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	doc := map[string]any{
		"tenant": in.Tenant,
		"templates": collect(len(in.Templates), func(i int) (string, any) {
			return in.Templates[i].Name, in.Templates[i].Spec
		}),
		"groups": collect(len(in.Groups), func(i int) (string, any) {
			return in.Groups[i].Name, in.Groups[i].Spec
		}),
		"login": collect(len(in.LoginPolicies), func(i int) (string, any) {
			return in.LoginPolicies[i].Name, in.LoginPolicies[i].Spec
		}),
		"allowlists": collect(len(in.Allowlists), func(i int) (string, any) {
			return in.Allowlists[i].Name, in.Allowlists[i].Spec
		}),
		"configMaps": in.ConfigMaps, // encoding/json sorts map keys
	}
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(doc); err != nil {
		// Specs are plain data; this cannot happen, but a revision must never collide.
		fmt.Fprintf(h, "%v", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// joinLimited lists up to n names and says how many more there were.
func joinLimited(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
