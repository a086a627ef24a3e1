package service

import "github.com/crmauthz/crmauthz/internal/engine"

// The shapes of the OpenID AuthZEN Authorization API 1.0 (docs/authzen.md), one PDP per
// tenant. Decoding follows the standard, not §3.4's strict rules: members we do not
// read are skipped (its forward-compatibility rule), while a member given twice, a
// value of the wrong type or a body that is not one JSON object still refuse it.

// AZSubject is an AuthZEN subject: {"type":"user","id":…,"properties":{"role":…}}.
type AZSubject struct {
	Given    bool // the member was in the body
	Type, ID string
	Role     string // properties.role
}

// AZResource is an AuthZEN resource: a record ({"type":"leads","id":…,"properties":
// {owner, sharedWith, type, fields, emptyFields, bulk}}) or a feature ({"type":"feature",
// "id":"Dashboard"}).
type AZResource struct {
	Given       bool
	Type, ID    string
	Owner       string
	SharedWith  []string
	RecordType  string // properties.type: the record type (a lead's "Partner", say)
	Fields      []string
	EmptyFields []string
	Bulk        bool
}

// AZAction is an AuthZEN action: {"name":"edit"}.
type AZAction struct {
	Given bool
	Name  string
}

// AZContext is where the request comes from: {"ip":…,"channel":…}.
type AZContext struct {
	Given       bool
	IP, Channel string
}

// AZPage is a search's page request; Limit is -1 when not given.
type AZPage struct {
	Limit int
	Token string
}

// AuthZENRequest is any AuthZEN request: an evaluation, an evaluations batch (its
// members are the defaults of every item) or a search. Tenant comes from the path.
type AuthZENRequest struct {
	Tenant   string
	Subject  AZSubject
	Action   AZAction
	Resource AZResource
	Context  AZContext
	// Evaluations are the items of an evaluations request as JSON text: each is decoded
	// on its own, so that a bad item is that item's denial, not the whole batch's 400.
	Evaluations []string
	// Semantic is options.evaluations_semantic.
	Semantic string
	Page     AZPage
}

// AZItem is one item of an evaluations request, before the defaults fill it in.
type AZItem struct {
	Subject  AZSubject
	Action   AZAction
	Resource AZResource
	Context  AZContext
}

// The evaluations semantics of AuthZEN 1.0.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// AZDecision is an evaluation's answer.
type AZDecision struct {
	Decision bool               `json:"decision"`
	Context  *AZDecisionContext `json:"context,omitempty"`
}

// AZDecisionContext carries the native answer's details: the decision id, the reason
// for administrators, and on decided record checks the fields to hide and mask.
type AZDecisionContext struct {
	ID           string     `json:"id"`
	ReasonAdmin  AZReason   `json:"reason_admin"`
	DeniedFields []string   `json:"deniedFields,omitzero"` // [] when decided, left out when not
	Fields       *FieldsOut `json:"fields,omitempty"`
	// Error is set on a request that could not be decided (the standard's shape for
	// an item's error): the decision is then false.
	Error *AZError `json:"error,omitempty"`
}

// AZReason is the native reason, message, governing template and revision.
type AZReason struct {
	Reason   engine.Reason `json:"reason"`
	Message  string        `json:"message"`
	Template string        `json:"template,omitempty"`
	Revision string        `json:"revision"`
	// Field names the member that made the request undecidable.
	Field string `json:"field,omitempty"`
}

// AZError is why an item could not be decided.
type AZError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// AZEvaluations answers an evaluations request, in request order (shorter when a
// short-circuiting semantic stopped early).
type AZEvaluations struct {
	Evaluations []AZDecision `json:"evaluations"`
}

// AZEntity is a search result: a subject or resource ({type, id}) or an action
// ({name}).
type AZEntity struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// AZPageOut is a search answer's page: next_token is "" on the last page.
type AZPageOut struct {
	NextToken string `json:"next_token"`
	Count     int    `json:"count"`
	Total     int    `json:"total"`
}

// AZSearchContext says why a search found nothing, and for records the query plan.
type AZSearchContext struct {
	ID          string          `json:"id"`
	ReasonAdmin *AZReason       `json:"reason_admin,omitempty"`
	Filter      *FilterResponse `json:"filter,omitempty"`
}

// AZSearch answers a search.
type AZSearch struct {
	Page    AZPageOut        `json:"page"`
	Context *AZSearchContext `json:"context,omitempty"`
	Results []AZEntity       `json:"results"`
}

// AZMetadata is a tenant's PDP metadata document.
type AZMetadata struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
	SearchSubjectEndpoint     string `json:"search_subject_endpoint"`
	SearchResourceEndpoint    string `json:"search_resource_endpoint"`
	SearchActionEndpoint      string `json:"search_action_endpoint"`
}

// AuthZENMetadata is the metadata of the PDP whose identifier is base
// (https://host/tenants/{tenant}): the standard's default paths under it.
func AuthZENMetadata(base string) AZMetadata {
	return AZMetadata{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + "/access/v1/evaluation",
		AccessEvaluationsEndpoint: base + "/access/v1/evaluations",
		SearchSubjectEndpoint:     base + "/access/v1/search/subject",
		SearchResourceEndpoint:    base + "/access/v1/search/resource",
		SearchActionEndpoint:      base + "/access/v1/search/action",
	}
}
