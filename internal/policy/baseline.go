package policy

import "strings"

// baselineScope (docs/concepts.md, "Role baselines"): what each role may do where no template says otherwise.
func baselineScope(r Role, e Entity, a Action) Scope {
	if !e.Accepts(a) {
		return ScopeNone
	}
	switch r {
	case RoleSuperAdmin, RoleAdministrator:
		return ScopeAll
	case RoleSalesManager:
		if e == EntityUsers {
			return ScopeNone
		}
		return ScopeTeam
	case RoleSalesUser:
		if e == EntityUsers {
			return ScopeNone
		}
		switch a {
		case ActionView, ActionCreate, ActionEdit, ActionMarkComplete:
			return ScopeShared
		}
		return ScopeNone
	case RoleMarketingUser:
		switch e {
		case EntityLeads:
			switch a {
			case ActionView, ActionCreate, ActionEdit, ActionExport, ActionImport:
				return ScopeAll
			}
		case EntityOpportunities, EntityAccounts, EntityActivities:
			if a == ActionView {
				return ScopeAll
			}
		}
		return ScopeNone
	}
	return ScopeNone
}

// baselinePolicy is the effective policy of a role with no template.
func baselinePolicy(r Role, entities entityTable) *Policy {
	p := &Policy{}
	for e := Entity(0); e < NumEntities; e++ {
		var ep EntityPolicy
		for a := Action(0); a < NumRecordActions; a++ {
			ep.Perms[a].Scope = baselineScope(r, e, a)
		}
		p.Entities[e] = entities.intern(&ep)
	}
	return p
}

// entityTable keeps one copy of each distinct EntityPolicy of a tenant: a tenant's
// 50 templates × 4 roles × 6 entities are mostly a few dozen distinct ones.
type entityTable map[string]*EntityPolicy

func (t entityTable) intern(ep *EntityPolicy) *EntityPolicy {
	k := ep.key()
	if p, ok := t[k]; ok {
		return p
	}
	p := new(EntityPolicy)
	*p = *ep
	t[k] = p
	return p
}

// key spells out everything an EntityPolicy decides.
func (ep *EntityPolicy) key() string {
	var b strings.Builder
	set := func(s *StrSet) {
		for _, x := range s.Items() {
			b.WriteString(x)
			b.WriteByte(0)
		}
		b.WriteByte(1)
	}
	for _, p := range ep.Perms {
		b.WriteByte(byte(p.Scope))
		b.WriteByte(boolByte(p.BulkDeny)<<1 | boolByte(p.Partial))
		set(p.Fields)
	}
	set(ep.Masked)
	set(ep.OwnerOnly)
	set(ep.HiddenTypes)
	return b.String()
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
