package policy

import (
	"fmt"
	"sort"
	"strings"

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
	seen := map[string]bool{}
	for _, t := range ts {
		st := c.status(KindPermissionTemplate, t.Name, t.Generation)
		if seen[t.Name] {
			reject(st, v1alpha1.ReasonInvalid, "another PermissionTemplate has the same name")
			continue
		}
		seen[t.Name] = true
		if len(parsed) >= MaxTemplates {
			reject(st, v1alpha1.ReasonTemplateLimit, fmt.Sprintf("the namespace already has %d templates in force (the most a CRM account may have); this one is newer", MaxTemplates))
			continue
		}
		p, err := parseTemplate(t)
		if err != nil {
			reject(st, v1alpha1.ReasonInvalid, err.Error())
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
func parseTemplate(t *v1alpha1.PermissionTemplate) (*parsedTemplate, error) {
	p := &parsedTemplate{obj: t}
	sp := &t.Spec
	if len(sp.AppliesTo.Users)+len(sp.AppliesTo.Roles)+len(sp.AppliesTo.SalesGroups) == 0 {
		return nil, fmt.Errorf("spec.appliesTo: must name at least one user, role or sales group")
	}
	if err := checkUserIDs("spec.appliesTo.users", sp.AppliesTo.Users); err != nil {
		return nil, err
	}
	for i, r := range sp.AppliesTo.Roles {
		role, ok := ParseRole(string(r))
		if !ok {
			return nil, fmt.Errorf("spec.appliesTo.roles[%d]: unknown role %q", i, r)
		}
		if role == RoleSuperAdmin {
			return nil, fmt.Errorf("spec.appliesTo.roles[%d]: SuperAdmin is never governed by a template", i)
		}
		p.roles = append(p.roles, role)
	}
	for i, f := range sp.RestrictedFeatures {
		bit := featureBit(f)
		if bit == 0 {
			return nil, fmt.Errorf("spec.restrictedFeatures[%d]: unknown feature %q", i, f)
		}
		p.restricted |= bit
	}
	switch sp.UserAccess {
	case "", v1alpha1.UserAccessAllUsers, v1alpha1.UserAccessSalesGroupUsers:
	default:
		return nil, fmt.Errorf("spec.userAccess: unknown value %q", sp.UserAccess)
	}
	switch sp.ReportsWithHiddenFields {
	case "", v1alpha1.ReportsRestrict, v1alpha1.ReportsAllow:
	default:
		return nil, fmt.Errorf("spec.reportsWithHiddenFields: unknown value %q", sp.ReportsWithHiddenFields)
	}
	en := &sp.Entities
	type lists struct{ masked, ownerOnly []v1alpha1.FieldName }
	record := func(e Entity, rp *v1alpha1.RecordPermissions) (lists, error) {
		if rp == nil {
			return lists{}, nil
		}
		return lists{rp.MaskedFields, rp.OwnerOnlyFields}, p.setPerms(e, map[Action]*v1alpha1.Permission{
			ActionView: rp.View, ActionCreate: rp.Create, ActionEdit: rp.Edit, ActionDelete: rp.Delete,
			ActionExport: rp.Export, ActionImport: rp.Import, ActionReassign: rp.Reassign,
		})
	}
	for _, x := range []struct {
		e  Entity
		rp *v1alpha1.RecordPermissions
	}{{EntityLeads, en.Leads}, {EntityOpportunities, en.Opportunities}, {EntityAccounts, en.Accounts}} {
		l, err := record(x.e, x.rp)
		if err != nil {
			return nil, err
		}
		p.masked[x.e], p.ownerOnly[x.e] = newStrSet(l.masked), newStrSet(l.ownerOnly)
	}
	if a := en.Activities; a != nil {
		if err := p.setPerms(EntityActivities, map[Action]*v1alpha1.Permission{
			ActionView: a.View, ActionCreate: a.Create, ActionEdit: a.Edit, ActionDelete: a.Delete,
			ActionExport: a.Export, ActionImport: a.Import,
		}); err != nil {
			return nil, err
		}
		p.masked[EntityActivities], p.ownerOnly[EntityActivities], p.hidden[EntityActivities] = newStrSet(a.MaskedFields), newStrSet(a.OwnerOnlyFields), newStrSet(a.HiddenTypes)
	}
	if tk := en.Tasks; tk != nil {
		if err := p.setPerms(EntityTasks, map[Action]*v1alpha1.Permission{
			ActionView: tk.View, ActionCreate: tk.Create, ActionEdit: tk.Edit, ActionDelete: tk.Delete,
			ActionExport: tk.Export, ActionReassign: tk.Reassign, ActionMarkComplete: tk.MarkComplete,
		}); err != nil {
			return nil, err
		}
		p.masked[EntityTasks], p.ownerOnly[EntityTasks], p.hidden[EntityTasks] = newStrSet(tk.MaskedFields), newStrSet(tk.OwnerOnlyFields), newStrSet(tk.HiddenTypes)
	}
	if u := en.Users; u != nil {
		if err := p.setPerms(EntityUsers, map[Action]*v1alpha1.Permission{ActionCreate: u.Create, ActionEdit: u.Edit}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *parsedTemplate) setPerms(e Entity, perms map[Action]*v1alpha1.Permission) error {
	for a, perm := range perms {
		if perm == nil {
			continue
		}
		path := fmt.Sprintf("spec.entities.%s.%s", e, a)
		switch perm.Access {
		case "", v1alpha1.AccessFull, v1alpha1.AccessNone:
			if len(perm.Fields) > 0 {
				return fmt.Errorf("%s.fields: may be set only when access is Partial", path)
			}
		case v1alpha1.AccessPartial:
			if a != ActionView && a != ActionCreate && a != ActionEdit {
				return fmt.Errorf("%s.access: Partial access is allowed only on view, create and edit", path)
			}
			if len(perm.Fields) == 0 {
				return fmt.Errorf("%s.fields: required when access is Partial", path)
			}
		default:
			return fmt.Errorf("%s.access: unknown value %q", path, perm.Access)
		}
		if perm.Scope != "" {
			if _, ok := parseScope(perm.Scope); !ok {
				return fmt.Errorf("%s.scope: unknown value %q", path, perm.Scope)
			}
		}
		switch perm.Bulk {
		case "", v1alpha1.BulkAllow, v1alpha1.BulkDeny:
			if perm.Bulk != "" && a != ActionCreate && a != ActionEdit && a != ActionDelete {
				return fmt.Errorf("%s.bulk: bulk is allowed only on create, edit and delete", path)
			}
		default:
			return fmt.Errorf("%s.bulk: unknown value %q", path, perm.Bulk)
		}
		p.perms[e][a] = perm
	}
	return nil
}
