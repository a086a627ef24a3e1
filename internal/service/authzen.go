package service

import (
	"slices"
	"strconv"
	"strings"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/strictjson"
)

// The AuthZEN 1.0 endpoints (docs/authzen.md). They decide exactly as the native API
// does, through parseItem and the engine; what differs is the shapes and which inputs
// are the request's fault:
//
//   - malformed: not one JSON object, a member given twice or of the wrong type, a
//     required member (subject.type/id, action.name, resource.type/id) missing. The
//     standard answers these 400 — or, for one item of a batch, that item's
//     decision false with the error in its context.
//   - undecidable: well formed, but naming what this tenant cannot decide on (no
//     properties.role, an unknown role, action, record type or feature, a bad
//     address). Always decision false with context.reason_admin saying why: an
//     AuthZEN subject's properties are free-form, so their absence is not a 400.
//
// Searches answer undecidable requests, unknown types and unknown users with empty
// results, as the standard's certification scenario asks.

// ReasonInvalid is the reason of a decision false because the request could not be
// decided (undecidable above, or a malformed batch item).
const ReasonInvalid engine.Reason = "InvalidArgument"

// azPaths are the native request's field names as AuthZEN spells them.
var azPaths = map[string]string{
	"action":              "action.name",
	"resource.entity":     "resource.type",
	"resource.feature":    "resource.id",
	"resource.owner":      "resource.properties.owner",
	"resource.sharedWith": "resource.properties.sharedWith",
	"resource.type":       "resource.properties.type",
	"fields":              "resource.properties.fields",
	"emptyFields":         "resource.properties.emptyFields",
	"bulk":                "resource.properties.bulk",
	"subject.role":        "subject.properties.role",
	"subject.user":        "subject.id",
}

// azRenamed renames a native error's field to its AuthZEN path.
func azRenamed(err error) error {
	ia, ok := AsInvalid(err)
	if !ok {
		return err
	}
	field := ia.Field
	for native, az := range azPaths {
		if field == native || strings.HasPrefix(field, native+"[") {
			field = az + strings.TrimPrefix(field, native)
			break
		}
	}
	return &InvalidArgument{Field: field, Message: ia.Message}
}

// required checks that the members an endpoint needs (nil: not needed) were given, with
// their identifiers: subjectID and resourceID say whether those must carry an id (the
// entity a search looks for need not).
func required(sub *AZSubject, subjectID bool, act *AZAction, res *AZResource, resourceID bool) error {
	if sub != nil {
		switch {
		case !sub.Given:
			return invalid("subject", "required")
		case sub.Type == "":
			return invalid("subject.type", "required")
		case subjectID && sub.ID == "":
			return invalid("subject.id", "required")
		}
	}
	if act != nil {
		switch {
		case !act.Given:
			return invalid("action", "required")
		case act.Name == "":
			return invalid("action.name", "required")
		}
	}
	if res != nil {
		switch {
		case !res.Given:
			return invalid("resource", "required")
		case res.Type == "":
			return invalid("resource.type", "required")
		case resourceID && res.ID == "":
			return invalid("resource.id", "required")
		}
	}
	return nil
}

// azSubject maps a subject onto the engine's user and role.
func azSubject(sub *AZSubject, r *engine.Request) error {
	if sub.Type != "user" {
		return &InvalidArgument{Field: "subject.type", Message: "crmauthz decides for subjects of type user, not " + strconv.Quote(sub.Type)}
	}
	if sub.Role == "" {
		return &InvalidArgument{Field: "subject.properties.role",
			Message: "required: crmauthz decides for the role the CRM sends (one of " + roleList + ")"}
	}
	user, role, err := parseSubject("", Subject{User: sub.ID, Role: sub.Role})
	if err != nil {
		return azRenamed(err)
	}
	r.User, r.Role = user, role
	return nil
}

