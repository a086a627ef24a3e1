// Command loadgen sends POST requests at a fixed rate (open loop) or as fast as
// possible (closed loop), and prints throughput and latency percentiles. The benchmark
// uses it for "p99 at half of peak", which wrk (closed loop) cannot measure.
//
// Open loop, requests are due at evenly spaced times, whatever the answers do; one
// waits for a free connection when every connection is busy. Latency is measured from
// when each request was sent (p99_us) and from when it was due (due_p99_us, wrk2's
// coordinated-omission correction). late_p99_us is how late the client sent: when it
// is large, the connections, not the server, were the bottleneck.
//
// Like wrk it is one thread with an epoll loop over keep-alive HTTP/1.1 connections
// and prebuilt requests: Go's HTTP client and scheduler cost tens of microseconds a
// request on this VM and wake sleeping goroutines only on millisecond ticks, which
// sends requests in bursts and charges the client's own queueing to the server. It
// busy-polls so that requests leave on time: give it a core of its own (taskset).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	target := flag.String("url", "", "URL to POST to (http only)")
	bodiesFile := flag.String("bodies", "", "file of request bodies, one a line")
	conns := flag.Int("c", 32, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	rate := flag.Float64("rate", 0, "requests per second in all (0: as fast as possible)")
	flag.Parse()
	bodies, err := readLines(*bodiesFile)
	if err != nil || len(bodies) == 0 {
		fail("no bodies: %v", err)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fail("-url must be an http:// URL, not %q", *target)
	}
	addr, err := net.ResolveTCPAddr("tcp4", u.Host)
	if err != nil {
		fail("%v", err)
	}
	reqs := make([][]byte, len(bodies))
	for i, b := range bodies {
		reqs[i] = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, len(b), b)
	}
	l := &loop{reqs: reqs, addr: addr}
	if err := l.run(*conns, *dur, *rate); err != nil {
		fail("%v", err)
	}
	all, corrected, lateness := sorted(l.lat), sorted(l.fromDue), sorted(l.late)
	fmt.Printf("requests=%d errors=%d rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f late_p99_us=%.0f due_p99_us=%.0f\n",
		len(all), l.errs, float64(len(all))/dur.Seconds(),
		us(pct(all, 0.50)), us(pct(all, 0.90)), us(pct(all, 0.99)), us(pct(all, 1)), us(pct(lateness, 0.99)), us(pct(corrected, 0.99)))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}

// loop is the event loop and what it measured.
type loop struct {
	reqs [][]byte
	addr *net.TCPAddr
	epfd int
	byFD map[int]*conn
	idle []*conn
	next int // request to send next (round robin over reqs)
	errs int
	lat  []time.Duration // from when a request was sent
	late []time.Duration // how late it was sent
	// fromDue is from when it was due to its answer.
	fromDue []time.Duration
}

// conn is one keep-alive connection with at most one request in flight.
type conn struct {
	fd        int
	in        []byte
	sent, due time.Time
}

func (l *loop) run(conns int, dur time.Duration, rate float64) error {
	runtime.LockOSThread()
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	defer unix.Close(l.epfd)
	l.byFD = map[int]*conn{}
	for i := 0; i < conns; i++ {
		c, err := l.dial()
		if err != nil {
			return err
		}
		l.idle = append(l.idle, c)
	}
	defer func() {
		for fd := range l.byFD {
			_ = unix.Close(fd)
		}
	}()

	start := time.Now()
	end := start.Add(dur)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	nextDue := start
	var backlog []time.Time // due times of requests waiting for a free connection
	events := make([]unix.EpollEvent, 64)
	for {
		now := time.Now()
		if now.After(end) && len(l.byFD) == len(l.idle) {
			return nil
		}
		if now.After(end.Add(10 * time.Second)) {
			return fmt.Errorf("%d answers still missing 10s after the end", len(l.byFD)-len(l.idle))
		}
		// Requests now due, sent on idle connections or queued for the next one.
		if now.Before(end) {
			if interval == 0 {
				for len(l.idle) > 0 {
					l.send(l.pop(), now)
				}
			} else {
				for !nextDue.After(now) {
					backlog = append(backlog, nextDue)
					nextDue = nextDue.Add(interval)
				}
			}
		}
		for len(backlog) > 0 && len(l.idle) > 0 {
			l.send(l.pop(), backlog[0])
			backlog = backlog[1:]
		}
		n, err := unix.EpollWait(l.epfd, events, 0) // busy-poll: see the package comment
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		for _, ev := range events[:max(n, 0)] {
			c := l.byFD[int(ev.Fd)]
			if c == nil {
				continue
			}
			if done, err := l.read(c); err != nil {
				l.errs++
				l.reconnect(c)
			} else if done {
				l.idle = append(l.idle, c)
			}
		}
	}
}

