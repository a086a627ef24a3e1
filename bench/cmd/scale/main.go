// Command scale measures the real `crmauthz manager` against a real API server
// (envtest) holding N generated tenants of the benchmark size (tenantgen.SpecSize): how
// fast the tenants load, this API server's bare status-write rate, the manager's time
// to ready and memory, how fast its statuses converge against that bare rate, a policy
// change made while the status backlog is still long, and a restart. `make bench-scale
// N=…` runs it; the report goes to stdout and to out/scale-N.txt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
	"github.com/crmauthz/crmauthz/internal/tenantgen"
)

// config is what the flags set.
type config struct {
	root, out   string
	n           int
	seed        uint64
	timeout     time.Duration
	readyLimit  time.Duration
	workers     int
	bareWorkers int
	bareSample  int
	// bareGCCycles is how many of the API server's garbage collections the bare
	// measurement spans at least; bareMax bounds how long it writes.
	bareGCCycles int
	bareMax      time.Duration
	qps          float32
	burst        int
	managerFlags []string
	// memoryLimit is the manager's container limit the run emulates (bytes; 0: none).
	memoryLimit int64
	// profileRestart is how long CPU profiles of the restarted manager and of the API
	// server run, from the first restart (0: none).
	profileRestart time.Duration
	// restarts is how many times the manager is restarted and timed to ready.
	restarts int
	// consistencyChecks keeps the API server's watch-cache consistency checker on.
	consistencyChecks bool
	// restartVariants are extra manager flags the restarts take in turn (none: one
	// variant, no extra flags): an A/B comparison on the same API server.
	restartVariants [][]string
}

