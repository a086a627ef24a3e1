package service

import "github.com/crmauthz/crmauthz/internal/engine"

// The JSON shapes of the decision API (docs/api.md). Field names are the contract: do not rename them.

// Subject is the asking user.
type Subject struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// Resource is the record (or, for action access, the feature) asked about.
type Resource struct {
	Entity     string   `json:"entity,omitempty"`
	ID         string   `json:"id,omitempty"`
	Owner      string   `json:"owner,omitempty"`
	SharedWith []string `json:"sharedWith,omitempty"`
	Type       string   `json:"type,omitempty"`
	Feature    string   `json:"feature,omitempty"`
}

// Context is where the request comes from.
type Context struct {
	IP      string `json:"ip,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// CheckRequest is POST /v1/check.
type CheckRequest struct {
	Tenant      string   `json:"tenant"`
	Subject     Subject  `json:"subject"`
	Action      string   `json:"action"`
	Resource    Resource `json:"resource"`
	Fields      []string `json:"fields,omitempty"`
	EmptyFields []string `json:"emptyFields,omitempty"`
	Bulk        bool     `json:"bulk,omitempty"`
	Context     Context  `json:"context"`
	Explain     bool     `json:"explain,omitempty"`
}

// FieldsOut tells the CRM which fields to hide and mask on an allowed view.
type FieldsOut struct {
	Hidden []string `json:"hidden"`
	Masked []string `json:"masked"`
}

// CheckResponse is a decision.
type CheckResponse struct {
	Allowed      bool          `json:"allowed"`
	Reason       engine.Reason `json:"reason"`
	Message      string        `json:"message"`
	Template     string        `json:"template"`
	DeniedFields []string      `json:"deniedFields"`
	Fields       FieldsOut     `json:"fields"`
	Revision     string        `json:"revision"`
	DecisionID   string        `json:"decisionId"`
	Trace        []engine.Step `json:"trace,omitempty"`
}

// BatchItem is one check of a batch; tenant, subject and context are the batch's.
type BatchItem struct {
	Action      string   `json:"action"`
	Resource    Resource `json:"resource"`
	Fields      []string `json:"fields,omitempty"`
	EmptyFields []string `json:"emptyFields,omitempty"`
	Bulk        bool     `json:"bulk,omitempty"`
	Explain     bool     `json:"explain,omitempty"`
}

// BatchRequest is POST /v1/checks.
type BatchRequest struct {
	Tenant  string      `json:"tenant"`
	Subject Subject     `json:"subject"`
	Context Context     `json:"context"`
	Checks  []BatchItem `json:"checks"`
}

// BatchResponse holds the results in request order.
type BatchResponse struct {
	Results []CheckResponse `json:"results"`
}

// FilterRequest is POST /v1/filter.
type FilterRequest struct {
	Tenant  string  `json:"tenant"`
	Subject Subject `json:"subject"`
	Action  string  `json:"action"`
	Entity  string  `json:"entity"`
	Context Context `json:"context"`
}

// FilterResponse is a query plan: owner IN owners OR sharedWith CONTAINS sharedWith.
type FilterResponse struct {
	Kind         engine.FilterKind `json:"kind"`
	Owners       []string          `json:"owners"`
	SharedWith   string            `json:"sharedWith,omitempty"`
	HiddenFields []string          `json:"hiddenFields"`
	MaskedFields []string          `json:"maskedFields"`
	HiddenTypes  []string          `json:"hiddenTypes"`
	Reason       engine.Reason     `json:"reason"`
	Template     string            `json:"template"`
	Revision     string            `json:"revision"`
	DecisionID   string            `json:"decisionId"`
}

// VisibleRequest is POST /v1/users/visible.
type VisibleRequest struct {
	Tenant  string  `json:"tenant"`
	Subject Subject `json:"subject"`
}

// VisibleResponse lists whom the user sees in pickers; users is omitted with all.
type VisibleResponse struct {
	All        bool          `json:"all"`
	Users      []string      `json:"users,omitempty"`
	Reason     engine.Reason `json:"reason"`
	Revision   string        `json:"revision"`
	DecisionID string        `json:"decisionId"`
}

// LoginRequest is POST /v1/login.
type LoginRequest struct {
	Tenant               string  `json:"tenant"`
	Subject              Subject `json:"subject"`
	IP                   string  `json:"ip,omitempty"`
	Provider             string  `json:"provider"`
	SecondFactorVerified bool    `json:"secondFactorVerified,omitempty"`
	TrustedDeviceSince   string  `json:"trustedDeviceSince,omitempty"`
}

// SessionOut is the session a login opens.
type SessionOut struct {
	ExpiresAt   string `json:"expiresAt,omitempty"`
	IdleTimeout string `json:"idleTimeout,omitempty"`
}

// LoginResponse answers a login.
type LoginResponse struct {
	Allowed             bool          `json:"allowed"`
	Reason              engine.Reason `json:"reason"`
	Message             string        `json:"message"`
	RequireSecondFactor bool          `json:"requireSecondFactor"`
	Session             *SessionOut   `json:"session,omitempty"`
	Revision            string        `json:"revision"`
	DecisionID          string        `json:"decisionId"`
}

// SessionRequest is POST /v1/session.
type SessionRequest struct {
	Tenant         string  `json:"tenant"`
	Subject        Subject `json:"subject"`
	IP             string  `json:"ip,omitempty"`
	IssuedAt       string  `json:"issuedAt"`
	LastActivityAt string  `json:"lastActivityAt,omitempty"`
}

// SessionResponse says whether the session stays valid.
type SessionResponse struct {
	Allowed    bool          `json:"allowed"`
	Reason     engine.Reason `json:"reason"`
	Message    string        `json:"message"`
	Revision   string        `json:"revision"`
	DecisionID string        `json:"decisionId"`
}

// PasswordRequest is POST /v1/password. The password is never logged.
type PasswordRequest struct {
	Tenant    string `json:"tenant"`
	Password  string `json:"password"`
	ChangedAt string `json:"changedAt,omitempty"`
}

// PasswordResponse lists what the password misses.
type PasswordResponse struct {
	Valid      bool          `json:"valid"`
	Violations []string      `json:"violations"`
	Reason     engine.Reason `json:"reason,omitempty"`
	Revision   string        `json:"revision"`
	DecisionID string        `json:"decisionId"`
}
