package tenantgen

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
)

// Requests returns n check requests against t (as tenant "acme"), mixing what a CRM
// asks: views and edits by members and managers of records of teammates, of other
// branches, shared and their own; field edits; bulk; features; the API channel;
// SuperAdmins. The benchmarks and the OPA comparison ask the same requests.
func Requests(t *Tenant, n int, seed uint64) []service.CheckRequest {
	r := rand.New(rand.NewPCG(seed, 7))
	roles := []string{"SalesUser", "SalesUser", "SalesManager", "MarketingUser", "Administrator", "SuperAdmin"}
	entities := policy.Names(policy.NumEntities)
	actions := map[string][]string{
		"leads": {"view", "create", "edit", "delete", "export", "import", "reassign"}, "opportunities": {"view", "edit", "delete"},
		"accounts": {"view", "edit"}, "activities": {"view", "create", "edit", "export"},
		"tasks": {"view", "edit", "markComplete", "reassign"}, "users": {"create", "edit"},
	}
	features := make([]string, len(v1alpha1.Features))
	for i, f := range v1alpha1.Features {
		features[i] = string(f)
	}
	sort.Strings(features)
	out := make([]service.CheckRequest, 0, n)
	for len(out) < n {
		g := r.IntN(len(t.GroupNames))
		members := t.Members[g]
		if len(members) == 0 {
			continue
		}
		user := members[r.IntN(len(members))]
		if r.IntN(5) == 0 {
			user = t.Managers[r.IntN(len(t.Managers))]
		}
		q := service.CheckRequest{Tenant: "acme", Subject: service.Subject{User: user, Role: roles[r.IntN(len(roles))]}}
		if r.IntN(8) == 0 {
			q.Action = "access"
			q.Resource.Feature = features[r.IntN(len(features))]
			out = append(out, q)
			continue
		}
		q.Resource.Entity = entities[r.IntN(len(entities))]
		as := actions[q.Resource.Entity]
		q.Action = as[r.IntN(len(as))]
		q.Resource.ID = fmt.Sprintf("R-%d", len(out))
		switch r.IntN(4) {
		case 0:
			q.Resource.Owner = user
		case 1:
			q.Resource.Owner = members[r.IntN(len(members))]
		case 2:
			q.Resource.Owner = t.Users[r.IntN(len(t.Users))]
		default:
			q.Resource.Owner = t.Users[r.IntN(len(t.Users))]
			q.Resource.SharedWith = []string{user}
		}
		if q.Resource.Entity == "users" {
			q.Resource.Owner, q.Resource.SharedWith = "", nil
		}
		if q.Resource.Entity == "activities" || q.Resource.Entity == "tasks" {
			q.Resource.Type = []string{"Call", "SalesCall", "Payment", "Email"}[r.IntN(4)]
		}
		if q.Action == "edit" || q.Action == "create" {
			for _, f := range LeadFields {
				if r.IntN(5) == 0 {
					q.Fields = append(q.Fields, f)
				}
			}
			if len(q.Fields) > 0 && r.IntN(2) == 0 {
				q.EmptyFields = []string{q.Fields[0]}
			}
			q.Bulk = r.IntN(6) == 0
		}
		if q.Action == "delete" {
			q.Bulk = r.IntN(6) == 0
		}
		if r.IntN(10) == 0 {
			q.Context.Channel = "API"
		}
		// The CRM sends the client's address: mostly an office's, sometimes another, a
		// Tor exit, or none (a UI request then skips the IP rules; an API call fails).
		q.Context.IP = []string{"203.0.113.7", "203.0.113.7", "198.51.100.23", "192.0.2.44", "203.0.113.66", ""}[r.IntN(6)]
		out = append(out, q)
	}
	return out
}
