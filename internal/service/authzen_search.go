package service

import (
	"encoding/base64"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// The AuthZEN search APIs. Every result is what an evaluation of it would allow, on
// the same snapshot. Searches are paged (MaxSearchPage results at most); a page token
// names the offset and a fingerprint of the search, so a token replayed with another
// search is refused rather than answered from the wrong list.

// MaxSearchPage is the most results one search answer holds; page.limit may ask for
// fewer (0 or no limit: this many).
const MaxSearchPage = 1000

// search is one search being answered.
type search struct {
	id       DecisionID
	endpoint string
	results  []AZEntity
	// why is set when the search could not run (no role, an unknown type…): the
	// results are then empty and reason_admin says why.
	why    error
	reason engine.Reason
	// filter is a record search's query plan, note why it stands for the results.
	filter *FilterResponse
	note   string
}

// SearchSubject answers POST /tenants/{tenant}/access/v1/search/subject: the known
// users who, in the subject's role, may take the action on the resource.
func (s *Service) SearchSubject(q *AuthZENRequest, out *Reply) error {
	return s.search(q, out, "subject", func(snap *policy.Snapshot, sr *search) {
		sub := q.Subject
		sub.ID = "-" // the searched-for subject: any known user takes its place
		var r engine.Request
		if sr.why = azCheck(&sub, &q.Action, &q.Resource, &q.Context, &r); sr.why != nil {
			return
		}
		for _, user := range snap.KnownUsers() {
			r.User = user
			engine.Check(snap, &r, &out.d)
			if out.d.Allowed {
				sr.results = append(sr.results, AZEntity{Type: "user", ID: user})
			}
		}
	})
}

// SearchAction answers POST /tenants/{tenant}/access/v1/search/action: the actions the
// subject may take on the record (those of its entity) or the feature (access).
func (s *Service) SearchAction(q *AuthZENRequest, out *Reply) error {
	return s.search(q, out, "action", func(snap *policy.Snapshot, sr *search) {
		if !s.knownSubject(snap, q, sr) {
			return
		}
		names := []string{"access"}
		if q.Resource.Type != "feature" {
			e, ok := policy.ParseEntity(q.Resource.Type)
			if !ok {
				sr.why = &InvalidArgument{Field: "resource.type", Message: "unknown resource type " + strconv.Quote(q.Resource.Type) + " (feature, or one of " + entityList + ")"}
				return
			}
			names = names[:0]
			for a := range policy.NumRecordActions {
				if e.Accepts(a) {
					names = append(names, a.String())
				}
			}
		}
		var r engine.Request
		for _, name := range names {
			// An action the resource's properties rule out (a bulk view, say) is not
			// one the subject may take: skipped, not an error.
			if azCheck(&q.Subject, &AZAction{Given: true, Name: name}, &q.Resource, &q.Context, &r) != nil {
				continue
			}
			engine.Check(snap, &r, &out.d)
			if out.d.Allowed {
				sr.results = append(sr.results, AZEntity{Name: name})
			}
		}
	})
}

// SearchResource answers POST /tenants/{tenant}/access/v1/search/resource. Features
// are listed; records are not stored here, so a record type answers no results and
// the query plan of POST /v1/filter in context.filter.
func (s *Service) SearchResource(q *AuthZENRequest, out *Reply) error {
	return s.search(q, out, "resource", func(snap *policy.Snapshot, sr *search) {
		if !s.knownSubject(snap, q, sr) {
			return
		}
		var r engine.Request
		if q.Resource.Type == "feature" {
			for f := range policy.NumFeatures {
				res := AZResource{Given: true, Type: "feature", ID: f.String()}
				if sr.why = azCheck(&q.Subject, &q.Action, &res, &q.Context, &r); sr.why != nil {
					return
				}
				engine.Check(snap, &r, &out.d)
				if out.d.Allowed {
					sr.results = append(sr.results, AZEntity{Type: "feature", ID: res.ID})
				}
			}
			return
		}
		res := q.Resource
		res.ID = "" // the searched-for record
		if sr.why = azCheck(&q.Subject, &q.Action, &res, &q.Context, &r); sr.why != nil {
			return
		}
		if r.Action == policy.ActionCreate {
			sr.why = &InvalidArgument{Field: "action.name", Message: "create is not asked of existing records: evaluate it"}
			return
		}
		plan := filterPlan(snap, &engine.FilterRequest{User: r.User, Role: r.Role, IP: r.IP, Channel: r.Channel, Action: r.Action, Entity: r.Entity}, sr.id)
		sr.filter = &plan
		sr.note = "records are not stored in crmauthz: context.filter is the query plan that selects the ones the subject may " + r.Action.String() + " (as POST /v1/filter answers)"
	})
}

// knownSubject says whether the search's subject is a user this tenant's policy names;
// the standard's searches answer unknown ids with no results.
func (s *Service) knownSubject(snap *policy.Snapshot, q *AuthZENRequest, sr *search) bool {
	var r engine.Request
	if sr.why = azSubject(&q.Subject, &r); sr.why != nil {
		return false
	}
	if !snap.Knows(q.Subject.ID) {
		sr.why = &InvalidArgument{Field: "subject.id", Message: "no user " + strconv.Quote(q.Subject.ID) + " in this tenant's policy"}
		return false
	}
	return true
}

// search checks the members the kind of search needs, runs find on the tenant's
// snapshot and answers one page of what it found.
func (s *Service) search(q *AuthZENRequest, out *Reply, kind string, find func(*policy.Snapshot, *search)) error {
	out.reset()
	if err := parseTenant(q.Tenant); err != nil {
		return err
	}
	var err error
	switch kind {
	case "subject": // the subject is searched for: no id needed
		err = required(&q.Subject, false, &q.Action, &q.Resource, true)
	case "action":
		err = required(&q.Subject, true, nil, &q.Resource, true)
	case "resource":
		err = required(&q.Subject, true, &q.Action, &q.Resource, false)
	}
	if err != nil {
		return err
	}
	offset, err := q.pageOffset(kind)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(q.Tenant)
	if err != nil {
		return err
	}
	id := s.ids.next()
	sr := search{id: id, endpoint: "authzen/search/" + kind, reason: engine.Allowed}
	if snap == nil {
		sr.reason = engine.UnknownTenant
	} else {
		find(snap, &sr)
	}
	resp := AZSearch{Results: sr.results}
	if sr.why != nil || snap == nil || sr.filter != nil {
		resp.Context = &AZSearchContext{ID: id.String(), Filter: sr.filter}
		switch {
		case snap == nil:
			resp.Context.ReasonAdmin = &AZReason{Reason: engine.UnknownTenant, Message: "the tenant has no crmauthz policy"}
		case sr.why != nil:
			sr.reason = ReasonInvalid
			resp.Context.ReasonAdmin = &AZReason{Reason: ReasonInvalid, Message: sr.why.Error(), Field: fieldOf(sr.why), Revision: snap.Revision}
		default:
			sr.reason = sr.filter.Reason
			resp.Context.ReasonAdmin = &AZReason{Reason: sr.filter.Reason, Message: sr.note, Template: sr.filter.Template, Revision: snap.Revision}
		}
	}
	resp.Results, resp.Page = q.page(kind, offset, sr.results)
	out.Records = append(out.Records, Record{ID: id, Endpoint: sr.endpoint, Tenant: q.Tenant, User: q.Subject.ID, Role: q.Subject.Role,
		// Allowed: the search was answered (an empty result is an answer, not a denial).
		Action: q.Action.Name, Target: q.Resource.Type, ResourceID: q.Resource.ID, Allowed: sr.reason == engine.Allowed,
		Reason: sr.reason, Revision: revisionOf(snap), Extra: []slog.Attr{slog.Int("results", resp.Page.Total)}})
	return out.appendJSON(&resp)
}

// pageOffset reads the page token: where the page starts. A token of another search
// (or from no search of ours) is refused.
func (q *AuthZENRequest) pageOffset(kind string) (int, error) {
	if q.Page.Token == "" {
		return 0, nil
	}
	bad := invalid("page.token", "not a page token of this search: every member but page.token must be as in the request that returned it")
	raw, err := base64.RawURLEncoding.DecodeString(q.Page.Token)
	if err != nil {
		return 0, bad
	}
	off, fp, ok := strings.Cut(string(raw), ".")
	n, err := strconv.Atoi(off)
	if !ok || err != nil || n < 0 || fp != q.fingerprint(kind) {
		return 0, bad
	}
	return n, nil
}

// page cuts results to one page from offset.
func (q *AuthZENRequest) page(kind string, offset int, results []AZEntity) ([]AZEntity, AZPageOut) {
	limit := q.Page.Limit
	if limit <= 0 || limit > MaxSearchPage {
		limit = MaxSearchPage
	}
	total := len(results)
	start := min(offset, total)
	end := min(start+limit, total)
	p := AZPageOut{Count: end - start, Total: total}
	if end < total {
		p.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end) + "." + q.fingerprint(kind)))
	}
	out := results[start:end]
	if out == nil {
		out = []AZEntity{}
	}
	return out, p
}

// fingerprint hashes every member of a search but its page token (FNV: the same on
// every replica, so a load-balanced next page is accepted anywhere).
func (q *AuthZENRequest) fingerprint(kind string) string {
	h := fnv.New64a()
	for _, v := range [...]string{kind, q.Tenant, q.Subject.Type, q.Subject.ID, q.Subject.Role, q.Action.Name,
		q.Resource.Type, q.Resource.ID, q.Resource.Owner, strings.Join(q.Resource.SharedWith, ","), q.Resource.RecordType,
		strings.Join(q.Resource.Fields, ","), strings.Join(q.Resource.EmptyFields, ","), strconv.FormatBool(q.Resource.Bulk),
		q.Context.IP, q.Context.Channel, strconv.Itoa(q.Page.Limit)} {
		_, _ = h.Write([]byte(v))
		_, _ = h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
