package server

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// limiter bounds the number of requests served at once. A request that
// finds every slot taken waits up to wait for one, then gets a 503
// "overloaded" problem with Retry-After, so a burst queues briefly and a
// sustained overload is shed early instead of piling up goroutines and
// latency.
type limiter struct {
	slots chan struct{}
	wait  time.Duration
	// bodies bounds the bytes reserved for request bodies being received
	// or held by their requests: n·maxBody, what n slots bounded when a
	// request kept its slot while its body arrived.
	bodies *semaphore.Weighted
}

func newLimiter(n int, wait time.Duration, maxBody int64) *limiter {
	// A request reserves up to maxBody+1 bytes (the last one to see the
	// end of the body, or that it is over the limit).
	budget := int64(math.MaxInt64)
	if maxBody < budget/int64(n) {
		budget = int64(n) * (maxBody + 1)
	}
	return &limiter{slots: make(chan struct{}, n), wait: wait, bodies: semaphore.NewWeighted(budget)}
}

// acquireBody reserves n bytes for a request body, waiting as acquire
// does for a slot.
func (l *limiter) acquireBody(r *http.Request, n int64) bool {
	if l.bodies.TryAcquire(n) {
		return true
	}
	if l.wait <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), l.wait)
	defer cancel()
	return l.bodies.Acquire(ctx, n) == nil
}

func (l *limiter) acquire(r *http.Request) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.wait <= 0 {
		return false
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}

func (l *limiter) release() { <-l.slots }

// tenantLimiter bounds the requests of each tenant in flight (see
// Config.MaxTenantInFlight), and those of them that compute at once (see
// Config.MaxTenantRunning); a tenant with none in flight has no entry.
type tenantLimiter struct {
	max int // < 0: no limit
	run int // < 0: no limit
	mu  sync.Mutex
	n   map[string]*tenantShare
}

// tenantShare is a tenant's entry in a tenantLimiter.
type tenantShare struct {
	n int // requests in flight (guarded by the limiter's mu)
	// run holds a token for each of the tenant's requests computing, up
	// to Config.MaxTenantRunning (nil: no limit); see Server.startRunning.
	run chan struct{}
}

