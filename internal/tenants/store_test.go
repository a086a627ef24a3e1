package tenants

import (
	"sync"
	"testing"
)

// TestDryRunCounts: counts are per tenant and template, and concurrent counting
// loses nothing.
func TestDryRunCounts(t *testing.T) {
	s := NewStore(nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				s.CountDryRun("acme", "next")
			}
		}()
	}
	s.CountDryRun("globex", "next")
	wg.Wait()
	if got := s.DryRunCount("acme", "next"); got != 8000 {
		t.Errorf("acme/next: %d, want 8000", got)
	}
	if got := s.DryRunCount("globex", "next"); got != 1 {
		t.Errorf("globex/next: %d, want 1", got)
	}
	if got := s.DryRunCount("acme", "other"); got != 0 {
		t.Errorf("acme/other: %d, want 0", got)
	}
}
