// Command loadgen sends POST requests at a fixed rate (open loop) or as fast as
// possible, and prints throughput and latency percentiles. The benchmark uses it for
// "p99 at half of peak", which wrk (closed loop) cannot measure. Latency is measured
// from when a request is sent; how late the client sent requests (Go's timers wake a
// sleeping goroutine up to about a millisecond late) is reported apart, as lateness,
// so that the client's own scheduling is not charged to the server.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to POST to")
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
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	var errs, next atomic.Int64
	lat := make([][]time.Duration, *conns)
	late := make([][]time.Duration, *conns)
	start := time.Now()
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var interval time.Duration
			if *rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(*conns) / *rate)
			}
			due := start.Add(time.Duration(w) * interval / time.Duration(*conns))
			for {
				if interval > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				} else {
					due = time.Now()
				}
				if due.After(end) {
					return
				}
				i := next.Add(1)
				sent := time.Now()
				late[w] = append(late[w], sent.Sub(due))
				resp, err := client.Post(*url, "application/json", bytes.NewReader(bodies[int(i)%len(bodies)]))
				if err != nil {
					errs.Add(1)
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs.Add(1)
					}
				}
				lat[w] = append(lat[w], time.Since(sent))
				due = due.Add(interval)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	all, lateness := flatten(lat), flatten(late)
	fmt.Printf("requests=%d errors=%d rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f late_p99_us=%.0f\n",
		len(all), errs.Load(), float64(len(all))/elapsed.Seconds(),
		us(pct(all, 0.50)), us(pct(all, 0.90)), us(pct(all, 0.99)), us(pct(all, 1)), us(pct(lateness, 0.99)))
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
