package policytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/crmauthz/crmauthz/internal/loader"
	"github.com/crmauthz/crmauthz/internal/service"
)

// The kinds of case compared.
const (
	kindCheck  = "check"
	kindChecks = "checks"
)

// CompareAuthZEN asks every check and checks case of the suites under paths again in
// the shapes of AuthZEN 1.0 (an evaluation; an evaluations request with the batch's
// subject and context as defaults) and reports, per case, whether the two APIs agree:
// the same decision, reason, message, template, revision and fields, and never an
// allow where the native API refuses the request. It does not look at the cases'
// wants: the native answer is the oracle.
func CompareAuthZEN(paths ...string) ([]Result, error) {
	return compare(paths, func(s *Suite, svc *service.Service, c *Case) (string, error) {
		switch {
		case c.Check != nil:
			return kindCheck, s.compareCheck(svc, c.Check)
		case c.Checks != nil:
			return kindChecks, s.compareChecks(svc, c.Checks)
		}
		return "", nil
	})
}

// CompareDecide asks every check case of the suites under paths again through
// service.Decide (the SDK's embedded decision point: the same decision without JSON)
// and reports whether its answer is the native one, field for field but the decision
// id, and whether it refuses what the native API refuses.
func CompareDecide(paths ...string) ([]Result, error) {
	return compare(paths, func(s *Suite, svc *service.Service, c *Case) (string, error) {
		if c.Check == nil {
			return "", nil
		}
		want, nerr := s.native(answer(svc.Check), c.Check)
		data, err := json.Marshal(s.withTenant(c.Check))
		if err != nil {
			return kindCheck, err
		}
		var q service.CheckRequest
		if err := service.Decode(data, &q); err != nil {
			if nerr != nil {
				return kindCheck, nil // both refuse it
			}
			return kindCheck, err
		}
		var out service.CheckResponse
		derr := svc.Decide(&q, &out)
		switch {
		case nerr != nil && derr == nil:
			return kindCheck, fmt.Errorf("the native API refuses the request (%v) but Decide answers %+v", nerr, out)
		case nerr != nil:
			return kindCheck, nil
		case derr != nil:
			return kindCheck, fmt.Errorf("the native API decides (%v) but Decide refuses: %w", want["reason"], derr)
		}
		b, _ := json.Marshal(&out)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			return kindCheck, err
		}
		delete(got, "decisionId")
		delete(want, "decisionId")
		if !reflect.DeepEqual(want, got) {
			return kindCheck, fmt.Errorf("native %s, Decide %s", show(want), show(got))
		}
		return kindCheck, nil
	})
}

// compare runs ask on every case of the suites under paths; a case ask answers ""
// for is not compared.
func compare(paths []string, ask func(*Suite, *service.Service, *Case) (string, error)) ([]Result, error) {
	files, err := loader.Walk(paths, ".yaml", ".yml")
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, file := range files {
		s, err := readSuite(file)
		if err != nil {
			return out, err
		}
		svc, _, err := s.compile(file)
		if err != nil {
			return out, err
		}
		for i := range s.Cases {
			if kind, err := ask(s, svc, &s.Cases[i]); kind != "" {
				out = append(out, Result{File: file, Case: s.Cases[i].Name, Kind: kind, Err: err})
			}
		}
	}
	return out, nil
}

// withTenant is a case's request with the suite's tenant unless it names one.
func (s *Suite) withTenant(req map[string]any) map[string]any {
	q := map[string]any{"tenant": s.Tenant}
	for k, v := range req {
		q[k] = v
	}
	return q
}

// azAsk answers an AuthZEN request to the suite's tenant (or the one the case names).
func (s *Suite) azAsk(decide func(*service.AuthZENRequest, *service.Reply) error, tenant any, body map[string]any) (map[string]any, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var q service.AuthZENRequest
	if err := service.Decode(data, &q); err != nil {
		return nil, err
	}
	q.Tenant = s.Tenant
	if t, ok := tenant.(string); ok {
		q.Tenant = t
	}
	var reply service.Reply
	if err := decide(&q, &reply); err != nil {
		return nil, err
	}
	var got map[string]any
	return got, json.Unmarshal(reply.Body, &got)
}

func (s *Suite) native(decide func([]byte) ([]byte, error), req map[string]any) (map[string]any, error) {
	data, err := json.Marshal(s.withTenant(req))
	if err != nil {
		return nil, err
	}
	resp, err := decide(data)
	if err != nil {
		return nil, err
	}
	var got map[string]any
	return got, json.Unmarshal(resp, &got)
}

func (s *Suite) compareCheck(svc *service.Service, req map[string]any) error {
	want, nerr := s.native(answer(svc.Check), req)
	body := azSubjectContext(req)
	for k, v := range azItem(req) {
		body[k] = v
	}
	got, err := s.azAsk(svc.Evaluation, req["tenant"], body)
	return agree(want, nerr, got, err, req["action"] == "access")
}

