// Package engine answers authorization questions from a compiled policy snapshot:
// check, batch check, list filter, visible users, login, session and password. It is
// pure: no Kubernetes, no I/O, no locks; a check allocates nothing.
package engine

import (
	"net/netip"
	"strings"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// Reason says why a decision came out as it did (SPEC §3.4).
type Reason string

const (
	Allowed              Reason = "Allowed"
	UnknownTenant        Reason = "UnknownTenant"
	FeatureRestricted    Reason = "FeatureRestricted"
	IPNotAllowed         Reason = "IPNotAllowed"
	AnonymousProxy       Reason = "AnonymousProxy"
	TypeHidden           Reason = "TypeHidden"
	ActionDenied         Reason = "ActionDenied"
	OutOfScope           Reason = "OutOfScope"
	BulkDenied           Reason = "BulkDenied"
	FieldRestricted      Reason = "FieldRestricted"
	ProviderNotAllowed   Reason = "ProviderNotAllowed"
	SecondFactorRequired Reason = "SecondFactorRequired"
	LoginExpired         Reason = "LoginExpired"
	IdleTimeout          Reason = "IdleTimeout"
	Revoked              Reason = "Revoked"
)

// Request is one check, already parsed: names are enums, the IP an address.
type Request struct {
	User string
	Role policy.Role
	// Action is a record action, or policy.ActionAccess with Feature.
	Action  policy.Action
	Entity  policy.Entity
	Feature policy.Feature
	// Owner is the record's owner (for create, its intended owner; empty means the
	// asking user). SharedWith are the users it is shared with.
	Owner      string
	SharedWith []string
	// Type is the activity or task type.
	Type string
	// Fields are the fields the action sets (create, edit); EmptyFields those among
	// them whose stored value is empty.
	Fields      []string
	EmptyFields []string
	Bulk        bool
	IP          netip.Addr // zero: not given
	Channel     policy.Channel
	Explain     bool
}

// Decision is a check's answer. The caller owns it and may reuse it across checks:
// Check resets it, keeping the DeniedFields buffer. Hidden, Masked and Sources point
// into the snapshot and must not be modified.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Template is the governing template; "" when the role baseline governs.
	Template     string
	DeniedFields []string
	Hidden       []string
	Masked       []string
	// Scope is the permission's scope (for OutOfScope and allowed record actions).
	Scope policy.Scope
	// Feature is the restricted feature (FeatureRestricted).
	Feature policy.Feature
	// Sources are the allowlists whose anonymous-proxy rule refused the address.
	Sources []string
	Trace   []Step
}

