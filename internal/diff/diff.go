// Package diff says who gains and who loses which access between two compiled
// policies of a tenant: for each subject (a user in a role — roles are sent by the
// CRM, not stored), every difference in what their governing template lets them do,
// see and use, and how they may log in. Pure: snapshots in, changes out.
package diff

import (
	"slices"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// The kinds of change.
const (
	KindScope      = "scope"      // an action's reach: None < Own < Shared < Team < All
	KindField      = "field"      // a field hidden or withheld (Partial), masked, or owner-only
	KindFeature    = "feature"    // a feature restricted or not
	KindType       = "type"       // an activity or task type hidden or not
	KindBulk       = "bulk"       // an action allowed as a bulk operation or not
	KindVisibility = "visibility" // whom the user sees in owner pickers
	KindLogin      = "login"      // providers, second factor, IP rules per channel
	KindTemplate   = "template"   // which template governs
)

// Effects.
const (
	Gain = "gain"
	Loss = "loss"
)

// Change is one difference for one subject.
type Change struct {
	Tenant  string `json:"tenant"`
	User    string `json:"user"`
	Role    string `json:"role"`
	Kind    string `json:"kind"`
	Entity  string `json:"entity,omitempty"`
	Action  string `json:"action,omitempty"`
	Field   string `json:"field,omitempty"`
	Feature string `json:"feature,omitempty"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Effect  string `json:"effect"`
}

// Summary counts a diff.
type Summary struct {
	Subjects int `json:"subjects"`
	Gains    int `json:"gains"`
	Losses   int `json:"losses"`
}

// Result is a diff: its changes grouped by tenant, user and role, and its counts.
type Result struct {
	Changes []Change `json:"changes"`
	Summary Summary  `json:"summary"`
}

// Subject is a user in a role.
type Subject struct {
	User string
	Role policy.Role
}

// Unnamed stands for every user neither policy names (the CRM's other users): what
// role templates and baselines give them.
const Unnamed = "(any user the policy does not name)"

// Subjects are every user either snapshot names, and Unnamed, in each role a template
// may govern.
func Subjects(before, after *policy.Snapshot) []Subject {
	users := []string{Unnamed}
	for _, s := range []*policy.Snapshot{before, after} {
		if s != nil {
			users = append(users, s.KnownUsers()...)
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	var out []Subject
	for _, u := range users {
		for r := policy.Role(0); r < policy.NumRoles; r++ {
			if r != policy.RoleSuperAdmin {
				out = append(out, Subject{User: u, Role: r})
			}
		}
	}
	return out
}

// Compare lists how each subject's access differs from before to after (either may
// be nil: a tenant with no policy, every subject at its role's baseline... nothing).
// Subjects governed by the same pair of policies share the work: comparing 10,000
// users in four roles costs little more than comparing the templates.
func Compare(tenant string, before, after *policy.Snapshot, subjects []Subject) Result {
	res := Result{Changes: []Change{}, Summary: Summary{Subjects: len(subjects)}}
	type pair struct{ b, a *policy.Policy }
	memo := map[pair][]Change{}
	for _, s := range subjects {
		pb, pa := governing(before, s), governing(after, s)
		common, ok := memo[pair{pb, pa}]
		if !ok {
			common = comparePolicies(pb, pa)
			memo[pair{pb, pa}] = common
		}
		changes := slices.Clone(common)
		changes = append(changes, compareLogin(before, after, s)...)
		if len(changes) == 0 {
			continue
		}
		if tb, ta := templateOf(pb), templateOf(pa); tb != ta {
			// The governing template is not a gain or a loss itself: it takes the
			// subject's overall direction (a loss when anything is lost).
			effect := Gain
			if slices.ContainsFunc(changes, func(c Change) bool { return c.Effect == Loss }) {
				effect = Loss
			}
			changes = append([]Change{{Kind: KindTemplate, Before: tb, After: ta, Effect: effect}}, changes...)
		}
		for i := range changes {
			changes[i].Tenant, changes[i].User, changes[i].Role = tenant, s.User, s.Role.String()
			if changes[i].Effect == Gain {
				res.Summary.Gains++
			} else {
				res.Summary.Losses++
			}
		}
		res.Changes = append(res.Changes, changes...)
	}
	return res
}

func governing(s *policy.Snapshot, sub Subject) *policy.Policy {
	if s == nil {
		return nil
	}
	return s.Governing(sub.User, sub.Role)
}

func templateOf(p *policy.Policy) string {
	switch {
	case p == nil:
		return "(no policy)"
	case p.Template == "":
		return "(role baseline)"
	}
	return p.Template
}

// comparePolicies lists the differences between two governing policies (nil: the
// tenant has no policy, so nothing is allowed).
func comparePolicies(b, a *policy.Policy) []Change {
	if b == a {
		return nil
	}
	var out []Change
	for e := policy.Entity(0); e < policy.NumEntities; e++ {
		out = append(out, compareEntity(e, entityOf(b, e), entityOf(a, e))...)
	}
	for f := policy.Feature(0); f < policy.NumFeatures; f++ {
		rb, ra := restricted(b, f), restricted(a, f)
		if rb != ra {
			out = append(out, Change{Kind: KindFeature, Feature: f.String(), Before: restrictedName(rb), After: restrictedName(ra), Effect: effect(rb)})
		}
	}
	if vb, va := visibility(b), visibility(a); vb != va {
		out = append(out, Change{Kind: KindVisibility, Before: visibilityNames[vb], After: visibilityNames[va], Effect: effect(vb < va)})
	}
	return out
}

func entityOf(p *policy.Policy, e policy.Entity) *policy.EntityPolicy {
	if p == nil {
		return nil
	}
	return p.Entities[e]
}

// restricted says whether a feature is out of reach (with no policy, everything is).
func restricted(p *policy.Policy, f policy.Feature) bool { return p == nil || p.Restricted.Has(f) }

func restrictedName(r bool) string {
	if r {
		return "restricted"
	}
	return "available"
}

// visibility ranks whom a user sees in owner pickers, least first.
func visibility(p *policy.Policy) int {
	switch {
	case p == nil:
		return 0
	case p.SalesGroupUsers:
		return 1
	}
	return 2
}

var visibilityNames = [...]string{"nobody", "their sales groups' users", "all users"}

// effect is a gain when what was there before was the worse of the two.
func effect(beforeWorse bool) string {
	if beforeWorse {
		return Gain
	}
	return Loss
}

func compareEntity(e policy.Entity, b, a *policy.EntityPolicy) []Change {
	if b == a {
		return nil
	}
	var out []Change
	for act := policy.Action(0); act < policy.NumRecordActions; act++ {
		if !e.Accepts(act) {
			continue
		}
		pb, pa := perm(b, act), perm(a, act)
		ent, name := e.String(), act.String()
		if pb.Scope != pa.Scope {
			out = append(out, Change{Kind: KindScope, Entity: ent, Action: name, Before: pb.Scope.String(), After: pa.Scope.String(), Effect: effect(pb.Scope < pa.Scope)})
		}
		if pb.Scope == policy.ScopeNone || pa.Scope == policy.ScopeNone {
			continue // the scope says it all: nothing else of an action one side does not have
		}
		in, out2 := "hidden", "visible"
		if act != policy.ActionView {
			in, out2 = "not settable", "settable"
		}
		out = append(out, setChanges(KindField, ent, name, pb.Fields, pa.Fields, in, out2)...)
		if pb.BulkDeny != pa.BulkDeny {
			out = append(out, Change{Kind: KindBulk, Entity: ent, Action: name, Before: bulkName(pb.BulkDeny), After: bulkName(pa.BulkDeny), Effect: effect(pb.BulkDeny)})
		}
	}
	out = append(out, setChanges(KindField, e.String(), "", strs(b, masked), strs(a, masked), "masked", "shown")...)
	out = append(out, setChanges(KindField, e.String(), "", strs(b, ownerOnly), strs(a, ownerOnly), "owner-only", "anyone in scope")...)
	for _, c := range setChanges(KindType, e.String(), "", strs(b, hiddenTypes), strs(a, hiddenTypes), "hidden", "visible") {
		c.Field, c.Before, c.After = "", c.Field+": "+c.Before, c.Field+": "+c.After
		out = append(out, c)
	}
	return out
}

func perm(ep *policy.EntityPolicy, a policy.Action) policy.Perm {
	if ep == nil {
		return policy.Perm{}
	}
	return ep.Perms[a]
}

func bulkName(deny bool) string {
	if deny {
		return "single only"
	}
	return "bulk allowed"
}

func masked(ep *policy.EntityPolicy) *policy.StrSet      { return ep.Masked }
func ownerOnly(ep *policy.EntityPolicy) *policy.StrSet   { return ep.OwnerOnly }
func hiddenTypes(ep *policy.EntityPolicy) *policy.StrSet { return ep.HiddenTypes }

func strs(ep *policy.EntityPolicy, get func(*policy.EntityPolicy) *policy.StrSet) *policy.StrSet {
	if ep == nil {
		return nil
	}
	return get(ep)
}

// setChanges lists the members of one set and not the other: a member leaving the
// set (no longer withheld, masked, hidden…) is a gain.
func setChanges(kind, entity, action string, b, a *policy.StrSet, in, out string) []Change {
	var changes []Change
	for _, f := range b.Items() {
		if !a.Has(f) {
			changes = append(changes, Change{Kind: kind, Entity: entity, Action: action, Field: f, Before: in, After: out, Effect: Gain})
		}
	}
	for _, f := range a.Items() {
		if !b.Has(f) {
			changes = append(changes, Change{Kind: kind, Entity: entity, Action: action, Field: f, Before: out, After: in, Effect: Loss})
		}
	}
	return changes
}

// compareLogin lists the differences in how the subject may log in: providers, the
// second factor, the IP rules of each channel for the role, and the anonymous-proxy
// rules of each channel.
func compareLogin(b, a *policy.Snapshot, s Subject) []Change {
	var out []Change
	lb, la := login(b), login(a)
	for p := policy.Provider(0); p < policy.NumProviders; p++ {
		if ab, aa := lb.Allows(p), la.Allows(p); ab != aa {
			out = append(out, Change{Kind: KindLogin, Field: "provider " + p.String(), Before: allowedName(ab), After: allowedName(aa), Effect: effect(!ab)})
		}
	}
	if fb, fa := lb.NeedsSecondFactor(s.User), la.NeedsSecondFactor(s.User); fb != fa {
		out = append(out, Change{Kind: KindLogin, Field: "second factor", Before: requiredName(fb), After: requiredName(fa), Effect: effect(fb)})
	}
	for ch := policy.IPChannel(0); ch < policy.NumIPChannels; ch++ {
		rb, ra := ipRule(b, ch, s.Role), ipRule(a, ch, s.Role)
		if rb == ra {
			continue
		}
		// A rule added is a loss and one removed a gain; one changed is both a loss and
		// a gain unless one side's addresses contain the other's, which a range list
		// cannot tell cheaply: call it a loss (the side that can hurt).
		eff := Loss
		if ra == anyAddress || rb == noAddress {
			eff = Gain
		}
		out = append(out, Change{Kind: KindLogin, Field: "IP rules on channel " + ch.String(), Before: rb, After: ra, Effect: eff})
	}
	for ch := policy.IPChannel(0); ch < policy.NumIPChannels; ch++ {
		pb, pa := proxyRule(b, ch), proxyRule(a, ch)
		if pb == pa {
			continue
		}
		// Refusing no proxy is the most open; refusing every address the least.
		eff := Loss
		if pa == noProxyRule || pb == failedClosed {
			eff = Gain
		}
		out = append(out, Change{Kind: KindLogin, Field: "anonymous proxies refused on channel " + ch.String(), Before: pb, After: pa, Effect: eff})
	}
	return out
}

const (
	noProxyRule  = "none"
	failedClosed = policy.ProxyFailedClosed
)

func proxyRule(s *policy.Snapshot, ch policy.IPChannel) string {
	if s == nil {
		return noProxyRule
	}
	if r := s.ProxyRule(ch); r != "" {
		return r
	}
	return noProxyRule
}

const (
	anyAddress = "any address"
	noAddress  = "no address"
)

func login(s *policy.Snapshot) *policy.LoginPolicy {
	if s == nil {
		l := policy.DefaultLoginPolicy()
		l.Providers = 0 // no policy: nobody logs in
		return &l
	}
	return &s.Login
}

func ipRule(s *policy.Snapshot, ch policy.IPChannel, r policy.Role) string {
	if s == nil {
		return noAddress
	}
	set := s.IPAllowlist(ch, r)
	if set == nil {
		return anyAddress
	}
	if set.Len() == 0 {
		return noAddress
	}
	return set.String()
}

func allowedName(ok bool) string {
	if ok {
		return "allowed"
	}
	return "not allowed"
}

func requiredName(req bool) string {
	if req {
		return "required"
	}
	return "not required"
}
