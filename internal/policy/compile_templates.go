package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/validation"
)

// parsedTemplate is a template whose names were all understood.
type parsedTemplate struct {
	obj        *v1alpha1.PermissionTemplate
	status     *ObjectStatus
	roles      []Role
	perms      [NumEntities][NumRecordActions]*v1alpha1.Permission
	masked     [NumEntities]*StrSet
	ownerOnly  [NumEntities]*StrSet
	hidden     [NumEntities]*StrSet
	restricted Features
}

func (c *compiler) compileTemplates(groupIdx map[string]int32) {
	ts := make([]*v1alpha1.PermissionTemplate, len(c.in.Templates))
	for i := range c.in.Templates {
		ts[i] = &c.in.Templates[i]
	}
	// The 50 oldest stay in force; the rest are refused deterministically.
	sort.Slice(ts, func(i, j int) bool {
		return byAge(ts[i].CreationTimestamp.Time, ts[j].CreationTimestamp.Time, ts[i].Name, ts[j].Name)
	})
	var parsed []*parsedTemplate
	for _, t := range ts {
		st := c.status(KindPermissionTemplate, t.Name, t.Generation)
		if len(parsed) >= v1alpha1.MaxTemplates {
			reject(st, v1alpha1.ReasonTemplateLimit, fmt.Sprintf("the namespace already has %d templates in force (the most a CRM account may have); this one is newer", v1alpha1.MaxTemplates))
			continue
		}
		p, errs := parseTemplate(t)
		if len(errs) > 0 {
			reject(st, v1alpha1.ReasonInvalid, errs.ToAggregate().Error())
			continue
		}
		// The same checks as admission: a template that slipped past it is not enforced.
		if errs := validation.TemplateLocal(t); len(errs) > 0 {
			reject(st, v1alpha1.ReasonInvalid, errs.ToAggregate().Error())
			continue
		}
		p.status = st
		parsed = append(parsed, p)
	}
	// From here on templates are in name order: index order is tie-break order.
	sort.Slice(parsed, func(i, j int) bool { return parsed[i].obj.Name < parsed[j].obj.Name })

	s := c.s
	s.templates = make([]template, len(parsed))
	s.policies = make([]*Policy, len(parsed)*int(NumRoles))
	userClaim := map[string]int32{}
	c.groupClaim = make(map[int32]int32)
	for ti, p := range parsed {
		s.templates[ti] = template{name: p.obj.Name}
		t := int32(ti)
		at := &p.obj.Spec.AppliesTo
		for _, u := range at.Users {
			c.user(string(u))
			if w, ok := userClaim[string(u)]; ok {
				c.conflict(p, "user "+string(u), parsed[w].obj.Name)
				continue
			}
			userClaim[string(u)] = t
		}
		for _, g := range at.SalesGroups {
			gi, ok := groupIdx[string(g)]
			if !ok {
				continue // a group not (yet) in force governs nobody
			}
			if w, ok := c.groupClaim[gi]; ok {
				c.conflict(p, "sales group "+string(g), parsed[w].obj.Name)
				continue
			}
			c.groupClaim[gi] = t
		}
		for _, r := range p.roles {
			if w := s.roleClaim[r]; w >= 0 {
				c.conflict(p, "role "+r.String(), parsed[w].obj.Name)
				continue
			}
			s.roleClaim[r] = t
		}
		// A template naming users or groups may govern users of any role.
		roles := p.roles
		if len(at.Users) > 0 || len(at.SalesGroups) > 0 {
			roles = []Role{RoleAdministrator, RoleSalesManager, RoleSalesUser, RoleMarketingUser}
		}
		for _, r := range roles {
			s.policies[ti*int(NumRoles)+int(r)] = effective(p, r, c.entities)
		}
		restricted := effectiveRestricted(p)
		p.status.EffectiveRestrictedFeatures = restricted.List()
	}
	c.userClaim = userClaim
	c.parsed = parsed
}

