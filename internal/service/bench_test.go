package service_test

import (
	"encoding/json"
	"testing"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/service"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

// The service layer on the benchmark tenant, over 1,000 generated requests in turn,
// reusing one request and one Reply as the HTTP handler's pool does:
//   - BenchmarkServiceCheck: a decoded request in, the JSON answer out (parse,
//     decide, encode, record) — the service's cost around a decision, as the
//     in-process comparison has always measured it. Target: ≤ 400 ns, ≤ 1 allocation.
//   - BenchmarkDecodeCheck: the strict decoder alone (one allocation: the body's copy).
//   - BenchmarkServiceCheckJSON: both, body in and answer out, what a handler runs.

func benchSetup(b *testing.B) (*service.Service, [][]byte) { return benchSetupDry(b, 0) }

// benchSetupDry is benchSetup with the first dry templates of the tenant in DryRun
// (a candidate replacement each: every check is decided twice).
func benchSetupDry(b *testing.B, dry int) (*service.Service, [][]byte) {
	gen := tenantgen.Generate("acme", tenantgen.SpecSize, 1)
	for i := range dry {
		gen.Input.Templates[i].Spec.Enforcement = v1alpha1.EnforcementDryRun
	}
	snap, _ := policy.Compile(gen.Input)
	if (snap.Candidate != nil) != (dry > 0) {
		b.Fatal("a DryRun template makes a candidate policy, and only one does")
	}
	svc := service.New(tenants{"acme": snap}, nil)
	var bodies [][]byte
	for _, q := range tenantgen.Requests(gen, 1000, 1) {
		body, err := json.Marshal(q)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	return svc, bodies
}

func BenchmarkServiceCheck(b *testing.B) { benchmarkServiceCheck(b, 0) }

// BenchmarkServiceCheckDryRun is BenchmarkServiceCheck with five of the tenant's
// templates in DryRun: each check is decided on the policy in force and again on the
// candidate. Target: within 2× of BenchmarkServiceCheck.
func BenchmarkServiceCheckDryRun(b *testing.B) { benchmarkServiceCheck(b, 5) }

func benchmarkServiceCheck(b *testing.B, dry int) {
	svc, bodies := benchSetupDry(b, dry)
	reqs := make([]service.CheckRequest, len(bodies))
	for i := range bodies {
		if err := service.Decode(bodies[i], &reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	var out service.Reply
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := svc.Check(&reqs[i%len(reqs)], &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCheck(b *testing.B) {
	_, bodies := benchSetup(b)
	var q service.CheckRequest
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := service.Decode(bodies[i%len(bodies)], &q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceCheckJSON(b *testing.B) {
	svc, bodies := benchSetup(b)
	var q service.CheckRequest
	var out service.Reply
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := service.Decode(bodies[i%len(bodies)], &q); err != nil {
			b.Fatal(err)
		}
		if err := svc.Check(&q, &out); err != nil {
			b.Fatal(err)
		}
	}
}
