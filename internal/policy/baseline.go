package policy

// baselineScope is SPEC §3.2: what each role may do where no template says otherwise.
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
func baselinePolicy(r Role) *Policy {
	p := &Policy{All: r == RoleSuperAdmin}
	for e := Entity(0); e < NumEntities; e++ {
		for a := Action(0); a < NumRecordActions; a++ {
			p.Entities[e].Perms[a].Scope = baselineScope(r, e, a)
		}
	}
	return p
}
