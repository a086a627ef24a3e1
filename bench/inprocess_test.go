package bench

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/crmauthz/crmauthz/bench/internal/fixture"
	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/service"
)

// In-process, on the same 1,000 generated requests: crmauthz's engine (requests parsed
// once, as a library user would hold them), crmauthz's service layer (a decoded request
// in, the JSON answer out: parsing, deciding, encoding, the log record; and the same
// from the JSON body, with the strict decoder), and OPA's Go library with a prepared
// query (rego.PrepareForEval), given the input as a Go map and as a parsed AST value.
// Run `go run ./cmd/gen` first (make bench does).

const out = "out"

func load(b *testing.B) (*service.Service, rego.PreparedEvalQuery, [][]byte, []map[string]any) {
	b.Helper()
	ctx := context.Background()
	svc, _, err := fixture.Crmauthz(ctx, out)
	if err != nil {
		b.Fatal(err)
	}
	q, err := fixture.OPA(ctx, out, "opa/policy.rego")
	if err != nil {
		b.Fatal(err)
	}
	bodies, inputs, err := fixture.Requests(out)
	if err != nil {
		b.Fatal(err)
	}
	return svc, q, bodies, inputs
}

func BenchmarkCrmauthzEngine(b *testing.B) {
	_, _, bodies, _ := load(b)
	_, store, err := fixture.Crmauthz(context.Background(), out)
	if err != nil {
		b.Fatal(err)
	}
	snap := store.Snapshot("acme")
	reqs := make([]engine.Request, len(bodies))
	for i := range bodies {
		var q service.CheckRequest
		if err := service.Decode(bodies[i], &q); err != nil {
			b.Fatal(err)
		}
		if err := service.ParseCheck(&q, &reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	var d engine.Decision
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		engine.Check(snap, &reqs[i%len(reqs)], &d)
	}
}

// BenchmarkCrmauthzService: a decoded request in, the JSON answer out.
func BenchmarkCrmauthzService(b *testing.B) {
	svc, _, bodies, _ := load(b)
	reqs := make([]service.CheckRequest, len(bodies))
	for i := range bodies {
		if err := service.Decode(bodies[i], &reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	var reply service.Reply
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := svc.Check(&reqs[i%len(reqs)], &reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCrmauthzServiceJSON: the JSON body in (strictly decoded), the answer out.
func BenchmarkCrmauthzServiceJSON(b *testing.B) {
	svc, _, bodies, _ := load(b)
	var q service.CheckRequest
	var reply service.Reply
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := service.Decode(bodies[i%len(bodies)], &q); err != nil {
			b.Fatal(err)
		}
		if err := svc.Check(&q, &reply); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOPAEval(b *testing.B) {
	_, q, _, inputs := load(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Eval(ctx, rego.EvalInput(inputs[i%len(inputs)])); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOPAEvalParsedInput(b *testing.B) {
	_, q, _, inputs := load(b)
	ctx := context.Background()
	parsed := make([]ast.Value, len(inputs))
	for i, in := range inputs {
		v, err := ast.InterfaceToValue(in)
		if err != nil {
			b.Fatal(err)
		}
		parsed[i] = v
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Eval(ctx, rego.EvalParsedInput(parsed[i%len(parsed)])); err != nil {
			b.Fatal(err)
		}
	}
}
