package engine

import (
	"fmt"
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
// API responses.
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
			return fmt.Sprintf("%s may access %s", who, r.Feature)
		}
		return fmt.Sprintf("%s may %s under %s (scope %s)", who, what, gov, d.Scope)
	case UnknownTenant:
		return "the tenant has no crmauthz policy"
	case FeatureRestricted:
		return fmt.Sprintf("feature %s is restricted for %s by %s", d.Feature, who, gov)
	case IPNotAllowed:
		return fmt.Sprintf("address %s is not in an IP allowlist for channel %s and role %s", r.IP, r.Channel.IPChannel(), r.Role)
	case AnonymousProxy:
		return fmt.Sprintf("address %s is refused as an anonymous proxy by IPAllowlist %s", r.IP, strings.Join(d.Sources, ", "))
	case TypeHidden:
		return fmt.Sprintf("%s records of type %s are hidden from %s by %s", r.Entity, r.Type, who, gov)
	case ActionDenied:
		return fmt.Sprintf("%s has no %s permission under %s", who, what, gov)
	case OutOfScope:
		return fmt.Sprintf("the record is outside %s's %s scope (%s) under %s", who, what, d.Scope, gov)
	case BulkDenied:
		return fmt.Sprintf("%s may not %s in bulk under %s", who, what, gov)
	case FieldRestricted:
		return fmt.Sprintf("%s may not set %s under %s", who, strings.Join(d.DeniedFields, ", "), gov)
	}
	return string(d.Reason)
}
