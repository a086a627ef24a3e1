// Command loadgen sends POST requests at a fixed rate (open loop) or as fast as
// possible, and prints throughput and latency percentiles. The benchmark uses it for
// "p99 at half of peak", which wrk (closed loop) cannot measure.
//
// Requests are due at evenly spaced times (see pace); latency is measured from when
// each was sent (p99_us), and from when it was due (due_p99_us, wrk2's
// coordinated-omission correction: a request that waited for a free connection counts
// its wait). late_p99_us is how late the client itself was in sending: when it is
// large, the client, not the server, is the bottleneck and the run says so.
//
// It speaks HTTP/1.1 over raw keep-alive connections with prebuilt requests, like wrk:
// Go's net/http client costs tens of microseconds of CPU a request, which on a 2-core
// machine makes the client late and charges its own queueing to the server.
package main

import (
	"bufio"
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to POST to (http only)")
	bodiesFile := flag.String("bodies", "", "file of request bodies, one a line")
	conns := flag.Int("c", 32, "connections (workers)")
	dur := flag.Duration("d", 10*time.Second, "duration")
	rate := flag.Float64("rate", 0, "requests per second in all (0: as fast as possible)")
	flag.Parse()
	bodies, err := readLines(*bodiesFile)
	if err != nil || len(bodies) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: no bodies:", err)
		os.Exit(2)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintf(os.Stderr, "loadgen: -url must be an http:// URL, not %q\n", *target)
		os.Exit(2)
	}
	reqs := make([][]byte, len(bodies))
	for i, b := range bodies {
		reqs[i] = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, len(b), b)
	}
	// The pacer sleeps on an OS thread of its own; a second P lets the workers run
	// while it holds one, even when the process is pinned to a single CPU.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}

	var errs, next atomic.Int64
	lat := make([][]time.Duration, *conns)     // from when a request was sent
	fromDue := make([][]time.Duration, *conns) // from when it was due
	late := make([][]time.Duration, *conns)
	start := time.Now()
	end := start.Add(*dur)
	var due chan time.Time // nil: closed loop, each worker sends as soon as it may
	if *rate > 0 {
		due = make(chan time.Time, 1<<16)
		go pace(*rate, start, end, due)
	}
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var c *conn
			for {
				d := time.Now()
				if due != nil {
					var ok bool
					if d, ok = <-due; !ok {
						break
					}
				} else if d.After(end) {
					break
				}
				if c == nil {
					var err error
					if c, err = dial(u.Host); err != nil {
						errs.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				i := next.Add(1)
				sent := time.Now()
				status, keep, err := c.roundTrip(reqs[int(i)%len(reqs)])
				if err != nil || status != 200 {
					errs.Add(1)
				}
				if err != nil || !keep {
					c.Close()
					c = nil
				}
				done := time.Now()
				lat[w] = append(lat[w], done.Sub(sent))
				fromDue[w] = append(fromDue[w], done.Sub(d))
				late[w] = append(late[w], sent.Sub(d))
			}
			if c != nil {
				c.Close()
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	all, corrected, lateness := flatten(lat), flatten(fromDue), flatten(late)
	fmt.Printf("requests=%d errors=%d rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f late_p99_us=%.0f due_p99_us=%.0f\n",
		len(all), errs.Load(), float64(len(all))/elapsed.Seconds(),
		us(pct(all, 0.50)), us(pct(all, 0.90)), us(pct(all, 0.99)), us(pct(all, 1)), us(pct(lateness, 0.99)), us(pct(corrected, 0.99)))
}

// pace sends the due time of every request, evenly spaced at rate, until end. It
// sleeps with nanosleep on an OS thread of its own: a sleeping goroutine is woken by
// the netpoller, whose timeout has millisecond granularity, so time.Sleep would bunch
// requests into bursts of rate/1000 each millisecond — a load no fleet of clients
// sends, and queueing that would be charged to the server.
func pace(rate float64, start, end time.Time, due chan<- time.Time) {
	runtime.LockOSThread()
	interval := time.Duration(float64(time.Second) / rate)
	for d := start; d.Before(end); d = d.Add(interval) {
		if wait := time.Until(d); wait > 0 {
			ts := syscall.NsecToTimespec(int64(wait))
			_ = syscall.Nanosleep(&ts, nil) // EINTR: woken early, the request is merely sent early
		}
		due <- d
	}
	close(due)
}

// conn is one keep-alive HTTP/1.1 connection.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(host string) (*conn, error) {
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

var errMalformed = errors.New("malformed response")

// roundTrip writes one prebuilt request and reads its response, discarding the body.
// It returns the status and whether the connection may be reused.
func (c *conn) roundTrip(req []byte) (status int, keep bool, err error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err = c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, errMalformed
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, errMalformed
	}
	length, keep := -1, true
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return status, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return status, false, errors.New("chunked responses are not supported")
		}
	}
	if length < 0 {
		return status, false, errors.New("response without Content-Length")
	}
	if _, err = c.r.Discard(length); err != nil {
		return status, false, err
	}
	return status, keep, nil
}

func flatten(per [][]time.Duration) []time.Duration {
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out, sc.Err()
}
