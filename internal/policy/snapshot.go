package policy

import (
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Snapshot is one tenant's compiled policy: everything a decision needs, laid out for
// lookups that neither lock nor allocate. It is immutable once Compile returns it;
// nothing may write to it or to the slices it hands out.
type Snapshot struct {
	// Tenant is the namespace the policy belongs to.
	Tenant string
	// Revision identifies the policy: a hash of every object and list it was compiled
	// from, the same on every replica.
	Revision string
	// CompiledAt is when the snapshot was built.
	CompiledAt time.Time
	// Objects are the objects in force, with the generation of each.
	Objects []ObjectRef

	// ids are every known user (in a group or named by a template), sorted; users
	// holds each one's facts at the same position; index finds a position by id.
	ids    []string
	index  strIndex
	users  []user
	groups []group
	// direct holds, per group, the people in it as sorted positions in ids; dfs is the
	// groups in DFS order, so a group's subtree is dfs[in:out+1]. Team owner lists and
	// user pickers are unions of them, put together when asked for (a list per user
	// would cost more than the rest of the snapshot). subtree memoises, per group, the
	// people in it or below once someone asked: most managers are never asked about,
	// and the lists of all of them were a sixth of the snapshot. A memo is written
	// once, atomically; what it holds never changes, so the snapshot stays immutable
	// to its readers.
	direct    [][]int32
	dfs       []int32
	subtree   []atomic.Pointer[[]int32]
	groupPool []int32 // users' direct groups then managed groups, by offset
	templates []template
	policies  []*Policy // [template*NumRoles + role], nil where the template cannot apply
	baseline  [NumRoles]*Policy
	roleClaim [NumRoles]int32 // template claiming each role, -1 if none
	ip        [NumIPChannels][NumRoles]*IPSet
	proxies   [NumIPChannels]proxyRule
	Login     LoginPolicy
	// Candidate is the policy with the tenant's DryRun templates applied as if
	// enforced (nil when it has none): every decision is made on it too, and a
	// difference is logged, never answered.
	Candidate *Snapshot
}

// ObjectRef names an object in force and the generation compiled.
type ObjectRef struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
}

type user struct {
	groupsOff  uint32 // offset into groupPool: direct groups, then managed groups
	numGroups  uint16
	numManaged uint16
	tmplUser   int8 // template naming the user, -1 if none
	tmplGroup  int8 // template naming one of the user's groups, -1 if none
}

type group struct {
	name    string
	depth   int32
	in, out int32 // DFS entry/exit order: g is below m iff m.in <= g.in <= m.out
}

type template struct {
	name string
}

// Policy is the effective permissions of one template for one role (or of a role's
// baseline): the template's settings over the baseline, with view caps applied.
type Policy struct {
	// Template is the governing template's name; "" for a baseline.
	Template string
	// Entities are shared between the policies of a tenant wherever they are equal
	// (most templates leave most entities at a role's baseline).
	Entities   [NumEntities]*EntityPolicy
	Restricted Features
	// SalesGroupUsers narrows user pickers to the user's managed groups.
	SalesGroupUsers bool
}

// EntityPolicy is the effective policy for one entity.
type EntityPolicy struct {
	Perms       [NumRecordActions]Perm
	Masked      *StrSet
	OwnerOnly   *StrSet
	HiddenTypes *StrSet
}

// Perm is one effective permission.
type Perm struct {
	// Scope is how far the action reaches; ScopeNone means access None.
	Scope Scope
	// BulkDeny refuses the action as a bulk operation.
	BulkDeny bool
	// Partial marks Partial access (fields hidden or not settable).
	Partial bool
	// Fields are withheld: hidden from view, or not settable on create and edit
	// (including every field hidden from view).
	Fields *StrSet
}

// StrSet is a sorted set of strings; a nil *StrSet is empty.
type StrSet struct{ items []string }

func newStrSet[S ~string](items []S) *StrSet {
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, s := range items {
		out = append(out, string(s))
	}
	sort.Strings(out)
	out = dedupSorted(out)
	return &StrSet{items: out}
}

