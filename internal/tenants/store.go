// Package tenants holds every tenant's policy in force: the compiled snapshots the
// decision API reads, swapped atomically, and the builder that compiles a tenant while
// keeping the last good version of any object that stops compiling. It has no
// Kubernetes client: the controllers and `crmauthz serve` feed it.
package tenants

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmauthz/crmauthz/internal/policy"
)

// Tenant is one tenant's policy in force and what compiling it found.
type Tenant struct {
	Snapshot *policy.Snapshot
	Report   *policy.Report
	LoadedAt time.Time
}

// Store maps tenants to their policy. Readers never lock: they load an immutable map
// and index it. Writers copy the map (tenants change rarely, decisions constantly).
type Store struct {
	mu      sync.Mutex // serialises writers
	tenants atomic.Pointer[map[string]*Tenant]
	ready   atomic.Bool
	// onChange, if set, is told of every write (for metrics).
	onChange func(name string, t *Tenant)
	// dryRun counts, per tenant and DryRun template, the decisions it would have
	// changed (this process's view): key tenant + "/" + template, *atomic.Int64.
	dryRun sync.Map
}

// CountDryRun counts one decision the DryRun template of tenant would have changed.
func (s *Store) CountDryRun(tenant, template string) {
	c, ok := s.dryRun.Load(tenant + "/" + template)
	if !ok {
		c, _ = s.dryRun.LoadOrStore(tenant+"/"+template, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// DryRunCount is how many decisions the DryRun template of tenant would have
// changed, as this process counted them.
func (s *Store) DryRunCount(tenant, template string) int64 {
	if c, ok := s.dryRun.Load(tenant + "/" + template); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// NewStore returns an empty, not yet ready store. onChange (may be nil) is called after
// every write with the tenant's new state (nil when it was removed).
func NewStore(onChange func(name string, t *Tenant)) *Store {
	s := &Store{onChange: onChange}
	empty := map[string]*Tenant{}
	s.tenants.Store(&empty)
	return s
}

// Snapshot returns the tenant's snapshot in force, nil for an unknown tenant.
func (s *Store) Snapshot(name string) *policy.Snapshot {
	if t := (*s.tenants.Load())[name]; t != nil {
		return t.Snapshot
	}
	return nil
}

// Compiled returns the tenant's snapshot and the report of its compile (nil, nil for
// an unknown tenant): the service describes tenants with it.
func (s *Store) Compiled(name string) (*policy.Snapshot, *policy.Report) {
	if t := (*s.tenants.Load())[name]; t != nil {
		return t.Snapshot, t.Report
	}
	return nil, nil
}

// Get returns the tenant's state, nil for an unknown tenant.
func (s *Store) Get(name string) *Tenant { return (*s.tenants.Load())[name] }

// Names lists the known tenants, sorted.
func (s *Store) Names() []string {
	m := *s.tenants.Load()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Ready says whether the first full load finished: until then the API answers 503.
func (s *Store) Ready() bool { return s.ready.Load() }

// SetReady marks the first full load done.
func (s *Store) SetReady() { s.ready.Store(true) }

// Put swaps in a tenant's new state; nil removes the tenant (it has no objects left).
func (s *Store) Put(name string, t *Tenant) {
	s.mu.Lock()
	old := *s.tenants.Load()
	next := make(map[string]*Tenant, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if t == nil {
		delete(next, name)
	} else {
		next[name] = t
	}
	s.tenants.Store(&next)
	s.mu.Unlock()
	if s.onChange != nil {
		s.onChange(name, t)
	}
}
