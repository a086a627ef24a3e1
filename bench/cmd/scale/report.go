package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets the report holds the figures against.
const (
	targetRSS       = 2 << 30 // bytes, peak of either run
	targetRestart   = 60 * time.Second
	targetBareShare = 0.70
	targetStatus    = 2 * time.Second
	targetEnforced  = 500 * time.Millisecond
)

// managerRun is one run of the manager process.
type managerRun struct {
	ready    time.Duration // from the process's start to /readyz 200
	atReady  memSample
	steady   memSample // when the statuses converged or the time limit passed
	stopTook time.Duration
	// variant are the extra flags of a restart (-restart-variants).
	variant []string
	// consistencyChecks are the API server's watch-cache consistency checks of the
	// four kinds (each lists every object from etcd) completed between start and ready.
	consistencyChecks int
}

// results is every figure of a run, filled phase by phase.
type results struct {
	cfg      config
	shape    shape
	versions string
	load     loadResult
	bare     bareResult
	// bareAfter is the same measurement once the statuses converged, with the manager
	// running idle: the API server as the manager's writes found it (its informers'
	// watches open, its heap grown by their lists).
	bareAfter bareResult
	// bareLists are how long the API server takes to hand out every object once,
	// with gzip and without.
	bareLists []bareListResult
	first     managerRun
	restarts  []managerRun
	converge  progress
	// convergeGC is the API server's garbage collections from the manager's ready to
	// its last status.
	convergeGC gcSnapshot
	change     changeResult
}

// report is the plain-text table printed at the end and written to out/scale-N.txt.
func (r *results) report() string {
	var b strings.Builder
	r.header(&b)
	row := func(label, value, target string) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%-46s %-40s %s", label, value, target), " ") + "\n")
	}
	b.WriteString("\n")
	row("", "measured", "target")
	r.firstRows(row)
	r.convergeRows(row)
	r.changeRows(row)
	r.restartRows(row)
	peak := max(r.first.atReady.hwm, r.first.steady.hwm)
	for _, run := range r.restarts {
		peak = max(peak, run.atReady.hwm)
	}
	row("peak RSS (VmHWM, every run)", mib(peak), fmt.Sprintf("<= 2 GiB: %s", verdict(peak >= 0 && peak <= targetRSS)))
	for _, err := range r.converge.watchErrs {
		fmt.Fprintf(&b, "note: a convergence watch failed, counts may be low: %v\n", err)
	}
	return b.String()
}

func (r *results) header(b *strings.Builder) {
	c := r.cfg
	fmt.Fprintf(b, "crmauthz manager at scale: N=%d tenants of %d crmauthz objects + %d ConfigMap (tenantgen.SpecSize, seeds %d..%d)\n",
		c.n, r.shape.objects, r.shape.configMaps, c.seed, c.seed+uint64(c.n-1))
	fmt.Fprintf(b, "control plane: envtest, bin/k8s -> %s; %d CPUs; the bench, the API server, etcd and the manager share them\n", r.versions, runtime.NumCPU())
	flags := "none"
	if len(c.managerFlags) > 0 {
		flags = strings.Join(c.managerFlags, " ")
	}
	fmt.Fprintf(b, "manager: bin/crmauthz manager --leader-elect=false --allow-unauthenticated --webhooks=false --decision-log=false; MANAGER_FLAGS: %s\n", flags)
	if limit := managerGoMemLimit(c); limit != "" {
		fmt.Fprintf(b, "  GOMEMLIMIT=%s (what the manager sets itself in a container limited to %s: -memory-limit)\n", limit, mib(c.memoryLimit))
	}
	checks := "off (-apiserver-consistency-checks to keep them)"
	if c.consistencyChecks {
		checks = "on"
	}
	fmt.Fprintf(b, "API server: watch-cache consistency checks (DetectCacheInconsistency) %s\n", checks)
	fmt.Fprintf(b, "clients: envtest's admin (system:masters, exempt from API Priority and Fairness), bench clients at QPS %.0f, burst %d\n\n", c.qps, c.burst)
	fmt.Fprintf(b, "load: %d objects (namespaces, ConfigMaps, crmauthz objects) in %s: %.0f objects/s, %d workers\n",
		r.load.objects, r.load.elapsed.Round(time.Millisecond), r.load.rate(), c.workers)
	fmt.Fprintf(b, "bare status-write rate: %s. Measured on this API server just before the\n"+
		"  manager starts: one JSON merge patch of the status subresource per object (observedGeneration and the manager's\n"+
		"  conditions, controllers.SetStatus's, as its client.MergeFrom sends them), no read first (the\n"+
		"  manager reads its cache), %d workers, whole tenants in order (every kind in proportion),\n"+
		"  while this bench's convergence watches run (they watch the manager's writes the same way).\n"+
		"  Timed from the end of one garbage collection of the API server to the end of another, over at least %d of them\n"+
		"  and %d statuses (-bare-gc-cycles, -bare-sample), as the manager's statuses are timed over many.\n"+
		"  The condition's reason (%s) is not the manager's, so the manager still writes every one of them.\n",
		r.bare, r.bare.workers, c.bareGCCycles, c.bareSample, bareReason)
	if r.bareAfter.written > 0 {
		fmt.Fprintf(b, "bare again, after convergence, the manager running idle (its watches open, so every write also reaches it): %s.\n"+
			"  The target compares with the faster of the two: the API server's own rate moves a lot as its heap grows.\n",
			r.bareAfter)
	}
	fmt.Fprintf(b, "while the manager wrote its statuses (from its ready to the last): %s\n", r.convergeGC)
}

