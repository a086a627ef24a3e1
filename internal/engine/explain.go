package engine

import (
	"strings"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// The trace is built only when a request asks for it (explain); it may allocate.

func (d *Decision) trace(r *Request, step, outcome, detail string) {
	if r.Explain {
		d.Trace = append(d.Trace, Step{Step: step, Outcome: outcome, Detail: detail})
	}
}

// traceScope and traceAction build their detail only when explaining: a check that
// does not explain must not allocate.
func (d *Decision) traceScope(r *Request, outcome string, scope policy.Scope) {
	if r.Explain {
		d.Trace = append(d.Trace, Step{Step: "scope", Outcome: outcome, Detail: "permission reaches " + scope.String()})
	}
}

func (d *Decision) traceAction(r *Request) {
	if r.Explain {
		d.Trace = append(d.Trace, Step{Step: "permission", Outcome: "None", Detail: r.Entity.String() + "." + r.Action.String()})
	}
}

func (d *Decision) traceGoverning(r *Request, p *policy.Policy) {
	d.Trace = append(d.Trace, Step{Step: "tenant", Outcome: "known"})
	switch {
	case r.Role == policy.RoleSuperAdmin:
		d.Trace = append(d.Trace, Step{Step: "template", Outcome: "none", Detail: "SuperAdmin: everything allowed"})
	case p.Template == "":
		d.Trace = append(d.Trace, Step{Step: "template", Outcome: "none", Detail: "role baseline of " + r.Role.String()})
	default:
		d.Trace = append(d.Trace, Step{Step: "template", Outcome: p.Template, Detail: "governs " + r.User + " (" + r.Role.String() + ")"})
	}
}

func (d *Decision) traceFields(r *Request, perm *policy.Perm, ep *policy.EntityPolicy, owner string) {
	if !r.Explain {
		return
	}
	var why []string
	for _, f := range d.DeniedFields {
		switch {
		case perm.Fields.Has(f):
			why = append(why, f+": restricted by Partial access")
		case ep.Masked.Has(f) && !contains(r.EmptyFields, f):
			why = append(why, f+": masked and not empty")
		case ep.OwnerOnly.Has(f) && owner != r.User:
			why = append(why, f+": only the owner ("+owner+") may edit it")
		}
	}
	d.Trace = append(d.Trace, Step{Step: "fields", Outcome: "restricted", Detail: strings.Join(why, "; ")})
}

// Message explains a check's decision in one sentence for people reading logs and
// API responses. Each message is one concatenation: one allocation per decision.
func Message(r *Request, d *Decision) string {
	who := r.User + " (" + r.Role.String() + ")"
	gov := "the " + r.Role.String() + " baseline"
	if d.Template != "" {
		gov = "template " + d.Template
	}
	what := r.Entity.String() + "." + r.Action.String()
	switch d.Reason {
	case Allowed:
		if r.Action == policy.ActionAccess {
			return who + " may access " + r.Feature.String()
		}
		return who + " may " + what + " under " + gov + " (scope " + d.Scope.String() + ")"
	case UnknownTenant:
		return "the tenant has no crmauthz policy"
	case FeatureRestricted:
		return "feature " + d.Feature.String() + " is restricted for " + who + " by " + gov
	case IPNotAllowed:
		return "address " + r.IP.String() + " is not in an IP allowlist for channel " + r.Channel.IPChannel().String() + " and role " + r.Role.String()
	case AnonymousProxy:
		return "address " + r.IP.String() + " is refused as an anonymous proxy by IPAllowlist " + strings.Join(d.Sources, ", ")
	case TypeHidden:
		return r.Entity.String() + " records of type " + r.Type + " are hidden from " + who + " by " + gov
	case ActionDenied:
		return who + " has no " + what + " permission under " + gov
	case OutOfScope:
		return "the record is outside " + who + "'s " + what + " scope (" + d.Scope.String() + ") under " + gov
	case BulkDenied:
		return who + " may not " + what + " in bulk under " + gov
	case FieldRestricted:
		return who + " may not set " + strings.Join(d.DeniedFields, ", ") + " under " + gov
	}
	return string(d.Reason)
}
