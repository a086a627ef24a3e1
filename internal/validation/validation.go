// Package validation holds the checks the CRD schema cannot express: those that look
// at other objects in the namespace, or need code. The admission webhook, the
// controller (through the compiler) and `crmauthz validate` all call it, so they refuse
// the same things with the same messages. Checks that need only the object itself and
// fit in OpenAPI or CEL live in the schema, not here.
package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// Namespace is what a check needs to know of the other objects in the namespace.
type Namespace struct {
	Templates     []v1alpha1.PermissionTemplate
	Groups        []v1alpha1.SalesGroup
	LoginPolicies []v1alpha1.LoginPolicy
	// ProxyLists names the ConfigMaps labelled as anonymous-proxy lists; nil when
	// not known (nothing is then said about them).
	ProxyLists map[string]bool
}

// Result is what a check found: errors refuse the object, warnings are shown to the
// user (kubectl prints them) and let it through.
type Result struct {
	Errors   field.ErrorList
	Warnings []string
}

func (r *Result) warn(path *field.Path, format string, args ...any) {
	r.Warnings = append(r.Warnings, path.String()+": "+fmt.Sprintf(format, args...))
}

// System fields the CRM cannot restrict partially (docs/admission.md).
var unrestrictableFields = map[string]map[v1alpha1.FieldName]bool{
	"leads": set("ConversionReferrerURL", "CreatedOn", "EngagementScore", "LeadConversionDate", "ProspectAutoId",
		"Origin", "QualityScore01", "Score", "ModifiedOn", "Revenue", "SourceIPAddress", "SourceReferrerURL",
		"StageRottingFlagMessage", "StageRottingFlagModifiedOn", "StageRottingFlagStatus"),
	"opportunities": set("OwnerId", "Owner", "mx_Custom_1", "mx_Custom_2", "mx_Custom_19"),
}

