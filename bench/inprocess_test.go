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
// once, as a library user would hold them), crmauthz's service layer (parsing the
// request struct and building the response too), and OPA's Go library with a prepared
// query (rego.PrepareForEval), given the input as a Go map and as a parsed AST value.
// Run `go run ./cmd/gen` first (make bench does).

const out = "out"

func load(b *testing.B) (*service.Service, rego.PreparedEvalQuery, []service.CheckRequest, []map[string]any) {
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
	typed, inputs, err := fixture.Requests(out)
	if err != nil {
		b.Fatal(err)
	}
	return svc, q, typed, inputs
}

func BenchmarkCrmauthzEngine(b *testing.B) {
	_, _, typed, _ := load(b)
	_, store, err := fixture.Crmauthz(context.Background(), out)
	if err != nil {
		b.Fatal(err)
	}
	snap := store.Snapshot("acme")
	reqs := make([]engine.Request, len(typed))
	for i := range typed {
		if err := service.ParseCheck(&typed[i], &reqs[i]); err != nil {
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

func BenchmarkCrmauthzService(b *testing.B) {
	svc, _, typed, _ := load(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := svc.Check(&typed[i%len(typed)]); err != nil {
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