// acquire takes one of tenant's shares, if it has one left, and returns
// the tenant's entry (nil when nothing is limited).
func (l *tenantLimiter) acquire(tenant string) (*tenantShare, bool) {
	if l.max < 0 && l.run < 0 {
		return nil, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	sh := l.n[tenant]
	if sh == nil {
		sh = &tenantShare{}
		if l.run > 0 {
			sh.run = make(chan struct{}, l.run)
		}
		l.n[tenant] = sh
	}
	if l.max >= 0 && sh.n >= l.max {
		return nil, false
	}
	sh.n++
	return sh, true
}

// release gives back a share acquire took.
func (l *tenantLimiter) release(tenant string) {
	if l.max < 0 && l.run < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if sh := l.n[tenant]; sh != nil {
		if sh.n--; sh.n <= 0 {
			delete(l.n, tenant)
		}
	}
}

// startRunning makes a request of a tenant token wait, once it has what it
// needs to compute its answer (its body, if it has one), until fewer than
// Config.MaxTenantRunning requests of the tenant compute: the others of
// the tenant wait their turn, and other tenants' requests do not wait
// behind them. It holds its turn until its answer starts (see
// statusRecorder.WriteHeader), or it ends. A request whose client is gone
// stops waiting. Without a tenant share it does nothing.
func (s *Server) startRunning(w http.ResponseWriter, r *http.Request) error {
	rec, ok := w.(*statusRecorder)
	if !ok || rec.share == nil || rec.share.run == nil || rec.running {
		return nil
	}
	select {
	case rec.share.run <- struct{}{}:
		rec.running = true
		return nil
	default:
	}
	s.m.tenantWaits.Inc()
	select {
	case rec.share.run <- struct{}{}:
		rec.running = true
		return nil
	case <-r.Context().Done():
		return s.overloadedBy(r, "its tenant's other requests were computing")
	}
}

// overloaded counts a request refused for want of a slot and returns its
// problem.
func (s *Server) overloaded(r *http.Request) *Problem {
	return s.overloadedBy(r, "too many requests in flight")
}

// overloadedBy is overloaded with why r waited in vain. A request whose
// client went away while it waited was not refused for want of anything:
// it is counted apart (reason "canceled"), so that the overloaded count
// says how often the server really was.
func (s *Server) overloadedBy(r *http.Request, why string) *Problem {
	if r.Context().Err() != nil {
		s.m.rejected.WithLabelValues("canceled").Inc()
		return problem(ProblemOverloaded, "the client went away while the request waited: %s", why)
	}
	s.m.rejected.WithLabelValues("overloaded").Inc()
	p := problem(ProblemOverloaded, "%s; retry later", why)
	p.retryAfter = 1
	return p
}

// wrap is the middleware around every route: panic recovery, the
// concurrency limit (not for the operational endpoints), metrics and
// logging.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &statusRecorder{ResponseWriter: w, req: r}
		ops := isOperational(r.URL.Path)
		s.m.inFlight.Inc()
		defer func() {
			s.m.inFlight.Dec()
			v := recover()
			if v == http.ErrAbortHandler {
				// An answer cut on purpose (see serveRoute): counted and
				// logged as any other, then the panic goes on to
				// net/http, which closes the connection.
				defer panic(v)
			} else if v != nil {
				s.m.panics.Inc()
				rec.failure, rec.failLevel = []any{"panic", v, "stack", string(debug.Stack())}, slog.LevelError
				if rec.status == 0 {
					writeProblem(rec, r, problem(ProblemInternal, "internal error"))
				} else {
					// The answer is under way: cut it, as for an
					// answerCut (see serveRoute), so that the client
					// never takes what was sent for the whole answer.
					defer panic(http.ErrAbortHandler)
				}
			}
			d := time.Since(t0)
			code := rec.status
			if rm := s.routeMetrics[r.Pattern]; rm != nil && rm.method == r.Method {
				// The common case, without label hashing.
				rm.duration.Observe(d.Seconds())
				switch code {
				case http.StatusOK:
					rm.ok.Inc()
				case http.StatusCreated:
					rm.created.Inc()
				default:
					s.m.requests.WithLabelValues(r.Pattern, r.Method, codeLabel(code)).Inc()
				}
			} else {
				route := r.Pattern
				if route == "" {
					route = "unmatched"
				}
				method := methodLabel(r.Method)
				s.m.requests.WithLabelValues(route, method, codeLabel(code)).Inc()
				s.m.duration.WithLabelValues(route, method).Observe(d.Seconds())
			}
			// One line per request logged, which says why it failed
			// when it did (see Server.failed).
			level, logged := slog.LevelInfo, s.cfg.AccessLog
			switch {
			case rec.failure != nil:
				level, logged = rec.failLevel, true
			case code >= 500 && code != http.StatusServiceUnavailable:
				level, logged = slog.LevelWarn, true
			case code == http.StatusServiceUnavailable:
				// Shedding and draining: counted in metrics; see failureLevel.
				level, logged = slog.LevelDebug, true
			}
			if s.cfg.AccessLog {
				level = max(level, slog.LevelInfo) // every request, at Info at least
			}
			if logged && s.log.Enabled(r.Context(), level) {
				attrs := append([]any{"method", r.Method, "path", r.URL.Path, "status", cmp.Or(code, http.StatusOK), "duration", d}, rec.failure...)
				s.log.Log(r.Context(), level, "request", attrs...)
			}
		}()
		defer func() {
			rec.stopRunning()
			if rec.tenant != "" {
				rec.tenantLim.release(rec.tenant)
			}
		}()
		if !ops {
			if !s.lim.acquire(r) {
				s.setPattern(r)
				writeProblem(rec, r, s.overloaded(r))
				return
			}
			rec.lim, rec.slot = s.lim, true
			defer func() {
				if rec.slot {
					s.lim.release()
				}
				if rec.bodyBytes > 0 {
					s.lim.bodies.Release(rec.bodyBytes)
				}
			}()
		}
		next.ServeHTTP(rec, r)
	})
}

// setPattern sets r.Pattern to the pattern of the route that would have
// served r, as the mux does when it serves it, for a request refused
// before the mux ran: its metrics then count it under its route, not
// "unmatched" as a request no route serves. Only the refusals look the
// route up, so that the requests served do not pay for it twice.
func (s *Server) setPattern(r *http.Request) {
	if r.Pattern == "" {
		_, r.Pattern = s.mux.Handler(r)
	}
}

// methodLabel is the method label of a request's metrics: the method if
// it is one of HTTP's, "other" if not (a client chooses the method, and a
// label must not take values without bound).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func isOperational(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// readBody reads the request body, at most s.cfg.MaxBodyBytes of it. It
// refuses a body of another media type than JSON with 415 and one over the
// limit with 413.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyInto(w, r, nil)
}