func (l *loop) pop() *conn {
	c := l.idle[len(l.idle)-1]
	l.idle = l.idle[:len(l.idle)-1]
	return c
}

func (l *loop) dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrInet4{Port: l.addr.Port}
	copy(sa.Addr[:], l.addr.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("connecting to %s: %w", l.addr, err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		return nil, err
	}
	c := &conn{fd: fd, in: make([]byte, 0, 16<<10)}
	l.byFD[fd] = c
	return c, nil
}

// reconnect replaces a broken connection; the run fails if the server is gone.
func (l *loop) reconnect(c *conn) {
	delete(l.byFD, c.fd)
	_ = unix.Close(c.fd)
	nc, err := l.dial()
	if err != nil {
		fail("%v", err)
	}
	l.idle = append(l.idle, nc)
}

func (l *loop) send(c *conn, due time.Time) {
	req := l.reqs[l.next%len(l.reqs)]
	l.next++
	c.due, c.sent = due, time.Now()
	c.in = c.in[:0]
	// A request of a few hundred bytes fits in an empty socket buffer: one write.
	if n, err := unix.Write(c.fd, req); err != nil || n != len(req) {
		l.errs++
		l.reconnect(c)
	}
}

var errMalformed = errors.New("malformed response")

// read reads what has arrived on c and reports whether its response is complete.
func (l *loop) read(c *conn) (bool, error) {
	for {
		if len(c.in) == cap(c.in) {
			c.in = append(c.in, 0)[:len(c.in)]
		}
		n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, errors.New("connection closed by the server")
		}
		c.in = c.in[:len(c.in)+n]
	}
	head, _, ok := bytes.Cut(c.in, []byte("\r\n\r\n"))
	if !ok {
		return false, nil
	}
	status, length, err := parseHead(head)
	if err != nil {
		return false, err
	}
	if len(c.in) < len(head)+4+length {
		return false, nil
	}
	done := time.Now()
	if status != 200 {
		l.errs++
	}
	l.lat = append(l.lat, done.Sub(c.sent))
	l.fromDue = append(l.fromDue, done.Sub(c.due))
	l.late = append(l.late, c.sent.Sub(c.due))
	return true, nil
}

// parseHead returns a response's status and Content-Length.
func parseHead(head []byte) (status, length int, err error) {
	lines := bytes.Split(head, []byte("\r\n"))
	if len(lines[0]) < 12 || !bytes.HasPrefix(lines[0], []byte("HTTP/1.")) {
		return 0, 0, errMalformed
	}
	if status, err = strconv.Atoi(string(lines[0][9:12])); err != nil {
		return 0, 0, errMalformed
	}
	length = -1
	for _, h := range lines[1:] {
		name, value, _ := bytes.Cut(h, []byte(":"))
		if bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, 0, errMalformed
			}
		}
	}
	if length < 0 {
		return 0, 0, errors.New("response without Content-Length (chunked answers are not supported)")
	}
	return status, length, nil
}

func sorted(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func readLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out, nil
}
