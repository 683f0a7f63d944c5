package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/modelreg/modelreg/internal/fixture"
)

// loadReport is the result of a load test.
type loadReport struct {
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
	P50ms       float64 `json:"p50Ms"`
	P90ms       float64 `json:"p90Ms"`
	P99ms       float64 `json:"p99Ms"`
	P999ms      float64 `json:"p999Ms"`
	MaxMs       float64 `json:"maxMs"`
	Concurrency int     `json:"concurrency"`
	// Rate is the offered rate of an open-loop run (requests per second,
	// latencies counted from each request's scheduled send time); 0 for a
	// closed loop (each connection sends its next request when the
	// previous one is answered, latencies counted from the actual send).
	Rate       float64 `json:"rate"`
	FirstError string  `json:"firstError,omitempty"`
}

// maxLoadConcurrency bounds --concurrency: one client machine has some
// 28,000 ephemeral ports, and every connection has its own goroutine and
// buffers.
const maxLoadConcurrency = 10000

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("MODELREG_URL", "http://127.0.0.1:8080"), "server URL (env MODELREG_URL)")
	admin := fs.String("token", "", "admin token, to set up the tenant, model and a tenant token (env MODELREG_TOKEN)") // the env is read after parsing: never shown as a default
	tenant := fs.String("tenant", "loadtest", "tenant to use (created if needed)")
	dur := fs.Duration("duration", 10*time.Second, "how long to send requests (after the warm-up)")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up time, not measured")
	conc := fs.Int("concurrency", 32, "concurrent connections (at most 10000)")
	rate := fs.Float64("rate", 0, "open loop: send this many requests per second in all, on a fixed schedule, and count each latency from its scheduled send time (0: closed loop, each connection sending as soon as its previous answer arrives)")
	docFile := fs.String("doc", "", "document to validate (default: a built-in 20-property order with 10 lines)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: modelreg loadtest [flags]\n\nDefines the model Order in --tenant (replacing one of that name), issues a\ntenant token, sends validate requests with it from --concurrency connections\nfor --duration, revokes the token, and reports throughput and latency\npercentiles.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *admin == "" {
		*admin = os.Getenv("MODELREG_TOKEN")
	}
	if *admin == "" {
		return fmt.Errorf("%w: --token (the admin token) is required", errUsage)
	}
	if *conc < 1 || *dur <= 0 || *warm < 0 {
		return fmt.Errorf("%w: --concurrency and --duration must be positive, --warmup not negative", errUsage)
	}
	if *conc > maxLoadConcurrency {
		return fmt.Errorf("%w: --concurrency must be at most %d", errUsage, maxLoadConcurrency)
	}
	if !(*rate >= 0) || *rate > 1e7 {
		return fmt.Errorf("%w: --rate must be between 0 and 10000000", errUsage)
	}
	doc := []byte(fixture.OrderDocument)
	if *docFile != "" {
		var err error
		if doc, err = os.ReadFile(*docFile); err != nil {
			return err
		}
	}
	tr := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	baseURL, err := serverURL(*base)
	if err != nil {
		return err
	}
	c := &client{base: baseURL, token: *admin, hc: hc, stdout: stdout}
	tp := "/v1/tenants/" + url.PathEscape(*tenant)
	if _, err := c.do(ctx, "PUT", tp+"/models/Order", []byte(fixture.OrderModel)); err != nil {
		return fmt.Errorf("defining the model: %w", err)
	}
	b, err := c.do(ctx, "POST", tp+"/tokens", nil)
	if err != nil {
		return fmt.Errorf("issuing a tenant token: %w", err)
	}
	var tok struct{ Token, ID string }
	if err := json.Unmarshal(b, &tok); err != nil {
		return err
	}
	// The token is for this run only: revoked at its end, whatever the
	// outcome, so that runs leave no live credentials behind.
	defer func() {
		c.token = *admin
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := c.do(rctx, "DELETE", tp+"/tokens/"+url.PathEscape(tok.ID), nil); err != nil {
			fmt.Fprintf(stderr, "loadtest: could not revoke the run's token %s: %v\n", tok.ID, err)
		}
	}()
	target := c.base + tp + "/models/Order/validate"
	// Check once that the document is valid.
	c.token = tok.Token
	if _, err := c.do(ctx, "POST", tp+"/models/Order/validate", doc); err != nil {
		return fmt.Errorf("the document does not validate: %w", err)
	}
	mode := "closed loop"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %g requests/s", *rate)
	}
	fmt.Fprintf(stderr, "loadtest: %s, %d connections, %v warm-up, %v measured, POST %s\n", mode, *conc, *warm, *dur, target)
	rep, err := loadtest(ctx, target, tok.Token, doc, *conc, *rate, *warm, *dur)
	if err != nil {
		return err
	}
	if *asJSON {
		out, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(out))
	} else {
		fmt.Fprintf(stdout, "mode       %s, %d connections\nrequests   %d (%d errors) in %.1fs\nthroughput %.0f requests/s\nlatency    p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
			mode, rep.Concurrency, rep.Requests, rep.Errors, rep.Seconds, rep.PerSecond, rep.P50ms, rep.P90ms, rep.P99ms, rep.P999ms, rep.MaxMs)
		if rep.FirstError != "" {
			fmt.Fprintf(stdout, "first error: %s\n", rep.FirstError)
		}
	}
	if rep.Errors > 0 {
		return errors.New("some requests failed")
	}
	if rep.Requests == 0 {
		return errors.New("no request was answered in the measured time")
	}
	return nil
}