// azCheck maps an evaluation onto an engine request; the members are known given.
func azCheck(sub *AZSubject, act *AZAction, res *AZResource, ctx *AZContext, r *engine.Request) error {
	*r = engine.Request{}
	if err := azSubject(sub, r); err != nil {
		return err
	}
	ip, ch, err := parseContext(Context{IP: ctx.IP, Channel: ctx.Channel})
	if err != nil {
		return azRenamed(err)
	}
	r.IP, r.Channel = ip, ch
	it := BatchItem{Action: act.Name, Fields: res.Fields, EmptyFields: res.EmptyFields, Bulk: res.Bulk}
	switch {
	case res.Type == "feature":
		if act.Name != "access" {
			return &InvalidArgument{Field: "action.name", Message: "a feature is asked about with action access, not " + strconv.Quote(act.Name)}
		}
		it.Resource = Resource{Feature: res.ID}
	case act.Name == "access":
		return &InvalidArgument{Field: "resource.type", Message: "action access is asked of resources of type feature, not " + strconv.Quote(res.Type)}
	default:
		it.Resource = Resource{Entity: res.Type, ID: res.ID, Owner: res.Owner, SharedWith: res.SharedWith, Type: res.RecordType}
	}
	if err := parseName("", "resource.id", res.ID, false); err != nil {
		return azRenamed(err)
	}
	if err := parseItem("", &it, r); err != nil {
		return azRenamed(err)
	}
	return nil
}

// azAnswer is a decided evaluation.
func azAnswer(snap *policy.Snapshot, r *engine.Request, d *engine.Decision, id DecisionID) AZDecision {
	c := &AZDecisionContext{ID: id.String(),
		ReasonAdmin:  AZReason{Reason: d.Reason, Message: engine.Message(r, d), Template: d.Template, Revision: revisionOf(snap)},
		DeniedFields: orEmpty(slices.Clone(d.DeniedFields))}
	// Copies: d's lists are its buffers, which the next item of a batch reuses.
	if r.Action != policy.ActionAccess {
		c.Fields = &FieldsOut{Hidden: orEmpty(slices.Clone(d.Hidden)), Masked: orEmpty(slices.Clone(d.Masked))}
	}
	return AZDecision{Decision: d.Allowed, Context: c}
}

// azRefusal is an evaluation that could not be decided: false, and why.
func azRefusal(snap *policy.Snapshot, err error, id DecisionID) AZDecision {
	c := &AZDecisionContext{ID: id.String(), ReasonAdmin: AZReason{Reason: ReasonInvalid, Message: err.Error(), Revision: revisionOf(snap)},
		Error: &AZError{Status: 400, Message: err.Error()}}
	if ia, ok := AsInvalid(err); ok {
		c.ReasonAdmin.Field = ia.Field
	}
	return AZDecision{Context: c}
}

// azRecord is an evaluation's line in the decision log.
func (p *Reply) azRecord(endpoint, tenant string, sub *AZSubject, act *AZAction, res *AZResource, a *AZDecision, dry DryRunDiff, snap *policy.Snapshot, id DecisionID) {
	rec := Record{ID: id, Endpoint: endpoint, Tenant: tenant, User: sub.ID, Role: sub.Role, Action: act.Name,
		Target: res.Type, ResourceID: res.ID, Allowed: a.Decision, Revision: revisionOf(snap), DryRun: dry}
	if res.Type == "feature" {
		rec.Target, rec.ResourceID = res.ID, ""
	}
	if a.Context != nil {
		rec.Reason, rec.Template = a.Context.ReasonAdmin.Reason, a.Context.ReasonAdmin.Template
	}
	p.Records = append(p.Records, rec)
}

// evaluate decides one well-formed evaluation on snap, and again on the tenant's
// candidate policy when it has DryRun templates (as the native checks are).
func (s *Service) evaluate(snap *policy.Snapshot, sub *AZSubject, act *AZAction, res *AZResource, ctx *AZContext, id DecisionID, out *Reply) (AZDecision, DryRunDiff) {
	var r engine.Request
	if err := azCheck(sub, act, res, ctx, &r); err != nil {
		return azRefusal(snap, err, id), DryRunDiff{}
	}
	engine.Check(snap, &r, &out.d)
	return azAnswer(snap, &r, &out.d, id), out.dryRun(snap, &r, &out.d)
}

