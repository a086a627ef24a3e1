package engine

import (
	"net/netip"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// FilterKind is the shape of a list filter's query plan.
type FilterKind string

const (
	FilterAll         FilterKind = "All"
	FilterNone        FilterKind = "None"
	FilterConditional FilterKind = "Conditional"
)

// FilterRequest asks which records of an entity a user may act on.
type FilterRequest struct {
	User    string
	Role    policy.Role
	Action  policy.Action
	Entity  policy.Entity
	IP      netip.Addr
	Channel policy.Channel
}

// FilterResult is a query plan: with Conditional, the CRM selects records whose owner
// is in Owners, or (when SharedWith is set) that are shared with SharedWith; records of
// HiddenTypes are left out, HiddenFields hidden and MaskedFields masked. Its slices
// point into the snapshot and must not be modified.
type FilterResult struct {
	Kind         FilterKind
	Reason       Reason // why None; Allowed otherwise
	Template     string
	Owners       policy.UserList
	SharedWith   string
	HiddenFields []string
	MaskedFields []string
	HiddenTypes  []string
}

// Filter turns the user's permission for action on entity into a query plan (docs/api.md,
// §3.4 /v1/filter). Like Check, it allocates nothing; out is the caller's.
func Filter(s *policy.Snapshot, r *FilterRequest, out *FilterResult) {
	*out = FilterResult{Kind: FilterNone}
	if s == nil {
		out.Reason = UnknownTenant
		return
	}
	p := s.Governing(r.User, r.Role)
	out.Template = p.Template
	var d Decision
	if checkChannel(s, p, r.Role, r.Channel, r.IP, &d, false) {
		out.Reason = d.Reason
		return
	}
	if r.Entity == policy.EntityAccounts && p.Restricted.Has(featureAccounts) {
		out.Reason = FeatureRestricted
		return
	}
	ep := p.Entities[r.Entity]
	perm := ep.Perms[r.Action]
	if perm.Scope == policy.ScopeNone {
		out.Reason = ActionDenied
		return
	}
	out.Reason = Allowed
	out.HiddenFields = ep.Perms[policy.ActionView].Fields.Items()
	out.MaskedFields = ep.Masked.Items()
	out.HiddenTypes = ep.HiddenTypes.Items()
	scope := perm.Scope
	if r.Entity == policy.EntityUsers {
		scope = policy.ScopeAll
	}
	switch scope {
	case policy.ScopeAll:
		out.Kind = FilterAll
		return
	case policy.ScopeTeam:
		out.Owners = s.TeamOwners(r.User)
	default:
		out.Owners = policy.OnlyUser(r.User)
	}
	out.Kind = FilterConditional
	if scope >= policy.ScopeShared {
		out.SharedWith = r.User
	}
}

// VisibleResult says whom a user sees in user and owner pickers.
type VisibleResult struct {
	All    bool
	Users  policy.UserList
	Reason Reason
}

// VisibleUsers applies the governing template's userAccess (docs/api.md,
// /v1/users/visible): AllUsers sees everyone; with SalesGroupUsers a group manager
// sees the users of the groups they manage and below, anyone else only themself.
func VisibleUsers(s *policy.Snapshot, user string, role policy.Role, out *VisibleResult) {
	*out = VisibleResult{Reason: Allowed}
	if s == nil {
		out.Reason = UnknownTenant
		return
	}
	p := s.Governing(user, role)
	if !p.SalesGroupUsers {
		out.All = true
		return
	}
	out.Users = s.VisibleUsers(user)
}