// loadtest sends POST requests with body to target from conc workers, one
// keep-alive connection each: warm-up first, then dur measured.
//
// With rate 0 it is a closed loop: a worker sends its next request as
// soon as the previous one is answered, and a latency is counted from the
// actual send. That gives the highest throughput, but its latencies leave
// out what a stalled server would have made waiting requests suffer
// (coordinated omission). With rate > 0 it is an open loop: worker w sends
// its k-th request at start + (k + w/conc)·conc/rate, or at once when it
// is behind, and a latency is counted from that scheduled time, so a stall
// counts against every request scheduled during it.
//
// It speaks HTTP/1.1 directly over TCP (a prebuilt request, a minimal
// response parser) rather than through net/http's client, which costs
// several times what the server spends on a request: on a 2-core machine
// the load generator shares the CPU with the server, and a heavy client
// would measure itself.
func loadtest(ctx context.Context, target, token string, body []byte, conc int, rate float64, warm, dur time.Duration) (loadReport, error) {
	u, err := url.Parse(target)
	if err != nil {
		return loadReport{}, err
	}
	if u.Scheme != "http" {
		return loadReport{}, fmt.Errorf("loadtest speaks plain http only, not %q", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	req := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, token, len(body)))
	req = append(req, body...)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		firstErr string
	)
	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(dur)
	var interval time.Duration // between a worker's scheduled sends
	if rate > 0 {
		// At most some 146 years: a lower rate only means that no
		// connection sends twice, and must not overflow a Duration.
		interval = time.Duration(min(float64(conc)/rate*float64(time.Second), 1<<62))
	}
	for w := range conc {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<12)
			nerr := 0
			var ferr string
			fail := func(err error) {
				nerr++
				if ferr == "" {
					ferr = err.Error()
				}
			}
			var conn net.Conn
			var unwatch func() bool // stops ending conn's I/O when ctx is done
			var br *bufio.Reader
			var resp []byte
			next := start.Add(time.Duration(float64(interval) * float64(w) / float64(conc)))
			for ctx.Err() == nil {
				t0 := time.Now()
				if interval > 0 {
					if next.After(end) || !sleepUntil(ctx, next) {
						break
					}
					t0 = next // latency counts from the scheduled send
					next = next.Add(interval)
				}
				if t0.After(end) {
					break
				}
				if conn == nil {
					var d net.Dialer
					c, err := d.DialContext(ctx, "tcp", addr)
					if err != nil {
						if t0.After(measureFrom) {
							fail(err)
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					conn, br = c, bufio.NewReaderSize(c, 64<<10)
					// A cancelled run does not wait for a stalled answer.
					unwatch = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
				}
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				if ctx.Err() != nil {
					break // cancelled before the deadline above was set
				}
				var status int
				var err error
				status, resp, err = roundTrip(conn, br, req, resp[:0])
				d := time.Since(t0)
				if err != nil {
					unwatch()
					conn.Close()
					conn = nil
				} else if status != 200 {
					err = fmt.Errorf("status %d", status)
				} else if !bytes.HasPrefix(resp, []byte(`{"document":`)) {
					err = fmt.Errorf("200 without a validated document: %.80q", resp)
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					continue
				}
				lat = append(lat, d)
			}
			if conn != nil {
				unwatch()
				conn.Close()
			}
			mu.Lock()
			all = append(all, lat...)
			errs += nerr
			if firstErr == "" {
				firstErr = ferr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	slices.Sort(all)
	pct := func(p float64) float64 { return nearestRankMs(all, p) }
	rep := loadReport{
		Requests: len(all), Errors: errs, Seconds: elapsed.Seconds(), Concurrency: conc, Rate: rate, FirstError: firstErr,
		P50ms: pct(.50), P90ms: pct(.90), P99ms: pct(.99), P999ms: pct(.999), MaxMs: pct(1),
	}
	if elapsed > 0 {
		rep.PerSecond = float64(len(all)) / elapsed.Seconds()
	}
	return rep, nil
}

// nearestRankMs returns the nearest-rank percentile p (a fraction,
// 0 < p ≤ 1) of the ascending latencies sorted, in milliseconds: the
// element at index ceil(p·n)−1. It returns 0 when sorted is empty.
func nearestRankMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)-1, max(0, int(math.Ceil(p*float64(len(sorted))))-1))
	return float64(sorted[i].Nanoseconds()) / 1e6
}

// sleepUntil waits until t, and reports false if ctx is done first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// roundTrip writes one request and reads one response (status line,
// headers, a Content-Length body), returning the status code and the body
// appended to buf.
func roundTrip(conn net.Conn, br *bufio.Reader, req, buf []byte) (int, []byte, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, buf, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, buf, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, buf, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, buf, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, buf, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(h[15:]))); err != nil || length < 0 || length > 64<<20 {
				return 0, buf, fmt.Errorf("bad Content-Length %q", h)
			}
		}
	}
	if length < 0 {
		return 0, buf, errors.New("response without Content-Length")
	}
	n := len(buf)
	buf = slices.Grow(buf, length)[:n+length]
	if _, err := io.ReadFull(br, buf[n:]); err != nil {
		return 0, buf[:n], err
	}
	return status, buf, nil
}