// Has says whether s is in the set, without allocating.
func (s *StrSet) Has(x string) bool {
	if s == nil {
		return false
	}
	items := s.items
	if len(items) <= 8 {
		for _, it := range items {
			if it == x {
				return true
			}
		}
		return false
	}
	lo, hi := 0, len(items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if items[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(items) && items[lo] == x
}

// Items returns the sorted members; callers must not modify them.
func (s *StrSet) Items() []string {
	if s == nil {
		return nil
	}
	return s.items
}

// Len is the number of members.
func (s *StrSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.items)
}

func union(a, b *StrSet) *StrSet {
	if a.Len() == 0 {
		return b
	}
	if b.Len() == 0 {
		return a
	}
	return newStrSet(append(append([]string(nil), a.items...), b.items...))
}

func dedupSorted(s []string) []string {
	if len(s) < 2 {
		return s
	}
	out := s[:1]
	for _, x := range s[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

type proxyRule struct {
	set *IPSet
	// failClosed: a referenced list is missing or unreadable, so every address is
	// refused on this channel.
	failClosed bool
	// source names the allowlist whose list matched or failed, for messages.
	sources []string
}

// Governing returns the policy that governs user with role, (docs/concepts.md, "Which template governs a user"):
// SuperAdmin gets everything; else the template naming the user; else one naming a
// sales group the user directly belongs to; else one naming the role; else the role
// baseline. It neither locks nor allocates.
func (s *Snapshot) Governing(userID string, role Role) *Policy {
	if role == RoleSuperAdmin {
		return s.baseline[RoleSuperAdmin]
	}
	if i := s.index.find(s.ids, userID); i >= 0 {
		u := &s.users[i]
		if u.tmplUser >= 0 {
			return s.policyFor(int32(u.tmplUser), role)
		}
		if u.tmplGroup >= 0 {
			return s.policyFor(int32(u.tmplGroup), role)
		}
	}
	if t := s.roleClaim[role]; t >= 0 {
		return s.policyFor(t, role)
	}
	return s.baseline[role]
}

func (s *Snapshot) policyFor(t int32, role Role) *Policy {
	if p := s.policies[int(t)*int(NumRoles)+int(role)]; p != nil {
		return p
	}
	return s.baseline[role]
}

// InTeam says whether owner's records are within asker's Team scope (docs/concepts.md, "Scopes"; the
// group part): owner is a member or manager of a group asker belongs to, or of a group
// at or below one asker manages.
func (s *Snapshot) InTeam(asker, owner string) bool {
	ai := s.index.find(s.ids, asker)
	if ai < 0 {
		return false
	}
	oi := s.index.find(s.ids, owner)
	if oi < 0 {
		return false
	}
	a, o := &s.users[ai], &s.users[oi]
	aGroups := s.groupPool[a.groupsOff : a.groupsOff+uint32(a.numGroups)]
	aManaged := s.groupPool[a.groupsOff+uint32(a.numGroups) : a.groupsOff+uint32(a.numGroups)+uint32(a.numManaged)]
	for _, g := range s.groupPool[o.groupsOff : o.groupsOff+uint32(o.numGroups)] {
		for _, h := range aGroups {
			if g == h {
				return true
			}
		}
		in := s.groups[g].in
		for _, m := range aManaged {
			if s.groups[m].in <= in && in <= s.groups[m].out {
				return true
			}
		}
	}
	return false
}

// TeamOwners returns the sorted owners whose records are within user's Team scope,
// the user included: everyone in the groups they belong to and, for a manager, in
// every group below. It allocates only when the owners come from several groups that
// do not contain one another.
func (s *Snapshot) TeamOwners(userID string) UserList {
	return s.userList(userID, true)
}

// VisibleUsers returns the sorted users that user sees in pickers under
// SalesGroupUsers: everyone in the groups they manage and below, themself included;
// only themself when they manage no group.
func (s *Snapshot) VisibleUsers(userID string) UserList {
	return s.userList(userID, false)
}

// userList unions the subtrees of the groups user manages and, with team, the people
// of the groups they belong to, leaving out any group already inside a managed
// subtree.
func (s *Snapshot) userList(userID string, team bool) UserList {
	i := s.index.find(s.ids, userID)
	if i < 0 {
		return OnlyUser(userID)
	}
	u := &s.users[i]
	groups := s.groupPool[u.groupsOff : u.groupsOff+uint32(u.numGroups)]
	managed := s.groupPool[u.groupsOff+uint32(u.numGroups) : u.groupsOff+uint32(u.numGroups)+uint32(u.numManaged)]
	below := func(g int32, except int) bool { // g lies in the subtree of a managed group
		for j, m := range managed {
			if j != except && m != g && s.groups[m].in <= s.groups[g].in && s.groups[g].in <= s.groups[m].out {
				return true
			}
		}
		return false
	}
	var first []int32
	var parts [][]int32
	add := func(l []int32) {
		if first == nil && parts == nil {
			first = l
			return
		}
		if parts == nil {
			parts = [][]int32{first}
		}
		parts = append(parts, l)
	}
	for j, m := range managed {
		if !below(m, j) && !slices.Contains(managed[:j], m) {
			add(s.subtreeOf(m))
		}
	}
	if team {
		for j, g := range groups {
			if !below(g, -1) && !slices.Contains(managed, g) && !slices.Contains(groups[:j], g) {
				add(s.direct[g])
			}
		}
	}
	switch {
	case parts != nil:
		return UserList{ids: s.ids, idx: mergeSorted(parts...)}
	case first != nil:
		return UserList{ids: s.ids, idx: first}
	}
	return OnlyUser(userID)
}

// subtreeOf returns the people of group g and of every group below it, as sorted
// positions in ids, put together on first use.
func (s *Snapshot) subtreeOf(g int32) []int32 {
	grp := &s.groups[g]
	if grp.in == grp.out {
		return s.direct[g] // a leaf: its subtree is itself
	}
	if l := s.subtree[g].Load(); l != nil {
		return *l
	}
	parts := make([][]int32, 0, grp.out-grp.in+1)
	for _, sub := range s.dfs[grp.in : grp.out+1] {
		parts = append(parts, s.direct[sub])
	}
	l := mergeSorted(parts...)
	s.subtree[g].CompareAndSwap(nil, &l) // two first askers build the same list
	return *s.subtree[g].Load()
}

// IPAllowed reports whether addr may be used on channel by role under the tenant's
// allowlists: true when no allowlist applies.
func (s *Snapshot) IPAllowed(ch IPChannel, role Role, addr netip.Addr) bool {
	set := s.ip[ch][role]
	return set == nil || set.Contains(addr)
}

// IPAllowlist is the set of addresses role may come from on channel ch; nil when the
// channel is not restricted for the role.
func (s *Snapshot) IPAllowlist(ch IPChannel, role Role) *IPSet { return s.ip[ch][role] }

// IPRestricted says whether any allowlist applies to channel and role.
func (s *Snapshot) IPRestricted(ch IPChannel, role Role) bool { return s.ip[ch][role] != nil }

// AddressChecked says whether a request of role on channel has its address examined
// by an allowlist or an anonymous-proxy rule: such a request without an address
// cannot pass those rules and is refused, never waved through.
func (s *Snapshot) AddressChecked(ch IPChannel, role Role) bool {
	return s.ip[ch][role] != nil || len(s.proxies[ch].sources) > 0
}

// ProxyFailedClosed is ProxyRule's description of a channel whose proxy list cannot
// be read.
const ProxyFailedClosed = "every address (the list cannot be read)"

// ProxyRule describes the anonymous-proxy rule of channel ch: "" when none applies,
// ProxyFailedClosed when it fails closed, else the refused addresses.
func (s *Snapshot) ProxyRule(ch IPChannel) string {
	r := &s.proxies[ch]
	switch {
	case r.failClosed:
		return ProxyFailedClosed
	case r.set == nil:
		return ""
	}
	return r.set.String()
}

// AnonymousProxy reports whether addr is refused on channel as an anonymous proxy,
// and the allowlist(s) whose rule refused it. A list that could not be read refuses
// every address.
func (s *Snapshot) AnonymousProxy(ch IPChannel, addr netip.Addr) (bool, []string) {
	r := &s.proxies[ch]
	if r.failClosed {
		return true, r.sources
	}
	if r.set != nil && r.set.Contains(addr) {
		return true, r.sources
	}
	return false, nil
}

// KnownUsers are the users the policy names (in a group or a template), sorted. The
// slice is the snapshot's own: read it, never change it.
func (s *Snapshot) KnownUsers() []string { return s.ids }

// Knows says whether the policy names user.
func (s *Snapshot) Knows(user string) bool { return s.index.find(s.ids, user) >= 0 }

// Users is the number of distinct users the snapshot knows (in groups or templates).
func (s *Snapshot) Users() int { return len(s.users) }

// Groups is the number of sales groups in force.
func (s *Snapshot) Groups() int { return len(s.groups) }

// Templates is the number of templates in force.
func (s *Snapshot) Templates() int { return len(s.templates) }
