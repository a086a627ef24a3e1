package service

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/strictjson"
)

// Reply receives one answer: the JSON body and a Record per decision. A caller keeps
// one per worker (or in a pool) and passes it to every call: its buffers are reused,
// so answering a check allocates nothing.
type Reply struct {
	// Body is the JSON answer, without a trailing newline.
	Body []byte
	// Records are the decisions made, in order, for the decision log and metrics.
	Records []Record

	d    engine.Decision
	dry  engine.Decision // the candidate policy's decision, when there is one
	req  engine.Request
	reqs []engine.Request
	msg  []byte
}

func (p *Reply) reset() {
	p.Body = p.Body[:0]
	clear(p.Records) // drop what the last answer referenced
	p.Records = p.Records[:0]
}

// Record is one decision as the decision log and the metrics see it. Its strings are
// the request's (substrings of the decoded body's copy) and the snapshot's, both
// immutable, so a Record may be kept after the answer has been sent.
type Record struct {
	ID         DecisionID
	Endpoint   string
	Tenant     string
	User       string
	Role       string
	Action     string
	Target     string // the entity or feature
	ResourceID string
	Allowed    bool
	Reason     engine.Reason
	Template   string
	Revision   string
	// Extra holds what only some endpoints have (a login's provider and address, a
	// filter's plan); never a password.
	Extra []slog.Attr
	// DryRun is set when the tenant's DryRun templates would have decided otherwise.
	DryRun DryRunDiff
}

// DryRunDiff is a decision the candidate policy (the DryRun templates applied) makes
// differently: what it would have answered, and its governing template.
type DryRunDiff struct {
	Set      bool
	Template string
	Allowed  bool
	Reason   engine.Reason
}

// DecisionID identifies a decision: a random per-process prefix and a counter (in
// hex), unique across replicas. It is kept as a number and rendered when written.
type DecisionID struct {
	prefix string
	n      uint64
}

// AppendTo appends the id's text.
func (id DecisionID) AppendTo(b []byte) []byte {
	b = append(append(b, id.prefix...), '-')
	var digits [16]byte
	i := len(digits)
	for n := id.n; ; n >>= 4 {
		i--
		digits[i] = "0123456789abcdef"[n&0xF]
		if n < 16 {
			break
		}
	}
	return append(b, digits[i:]...)
}

func (id DecisionID) String() string {
	var b [40]byte // prefix, dash and 16 digits: built on the stack, one allocation for the string
	return string(id.AppendTo(b[:0]))
}

type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:])}
}

func (s *idSource) next() DecisionID { return DecisionID{prefix: s.prefix, n: s.n.Add(1)} }

func revisionOf(snap *policy.Snapshot) string {
	if snap == nil {
		return ""
	}
	return snap.Revision
}

// appendCheck writes one check's answer in the shape of CheckResponse, by hand: it is
// the hot path, and encoding/json would cost more than the decision. A test holds it
// to json.Marshal(CheckResponse) byte for byte.
func (p *Reply) appendCheck(snap *policy.Snapshot, r *engine.Request, d *engine.Decision, id DecisionID) {
	b := append(p.Body, `{"allowed":`...)
	b = strictjson.AppendBool(b, d.Allowed)
	b = append(b, `,"reason":`...)
	b = strictjson.AppendString(b, d.Reason)
	// The message is written in place; only when it holds something to escape (a
	// quote or a control character in a user id, say) is it written again, escaped.
	b = append(b, `,"message":"`...)
	start := len(b)
	b = engine.AppendMessage(b, r, d)
	if strictjson.NeedsEscape(b[start:]) {
		p.msg = append(p.msg[:0], b[start:]...)
		b = strictjson.AppendBytes(b[:start-1], p.msg)
	} else {
		b = append(b, '"')
	}
	b = append(b, `,"template":`...)
	b = strictjson.AppendString(b, d.Template)
	b = append(b, `,"deniedFields":`...)
	b = strictjson.AppendStrings(b, d.DeniedFields)
	b = append(b, `,"fields":{"hidden":`...)
	b = strictjson.AppendStrings(b, d.Hidden)
	b = append(b, `,"masked":`...)
	b = strictjson.AppendStrings(b, d.Masked)
	b = append(b, `},"revision":`...)
	b = strictjson.AppendString(b, revisionOf(snap))
	b = append(b, `,"decisionId":"`...)
	b = append(id.AppendTo(b), '"') // hex digits: nothing to escape
	if len(d.Trace) > 0 {
		trace, _ := json.Marshal(d.Trace) // explain only
		b = append(append(b, `,"trace":`...), trace...)
	}
	p.Body = append(b, '}')
}

func (p *Reply) recordCheck(endpoint, tenant, resourceID string, r *engine.Request, d *engine.Decision, snap *policy.Snapshot, id DecisionID) {
	target := r.Entity.String()
	if r.Action == policy.ActionAccess {
		target = r.Feature.String()
	}
	p.Records = append(p.Records, Record{ID: id, Endpoint: endpoint, Tenant: tenant, User: r.User, Role: r.Role.String(),
		Action: r.Action.String(), Target: target, ResourceID: resourceID, Allowed: d.Allowed, Reason: d.Reason,
		Template: d.Template, Revision: revisionOf(snap), DryRun: p.dryRun(snap, r, d)})
}

// dryRun decides r again on the tenant's candidate policy, if it has one, and
// returns how that decision differs (the answer given never changes).
func (p *Reply) dryRun(snap *policy.Snapshot, r *engine.Request, d *engine.Decision) DryRunDiff {
	if snap == nil || snap.Candidate == nil {
		return DryRunDiff{}
	}
	explain := r.Explain
	r.Explain = false // the trace is the answer's
	engine.Check(snap.Candidate, r, &p.dry)
	r.Explain = explain
	if p.dry.Allowed == d.Allowed && p.dry.Reason == d.Reason {
		return DryRunDiff{}
	}
	return DryRunDiff{Set: true, Template: p.dry.Template, Allowed: p.dry.Allowed, Reason: p.dry.Reason}
}

// appendJSON writes an answer of the less frequent endpoints with encoding/json.
func (p *Reply) appendJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.Body = append(p.Body, data...)
	return nil
}

// Answer decodes body into a Q and answers it with decide (one of the Service's
// methods), returning the JSON answer: for callers off the hot path (policy tests,
// the CLI), which read it as the documented response types.
func Answer[Q any](body []byte, decide func(*Q, *Reply) error) ([]byte, error) {
	var q Q
	if err := Decode(body, &q); err != nil {
		return nil, err
	}
	var out Reply
	if err := decide(&q, &out); err != nil {
		return nil, err
	}
	return out.Body, nil
}
