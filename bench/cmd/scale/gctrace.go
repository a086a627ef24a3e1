package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// gcTrace follows the API server's garbage collections from the lines Go's runtime
// prints with GODEBUG=gctrace=1, one per cycle, on its standard error:
//
//	gc 14 @11.201s 3%: 0.037+12+0.025 ms clock, 0.074+0.52/11/0.24+0.051 ms cpu, 32->33->16 MB, 34 MB goal, …
//
// At 1,000 tenants the API server's heap is 6–12 GiB and a cycle comes every 18–25 s
// of status writes, each worth seconds of CPU on the two cores everything shares: a
// rate measured over a few seconds is fast or slow as it falls between cycles or on
// one. Reading its own trace costs the API server nothing (its /metrics, polled,
// would cost it a page of text a second).
type gcTrace struct {
	mu sync.Mutex
	// cycles is the number of the last cycle traced: the runtime numbers them from
	// the process's start, so a line lost (the runtime writes a line in pieces, and
	// the API server's logs share the stream) costs its CPU figure, not a cycle.
	cycles  int
	cpu     time.Duration // the CPU of the cycles traced (stop-the-world phases, assists, background and idle marking)
	partial []byte        // the start of a line not ended yet
	// next is closed, and replaced, when a cycle completes.
	next chan struct{}
}

func newGCTrace() *gcTrace { return &gcTrace{next: make(chan struct{})} }

// gcSnapshot is the trace at one moment.
type gcSnapshot struct {
	cycles int
	cpu    time.Duration
}

// Write takes the API server's standard error; lines other than the runtime's trace
// (its logs) are dropped.
func (g *gcTrace) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	data := append(g.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if n, cpu, ok := parseGCLine(string(data[:i])); ok && n > g.cycles {
			g.cycles = n
			g.cpu += cpu
			close(g.next)
			g.next = make(chan struct{})
		}
		data = data[i+1:]
	}
	g.partial = append(g.partial[:0], data...)
	return len(p), nil
}

// snapshot is the cycles so far, and a channel closed when the next one completes.
func (g *gcTrace) snapshot() (gcSnapshot, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return gcSnapshot{cycles: g.cycles, cpu: g.cpu}, g.next
}

// since is what happened between an earlier snapshot s and now.
func (g *gcTrace) since(s gcSnapshot) gcSnapshot {
	now, _ := g.snapshot()
	return now.minus(s)
}

// minus is what happened from an earlier snapshot o to s.
func (s gcSnapshot) minus(o gcSnapshot) gcSnapshot {
	return gcSnapshot{cycles: s.cycles - o.cycles, cpu: s.cpu - o.cpu}
}

func (s gcSnapshot) String() string {
	return fmt.Sprintf("%d garbage collections of the API server (%.1f s of its CPU)", s.cycles, s.cpu.Seconds())
}

// parseGCLine reads one gctrace line: ok when it is one, with the cycle's number and
// the CPU it took (the sum of the "ms cpu" phases).
func parseGCLine(line string) (int, time.Duration, bool) {
	num, rest, ok := strings.Cut(strings.TrimPrefix(line, "gc "), " @")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || !strings.HasPrefix(line, "gc ") {
		return 0, 0, false
	}
	if _, rest, ok = strings.Cut(rest, "clock, "); !ok {
		return 0, 0, false
	}
	phases, _, ok := strings.Cut(rest, " ms cpu")
	if !ok {
		return 0, 0, false
	}
	var ms float64
	for f := range strings.FieldsFuncSeq(phases, func(r rune) bool { return r == '+' || r == '/' }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, 0, false
		}
		ms += v
	}
	return n, time.Duration(ms * float64(time.Millisecond)), true
}

// gcTracedBinary writes, in dir, a script that runs binary with the runtime's GC
// trace on: envtest starts its API server from a path and passes it no environment
// of its own, and the bench's other processes must not trace.
func gcTracedBinary(dir, binary string) (string, error) {
	path := filepath.Join(dir, filepath.Base(binary)+"-gctrace")
	quoted := "'" + strings.ReplaceAll(binary, "'", `'\''`) + "'"
	script := "#!/bin/sh\nGODEBUG=\"${GODEBUG:+$GODEBUG,}gctrace=1\"\nexport GODEBUG\nexec " + quoted + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("GC-traced %s: %w", binary, err)
	}
	return path, nil
}
