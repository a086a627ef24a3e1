package engine_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

// The benchmarks run on the benchmark tenant: 50 templates, 200 groups in a 4-level
// forest, 10,000 users. Targets: check ≤ 1 µs and 0 allocs, filter ≤ 20 µs, compile
// ≤ 20 ms, ≤ 2 MiB per tenant. Run: make bench-engine.

var benchTenant = tenantgen.Generate("bench", tenantgen.SpecSize, 1)

func benchSnapshot(b *testing.B) *policy.Snapshot {
	b.Helper()
	s, rep := policy.Compile(benchTenant.Input)
	if n := len(rep.Rejected()); n > 0 {
		b.Fatalf("%d generated objects did not compile: %+v", n, rep.Rejected()[0])
	}
	return s
}

// requests builds n checks of users on records in their own group (mostly allowed)
// or in a far branch of the forest (denied), from the office network.
func requests(n int, teammates bool) []engine.Request {
	t := benchTenant
	groups := len(t.GroupNames)
	ip := netip.MustParseAddr("203.0.113.10")
	out := make([]engine.Request, 0, n)
	for i := 0; len(out) < n; i++ {
		g := groups - 1 - i%(groups/2) // leaf groups first
		members := t.Members[g]
		if len(members) < 2 {
			continue
		}
		user := members[i%len(members)]
		owner := members[(i+1)%len(members)]
		action := policy.ActionView
		var fields []string
		if !teammates {
			owner = t.Members[(g+groups/2)%groups][0]
			action = policy.ActionEdit
			fields = []string{"Name", "Stage"}
		}
		out = append(out, engine.Request{
			User: user, Role: policy.RoleSalesUser, Action: action, Entity: policy.EntityLeads,
			Owner: owner, SharedWith: []string{"u-09999"}, Fields: fields, IP: ip, Channel: policy.ChannelUI,
		})
	}
	return out
}

func benchmarkCheck(b *testing.B, teammates, wantAllowed bool) {
	s := benchSnapshot(b)
	reqs := requests(1024, teammates)
	var d engine.Decision
	agree := 0
	for i := range reqs {
		engine.Check(s, &reqs[i], &d)
		if d.Allowed == wantAllowed {
			agree++
		}
	}
	if agree < len(reqs)*9/10 {
		b.Fatalf("only %d of %d requests took the path under test", agree, len(reqs))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		engine.Check(s, &reqs[i&1023], &d)
	}
}

// BenchmarkCheckAllow: a user viewing a teammate's lead (Team scope through the
// forest, IP allowlist, hidden and masked fields returned).
func BenchmarkCheckAllow(b *testing.B) { benchmarkCheck(b, true, true) }

// BenchmarkCheckDeny: a user editing a lead in another branch of the forest.
func BenchmarkCheckDeny(b *testing.B) { benchmarkCheck(b, false, false) }

// BenchmarkCheckBatch50 decides 50 checks on one snapshot, as POST /v1/checks does.
func BenchmarkCheckBatch50(b *testing.B) {
	s := benchSnapshot(b)
	reqs := append(requests(25, true), requests(25, false)...)
	var d engine.Decision
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range reqs {
			engine.Check(s, &reqs[j], &d)
		}
	}
}

// BenchmarkFilterTopManager builds the query plan of a manager of a root group: the
// owners of a quarter of the tenant.
func BenchmarkFilterTopManager(b *testing.B) {
	s := benchSnapshot(b)
	r := engine.FilterRequest{User: benchTenant.TopManager, Role: policy.RoleSalesManager, Action: policy.ActionView, Entity: policy.EntityLeads}
	var out engine.FilterResult
	engine.Filter(s, &r, &out)
	if out.Kind != engine.FilterConditional || out.Owners.Len() < 1000 {
		b.Fatalf("top manager's filter: %s with %d owners", out.Kind, out.Owners.Len())
	}
	b.ReportMetric(float64(out.Owners.Len()), "owners")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		engine.Filter(s, &r, &out)
	}
}

// BenchmarkFilterTopManagerCopy also copies the owners out, as the HTTP layer does
// before encoding them: the full cost of a plan naming a quarter of the tenant.
func BenchmarkFilterTopManagerCopy(b *testing.B) {
	s := benchSnapshot(b)
	r := engine.FilterRequest{User: benchTenant.TopManager, Role: policy.RoleSalesManager, Action: policy.ActionView, Entity: policy.EntityLeads}
	var out engine.FilterResult
	buf := make([]string, 0, len(benchTenant.Users))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		engine.Filter(s, &r, &out)
		buf = out.Owners.AppendTo(buf[:0])
	}
	b.ReportMetric(float64(len(buf)), "owners")
}

// BenchmarkCheckDenyFields: a user editing a teammate's lead, setting a masked and an
// owner-only field (FieldRestricted with deniedFields).
func BenchmarkCheckDenyFields(b *testing.B) {
	s := benchSnapshot(b)
	reqs := requests(1024, true)
	var d engine.Decision
	for i := range reqs {
		reqs[i].Action = policy.ActionEdit
		reqs[i].Fields = []string{"Name", "Phone", "Stage"}
		reqs[i].Owner = reqs[i].User
		reqs[i].SharedWith = nil
		engine.Check(s, &reqs[i], &d)
		if d.Reason != engine.FieldRestricted {
			b.Fatalf("request %d: %s, want FieldRestricted", i, d.Reason)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		engine.Check(s, &reqs[i&1023], &d)
	}
}

// BenchmarkCompile compiles the whole tenant.
func BenchmarkCompile(b *testing.B) {
	in := benchTenant.Input
	in.Now = time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		policy.Compile(in)
	}
}

// BenchmarkTenantMemory reports the heap a compiled tenant keeps (bytes/tenant),
// inputs dropped: what 1,000 tenants cost is 1,000 times this.
func BenchmarkTenantMemory(b *testing.B) {
	const n = 20
	var per float64
	for i := 0; i < b.N; i++ {
		snaps := make([]*policy.Snapshot, n)
		before := heapInUse()
		for j := range snaps {
			in := tenantgen.Generate("mem", tenantgen.SpecSize, uint64(j)).Input
			snaps[j], _ = policy.Compile(in)
		}
		after := heapInUse()
		per = float64(after-before) / n
		runtime.KeepAlive(snaps)
	}
	b.ReportMetric(per, "bytes/tenant")
	b.ReportMetric(per/(1<<20), "MiB/tenant")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
