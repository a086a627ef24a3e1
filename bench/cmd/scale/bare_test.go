package main

import (
	"testing"
	"time"
)

// The bare window opens at the end of the first collection and closes at the first
// end after enough collections and statuses; stopped early, it keeps the whole
// collections it saw, or with none the writes so far.
func TestWindowTimerSpansWholeCollections(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s, written, cycles int) edge {
		return edge{at: t0.Add(time.Duration(s) * time.Second), written: int64(written),
			gc: gcSnapshot{cycles: cycles, cpu: time.Duration(cycles) * time.Second}}
	}
	want := func(t *testing.T, got bareResult, objects, seconds, cycles int, bound bool) {
		t.Helper()
		if got.objects != int64(objects) || got.elapsed != time.Duration(seconds)*time.Second || got.gc.cycles != cycles ||
			got.gc.cpu != time.Duration(cycles)*time.Second || got.gcBound != bound {
			t.Errorf("got %d objects in %s over %d cycles (%s, bound %t); want %d in %d s over %d (bound %t)",
				got.objects, got.elapsed, got.gc.cycles, got.gc.cpu, got.gcBound, objects, seconds, cycles, bound)
		}
	}

	for _, c := range []struct {
		name           string
		cycles, sample int
		before         []edge // edges that must not close the window, the first opening it
		closing        edge
		objects, secs  int
		cyclesInWindow int
	}{
		{"complete at the statuses asked", 2, 100,
			// one collection of two; two, but 90 statuses of 100
			[]edge{at(5, 50, 8), at(25, 100, 9), at(45, 140, 10)}, at(60, 150, 11), 100, 55, 3},
		{"complete at the collections asked", 2, 10,
			[]edge{at(5, 50, 8), at(25, 100, 9)}, at(45, 140, 10), 90, 40, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := windowTimer{cycles: c.cycles, sample: int64(c.sample), began: at(0, 0, 7)}
			for _, e := range c.before {
				if _, done := w.edge(e); done {
					t.Fatalf("closed at %s", e.at.Sub(t0))
				}
			}
			r, done := w.edge(c.closing)
			if !done {
				t.Fatalf("not closed at %s", c.closing.at.Sub(t0))
			}
			want(t, r, c.objects, c.secs, c.cyclesInWindow, true)
		})
	}
	t.Run("stopped after whole collections", func(t *testing.T) {
		w := windowTimer{cycles: 3, sample: 100, began: at(0, 0, 7)}
		w.edge(at(5, 50, 8))
		w.edge(at(25, 150, 9))
		want(t, w.stop(at(40, 300, 9)), 100, 20, 1, true)
	})
	t.Run("stopped before any whole collection", func(t *testing.T) {
		w := windowTimer{cycles: 3, sample: 100, began: at(0, 0, 7)}
		w.edge(at(5, 50, 8))
		want(t, w.stop(at(40, 300, 8)), 300, 40, 1, false)
	})
}
