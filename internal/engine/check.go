// Package engine answers authorization questions from a compiled policy snapshot:
// check, batch check, list filter, visible users, login, session and password. It is
// pure: no Kubernetes, no I/O, no locks; a check allocates nothing.
package engine

import (
	"net/netip"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// Reason says why a decision came out as it did (docs/api.md).
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
// Check resets it, keeping the DeniedFields and Trace buffers. Hidden, Masked and
// Sources point into the snapshot and must not be modified.
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
	// Trace, with Request.Explain, lists every step of the evaluation order up to the deciding one.
	Trace []Step
}

// Step is one line of an explain trace: a step of the evaluation order (docs/api.md) (Number is its number) and its
// outcome: "pass", "skip" (Detail says why it does not apply), or the decision's reason
// at the step that decided.
type Step struct {
	Number  int    `json:"number"`
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Outcomes of a step that did not decide.
const (
	Pass = "pass"
	Skip = "skip"
)

// The steps of the evaluation order (docs/api.md), in order; their index is the step's number.
var stepNames = [...]string{1: "tenant", 2: "apiFeature", 3: "ipRules", 4: "featureAccess", 5: "accountsFeature",
	6: "recordType", 7: "permission", 8: "scope", 9: "bulk", 10: "fields", 11: "allow"}

const (
	stepTenant = iota + 1
	stepAPIFeature
	stepIPRules
	stepFeatureAccess
	stepAccountsFeature
	stepRecordType
	stepPermission
	stepScope
	stepBulk
	stepFields
	stepAllow
)

func (d *Decision) reset() {
	*d = Decision{DeniedFields: d.DeniedFields[:0], Trace: d.Trace[:0]}
}

func (d *Decision) deny(r Reason) {
	d.Allowed, d.Reason = false, r
}

// Check decides one request against snapshot s (nil: the tenant is unknown), in the
// evaluation order (docs/api.md), writing the answer into d. Each step below returns
// whether it denied; the first that does ends the check. Every trace line is built
// inside an `if x` (explain): a check that does not explain allocates nothing.
func Check(s *policy.Snapshot, r *Request, d *Decision) {
	d.reset()
	x := r.Explain
	if s == nil {
		d.deny(UnknownTenant)
		if x {
			d.step(stepTenant, string(UnknownTenant), "no crmauthz object in this tenant")
		}
		return
	}
	p := s.Governing(r.User, r.Role)
	d.Template = p.Template
	if x {
		d.step(stepTenant, Pass, "known; "+governing(r, p))
	}
	if checkChannel(s, p, r.Role, r.Channel, r.IP, d, x) {
		return
	}
	if r.Action == policy.ActionAccess {
		checkFeature(p, r, d, x)
		return
	}
	if x {
		d.step(stepFeatureAccess, Skip, "action "+r.Action.String()+" is not access")
	}
	ep := p.Entities[r.Entity]
	perm := &ep.Perms[r.Action]
	if checkEntity(p, ep, r, d, x) || checkPermission(s, perm, r, d, x) || checkFields(ep, perm, r, d, x) {
		return
	}
	d.Allowed, d.Reason = true, Allowed
	if x {
		d.step(stepAllow, string(Allowed), "")
	}
}

// checkFeature decides a feature question (step 4): allowed unless restricted.
func checkFeature(p *policy.Policy, r *Request, d *Decision, x bool) {
	if p.Restricted.Has(r.Feature) {
		d.deny(FeatureRestricted)
		d.Feature = r.Feature
		if x {
			d.step(stepFeatureAccess, string(FeatureRestricted), "feature "+r.Feature.String()+" is restricted")
		}
		return
	}
	d.Allowed, d.Reason = true, Allowed
	if x {
		d.step(stepFeatureAccess, string(Allowed), "feature "+r.Feature.String()+" is not restricted")
	}
}

// checkEntity applies steps 5 and 6: the Accounts feature, then hidden record types.
func checkEntity(p *policy.Policy, ep *policy.EntityPolicy, r *Request, d *Decision, x bool) (denied bool) {
	if r.Entity == policy.EntityAccounts && p.Restricted.Has(featureAccounts) {
		d.deny(FeatureRestricted)
		d.Feature = featureAccounts
		if x {
			d.step(stepAccountsFeature, string(FeatureRestricted), "feature Accounts is restricted: every action on accounts is denied")
		}
		return true
	}
	if x {
		if r.Entity == policy.EntityAccounts {
			d.step(stepAccountsFeature, Pass, "feature Accounts is not restricted")
		} else {
			d.step(stepAccountsFeature, Skip, "entity "+r.Entity.String()+" is not accounts")
		}
	}
	if r.Type != "" && ep.HiddenTypes.Has(r.Type) {
		d.deny(TypeHidden)
		if x {
			d.step(stepRecordType, string(TypeHidden), "records of type "+r.Type+" are hidden")
		}
		return true
	}
	if x {
		if r.Type == "" {
			d.step(stepRecordType, Skip, "no resource.type given")
		} else {
			d.step(stepRecordType, Pass, "type "+r.Type+" is not hidden")
		}
	}
	return false
}

// checkPermission applies steps 7 to 9: the action's permission, its scope, bulk.
func checkPermission(s *policy.Snapshot, perm *policy.Perm, r *Request, d *Decision, x bool) (denied bool) {
	d.Scope = perm.Scope
	if perm.Scope == policy.ScopeNone {
		d.deny(ActionDenied)
		if x {
			d.step(stepPermission, string(ActionDenied), r.Entity.String()+"."+r.Action.String()+": access None")
		}
		return true
	}
	if x {
		d.step(stepPermission, Pass, r.Entity.String()+"."+r.Action.String()+": access "+access(perm))
	}
	if !inScope(s, perm.Scope, r) {
		d.deny(OutOfScope)
		if x {
			d.step(stepScope, string(OutOfScope), "permission reaches "+perm.Scope.String()+"; "+recordOf(r))
		}
		return true
	}
	if x {
		d.step(stepScope, Pass, "permission reaches "+perm.Scope.String()+"; "+recordOf(r))
	}
	if r.Bulk && perm.BulkDeny {
		d.deny(BulkDenied)
		if x {
			d.step(stepBulk, string(BulkDenied), "bulk: Deny on "+r.Entity.String()+"."+r.Action.String())
		}
		return true
	}
	if x {
		if r.Bulk {
			d.step(stepBulk, Pass, "bulk is allowed")
		} else {
			d.step(stepBulk, Skip, "not a bulk operation")
		}
	}
	return false
}

// checkFields applies step 10: what a view hides and masks, and the fields a create or
// an edit may not set.
func checkFields(ep *policy.EntityPolicy, perm *policy.Perm, r *Request, d *Decision, x bool) (denied bool) {
	switch r.Action {
	case policy.ActionView:
		d.Hidden, d.Masked = perm.Fields.Items(), ep.Masked.Items()
		if x {
			d.step(stepFields, Pass, "view: the CRM hides "+countOf(len(d.Hidden))+" and masks "+countOf(len(d.Masked)))
		}
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
			if x {
				d.step(stepFields, string(FieldRestricted), fieldsWhy(r, d, perm, ep, owner))
			}
			return true
		}
		if x {
			if len(r.Fields) == 0 {
				d.step(stepFields, Skip, "no fields given")
			} else {
				d.step(stepFields, Pass, "every field given may be set")
			}
		}
	default:
		if x {
			d.step(stepFields, Skip, "action "+r.Action.String()+" sets no fields")
		}
	}
	return false
}