// readBodyInto is readBody appending to buf (which may come from a pool).
func (s *Server) readBodyInto(w http.ResponseWriter, r *http.Request, buf []byte) (body []byte, err error) {
	if err := checkMediaType(r.Header); err != nil {
		return nil, err
	}
	limit := s.cfg.MaxBodyBytes
	tooLarge := func() error {
		s.m.rejected.WithLabelValues("too_large").Inc()
		return problem(ProblemTooLarge, "request body exceeds %d bytes", limit)
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	rec, _ := w.(*statusRecorder)
	// The memory the body takes is reserved as it arrives, for the rest of
	// the request: the bodies of all requests together stay within
	// MaxInFlight times MaxBodyBytes, however many connections send them.
	// Reserving what a request announces instead would let connections
	// that announce large bodies and send nothing take the whole budget.
	// A request first reserves (and allocates) its announced length up to
	// bodyChunk, then twice what it holds each time the body outgrows
	// that, so it never holds over twice what it received plus bodyChunk.
	// The buffer takes the announced length at once; a body of unknown
	// length grows it as it arrives, from bodyStart bytes.
	budget := rec != nil && rec.lim != nil
	most := limit + 1 // +1: room to see EOF (or the limit's error) without growing
	if r.ContentLength >= 0 {
		most = r.ContentLength + 1
	}
	var reserved, got int64
	reserve := func() error {
		n := min(max(bodyChunk, reserved), most-reserved)
		if n <= 0 {
			return tooLarge() // not reached: the reader stops at the limit
		}
		if budget {
			if !rec.lim.acquireBody(r, n) {
				return s.overloadedBy(r, "too much memory taken by request bodies being received")
			}
			rec.bodyBytes += n
		}
		reserved += n
		if r.ContentLength >= 0 {
			buf = slices.Grow(buf, int(reserved-got))
		}
		return nil
	}
	if err := reserve(); err != nil {
		return nil, err
	}
	if r.ContentLength < 0 {
		buf = slices.Grow(buf, bodyStart)
	}
	// Once the body is in, the request computes, in its tenant's turn;
	// it takes that turn last (this defer runs after the one below), after
	// its in-flight slot: a request never holds its tenant's turn while it
	// waits for a slot.
	defer func() {
		if err == nil {
			if err = s.startRunning(w, r); err != nil {
				body = nil
			}
		}
	}()
	// The request gives up its in-flight slot while its body arrives, and
	// waits for one again once it has: the limit bounds the requests being
	// worked on, so that clients sending their bodies slowly cannot hold
	// every slot and shut everyone else out (the memory their bodies may
	// take is reserved as they arrive).
	if rec != nil && rec.slot {
		rec.lim.release()
		rec.slot = false
		defer func() {
			if err == nil {
				if !rec.lim.acquire(r) {
					body, err = nil, s.overloaded(r)
					return
				}
				rec.slot = true
			}
		}()
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if got == reserved {
			if err := reserve(); err != nil {
				return nil, err
			}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grows as append does
		}
		room := buf[len(buf):cap(buf)]
		room = room[:min(int64(len(room)), reserved-got)]
		n, err := rd.Read(room)
		buf = buf[:len(buf)+n]
		got += int64(n)
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooLarge()
			}
			return nil, problem(ProblemInvalidRequest, "reading the request body: %v", err)
		}
	}
}

// checkMediaType refuses with 415 a request body that is not JSON as
// sent: a Content-Type other than JSON (application/json or
// application/*+json; application/x-www-form-urlencoded, what curl -d
// sends by default, is read as JSON all the same), more than one
// Content-Type, or a Content-Encoding other than identity, which the
// server does not decode (RFC 9110 §8.4; the answer says so with
// Accept-Encoding: identity, as RFC 7694 has it).
func checkMediaType(h http.Header) *Problem {
	cts := h["Content-Type"]
	if len(cts) == 1 && strings.TrimSpace(cts[0]) == "" {
		cts = nil // an empty Content-Type is none (curl -H 'Content-Type;')
	}
	switch {
	case len(cts) > 1:
		return problem(ProblemUnsupportedMedia, "send one Content-Type, application/json")
	case len(cts) == 1 && cts[0] != "application/json":
		mt, _, err := mime.ParseMediaType(cts[0])
		typ, sub, _ := strings.Cut(mt, "/")
		json := typ == "application" && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json") || sub == "x-www-form-urlencoded")
		if err != nil || !json {
			return problem(ProblemUnsupportedMedia, "send JSON (Content-Type: application/json)")
		}
	}
	for _, v := range h["Content-Encoding"] {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				p := problem(ProblemUnsupportedMedia, "Content-Encoding %q is not supported: send the body unencoded", c)
				p.header = http.Header{"Accept-Encoding": {"identity"}}
				return p
			}
		}
	}
	return nil
}

// bodyChunk is the most of a request body's announced length reserved
// and allocated before any of it arrives; bodyStart is the buffer first
// allocated for a body of unknown length.
const (
	bodyChunk = 64 << 10
	bodyStart = 512
)

// newLogger returns the default structured logger of a server: JSON lines
// on w at the given level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