// conflict records a claim a template loses to one whose name sorts first. Admission
// refuses such ties; one that slipped through concurrent writes makes the loser not
// ready (it is still enforced for the claims it wins), deterministically on every replica.
func (c *compiler) conflict(loser *parsedTemplate, what, winner string) {
	msg := fmt.Sprintf("%s is also claimed by template %s, which sorts first and governs it", what, winner)
	loser.status.Conflicts = append(loser.status.Conflicts, msg)
	loser.status.Ready, loser.status.Reason = false, v1alpha1.ReasonTie
	loser.status.Message = "Loses a tie: " + strings.Join(loser.status.Conflicts, "; ") + "; enforced only for the users, groups and roles it wins"
}

// effective merges template p over role r's baseline and caps every action by view.
func effective(p *parsedTemplate, r Role, entities entityTable) *Policy {
	out := &Policy{Template: p.obj.Name, Restricted: effectiveRestricted(p), SalesGroupUsers: p.obj.Spec.UserAccess == v1alpha1.UserAccessSalesGroupUsers}
	for e := Entity(0); e < NumEntities; e++ {
		ep := &EntityPolicy{}
		out.Entities[e] = ep
		for a := Action(0); a < NumRecordActions; a++ {
			if !e.Accepts(a) {
				continue
			}
			base := baselineScope(r, e, a)
			tp := p.perms[e][a]
			if tp == nil {
				ep.Perms[a] = Perm{Scope: base}
				continue
			}
			perm := Perm{BulkDeny: tp.Bulk == v1alpha1.BulkDeny}
			switch tp.Access {
			case v1alpha1.AccessNone:
				perm.Scope = ScopeNone
			default: // Full, Partial (parse refused anything else; "" is the Full default)
				perm.Scope, _ = parseScope(tp.Scope)
				if tp.Scope == "" {
					perm.Scope = max(base, ScopeOwn)
				}
				if tp.Access == v1alpha1.AccessPartial {
					perm.Partial = true
					perm.Fields = newStrSet(tp.Fields)
				}
			}
			ep.Perms[a] = perm
		}
		ep.Masked, ep.OwnerOnly, ep.HiddenTypes = p.masked[e], p.ownerOnly[e], p.hidden[e]
		if !e.Accepts(ActionView) {
			continue // users: no view, not capped
		}
		// Nobody acts on what they cannot see.
		view := ep.Perms[ActionView]
		for a := ActionCreate; a < NumRecordActions; a++ {
			ap := &ep.Perms[a]
			ap.Scope = min(ap.Scope, view.Scope)
			if view.Partial && (a == ActionCreate || a == ActionEdit) {
				ap.Fields = union(ap.Fields, view.Fields)
			}
		}
	}
	for e := range out.Entities {
		out.Entities[e] = entities.intern(out.Entities[e])
	}
	return out
}

// effectiveRestricted adds Reports and CustomApps when the template hides lead or
// opportunity fields and reportsWithHiddenFields is Restrict (the default).
func effectiveRestricted(p *parsedTemplate) Features {
	f := p.restricted
	if p.obj.Spec.ReportsWithHiddenFields != v1alpha1.ReportsAllow {
		for _, e := range []Entity{EntityLeads, EntityOpportunities} {
			if v := p.perms[e][ActionView]; v != nil && v.Access == v1alpha1.AccessPartial && len(v.Fields) > 0 {
				f |= 1<<featureIndex(v1alpha1.FeatureReports) | 1<<featureIndex(v1alpha1.FeatureCustomApps)
			}
		}
	}
	return f
}

func featureIndex(f v1alpha1.Feature) Feature {
	i, _ := ParseFeature(string(f))
	return i
}

