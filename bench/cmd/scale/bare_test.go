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

	t.Run("complete at the statuses asked", func(t *testing.T) {
		w := windowTimer{cycles: 2, sample: 100, began: at(0, 0, 7)}
		for _, e := range []edge{
			at(5, 50, 8),    // opens the window
			at(25, 100, 9),  // one collection of two
			at(45, 140, 10), // two collections, but 90 statuses of 100
		} {
			if _, done := w.edge(e); done {
				t.Fatalf("closed at %s", e.at.Sub(t0))
			}
		}
		r, done := w.edge(at(60, 150, 11)) // three collections, 100 statuses
		if !done {
			t.Fatal("not closed with both met")
		}
		want(t, r, 100, 55, 3, true)
	})
	t.Run("complete at the collections asked", func(t *testing.T) {
		w := windowTimer{cycles: 2, sample: 10, began: at(0, 0, 7)}
		w.edge(at(5, 50, 8))
		if _, done := w.edge(at(25, 100, 9)); done {
			t.Fatal("closed after one collection of two")
		}
		r, done := w.edge(at(45, 140, 10))
		if !done {
			t.Fatal("not closed after two collections")
		}
		want(t, r, 90, 40, 2, true)
	})
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