func (s *Suite) compareChecks(svc *service.Service, req map[string]any) error {
	want, nerr := s.native(answer(svc.Checks), req)
	body := azSubjectContext(req)
	checks, _ := req["checks"].([]any)
	items := make([]any, len(checks))
	for i, c := range checks {
		m, _ := c.(map[string]any)
		items[i] = azItem(m)
	}
	body["evaluations"] = items
	got, err := s.azAsk(svc.Evaluations, req["tenant"], body)
	switch {
	case len(items) == 0:
		return agree(want, nerr, got, err, req["action"] == "access") // an evaluation, as the standard says
	case nerr != nil && err == nil && !refusesAnItem(got):
		return fmt.Errorf("the native API refuses the batch (%v) but AuthZEN refuses none of its items: %v", nerr, got)
	case nerr != nil:
		return nil
	case err != nil:
		return fmt.Errorf("the native API decides the batch but AuthZEN refuses it: %w", err)
	}
	results, _ := want["results"].([]any)
	evals, _ := got["evaluations"].([]any)
	if len(results) != len(evals) {
		return fmt.Errorf("native: %d results, AuthZEN: %d evaluations", len(results), len(evals))
	}
	for i := range results {
		w, _ := results[i].(map[string]any)
		e, _ := evals[i].(map[string]any)
		item, _ := checks[i].(map[string]any)
		if err := agree(w, nil, e, nil, item["action"] == "access"); err != nil {
			return fmt.Errorf("checks[%d]: %w", i, err)
		}
	}
	return nil
}

// azSubjectContext starts an AuthZEN body with a native request's subject and context.
func azSubjectContext(req map[string]any) map[string]any {
	body := map[string]any{}
	if sub, ok := req["subject"].(map[string]any); ok {
		s := map[string]any{"type": "user", "id": sub["user"]}
		if role, ok := sub["role"]; ok {
			s["properties"] = map[string]any{"role": role}
		}
		body["subject"] = s
	}
	if ctx, ok := req["context"]; ok {
		body["context"] = ctx
	}
	return body
}

// azItem is a native check's action and resource in AuthZEN's shapes: a feature, or
// a record of an entity whose facts and field lists are the resource's properties.
func azItem(req map[string]any) map[string]any {
	item := map[string]any{}
	if a, ok := req["action"]; ok {
		item["action"] = map[string]any{"name": a}
	}
	res, _ := req["resource"].(map[string]any)
	if req["action"] == "access" {
		item["resource"] = map[string]any{"type": "feature", "id": res["feature"]}
		return item
	}
	id := res["id"]
	if id == nil || id == "" {
		id = "record" // optional natively, required by AuthZEN; no decision reads it
	}
	props := map[string]any{}
	for native, az := range map[string]string{"owner": "owner", "sharedWith": "sharedWith", "type": "type"} {
		if v, ok := res[native]; ok {
			props[az] = v
		}
	}
	for _, k := range []string{"fields", "emptyFields", "bulk"} {
		if v, ok := req[k]; ok {
			props[k] = v
		}
	}
	item["resource"] = map[string]any{"type": res["entity"], "id": id, "properties": props}
	return item
}

// agree compares a native answer (or refusal) with an AuthZEN decision (or refusal);
// access says the question was about a feature (which has no fields to apply).
func agree(native map[string]any, nerr error, az map[string]any, azErr error, access bool) error {
	if nerr != nil {
		if azErr == nil && allows(az) {
			return fmt.Errorf("the native API refuses the request (%v) but AuthZEN allows it: %v", nerr, az)
		}
		return nil
	}
	if azErr != nil {
		return fmt.Errorf("the native API decides (%v) but AuthZEN refuses the request: %w", native["reason"], azErr)
	}
	ctx, _ := az["context"].(map[string]any)
	ra, _ := ctx["reason_admin"].(map[string]any)
	template := ra["template"]
	if template == nil {
		template = ""
	}
	var errs []error
	for _, c := range []struct {
		what      string
		want, got any
	}{
		{"decision", native["allowed"], az["decision"]},
		{"reason", native["reason"], ra["reason"]},
		{"message", native["message"], ra["message"]},
		{"template", native["template"], template},
		{"revision", native["revision"], ra["revision"]},
		{"deniedFields", native["deniedFields"], ctx["deniedFields"]},
	} {
		if !reflect.DeepEqual(c.want, c.got) {
			errs = append(errs, fmt.Errorf("%s: native %v, AuthZEN %v", c.what, show(c.want), show(c.got)))
		}
	}
	// Every decided record check carries its fields (a feature has none to apply).
	if f, ok := ctx["fields"]; (ok || !access) && !reflect.DeepEqual(f, native["fields"]) {
		errs = append(errs, fmt.Errorf("fields: native %v, AuthZEN %v", show(native["fields"]), show(f)))
	}
	return errors.Join(errs...)
}

// allows says whether an AuthZEN evaluation allows.
func allows(az map[string]any) bool { return az["decision"] == true }

// refusesAnItem says whether an evaluations answer has an item it could not decide.
func refusesAnItem(az map[string]any) bool {
	evals, _ := az["evaluations"].([]any)
	for _, e := range evals {
		m, _ := e.(map[string]any)
		if ctx, _ := m["context"].(map[string]any); m["decision"] == false && ctx["error"] != nil {
			return true
		}
	}
	return false
}
