package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/crmauthz/crmauthz/internal/service"
)

// DefaultDecisionLogBuffer is how many decision log lines wait to be written before
// new ones are dropped: about a second of a busy replica's decisions.
const DefaultDecisionLogBuffer = 16384

// decisionLog writes one JSON line per decision, with the decision id the caller got,
// so an answer can be traced back to the policy revision it was made on. It never
// carries a password. Lines go through a bounded buffer to one writer goroutine: a
// sink that stalls (a full pipe, a stuck disk) costs log lines, counted in
// crmauthz_decision_log_dropped_total, never a delayed decision.
type decisionLog struct {
	ch      chan logEntry
	dropped prometheus.Counter // nil without metrics
	// unreported counts lines dropped since the log last said so.
	unreported atomic.Uint64
	out        *bufio.Writer
	logger     *slog.Logger
	stop       chan struct{}
	stopped    chan struct{}
}

type logEntry struct {
	caller string
	rec    service.Record
	// synced, when set, marks a point in the stream: closed once every line before it
	// has been written.
	synced chan struct{}
}

func newDecisionLog(w io.Writer, size int, dropped prometheus.Counter) *decisionLog {
	if size <= 0 {
		size = DefaultDecisionLogBuffer
	}
	out := bufio.NewWriterSize(w, 64<<10)
	l := &decisionLog{ch: make(chan logEntry, size), dropped: dropped, out: out,
		logger: slog.New(slog.NewJSONHandler(out, nil)), stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	return l
}

// add queues a decision's line, or drops it when the buffer is full.
func (l *decisionLog) add(caller string, rec *service.Record) {
	select {
	case l.ch <- logEntry{caller: caller, rec: *rec}:
	default:
		l.unreported.Add(1)
		if l.dropped != nil {
			l.dropped.Inc()
		}
	}
}

func (l *decisionLog) run() {
	defer close(l.stopped)
	for {
		select {
		case <-l.stop:
			return
		case e := <-l.ch:
			if e.synced != nil {
				_ = l.out.Flush()
				close(e.synced)
				continue
			}
			if n := l.unreported.Swap(0); n > 0 {
				l.logger.LogAttrs(context.Background(), slog.LevelWarn, "Dropped decision log lines: the log could not keep up",
					slog.Uint64("dropped", n))
			}
			l.write(&e)
			if len(l.ch) == 0 {
				_ = l.out.Flush() // a quiet moment: put everything out
			}
		}
	}
}

func (l *decisionLog) write(e *logEntry) {
	r := &e.rec
	attrs := make([]slog.Attr, 0, 14+len(r.Extra))
	attrs = append(attrs, slog.String("decisionId", r.ID.String()), slog.String("endpoint", r.Endpoint),
		slog.String("tenant", r.Tenant), slog.String("caller", e.caller), slog.String("user", r.User), slog.String("role", r.Role))
	if r.Action != "" {
		attrs = append(attrs, slog.String("action", r.Action), slog.String("target", r.Target))
	}
	if r.ResourceID != "" {
		attrs = append(attrs, slog.String("resourceId", r.ResourceID))
	}
	attrs = append(attrs, slog.Bool("allowed", r.Allowed), slog.String("reason", string(r.Reason)))
	if r.Template != "" {
		attrs = append(attrs, slog.String("template", r.Template))
	}
	attrs = append(attrs, slog.String("revision", r.Revision))
	if d := r.DryRun; d.Set {
		attrs = append(attrs, slog.Group("dryRun", slog.String("template", d.Template), slog.Bool("allowed", d.Allowed), slog.String("reason", string(d.Reason))))
	}
	attrs = append(attrs, r.Extra...)
	l.logger.LogAttrs(context.Background(), slog.LevelInfo, "Decided", attrs...)
}

// sync waits until every line queued before it has been written, for up to timeout.
func (l *decisionLog) sync(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	done := make(chan struct{})
	select {
	case l.ch <- logEntry{synced: done}:
	case <-t.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// close writes out what is buffered and stops the writer, giving up after timeout: a
// sink that does not take its lines must not hold up a shutdown.
func (l *decisionLog) close(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	l.sync(timeout)
	close(l.stop)
	select {
	case <-l.stopped:
	case <-time.After(time.Until(deadline)):
	}
}

// refusalLog logs callers refused with 401, 403 or 503 (who, which tenant, why), at
// most a few lines a second: a flood of forged tokens must not flood the log too.
// Lines left out are counted in the next one.
type refusalLog struct {
	log        *slog.Logger
	limit      *rate.Limiter
	suppressed atomic.Uint64
}

func newRefusalLog(l *slog.Logger) *refusalLog {
	return &refusalLog{log: l, limit: rate.NewLimiter(5, 20)}
}

func (l *refusalLog) logRefusal(r *http.Request, endpoint, tenant, caller string, status int, reason string) {
	if !l.limit.Allow() {
		l.suppressed.Add(1)
		return
	}
	attrs := []slog.Attr{slog.String("endpoint", endpoint), slog.String("tenant", tenant), slog.String("caller", caller),
		slog.String("remote", r.RemoteAddr), slog.Int("status", status), slog.String("reason", reason)}
	if n := l.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, slog.Uint64("suppressedSinceLast", n))
	}
	l.log.LogAttrs(r.Context(), slog.LevelWarn, "Refused a caller: "+strconv.Itoa(status)+" "+http.StatusText(status), attrs...)
}
