package engine_test

import (
	"testing"

	"github.com/crmauthz/crmauthz/internal/engine"
	"github.com/crmauthz/crmauthz/internal/policy"
)

// TestHotPathDoesNotAllocate guards the 0-allocation target in every CI
// run: allocation counts, unlike timings, are exact.
func TestHotPathDoesNotAllocate(t *testing.T) {
	s, _ := policy.Compile(benchTenant.Input)
	allow, deny := requests(64, true), requests(64, false)
	var d engine.Decision
	engine.Check(s, &deny[0], &d) // warm the deniedFields buffer
	for name, reqs := range map[string][]engine.Request{"allow": allow, "deny": deny} {
		i := 0
		if n := testing.AllocsPerRun(200, func() {
			engine.Check(s, &reqs[i%len(reqs)], &d)
			i++
		}); n != 0 {
			t.Errorf("Check (%s path) allocates %.1f times per call", name, n)
		}
	}
	fr := engine.FilterRequest{User: benchTenant.TopManager, Role: policy.RoleSalesManager, Action: policy.ActionView, Entity: policy.EntityLeads}
	var out engine.FilterResult
	if n := testing.AllocsPerRun(200, func() { engine.Filter(s, &fr, &out) }); n != 0 {
		t.Errorf("Filter allocates %.1f times per call", n)
	}
}