// parseTemplate checks every name in a template and lays its permissions out by
// entity and action. The schema refuses the same things; this keeps a template that
// never went through the API server (files, fuzzing) from compiling into nonsense.
func parseTemplate(t *v1alpha1.PermissionTemplate) (*parsedTemplate, field.ErrorList) {
	p := &parsedTemplate{obj: t}
	sp := &t.Spec
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if len(sp.AppliesTo.Users)+len(sp.AppliesTo.Roles)+len(sp.AppliesTo.SalesGroups) == 0 {
		errs = append(errs, field.Required(spec.Child("appliesTo"), "must name at least one user, role or sales group"))
	}
	errs = append(errs, checkUserIDs(spec.Child("appliesTo", "users"), sp.AppliesTo.Users)...)
	for i, r := range sp.AppliesTo.Roles {
		path := spec.Child("appliesTo", "roles").Index(i)
		switch role, ok := ParseRole(string(r)); {
		case !ok:
			errs = append(errs, field.NotSupported(path, r, v1alpha1.GovernedRoles))
		case role == RoleSuperAdmin:
			errs = append(errs, field.Forbidden(path, "SuperAdmin is never governed by a template"))
		default:
			p.roles = append(p.roles, role)
		}
	}
	for i, f := range sp.RestrictedFeatures {
		bit := featureBit(f)
		if bit == 0 {
			errs = append(errs, field.NotSupported(spec.Child("restrictedFeatures").Index(i), f, Names(NumFeatures)))
		}
		p.restricted |= bit
	}
	if !oneOf(sp.UserAccess, v1alpha1.UserAccessAllUsers, v1alpha1.UserAccessSalesGroupUsers) {
		errs = append(errs, field.NotSupported(spec.Child("userAccess"), sp.UserAccess, []v1alpha1.UserAccess{v1alpha1.UserAccessAllUsers, v1alpha1.UserAccessSalesGroupUsers}))
	}
	if !oneOf(sp.ReportsWithHiddenFields, v1alpha1.ReportsRestrict, v1alpha1.ReportsAllow) {
		errs = append(errs, field.NotSupported(spec.Child("reportsWithHiddenFields"), sp.ReportsWithHiddenFields, []v1alpha1.ReportsPolicy{v1alpha1.ReportsRestrict, v1alpha1.ReportsAllow}))
	}
	for _, ep := range sp.Entities.List() {
		e, _ := ParseEntity(ep.Entity)
		errs = append(errs, p.setPerms(e, spec.Child("entities", ep.Entity), &ep.Permissions)...)
		p.masked[e], p.ownerOnly[e], p.hidden[e] = newStrSet(ep.MaskedFields), newStrSet(ep.OwnerOnlyFields), newStrSet(ep.HiddenTypes)
	}
	return p, errs
}

// oneOf says whether v is empty (the default) or one of values.
func oneOf[S ~string](v S, values ...S) bool { return v == "" || slices.Contains(values, v) }

// setPerms checks entity e's permissions against the table's rules and records them.
func (p *parsedTemplate) setPerms(e Entity, path *field.Path, perms *[NumRecordActions]*v1alpha1.Permission) field.ErrorList {
	var errs field.ErrorList
	for a, perm := range perms {
		if perm == nil {
			continue
		}
		action := Action(a)
		at := path.Child(action.String())
		switch perm.Access {
		case "", v1alpha1.AccessFull, v1alpha1.AccessNone:
			if len(perm.Fields) > 0 {
				errs = append(errs, field.Forbidden(at.Child("fields"), "may be set only when access is Partial"))
			}
		case v1alpha1.AccessPartial:
			if !action.AcceptsPartial() {
				errs = append(errs, field.Forbidden(at.Child("access"), "Partial access is allowed only on "+list(Action.AcceptsPartial)))
			}
			if len(perm.Fields) == 0 {
				errs = append(errs, field.Required(at.Child("fields"), "required when access is Partial"))
			}
		default:
			errs = append(errs, field.NotSupported(at.Child("access"), perm.Access, []v1alpha1.Access{v1alpha1.AccessFull, v1alpha1.AccessPartial, v1alpha1.AccessNone}))
		}
		if perm.Scope != "" {
			if _, ok := parseScope(perm.Scope); !ok {
				errs = append(errs, field.NotSupported(at.Child("scope"), perm.Scope, scopeNames[1:]))
			}
		}
		switch {
		case !oneOf(perm.Bulk, v1alpha1.BulkAllow, v1alpha1.BulkDeny):
			errs = append(errs, field.NotSupported(at.Child("bulk"), perm.Bulk, []v1alpha1.Bulk{v1alpha1.BulkAllow, v1alpha1.BulkDeny}))
		case perm.Bulk != "" && !action.AcceptsBulk():
			errs = append(errs, field.Forbidden(at.Child("bulk"), "bulk is allowed only on "+list(Action.AcceptsBulk)))
		}
		p.perms[e][a] = perm
	}
	return errs
}

// list names the record actions for which accepts holds: "view, create and edit".
func list(accepts func(Action) bool) string {
	var names []string
	for a := range NumRecordActions {
		if accepts(a) {
			names = append(names, a.String())
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
