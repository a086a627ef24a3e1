package testenv

import "github.com/crmauthz/crmauthz/internal/service"

// SampleQuestions are checks about config/samples (tenant acme) for tests that hold
// two deciders to each other: users of every sample group and template and one the
// policy does not name, each role, leads of several owners, and features. Between
// them they are allowed and denied for many reasons.
func SampleQuestions() []service.CheckRequest {
	var qs []service.CheckRequest
	for _, user := range []string{"u-1", "u-2", "u-4", "u-10", "u-15", "u-17", "u-21", "u-99"} {
		for _, role := range []string{"Administrator", "SalesManager", "SalesUser", "MarketingUser"} {
			sub := service.Subject{User: user, Role: role}
			for _, owner := range []string{user, "u-16", "u-20"} {
				for _, action := range []string{"view", "edit", "delete"} {
					qs = append(qs, service.CheckRequest{Tenant: "acme", Subject: sub, Action: action,
						Resource: service.Resource{Entity: "leads", ID: "L-1", Owner: owner}, Fields: []string{"Stage", "Phone"}})
				}
			}
			for _, f := range []string{"Reports", "Dashboard", "Accounts"} {
				qs = append(qs, service.CheckRequest{Tenant: "acme", Subject: sub, Action: "access", Resource: service.Resource{Feature: f}})
			}
		}
	}
	return qs
}
