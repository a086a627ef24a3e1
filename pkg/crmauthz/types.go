// Package crmauthz is the Go SDK of the crmauthz decision API: a Client for a crmauthz
// server (`crmauthz manager` in a cluster, `crmauthz serve` from files) and an embedded
// decision point that decides in the caller's process on the same engine.
//
// The request and response types are the server's own (docs/api.md names every field),
// so a client and the server cannot disagree on a field's name or type.
package crmauthz

import (
	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/service"
)

// The decision API's shapes.
type (
	// Subject is the asking user and the role the CRM gives them.
	Subject = service.Subject
	// Resource is the record asked about (or, with action access, the feature).
	Resource = service.Resource
	// Context is where the request comes from: the client's address and the channel.
	Context = service.Context
	// CheckRequest is POST /v1/check.
	CheckRequest = service.CheckRequest
	// CheckResponse is a decision.
	CheckResponse = service.CheckResponse
	// FieldsOut are the fields the CRM hides and masks on an allowed view.
	FieldsOut = service.FieldsOut
	// BatchItem is one check of a batch.
	BatchItem = service.BatchItem
	// BatchRequest is POST /v1/checks.
	BatchRequest = service.BatchRequest
	// BatchResponse holds a batch's decisions in request order.
	BatchResponse = service.BatchResponse
	// FilterRequest is POST /v1/filter.
	FilterRequest = service.FilterRequest
	// FilterResponse is a query plan for the CRM's database.
	FilterResponse = service.FilterResponse
	// VisibleRequest is POST /v1/users/visible.
	VisibleRequest = service.VisibleRequest
	// VisibleResponse lists whom the user sees in user pickers.
	VisibleResponse = service.VisibleResponse
	// LoginRequest is POST /v1/login.
	LoginRequest = service.LoginRequest
	// LoginResponse answers a login.
	LoginResponse = service.LoginResponse
	// SessionRequest is POST /v1/session.
	SessionRequest = service.SessionRequest
	// SessionResponse says whether a session stays valid.
	SessionResponse = service.SessionResponse
	// PasswordRequest is POST /v1/password.
	PasswordRequest = service.PasswordRequest
	// PasswordResponse lists what a password misses.
	PasswordResponse = service.PasswordResponse
	// TenantDescription is GET /v1/tenants/{tenant}.
	TenantDescription = service.TenantDescription
	// Reason says why a decision was made (docs/api.md, decision reasons).
	Reason = engine.Reason
	// Step is one step of an explain trace.
	Step = engine.Step
)

// MaxBatch is the most checks one POST /v1/checks holds; Client.CheckAll splits
// longer lists.
const MaxBatch = service.MaxBatch
