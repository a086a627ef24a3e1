package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crmauthz/crmauthz/internal/operator"
)

// stopGrace is how long the manager has to stop after SIGTERM before it is killed.
const stopGrace = 60 * time.Second

// manager is one `crmauthz manager` process.
type manager struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
	apiURL  string
	http    *http.Client
	started time.Time
	// exited is closed once the process has been waited for; waitErr is then its
	// exit status.
	exited  chan struct{}
	waitErr error
}

// startManager runs the manager as users do, with the flags the benchmark needs and
// extra ones (MANAGER_FLAGS) after them, so they win, and the Go memory limit it would
// set itself in a container of cfg.memoryLimit; its output goes to logPath.
func startManager(bin, kubeconfig, logPath string, cfg config) (*manager, error) {
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	probePort, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("manager log: %w", err)
	}
	args := append([]string{"manager",
		"--api-addr", "127.0.0.1:" + apiPort,
		"--health-probe-bind-address", "127.0.0.1:" + probePort,
		"--metrics-bind-address", "0",
		"--leader-elect=false", "--allow-unauthenticated", "--webhooks=false", "--decision-log=false",
	}, cfg.managerFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if limit := managerGoMemLimit(cfg); limit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+limit)
	}
	cmd.Stdout, cmd.Stderr = log, log
	m := &manager{cmd: cmd, log: log, logPath: logPath, apiURL: "http://127.0.0.1:" + apiPort,
		http: &http.Client{Timeout: 10 * time.Second}, exited: make(chan struct{})}
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	fmt.Printf("   pid %d, API %s, log %s\n", cmd.Process.Pid, m.apiURL, logPath)
	go func() {
		m.waitErr = cmd.Wait()
		log.Close()
		close(m.exited)
	}()
	return m, nil
}

// managerGoMemLimit is the GOMEMLIMIT the manager runs with: the caller's, or the one
// the manager sets itself in a container of cfg.memoryLimit ("" for none).
func managerGoMemLimit(cfg config) string {
	if v := os.Getenv("GOMEMLIMIT"); v != "" || cfg.memoryLimit <= 0 {
		return v
	}
	return strconv.FormatInt(operator.SoftMemoryLimit(cfg.memoryLimit), 10)
}

// freePort asks the kernel for a port that is free now (the manager binds it soon
// after; a race with another process is possible but unlikely on this machine).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return port, nil
}

func (m *manager) hasExited() bool {
	select {
	case <-m.exited:
		return true
	default:
		return false
	}
}

// waitReady polls the decision API's /readyz (which fails until every tenant is
// loaded) and returns the time from the process's start to its first 200.
func (m *manager) waitReady(ctx context.Context, limit time.Duration) (time.Duration, error) {
	deadline := time.After(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m.get("/readyz") == http.StatusOK {
			return time.Since(m.started), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-m.exited:
			return 0, fmt.Errorf("the manager exited before it was ready (%v): see %s", m.waitErr, m.logPath)
		case <-deadline:
			return 0, fmt.Errorf("the manager was not ready after %s: see %s", limit, m.logPath)
		case <-tick.C:
		}
	}
}

func (m *manager) get(path string) int {
	resp, err := m.http.Get(m.apiURL + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// stop sends SIGTERM, waits for the process (killing it after stopGrace) and returns
// how long it took to stop. Stopping a stopped manager does nothing.
func (m *manager) stop() (time.Duration, error) {
	if m.hasExited() {
		return 0, nil
	}
	start := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("stopping the manager: %w", err)
	}
	select {
	case <-m.exited:
		return time.Since(start), nil
	case <-time.After(stopGrace):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return time.Since(start), fmt.Errorf("the manager did not stop within %s of SIGTERM and was killed", stopGrace)
	}
}

// stopQuietly is stop for deferred cleanup, where an error can only be reported.
func (m *manager) stopQuietly() {
	if _, err := m.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
	}
}

// memSample is the manager's memory at one moment; -1 is "not known".
type memSample struct {
	rss, hwm int64 // VmRSS and its peak VmHWM, bytes
	heap     int64 // go_memstats_heap_inuse_bytes, bytes
}

func (m *manager) memory() memSample {
	s := memSample{rss: -1, hwm: -1, heap: -1}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid)); err == nil {
		s.rss, s.hwm = procStatus(f)
		f.Close()
	}
	s.heap = m.heapInUse()
	return s
}

// procStatus reads VmRSS and VmHWM (in kB) from a /proc/<pid>/status.
func procStatus(r io.Reader) (rss, hwm int64) {
	rss, hwm = -1, -1
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// heapInUse reads go_memstats_heap_inuse_bytes from the API's /metrics (open without
// credentials under --allow-unauthenticated on loopback), or -1 when the manager does
// not export it.
func (m *manager) heapInUse() int64 {
	resp, err := m.http.Get(m.apiURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	const name = "go_memstats_heap_inuse_bytes "
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return -1
			}
			return int64(f)
		}
	}
	return -1
}

// cpuProfile takes a CPU profile of a Go server at base (the manager's --pprof-addr,
// or the API server's /debug/pprof) for d, as soon as it answers, and writes it to
// path (`go tool pprof -top path`).
func cpuProfile(ctx context.Context, hc *http.Client, base string, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute) // the manager may never answer
	defer cancel()
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds()))
	for {
		data, err := get(ctx, hc, url)
		var refused *net.OpError
		if errors.As(err, &refused) && ctx.Err() == nil { // not listening yet
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		fmt.Printf("   CPU profile written to %s\n", path)
		return os.WriteFile(path, data, 0o644)
	}
}