func parseFlags() (config, error) {
	var c config
	var qps float64
	var managerFlags string
	flag.StringVar(&c.root, "root", "..", "the repository root (go.mod, config/crd/bases, bin/k8s)")
	flag.StringVar(&c.out, "out", "out", "directory of the report and the manager's logs")
	flag.IntVar(&c.n, "n", 20, "tenants to generate and load")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of tenant 0 (tenant i uses seed+i)")
	flag.DurationVar(&c.timeout, "timeout", 20*time.Minute, "how long to wait for every status to converge, from the manager's start")
	flag.DurationVar(&c.readyLimit, "ready-limit", 10*time.Minute, "how long to wait for the manager's /readyz")
	flag.IntVar(&c.workers, "workers", 16, "concurrent writers while loading")
	flag.IntVar(&c.bareWorkers, "bare-workers", 8, "concurrent writers of the bare status-write measurement")
	flag.IntVar(&c.bareSample, "bare-sample", 3000, "statuses the bare measurement times at least (at most all)")
	flag.IntVar(&c.bareGCCycles, "bare-gc-cycles", 3, "garbage collections of the API server the bare measurement spans at least, timed from the end of one to the end of another")
	flag.DurationVar(&c.bareMax, "bare-max", 5*time.Minute, "how long the bare measurement writes at most (it then stops without waiting for a garbage collection)")
	flag.Float64Var(&qps, "qps", 2000, "client-side QPS of the bench's own clients")
	flag.IntVar(&c.burst, "burst", 4000, "client-side burst of the bench's own clients")
	flag.StringVar(&managerFlags, "manager-flags", os.Getenv("MANAGER_FLAGS"), "extra flags for `crmauthz manager` (default: $MANAGER_FLAGS)")
	flag.DurationVar(&c.profileRestart, "profile-restart", 0, "take CPU profiles of the first restarted manager and of the API server for this long from its start (out/scale-N-restart-cpu.pprof, out/scale-N-restart-apiserver-cpu.pprof; 0: none)")
	variants := flag.String("restart-variants", "", "extra manager flags the restarts take in turn, variants separated by '|' (e.g. '|--list-page-size=0': every other restart reads its first lists whole)")
	flag.BoolVar(&c.consistencyChecks, "apiserver-consistency-checks", false, "keep the API server's periodic watch-cache consistency checks (DetectCacheInconsistency, on by default in Kubernetes 1.34+), which list every object from etcd on the cores the manager shares")
	flag.IntVar(&c.restarts, "restarts", 3, "restarts of the manager to time (each one's time to ready is reported; the target holds the slowest)")
	memoryLimit := flag.String("memory-limit", "2Gi", "the manager container's memory limit to emulate (config/manager's): the manager gets GOMEMLIMIT at the share of it it sets in a container, unless GOMEMLIMIT is set already; \"0\": none")
	flag.Parse()
	q, err := resource.ParseQuantity(*memoryLimit)
	if err != nil {
		return c, fmt.Errorf("-memory-limit: %w", err)
	}
	c.memoryLimit = q.Value()
	c.qps = float32(qps)
	c.managerFlags = strings.Fields(managerFlags)
	if *variants != "" {
		for v := range strings.SplitSeq(*variants, "|") {
			c.restartVariants = append(c.restartVariants, strings.Fields(v))
		}
	}
	if c.n < 1 {
		return c, errors.New("-n must be at least 1")
	}
	if c.bareGCCycles < 1 || c.bareSample < 1 || c.bareMax <= 0 {
		return c, errors.New("-bare-gc-cycles and -bare-sample must be at least 1, -bare-max more than 0")
	}
	if c.restarts < 1 {
		return c, errors.New("-restarts must be at least 1")
	}
	root, err := filepath.Abs(c.root)
	if err != nil {
		return c, fmt.Errorf("-root: %w", err)
	}
	c.root = root
	if _, err := os.Stat(filepath.Join(root, "config", "crd", "bases")); err != nil {
		return c, fmt.Errorf("-root %s is not the repository root: %w", root, err)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	// Ctrl-C and SIGTERM cancel the run; run's deferred cleanup then stops the manager
	// and the control plane instead of leaving them behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

// run does every phase in turn; each phase's figures land in r, which the report
// prints at the end.
func run(ctx context.Context, cfg config) (err error) {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	r := &results{cfg: cfg, shape: shapeOf(tenantgen.Generate(tenantName(0), tenantgen.SpecSize, cfg.seed))}

	step("building the manager (go build ./cmd/crmauthz)")
	bin, err := buildManager(ctx, cfg.root)
	if err != nil {
		return err
	}

	step("starting envtest (etcd --quota-backend-bytes=8 GiB)")
	cl, err := startCluster(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if e := cl.stop(); e != nil {
			fmt.Fprintln(os.Stderr, "bench-scale: stopping envtest:", e)
		}
	}()
	r.versions = cl.versions

	step(fmt.Sprintf("loading %d tenants (%d crmauthz objects and %d ConfigMap each), %d workers",
		cfg.n, r.shape.objects, r.shape.configMaps, cfg.workers))
	if r.load, err = loadTenants(ctx, cl.client, cfg); err != nil {
		return err
	}

	// The convergence watches start first, so the bare writes and the manager's pay
	// the same cost of being watched by this bench.
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	tr, err := startTracker(watchCtx, cl.watcher, cfg.n*r.shape.objects)
	if err != nil {
		return err
	}

	step("bare status-write rate of this API server (watched by this bench, as the manager's writes will be)")
	if r.bare, err = measureBare(ctx, cl, cfg, r.shape); err != nil {
		return err
	}

	if err := firstRun(ctx, cfg, cl, bin, tr, r); err != nil {
		return err
	}
	stopWatches()
	// Both ways: gzip is client-go's default, identity the manager's (--kube-api-compression=false).
	for _, gzip := range []bool{true, false} {
		step(fmt.Sprintf("bare list (gzip: %t): every crmauthz object once from this API server, nothing decoded (the floor under the restart's first list)", gzip))
		l, err := measureBareList(ctx, cl.rest, gzip)
		if err != nil {
			return err
		}
		r.bareLists = append(r.bareLists, l)
	}
	for i := range cfg.restarts {
		run, err := restart(ctx, cfg, cl, bin, i)
		if err != nil {
			return err
		}
		r.restarts = append(r.restarts, run)
	}

	text := r.report()
	fmt.Print("\n" + text)
	path := filepath.Join(cfg.out, fmt.Sprintf("scale-%d.txt", cfg.n))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Println("report written to", path)
	return nil
}

// firstRun starts the manager on the loaded API server, times it to ready, makes the
// mid-backlog change, and waits for the statuses to converge (or the time limit).
func firstRun(ctx context.Context, cfg config, cl *cluster, bin string, tr *tracker, r *results) error {
	step("starting the manager")
	m, err := startManager(bin, cl.kubeconfig, filepath.Join(cfg.out, fmt.Sprintf("scale-%d-manager.log", cfg.n)), cfg)
	if err != nil {
		return err
	}
	defer m.stopQuietly()
	tr.setOrigin(m.started)
	if r.first.ready, err = m.waitReady(ctx, cfg.readyLimit); err != nil {
		return err
	}
	r.first.atReady = m.memory()
	gcAtReady, _ := cl.gc.snapshot()
	fmt.Printf("   ready after %s, RSS %s\n", r.first.ready.Round(time.Millisecond), mib(r.first.atReady.rss))

	// The change is made now, while the backlog is as long as it will be; measureChange
	// records how much had converged by then.
	changeCtx, cancelChange := context.WithCancel(ctx)
	defer cancelChange()
	changed := make(chan changeResult, 1)
	deadline := m.started.Add(cfg.timeout)
	go func() { changed <- measureChange(changeCtx, cl, m.apiURL, cfg, tr, deadline) }()

	step(fmt.Sprintf("waiting for %d statuses to converge (time limit %s from the manager's start)", tr.total, cfg.timeout))
	r.converge = tr.wait(ctx, deadline, m.exited)
	r.convergeGC = cl.gc.since(gcAtReady)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if m.hasExited() {
		return fmt.Errorf("the manager exited during the run (%v): see %s", m.waitErr, m.logPath)
	}
	r.first.steady = m.memory()
	r.change = <-changed // bounded by deadline, like the wait above
	step("bare status-write rate again, the manager running idle")
	if r.bareAfter, err = measureBare(ctx, cl, cfg, r.shape); err != nil {
		return err
	}
	step("restart: stopping the manager (SIGTERM)")
	r.first.stopTook, err = m.stop()
	return err
}

// restart starts the manager again, once the previous run has stopped, and times it
// to ready: loading and compiling every tenant. The statuses are written by then but
// for the ones the bare measurement after convergence overwrote (whole tenants, tens
// of thousands at N=1,000), which the restarted manager rewrites once it is ready
// (status writers wait for the first load), after the time measured but inside a
// -profile-restart window. The first restart (i = 0) is the one profiled.
func restart(ctx context.Context, cfg config, cl *cluster, bin string, i int) (managerRun, error) {
	var run managerRun
	step(fmt.Sprintf("restart %d of %d: starting the manager again", i+1, cfg.restarts))
	profile := cfg.profileRestart > 0 && i == 0
	if n := len(cfg.restartVariants); n > 0 {
		run.variant = cfg.restartVariants[i%n]
		cfg.managerFlags = append(slices.Clip(cfg.managerFlags), run.variant...)
		fmt.Printf("   extra flags: %q\n", run.variant)
	}
	checksBefore, err := consistencyChecks(ctx, cl.rest)
	if err != nil {
		return run, err
	}
	pprofPort := ""
	if profile {
		var err error
		if pprofPort, err = freePort(); err != nil {
			return run, err
		}
		cfg.managerFlags = append(slices.Clip(cfg.managerFlags), "--pprof-addr", "127.0.0.1:"+pprofPort)
	}
	m, err := startManager(bin, cl.kubeconfig, filepath.Join(cfg.out, fmt.Sprintf("scale-%d-manager-restart-%d.log", cfg.n, i+1)), cfg)
	if err != nil {
		return run, err
	}
	defer m.stopQuietly()
	var profiles errgroup.Group
	if profile {
		apiserver, err := rest.HTTPClientFor(cl.rest)
		if err != nil {
			return run, err
		}
		base := filepath.Join(cfg.out, fmt.Sprintf("scale-%d-restart", cfg.n))
		profiles.Go(func() error {
			return cpuProfile(ctx, http.DefaultClient, "http://127.0.0.1:"+pprofPort, cfg.profileRestart, base+"-cpu.pprof")
		})
		profiles.Go(func() error {
			return cpuProfile(ctx, apiserver, strings.TrimSuffix(cl.rest.Host, "/"), cfg.profileRestart, base+"-apiserver-cpu.pprof")
		})
	}
	if run.ready, err = m.waitReady(ctx, cfg.readyLimit); err != nil {
		return run, err
	}
	run.atReady = m.memory()
	checksAfter, err := consistencyChecks(ctx, cl.rest)
	if err != nil {
		return run, err
	}
	run.consistencyChecks = checksAfter - checksBefore
	fmt.Printf("   ready after %s, RSS %s; the API server's consistency checks meanwhile: %d\n", run.ready.Round(time.Millisecond), mib(run.atReady.rss), run.consistencyChecks)
	if err := profiles.Wait(); err != nil {
		fmt.Println("   CPU profile:", err)
	}
	run.stopTook, err = m.stop()
	return run, err
}

func step(s string) { fmt.Printf("== %s\n", s) }

func tenantName(i int) string { return fmt.Sprintf("t-%04d", i) }

// shape is what every generated tenant holds (all tenants have the same size).
type shape struct {
	objects, configMaps int
	// statusObjects are every crmauthz object of a tenant, as empty objects naming
	// kind and name: what the bare measurement writes the status of.
	statusObjects []client.Object
}

func shapeOf(t *tenantgen.Tenant) shape {
	in := t.Input
	sh := shape{
		objects:    len(in.Templates) + len(in.Groups) + len(in.LoginPolicies) + len(in.Allowlists),
		configMaps: len(in.ConfigMaps),
	}
	for _, o := range in.Templates {
		sh.statusObjects = append(sh.statusObjects, &v1alpha1.PermissionTemplate{ObjectMeta: metav1.ObjectMeta{Name: o.Name}})
	}
	for _, o := range in.Groups {
		sh.statusObjects = append(sh.statusObjects, &v1alpha1.SalesGroup{ObjectMeta: metav1.ObjectMeta{Name: o.Name}})
	}
	for _, o := range in.LoginPolicies {
		sh.statusObjects = append(sh.statusObjects, &v1alpha1.LoginPolicy{ObjectMeta: metav1.ObjectMeta{Name: o.Name}})
	}
	for _, o := range in.Allowlists {
		sh.statusObjects = append(sh.statusObjects, &v1alpha1.IPAllowlist{ObjectMeta: metav1.ObjectMeta{Name: o.Name}})
	}
	return sh
}