func set(names ...v1alpha1.FieldName) map[v1alpha1.FieldName]bool {
	m := map[v1alpha1.FieldName]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

var scopeRank = map[v1alpha1.Scope]int{v1alpha1.ScopeOwn: 1, v1alpha1.ScopeShared: 2, v1alpha1.ScopeTeam: 3, v1alpha1.ScopeAll: 4}

func granted(p *v1alpha1.Permission) bool { return p != nil && p.Access != v1alpha1.AccessNone }

// TemplateLocal checks what a template alone must satisfy beyond its schema: no
// broken permission structure (an action allowed while view is None, or reaching
// wider than view) and no partial restriction of fields the CRM cannot restrict. The
// compiler runs it too, so a template that slipped past admission is not enforced.
func TemplateLocal(t *v1alpha1.PermissionTemplate) field.ErrorList {
	var errs field.ErrorList
	base := field.NewPath("spec", "entities")
	for _, ep := range t.Spec.Entities.List() {
		path := base.Child(ep.Entity)
		view := ep.Permissions[0] // view caps every other action
		for i, p := range ep.Permissions {
			if p == nil {
				continue
			}
			a := v1alpha1.Actions[i].Name
			if i > 0 && view != nil && view.Access == v1alpha1.AccessNone && granted(p) {
				access := p.Access
				if access == "" {
					access = v1alpha1.AccessFull
				}
				errs = append(errs, field.Invalid(path.Child(a, "access"), access,
					fmt.Sprintf("%s.%s cannot be allowed while %s.view is None: nobody may act on records they cannot see", ep.Entity, a, ep.Entity)))
			}
			if i > 0 && granted(view) && view.Scope != "" && granted(p) && scopeRank[p.Scope] > scopeRank[view.Scope] {
				errs = append(errs, field.Invalid(path.Child(a, "scope"), p.Scope,
					fmt.Sprintf("scope %s is wider than %s.view's scope %s: nobody may act on records they cannot see", p.Scope, ep.Entity, view.Scope)))
			}
			if fixed := unrestrictableFields[ep.Entity]; fixed != nil && p.Access == v1alpha1.AccessPartial {
				for i, f := range p.Fields {
					if fixed[f] {
						errs = append(errs, field.Invalid(path.Child(a, "fields").Index(i), f,
							fmt.Sprintf("%s is a system field of %s that the CRM cannot restrict partially", f, ep.Entity)))
					}
				}
			}
		}
	}
	return errs
}

// IsDryRun says whether a template is only tried, not enforced.
func IsDryRun(t *v1alpha1.PermissionTemplate) bool {
	return t.Spec.Enforcement == v1alpha1.EnforcementDryRun
}

// Template checks a PermissionTemplate against its namespace: the 50-template limit
// (creating), one template per user, sales group and role at each level, and
// TemplateLocal. It warns about sales groups that do not exist.
func Template(t *v1alpha1.PermissionTemplate, ns *Namespace, creating bool) Result {
	var r Result
	others := make([]*v1alpha1.PermissionTemplate, 0, len(ns.Templates))
	for i := range ns.Templates {
		if ns.Templates[i].Name != t.Name {
			others = append(others, &ns.Templates[i])
		}
	}
	if creating && len(others) >= v1alpha1.MaxTemplates {
		r.Errors = append(r.Errors, field.Forbidden(field.NewPath("metadata", "namespace"),
			fmt.Sprintf("namespace %s already has %d PermissionTemplates, the most a CRM account may have", t.Namespace, len(others))))
	}
	at := field.NewPath("spec", "appliesTo")
	claims := func(list string, i int, value string, claimed func(*v1alpha1.AppliesTo) bool) {
		for _, o := range others {
			// A DryRun template is the candidate replacement of the Enforce one whose
			// claims it makes: only templates of the same enforcement conflict.
			if claimed(&o.Spec.AppliesTo) && IsDryRun(o) == IsDryRun(t) {
				r.Errors = append(r.Errors, field.Invalid(at.Child(list).Index(i), value,
					fmt.Sprintf("already claimed by PermissionTemplate %s: one template per %s", o.Name, strings.TrimSuffix(list, "s"))))
				return
			}
		}
	}
	for i, u := range t.Spec.AppliesTo.Users {
		claims("users", i, string(u), func(a *v1alpha1.AppliesTo) bool { return contains(a.Users, u) })
	}
	for i, g := range t.Spec.AppliesTo.SalesGroups {
		claims("salesGroups", i, string(g), func(a *v1alpha1.AppliesTo) bool { return contains(a.SalesGroups, g) })
		if !groupExists(ns.Groups, string(g)) {
			r.warn(at.Child("salesGroups").Index(i), "SalesGroup %s does not exist (yet): the template governs nobody through it until it does", g)
		}
	}
	for i, role := range t.Spec.AppliesTo.Roles {
		claims("roles", i, string(role), func(a *v1alpha1.AppliesTo) bool { return contains(a.Roles, role) })
	}
	r.Errors = append(r.Errors, TemplateLocal(t)...)
	return r
}

// SalesGroup checks a group against its namespace: its parent chain may not loop. It
// warns about a parent that does not exist.
func SalesGroup(g *v1alpha1.SalesGroup, ns *Namespace) Result {
	var r Result
	if g.Spec.Parent == "" {
		return r
	}
	parents := map[string]string{}
	for _, o := range ns.Groups {
		parents[o.Name] = string(o.Spec.Parent)
	}
	parents[g.Name] = string(g.Spec.Parent)
	path := field.NewPath("spec", "parent")
	if _, ok := parents[string(g.Spec.Parent)]; !ok {
		r.warn(path, "SalesGroup %s does not exist (yet): %s is a root until it does", g.Spec.Parent, g.Name)
		return r
	}
	chain := []string{g.Name}
	seen := map[string]bool{g.Name: true}
	for cur := string(g.Spec.Parent); cur != ""; cur = parents[cur] {
		chain = append(chain, cur)
		if cur == g.Name {
			r.Errors = append(r.Errors, field.Invalid(path, g.Spec.Parent,
				fmt.Sprintf("the parent chain %s loops back to %s: sales groups must form a tree", strings.Join(chain, " → "), g.Name)))
			break
		}
		if seen[cur] {
			break // a loop above us that does not include this group: not ours to refuse
		}
		seen[cur] = true
	}
	return r
}

// LoginPolicy checks there is no other LoginPolicy in the namespace (creating).
func LoginPolicy(l *v1alpha1.LoginPolicy, ns *Namespace, creating bool) Result {
	var r Result
	if !creating {
		return r
	}
	for _, o := range ns.LoginPolicies {
		if o.Name != l.Name {
			r.Errors = append(r.Errors, field.Forbidden(field.NewPath("metadata", "name"),
				fmt.Sprintf("namespace %s already has LoginPolicy %s: a CRM account has one login policy", l.Namespace, o.Name)))
			break
		}
	}
	return r
}

// IPAllowlist warns about networks that allow every address.
func IPAllowlist(a *v1alpha1.IPAllowlist, ns *Namespace) Result {
	var r Result
	if ref := a.Spec.AnonymousProxyList; ref != nil && ns != nil && ns.ProxyLists != nil && !ns.ProxyLists[ref.ConfigMapRef.Name] {
		effect := "the allowlist reports it unreadable (nothing is blocked while blockAnonymousProxies is false)"
		if a.Spec.BlockAnonymousProxies {
			effect = "the anonymous-proxy rule refuses every address on its channels until there is one"
		}
		r.warn(field.NewPath("spec", "anonymousProxyList", "configMapRef", "name"),
			"no ConfigMap %s labelled %s: \"true\" in the namespace: %s", ref.ConfigMapRef.Name, v1alpha1.ProxyListLabel, effect)
	}
	for i, c := range a.Spec.CIDRs {
		switch c {
		case "0.0.0.0/0":
			r.warn(field.NewPath("spec", "cidrs").Index(i), "0.0.0.0/0 allows every IPv4 address: the allowlist restricts nothing for IPv4")
		case "::/0":
			r.warn(field.NewPath("spec", "cidrs").Index(i), "::/0 allows every IPv6 address: the allowlist restricts nothing for IPv6")
		}
	}
	return r
}

func contains[T comparable](list []T, x T) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func groupExists(groups []v1alpha1.SalesGroup, name string) bool {
	for _, g := range groups {
		if g.Name == name {
			return true
		}
	}
	return false
}
