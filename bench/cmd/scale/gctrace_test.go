package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Lines as Go 1.26's runtime prints them, split across writes as a pipe delivers them,
// among the API server's own logs.
func TestGCTraceCountsCyclesAndTheirCPU(t *testing.T) {
	g := newGCTrace()
	if _, err := g.Write([]byte("gc 40 @800.0s 4%: 1+2+3 ms clock, 1+2/3/4+5 ms cpu, 1->1->1 MB, 2 MB goal, 2 P\n")); err != nil {
		t.Fatal(err)
	}
	before, next := g.snapshot()
	for _, chunk := range []string{
		"I1126 05:28:47.1 1 handler.go:288] Adding GroupVersion\n",
		"gc 41 @812.204s 4%: 0.047+2412+0.031 ms clock, 0.094+1.5/1200/0.5+0.062 ms cpu, 6100->6300->",
		"3100 MB, 6200 MB goal, 0 MB stacks, 1 MB globals, 2 P\ngc 42 @839.9s 4%: 0.05+2000+0.02 ms clock, ",
		"0.1+2/900/3+0.04 ms cpu, 6200->6400->3200 MB, 6300 MB goal, 0 MB stacks, 1 MB globals, 2 P (forced)\n",
		"gc 43 @850.0s 4%: 0.05+2000+0.02 ms clock, 0.1+2/900", // not ended: not counted yet
	} {
		if n, err := g.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	select {
	case <-next:
	default:
		t.Fatal("a completed cycle did not close the channel of the next one")
	}
	got := g.since(before)
	ms := 0.094 + 1.5 + 1200 + 0.5 + 0.062 + 0.1 + 2 + 900 + 3 + 0.04
	want := time.Duration(ms * float64(time.Millisecond))
	if got.cycles != 2 || (got.cpu-want).Abs() > time.Microsecond {
		t.Fatalf("got %d cycles, %s of CPU; want 2, %s", got.cycles, got.cpu, want)
	}
	if _, err := g.Write([]byte("/3+0.04 ms cpu, 1->1->1 MB, 2 MB goal, 2 P\n")); err != nil {
		t.Fatal(err)
	}
	if got := g.since(before); got.cycles != 3 {
		t.Fatalf("the line completed by a later write: %d cycles, want 3", got.cycles)
	}
	// Cycle 44's line garbled by a log line written into it: 45 still counts both.
	for _, line := range []string{
		"gc 44 @860.0s 4%: 0.05+2000+0.02 ms clock, 0.1+2/I1126 05:29:01 trace.go:236] Trace[1]: \"Patch\"\n",
		"gc 45 @870.0s 4%: 0.05+2000+0.02 ms clock, 1+1/1/1+1 ms cpu, 1->1->1 MB, 2 MB goal, 2 P\n",
		"gc 45 @870.0s 4%: 0.05+2000+0.02 ms clock, 1+1/1/1+1 ms cpu, 1->1->1 MB, 2 MB goal, 2 P\n", // not a new cycle
	} {
		if _, err := g.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	want += time.Duration((0.1+2+900+3+0.04)*1000)*time.Microsecond + 5*time.Millisecond // cycles 43 and 45
	if got := g.since(before); got.cycles != 5 || (got.cpu-want).Abs() > time.Microsecond {
		t.Fatalf("after a lost line: %d cycles, %s of CPU; want 5, %s", got.cycles, got.cpu, want)
	}
	for _, line := range []string{"gc 1 @0.1s 0%: garbled", "gcache warmed", "gc x @0.1s 0%: 1+2+3 ms clock, 1+1 ms cpu, 4 P",
		"gc 1 @0.1s 0%: 1+2+3 ms clock, x+1 ms cpu, 4 P"} {
		if _, _, ok := parseGCLine(line); ok {
			t.Errorf("%q read as a GC cycle", line)
		}
	}
}

// The wrapper runs the binary with the trace on, its arguments untouched, and keeps a
// GODEBUG already set.
func TestGCTracedBinaryRunsTheBinaryTraced(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "it's here")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$GODEBUG|$1|$2\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper, err := gcTracedBinary(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	for godebug, want := range map[string]string{"": "gctrace=1|--a b|c", "madvdontneed=1": "madvdontneed=1,gctrace=1|--a b|c"} {
		cmd := exec.Command(wrapper, "--a b", "c")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		if godebug != "" {
			cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("GODEBUG %q: the binary saw %q, want %q", godebug, got, want)
		}
	}
}