var featureAccounts, featureAPI = mustFeature("Accounts"), mustFeature("API")

func mustFeature(name string) policy.Feature {
	f, ok := policy.ParseFeature(name)
	if !ok {
		panic("engine: unknown feature " + name)
	}
	return f
}

// checkChannel applies steps 2 and 3 of the evaluation order (docs/api.md): the API feature, then the IP rules of
// the channel. It reports whether the request was denied.
func checkChannel(s *policy.Snapshot, p *policy.Policy, role policy.Role, ch policy.Channel, ip netip.Addr, d *Decision, x bool) bool {
	switch {
	case ch == policy.ChannelAPI && p.Restricted.Has(featureAPI):
		d.deny(FeatureRestricted)
		d.Feature = featureAPI
		if x {
			d.step(stepAPIFeature, string(FeatureRestricted), "feature API is restricted")
		}
		return true
	case x && ch == policy.ChannelAPI:
		d.step(stepAPIFeature, Pass, "feature API is not restricted")
	case x:
		d.step(stepAPIFeature, Skip, "channel "+ch.String()+" is not API")
	}
	ipch := ch.IPChannel()
	reason, sources, denied := ipRules(s, ipch, role, ip, ch == policy.ChannelAPI)
	if denied {
		d.deny(reason)
		d.Sources = sources
		if x {
			d.step(stepIPRules, string(reason), ipWhy(reason, ip, ipch, role, sources))
		}
		return true
	}
	if x {
		switch {
		case ip.IsValid():
			d.step(stepIPRules, Pass, ip.String()+" is allowed on channel "+ipch.String())
		case ch == policy.ChannelAPI:
			d.step(stepIPRules, Skip, "no context.ip given, and no IP allowlist or anonymous-proxy rule covers channel API for role "+role.String())
		default:
			d.step(stepIPRules, Skip, "no context.ip given, and channel "+ch.String()+" is gated by /v1/login and /v1/session")
		}
	}
	return false
}

// ipRules applies the IP rules of channel ch to ip (docs/concepts.md, "IP allowlists and anonymous-proxy lists"). A missing address is
// refused when addressRequired and a rule would have examined it.
func ipRules(s *policy.Snapshot, ch policy.IPChannel, role policy.Role, ip netip.Addr, addressRequired bool) (Reason, []string, bool) {
	if !ip.IsValid() {
		if addressRequired && s.AddressChecked(ch, role) {
			return IPNotAllowed, nil, true
		}
		return "", nil, false
	}
	if proxy, sources := s.AnonymousProxy(ch, ip); proxy {
		return AnonymousProxy, sources, true
	}
	if !s.IPAllowed(ch, role, ip) {
		return IPNotAllowed, nil, true
	}
	return "", nil, false
}

// inScope is the scope rule (docs/concepts.md, "Scopes").
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