// Step is one line of an explain trace.
type Step struct {
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

func (d *Decision) reset() {
	*d = Decision{DeniedFields: d.DeniedFields[:0], Trace: d.Trace[:0]}
}

func (d *Decision) deny(r Reason) {
	d.Allowed, d.Reason = false, r
}

// Check decides one request against snapshot s (nil: the tenant is unknown), in the
// order of SPEC §3.1, writing the answer into d.
func Check(s *policy.Snapshot, r *Request, d *Decision) {
	d.reset()
	if s == nil {
		d.deny(UnknownTenant)
		d.trace(r, "tenant", "unknown", "")
		return
	}
	p := s.Governing(r.User, r.Role)
	d.Template = p.Template
	if r.Explain {
		d.traceGoverning(r, p)
	}
	if denied := checkChannel(s, p, r.Role, r.Channel, r.IP, d, r.Explain); denied {
		return
	}
	if r.Action == policy.ActionAccess {
		if p.Restricted.Has(r.Feature) {
			d.deny(FeatureRestricted)
			d.Feature = r.Feature
			d.trace(r, "feature", "restricted", r.Feature.String())
			return
		}
		d.Allowed, d.Reason = true, Allowed
		d.trace(r, "feature", "allowed", r.Feature.String())
		return
	}
	if r.Entity == policy.EntityAccounts && p.Restricted.Has(featureAccounts) {
		d.deny(FeatureRestricted)
		d.Feature = featureAccounts
		d.trace(r, "feature", "restricted", "Accounts: every action on accounts is denied")
		return
	}
	ep := &p.Entities[r.Entity]
	if r.Type != "" && ep.HiddenTypes.Has(r.Type) {
		d.deny(TypeHidden)
		d.trace(r, "record type", "hidden", r.Type)
		return
	}
	perm := &ep.Perms[r.Action]
	d.Scope = perm.Scope
	if perm.Scope == policy.ScopeNone {
		d.deny(ActionDenied)
		d.traceAction(r)
		return
	}
	if !inScope(s, perm.Scope, r) {
		d.deny(OutOfScope)
		d.traceScope(r, "out of scope", perm.Scope)
		return
	}
	d.traceScope(r, "in scope", perm.Scope)
	if r.Bulk && perm.BulkDeny {
		d.deny(BulkDenied)
		d.trace(r, "bulk", "denied", "")
		return
	}
	switch r.Action {
	case policy.ActionView:
		d.Hidden, d.Masked = perm.Fields.Items(), ep.Masked.Items()
	case policy.ActionCreate, policy.ActionEdit:
		owner := r.Owner
		if owner == "" {
			owner = r.User
		}
		for _, f := range r.Fields {
			if perm.Fields.Has(f) || (ep.Masked.Has(f) && !contains(r.EmptyFields, f)) || (ep.OwnerOnly.Has(f) && owner != r.User) {
				if !contains(d.DeniedFields, f) {
					d.DeniedFields = append(d.DeniedFields, f)
				}
			}
		}
		if len(d.DeniedFields) > 0 {
			d.deny(FieldRestricted)
			d.traceFields(r, perm, ep, owner)
			return
		}
	}
	d.Allowed, d.Reason = true, Allowed
	d.trace(r, "decision", "allowed", "")
}

var featureAccounts, featureAPI = mustFeature("Accounts"), mustFeature("API")

func mustFeature(name string) policy.Feature {
	f, ok := policy.ParseFeature(name)
	if !ok {
		panic("engine: unknown feature " + name)
	}
	return f
}

// checkChannel applies SPEC §3.1 steps 2 and 3: the API feature, then the IP rules of
// the channel. It reports whether the request was denied.
func checkChannel(s *policy.Snapshot, p *policy.Policy, role policy.Role, ch policy.Channel, ip netip.Addr, d *Decision, explain bool) bool {
	if ch == policy.ChannelAPI && p.Restricted.Has(featureAPI) {
		d.deny(FeatureRestricted)
		d.Feature = featureAPI
		if explain {
			d.Trace = append(d.Trace, Step{Step: "channel", Outcome: "restricted", Detail: "feature API is restricted"})
		}
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ipch := ch.IPChannel()
	if proxy, sources := s.AnonymousProxy(ipch, ip); proxy {
		d.deny(AnonymousProxy)
		d.Sources = sources
		if explain {
			d.Trace = append(d.Trace, Step{Step: "ip", Outcome: "anonymous proxy", Detail: ip.String() + " is refused by the anonymous-proxy rule of " + strings.Join(sources, ", ")})
		}
		return true
	}
	if !s.IPAllowed(ipch, role, ip) {
		d.deny(IPNotAllowed)
		if explain {
			d.Trace = append(d.Trace, Step{Step: "ip", Outcome: "not allowed", Detail: ip.String() + " is outside every allowlist for channel " + ipch.String() + " and role " + role.String()})
		}
		return true
	}
	if explain {
		d.Trace = append(d.Trace, Step{Step: "ip", Outcome: "allowed", Detail: ip.String()})
	}
	return false
}

// inScope is SPEC §3.3.
func inScope(s *policy.Snapshot, scope policy.Scope, r *Request) bool {
	if scope == policy.ScopeAll || r.Entity == policy.EntityUsers {
		return true // users have no owner: any granted scope reaches them all
	}
	owner := r.Owner
	if owner == "" && r.Action == policy.ActionCreate {
		owner = r.User
	}
	if owner != "" && owner == r.User {
		return true
	}
	if scope >= policy.ScopeShared && contains(r.SharedWith, r.User) {
		return true
	}
	return scope >= policy.ScopeTeam && owner != "" && s.InTeam(r.User, owner)
}

func contains(list []string, x string) bool {
	for _, s := range list {
		if s == x {
			return true
		}
	}
	return false
}
