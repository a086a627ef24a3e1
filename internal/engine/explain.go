package engine

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// The trace is built only when a request asks for it (explain); it may allocate.

func (d *Decision) step(n int, outcome, detail string) {
	d.Trace = append(d.Trace, Step{Number: n, Step: stepNames[n], Outcome: outcome, Detail: detail})
}

func governing(r *Request, p *policy.Policy) string {
	switch {
	case r.Role == policy.RoleSuperAdmin:
		return "SuperAdmin: no template, everything allowed"
	case p.Template == "":
		return "no template governs " + r.User + ": the " + r.Role.String() + " baseline"
	}
	return "template " + p.Template + " governs " + r.User + " (" + r.Role.String() + ")"
}

func access(perm *policy.Perm) string {
	if perm.Fields.Len() > 0 {
		return "Partial, scope " + perm.Scope.String()
	}
	return "Full, scope " + perm.Scope.String()
}

func recordOf(r *Request) string {
	switch {
	case r.Entity == policy.EntityUsers:
		return "users have no owner"
	case r.Owner == "" && r.Action == policy.ActionCreate:
		return "a new record owned by the asking user"
	case r.Owner == "":
		return "no resource.owner given"
	}
	return "record owned by " + r.Owner
}

func countOf(n int) string {
	if n == 1 {
		return "1 field"
	}
	return strconv.Itoa(n) + " fields"
}

func ipWhy(reason Reason, ip netip.Addr, ch policy.IPChannel, role policy.Role, sources []string) string {
	switch {
	case reason == AnonymousProxy:
		return ip.String() + " is refused by the anonymous-proxy rule of " + strings.Join(sources, ", ")
	case !ip.IsValid():
		return "address missing: an IP rule covers channel " + ch.String() + ", so context.ip is required"
	}
	return ip.String() + " is outside every allowlist for channel " + ch.String() + " and role " + role.String()
}

func fieldsWhy(r *Request, d *Decision, perm *policy.Perm, ep *policy.EntityPolicy, owner string) string {
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
	return strings.Join(why, "; ")
}

// Message explains a check's decision in one sentence for people reading logs and
// API responses.
func Message(r *Request, d *Decision) string { return string(AppendMessage(nil, r, d)) }

// AppendMessage appends Message to dst: the service writes it straight into the
// response, so a decision's message costs no allocation.
func AppendMessage(b []byte, r *Request, d *Decision) []byte {
	who := func(b []byte) []byte {
		return append(append(append(append(b, r.User...), " ("...), r.Role.String()...), ')')
	}
	gov := func(b []byte) []byte {
		if d.Template != "" {
			return append(append(b, "template "...), d.Template...)
		}
		return append(append(append(b, "the "...), r.Role.String()...), " baseline"...)
	}
	what := func(b []byte) []byte {
		return append(append(append(b, r.Entity.String()...), '.'), r.Action.String()...)
	}
	switch d.Reason {
	case Allowed:
		if r.Action == policy.ActionAccess {
			return append(append(who(b), " may access "...), r.Feature.String()...)
		}
		b = gov(append(what(append(who(b), " may "...)), " under "...))
		return append(append(append(b, " (scope "...), d.Scope.String()...), ')')
	case UnknownTenant:
		return append(b, "the tenant has no crmauthz policy"...)
	case FeatureRestricted:
		return gov(append(who(append(append(append(b, "feature "...), d.Feature.String()...), " is restricted for "...)), " by "...))
	case IPNotAllowed:
		if !r.IP.IsValid() {
			b = append(append(b, "address missing: context.ip is required on channel "...), r.Channel.IPChannel().String()...)
			return append(b, ", which an IP allowlist or anonymous-proxy rule covers"...)
		}
		b = r.IP.AppendTo(append(b, "address "...))
		b = append(append(b, " is not in an IP allowlist for channel "...), r.Channel.IPChannel().String()...)
		return append(append(b, " and role "...), r.Role.String()...)
	case AnonymousProxy:
		b = r.IP.AppendTo(append(b, "address "...))
		b = append(b, " is refused as an anonymous proxy by IPAllowlist "...)
		return appendJoined(b, d.Sources)
	case TypeHidden:
		b = append(append(append(append(b, r.Entity.String()...), " records of type "...), r.Type...), " are hidden from "...)
		return gov(append(who(b), " by "...))
	case ActionDenied:
		return gov(append(what(append(who(b), " has no "...)), " permission under "...))
	case OutOfScope:
		b = what(append(who(append(b, "the record is outside "...)), "'s "...))
		return gov(append(append(append(b, " scope ("...), d.Scope.String()...), ") under "...))
	case BulkDenied:
		return gov(append(what(append(who(b), " may not "...)), " in bulk under "...))
	case FieldRestricted:
		return gov(append(appendJoined(append(who(b), " may not set "...), d.DeniedFields), " under "...))
	}
	return append(b, d.Reason...)
}

func appendJoined(b []byte, items []string) []byte {
	for i, s := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return b
}