// Evaluation answers POST /tenants/{tenant}/access/v1/evaluation.
func (s *Service) Evaluation(q *AuthZENRequest, out *Reply) error {
	return s.evaluation(q, out, "authzen/evaluation")
}

// evaluation answers an evaluation, logged under endpoint.
func (s *Service) evaluation(q *AuthZENRequest, out *Reply, endpoint string) error {
	out.reset()
	if err := parseTenant(q.Tenant); err != nil {
		return err
	}
	if err := required(&q.Subject, true, &q.Action, &q.Resource, true); err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	id := s.ids.next()
	a, dry := s.evaluate(snap, &q.Subject, &q.Action, &q.Resource, &q.Context, id, out)
	out.azRecord(endpoint, q.Tenant, &q.Subject, &q.Action, &q.Resource, &a, dry, snap, id)
	return out.appendJSON(&a)
}

// Evaluations answers POST /tenants/{tenant}/access/v1/evaluations: every item on one
// snapshot, in order; each item's missing members are the request's. Without items it
// is an evaluation, as the standard says.
func (s *Service) Evaluations(q *AuthZENRequest, out *Reply) error {
	if len(q.Evaluations) == 0 {
		return s.evaluation(q, out, "authzen/evaluations") // counted and logged as what was asked
	}
	out.reset()
	if err := parseTenant(q.Tenant); err != nil {
		return err
	}
	switch q.Semantic {
	case "", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return invalid("options.evaluations_semantic", "unknown semantic %q (one of %s, %s, %s)", q.Semantic, ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit)
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	resp := AZEvaluations{Evaluations: make([]AZDecision, 0, len(q.Evaluations))}
	var it AZItem
	for i, raw := range q.Evaluations {
		prefix := "evaluations[" + itoa(i) + "]"
		it = AZItem{}
		err := decodeRaw(raw, &it)
		sub, act, res, ctx := &it.Subject, &it.Action, &it.Resource, &it.Context
		if !sub.Given {
			sub = &q.Subject
		}
		if !act.Given {
			act = &q.Action
		}
		if !res.Given {
			res = &q.Resource
		}
		if !ctx.Given {
			ctx = &q.Context
		}
		if err == nil {
			err = required(sub, true, act, res, true)
		}
		id := s.ids.next()
		var a AZDecision
		var dry DryRunDiff
		if err == nil {
			a, dry = s.evaluate(snap, sub, act, res, ctx, id, out)
		} else {
			a = azRefusal(snap, &InvalidArgument{Field: joinPath(prefix, fieldOf(err)), Message: messageOf(err)}, id)
		}
		out.azRecord("authzen/evaluations", q.Tenant, sub, act, res, &a, dry, snap, id)
		resp.Evaluations = append(resp.Evaluations, a)
		if (q.Semantic == DenyOnFirstDeny && !a.Decision) || (q.Semantic == PermitOnFirstPermit && a.Decision) {
			break
		}
	}
	return out.appendJSON(&resp)
}

// fieldOf and messageOf split an error into the field it names and what it says.
func fieldOf(err error) string {
	if ia, ok := AsInvalid(err); ok {
		return ia.Field
	}
	return ""
}

func messageOf(err error) string {
	if ia, ok := AsInvalid(err); ok {
		return ia.Message
	}
	return err.Error()
}

func joinPath(prefix, field string) string {
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// decodeRaw reads one batch item from its text (a substring of the body, so the
// item's strings are too).
func decodeRaw(raw string, it *AZItem) error {
	r := readers.Get().(*strictjson.Reader)
	defer func() {
		r.Release()
		readers.Put(r)
	}()
	r.Reset(raw)
	r.Document(func() { decodeAZItem(r, it) })
	if e := r.Problem(); e != nil {
		return &InvalidArgument{Field: e.Path, Message: e.Message}
	}
	return nil
}
