# The crmauthz check (every step of its evaluation order, IP rules included) written as
# a platform team would write it for OPA: the same semantics, over the same policy
# objects (data.crm, written by bench/cmd/gen from the generated tenant), with group
# ancestors precomputed in data as OPA users do for hierarchies.
package crm

import rego.v1

accepts := {
	"leads": {"view", "create", "edit", "delete", "export", "import", "reassign"},
	"opportunities": {"view", "create", "edit", "delete", "export", "import", "reassign"},
	"accounts": {"view", "create", "edit", "delete", "export", "import", "reassign"},
	"activities": {"view", "create", "edit", "delete", "export", "import"},
	"tasks": {"view", "create", "edit", "delete", "export", "reassign", "markComplete"},
	"users": {"create", "edit"},
}

rank := {"None": 0, "Own": 1, "Shared": 2, "Team": 3, "All": 4}

user := input.subject.user

role := input.subject.role

entity := input.resource.entity

action := input.action

owner := o if {
	o := object.get(input.resource, "owner", "")
	o != ""
} else := user if action == "create"

else := ""

# The role baselines (docs/concepts.md, "Role baselines").
baseline(e, a) := "None" if not a in accepts[e]
else := "All" if role in {"SuperAdmin", "Administrator"}
else := "None" if e == "users"
else := "Team" if role == "SalesManager"
else := "Shared" if {
	role == "SalesUser"
	a in {"view", "create", "edit", "markComplete"}
} else := "All" if {
	role == "MarketingUser"
	e == "leads"
	a in {"view", "create", "edit", "export", "import"}
} else := "All" if {
	role == "MarketingUser"
	e in {"opportunities", "accounts", "activities"}
	a == "view"
} else := "None"

# Which template governs: user > sales group > role > none (ties already resolved in data).
template_name := "" if role == "SuperAdmin"
else := t if t := data.crm.claims.users[user]
else := min(names) if {
	names := {data.crm.claims.groups[g] | some g in data.crm.users[user].groups}
	count(names) > 0
} else := t if t := data.crm.claims.roles[role]
else := ""

template := data.crm.templates[template_name]

perm(e, a) := template.entities[e][a]

access(e, a) := object.get(perm(e, a), "access", "Full")

# The template's scope for an action, or the baseline's where it sets none.
own_scope(e, a) := "None" if access(e, a) == "None"
else := s if {
	s := object.get(perm(e, a), "scope", "")
	s != ""
} else := s if {
	perm(e, a)
	b := baseline(e, a)
	s := ["Own", b][to_number(rank[b] > 0)]
} else := baseline(e, a)

# Nobody acts on what they cannot see: capped by view.
scope := own_scope(entity, action) if entity == "users"
else := s if {
	a := own_scope(entity, action)
	v := own_scope(entity, "view")
	s := [a, v][to_number(rank[v] < rank[a])]
}

hidden_view := {f | access(entity, "view") == "Partial"; some f in perm(entity, "view").fields}

restricted_fields := {f | access(entity, action) == "Partial"; some f in perm(entity, action).fields}

features contains f if some f in template.restrictedFeatures

features contains f if {
	object.get(template, "reportsWithHiddenFields", "Restrict") != "Allow"
	some e in {"leads", "opportunities"}
	access(e, "view") == "Partial"
	some f in {"Reports", "CustomApps"}
}

in_scope if scope == "All"

in_scope if entity == "users" # users have no owner

in_scope if {
	rank[scope] >= 1
	owner == user
}

in_scope if {
	rank[scope] >= 2
	user in object.get(input.resource, "sharedWith", [])
}

in_scope if {
	rank[scope] >= 3
	some g in data.crm.users[owner].groups
	g in data.crm.users[user].groups
}

in_scope if {
	rank[scope] >= 3
	some g in data.crm.users[owner].groups
	some m in data.crm.users[user].managed
	m in data.crm.groups[g].ancestors
}

field_denied(f) if f in restricted_fields

field_denied(f) if f in hidden_view

field_denied(f) if {
	f in object.get(template.entities[entity], "maskedFields", [])
	not f in object.get(input, "emptyFields", [])
}

field_denied(f) if {
	f in object.get(template.entities[entity], "ownerOnlyFields", [])
	owner != user
}

denied_fields := [f | some f in object.get(input, "fields", []); field_denied(f)] if action in {"create", "edit"}

else := []

# IP rules: the allowlists that name the channel (API for API, Login for UI and
# Mobile) and the role (or every role); an anonymous-proxy list refuses its addresses.
channel := object.get(input, ["context", "channel"], "UI")

ip_channel := "API" if channel == "API"

else := "Login"

ip := object.get(input, ["context", "ip"], "")

applies(al) if {
	ip_channel in al.channels
	count(al.roles) == 0
}

applies(al) if {
	ip_channel in al.channels
	role in al.roles
}

ip_checked if ip_checked_by_allowlist

ip_checked if {
	some al in data.crm.allowlists
	al.block
	ip_channel in al.channels
}

anonymous_proxy if {
	some al in data.crm.allowlists
	al.block
	ip_channel in al.channels
	some c in al.proxies
	net.cidr_contains(c, ip)
}

ip_checked_by_allowlist if {
	some al in data.crm.allowlists
	applies(al)
}

ip_in_allowlist if {
	some al in data.crm.allowlists
	applies(al)
	some c in al.cidrs
	net.cidr_contains(c, ip)
}

reason := "FeatureRestricted" if {
	channel == "API"
	"API" in features
} else := "IPNotAllowed" if {
	ip == ""
	channel == "API"
	ip_checked
} else := "AnonymousProxy" if {
	ip != ""
	anonymous_proxy
} else := "IPNotAllowed" if {
	ip != ""
	ip_checked_by_allowlist
	not ip_in_allowlist
} else := "FeatureRestricted" if {
	action == "access"
	input.resource.feature in features
} else := "Allowed" if action == "access"
else := "FeatureRestricted" if {
	entity == "accounts"
	"Accounts" in features
} else := "TypeHidden" if {
	t := object.get(input.resource, "type", "")
	t in object.get(template.entities[entity], "hiddenTypes", [])
} else := "ActionDenied" if scope == "None"
else := "OutOfScope" if not in_scope
else := "BulkDenied" if {
	object.get(input, "bulk", false)
	object.get(perm(entity, action), "bulk", "Allow") == "Deny"
} else := "FieldRestricted" if count(denied_fields) > 0
else := "Allowed"

decision := {"allowed": reason == "Allowed", "reason": reason}