// String is the measurement in a sentence.
func (b bareResult) String() string {
	edges := ""
	if !b.gcBound {
		edges = ", not between two garbage collections (-bare-max or every object written first)"
	}
	return fmt.Sprintf("%d objects in %s, %s%s: %.0f objects/s (%d written in all)",
		b.objects, b.elapsed.Round(time.Millisecond), b.gc, edges, b.rate(), b.written)
}

func (r *results) firstRows(row func(label, value, target string)) {
	f := r.first
	row("first start: time to /readyz 200", seconds(f.ready), "")
	row("  RSS at ready / at steady state", mib(f.atReady.rss)+" / "+mib(f.steady.rss), "")
	row("  Go heap in use at ready / at steady state", heap(f.atReady.heap)+" / "+heap(f.steady.heap), "")
}

func (r *results) convergeRows(row func(label, value, target string)) {
	p := r.converge
	state := fmt.Sprintf("%d/%d, the last %s after start", p.count, p.total, seconds(p.last))
	if p.timedOut {
		state = fmt.Sprintf("%d/%d at the %s time limit", p.count, p.total, r.cfg.timeout)
	}
	row("statuses written by the manager", state, "")
	bare := r.bare.rate()
	share := func(rate float64) string {
		return fmt.Sprintf("%.0f/s = %.0f%% of bare", rate, 100*rate/bare)
	}
	if after, before := r.bareAfter.rate(), bare; r.bareAfter.written > 0 {
		share = func(rate float64) string {
			return fmt.Sprintf("%.0f/s = %.0f%% of bare before, %.0f%% of bare after", rate, 100*rate/before, 100*rate/after)
		}
		bare = max(before, after) // the verdict takes the faster API server: the stricter
	}
	row("  rate, first to last status", share(p.rate()),
		fmt.Sprintf(">= %.0f%% of bare: %s", 100*targetBareShare, verdict(!p.timedOut && p.count == p.total && p.rate() >= targetBareShare*bare)))
	row("  rate, from 10% to 90% of them", share(p.midRate()), "")
	var miles []string
	for i, pct := range milestonePercents {
		if p.reached[i] > 0 {
			miles = append(miles, fmt.Sprintf("%d%% %s", pct, seconds(p.reached[i])))
		}
	}
	row("  reached, from the manager's start", strings.Join(miles, ", "), "")
}

func (r *results) changeRows(row func(label, value, target string)) {
	c := r.change
	if c.err != nil {
		row("mid-backlog change", "not made: "+c.err.Error(), "MISSED")
		return
	}
	q := c.probe.request
	row(fmt.Sprintf("mid-backlog change: %s/%s +%s", q.Tenant, c.probe.template, changedFeature),
		fmt.Sprintf("at %d/%d statuses written", c.convergedBefore, r.converge.total), "")
	row(fmt.Sprintf("  enforced (%s as %s denied)", q.Subject.User, q.Subject.Role), millis(c.enforced, c.enforcedErr),
		fmt.Sprintf("<= %d ms: %s", targetEnforced.Milliseconds(), verdict(c.enforcedErr == nil && c.enforced <= targetEnforced)))
	row("  status (observedGeneration = new)", millis(c.status, c.statusErr),
		fmt.Sprintf("<= %d ms: %s", targetStatus.Milliseconds(), verdict(c.statusErr == nil && c.status <= targetStatus)))
}

func (r *results) restartRows(row func(label, value, target string)) {
	row("restart: stop after SIGTERM took", seconds(r.first.stopTook), "")
	// The target holds the restarts of the manager as configured: those without a
	// variant's extra flags, when there are any.
	plain := slices.ContainsFunc(r.restarts, func(m managerRun) bool { return len(m.variant) == 0 })
	var slowest time.Duration
	judged := 0
	for i, run := range r.restarts {
		if !plain || len(run.variant) == 0 {
			slowest = max(slowest, run.ready)
			judged++
		}
		label := fmt.Sprintf("restart %d: time to /readyz 200", i+1)
		if len(run.variant) > 0 {
			label += " " + strings.Join(run.variant, " ")
		}
		row(label, fmt.Sprintf("%s (API server consistency checks completed meanwhile: %d)", seconds(run.ready), run.consistencyChecks), "")
		row("  RSS at ready / Go heap in use / stop took", mib(run.atReady.rss)+" / "+heap(run.atReady.heap)+" / "+seconds(run.stopTook), "")
	}
	which := "without extra flags"
	if !plain {
		which = "all with extra flags"
	}
	row(fmt.Sprintf("restart: the slowest of %d, %s", judged, which), seconds(slowest),
		fmt.Sprintf("<= %.0f s: %s", targetRestart.Seconds(), verdict(judged > 0 && slowest <= targetRestart)))
	for _, l := range r.bareLists {
		row(fmt.Sprintf("  API server alone: list all once, gzip %-5t", l.gzip), fmt.Sprintf("%s (%d objects, %s, nothing decoded)", seconds(l.elapsed), l.objects, mib(l.bytes)), "")
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func mib(bytes int64) string {
	if bytes < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(bytes)/(1<<20))
}

// heap is mib for go_memstats_heap_inuse_bytes, which the manager may not export.
func heap(bytes int64) string {
	if bytes < 0 {
		return "n/a (not in /metrics)"
	}
	return mib(bytes)
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func millis(d time.Duration, err error) string {
	if err != nil {
		return "none: " + err.Error()
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
