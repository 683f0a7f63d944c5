// Package server is the HTTP API of modelreg serve: the registry over
// HTTP/JSON under /v1, backed by a durable store.Store.
//
// The store is the source of truth and memory is a cache of it: a write is
// acknowledged only once it is durable in the store, tenants are loaded
// into the registry lazily on first use (once, even under a stampede of
// concurrent first requests) and unloaded from memory when idle; deleting
// a tenant purges the store, the memory and the tenant's tokens.
//
// docs/api.md documents every route, body and problem type.
package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/document"
	"github.com/modelreg/modelreg/store"
)

// Config configures a Server. Only Store is required.
type Config struct {
	// Store is the durable store (required).
	Store store.Store
	// AdminTokenHash is the SHA-256 hash of the admin token (see
	// ResolveAdminToken). The zero hash matches no token.
	AdminTokenHash [32]byte
	// FollowStoredAdminToken says that AdminTokenHash is the hash stored
	// with a generated admin token (ResolveAdminToken without a
	// configured token). When another replica of a shared store changes
	// it (--reset-admin-token), or deletes it (a start with a configured
	// token revokes the generated one), the server follows: the old token
	// stops working here too. Without it, the hash never changes.
	FollowStoredAdminToken bool
	// Logger receives structured logs (default: none, discarded; modelreg
	// serve logs JSON lines on stderr).
	Logger *slog.Logger
	// AccessLog logs every request, in one line, at Info level or the
	// level of its failure if higher. Without it only 5xx are logged: a
	// 500 at Error, a 503 at Warn when the store caused it and Debug
	// otherwise (see failureLevel). Either way a request is logged in
	// one line, which says why it failed when it did.
	AccessLog bool

	// MaxBodyBytes is the largest request body accepted (default 1 MiB);
	// larger bodies get 413.
	MaxBodyBytes int64
	// MaxInFlight is the number of API requests served at once (default
	// 256); QueueWait is how long a request waits for a slot before it gets
	// 503 overloaded (default 100 ms; negative: do not wait).
	MaxInFlight int
	QueueWait   time.Duration
	// MaxTenantInFlight is the most requests made with one tenant's tokens
	// that are served, or receiving their bodies, at once (default a
	// quarter of MaxInFlight, at least 1; negative: no limit). One more
	// gets 429 too-many-requests at once, so that one tenant cannot take
	// every slot (or the memory of bodies) from the others. Admin requests
	// are not counted.
	MaxTenantInFlight int
	// MaxTenantRunning is the most requests made with one tenant's tokens
	// that compute at once: from when a request has its body (at once for
	// one without) until its answer starts, or for a model list, which is
	// written as it is computed, except while it writes (default
	// GOMAXPROCS; negative:
	// no limit). The tenant's others wait their turn, so that a tenant
	// sending costly requests (large definitions, deep lookups, documents
	// whose defaults expand) takes at most that many cores, and the other
	// tenants' requests do not queue behind its own. Admin requests are
	// not counted.
	MaxTenantRunning int

	// MetricsElsewhere leaves /metrics out of Handler (it answers 404
	// not-found there): the caller serves MetricsHandler on a listener
	// of its own, one tenants do not reach.
	MetricsElsewhere bool

	// IdleTimeout is how long a tenant stays in memory without requests
	// (default 15 minutes; negative: never unloaded). SweepInterval is how
	// often the janitor looks for idle tenants and for memory to return
	// (default IdleTimeout/4, at most a minute, at least a second; a
	// minute when IdleTimeout is negative).
	IdleTimeout   time.Duration
	SweepInterval time.Duration
	// LoadTimeout bounds one tenant load from the store (default 30 s).
	LoadTimeout time.Duration
	// MaxResidentTenants bounds the tenants held in memory at once
	// (default 1000; negative: unlimited). Loading a tenant beyond it
	// unloads the least recently used tenants that no request is using
	// (approximately: see evictForCapacity); tenants in use by in-flight
	// requests may exceed it for as long as they are used.
	MaxResidentTenants int
	// ReleaseMemoryAfter makes the server return free memory to the
	// operating system once the resident tenants have dropped by at least
	// this many below their peak since the last release, or to none
	// (default 100; negative: never). Without it, the memory of tenants unloaded after
	// a burst goes back to the OS only gradually and partly, when the Go
	// runtime's scavenger gets to it: the Go heap keeps room to grow back
	// to its peak until a garbage collection lowers its goal, and an idle
	// server collects only every two minutes.
	//
	// The release (two full garbage collections, then every free page of
	// the heap handed back: see freeOSMemory) runs on the janitor's
	// goroutine at the end of a sweep, never on a request's path, at most
	// once per SweepInterval, and is counted in
	// modelreg_memory_releases_total. Tenants that merely replace each
	// other at MaxResidentTenants do not trigger it: their memory is
	// reused, not freed.
	ReleaseMemoryAfter int
	// releaseMemory returns free memory to the OS (default freeOSMemory;
	// tests count calls instead).
	releaseMemory func()

	// Limits bounds definitions and structure queries (package
	// definition defaults, but for a zero MaxDepth: twice the depth
	// quota, Policy.MaxDepth, plus 2, if that is more, so that the quota
	// rather than the parser refuses a structure nested too deep, and at
	// most 1024, the nesting stored definitions are loaded under).
	Limits definition.Limits
	// DocumentLimits bounds validated documents (package document
	// defaults).
	DocumentLimits document.Limits
	// Policy holds the per-tenant quotas (default: 10,000 models, 64 MiB of
	// definitions, depth 32 per tenant).
	Policy modelreg.Policy

	// MaxCachedTokens bounds the cache of verified tenant tokens (default
	// 100,000).
	MaxCachedTokens int
	// Clock is the time source for idleness (default time.Now).
	Clock func() time.Time
}

// freeOSMemory collects garbage and returns every free page of the heap to
// the OS. It runs two collections where debug.FreeOSMemory alone runs one:
// what is reachable only from a sync.Pool used since the previous
// collection survives the first (a pool keeps its contents one more cycle
// as a victim cache, and the runtime keeps the used pools themselves
// listed until then, among them the scanner pool inside each
// document.Validator). After a single collection, the validators and
// models of the tenants used last before an unload were still live in
// about one release in six, with the pages they share with freed objects.
// The pause between the two lets the background sweeper free the first
// collection's work buffers, which it does only after runtime.GC returns,
// so that their pages are free when the second one returns pages to the
// OS.
func freeOSMemory() {
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	debug.FreeOSMemory()
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = newLogger(io.Discard, slog.LevelInfo)
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.QueueWait == 0 {
		c.QueueWait = 100 * time.Millisecond
	}
	if c.MaxTenantInFlight == 0 {
		c.MaxTenantInFlight = max(1, c.MaxInFlight/4)
	}
	if c.MaxTenantRunning == 0 {
		c.MaxTenantRunning = runtime.GOMAXPROCS(0)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 15 * time.Minute
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Minute
		if c.IdleTimeout > 0 {
			c.SweepInterval = min(max(c.IdleTimeout/4, time.Second), time.Minute)
		}
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 30 * time.Second
	}
	if c.MaxResidentTenants == 0 {
		c.MaxResidentTenants = 1000
	}
	if c.ReleaseMemoryAfter == 0 {
		c.ReleaseMemoryAfter = 100
	}
	if c.releaseMemory == nil {
		c.releaseMemory = freeOSMemory
	}
	if c.Policy.MaxModels == 0 {
		c.Policy.MaxModels = 10000
	}
	if c.Policy.MaxBytes == 0 {
		c.Policy.MaxBytes = 64 << 20
	}
	if c.Policy.MaxDepth == 0 {
		c.Policy.MaxDepth = 32
	}
	if c.Limits.MaxDepth <= 0 && c.Policy.MaxDepth > 0 {
		// A structure level takes up to two levels of JSON ({"type":
		// {...}}), under the definition's object and its properties:
		// the parser lets through what the depth quota is there to judge.
		// Never above what stored definitions load under, so that
		// whatever is written loads again whatever the quota then.
		c.Limits.MaxDepth = min(max(definition.DefaultMaxDepth, 2*c.Policy.MaxDepth+2), StoredMaxNesting)
	}
	if c.MaxCachedTokens <= 0 {
		c.MaxCachedTokens = 100000
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Server serves the modelreg HTTP API. Create it with New, serve
// Handler(), and Close it when done.
type Server struct {
	cfg  Config
	st   store.Store
	reg  *modelreg.Registry
	log  *slog.Logger
	m    *metrics
	auth *authenticator
	lim  *limiter
	// tenantLim bounds the requests of each tenant's tokens (see
	// Config.MaxTenantInFlight).
	tenantLim *tenantLimiter
	mux       *http.ServeMux

	resident residentSet
	epoch    time.Time  // origin of tenantState.lastUsed (monotonic)
	locks    scopeLocks // each tenant's own lock for writes, loads and unloads
	flight   singleflight.Group
	awaiting loadWaiters // requests waiting for a tenant's load

	global   *tenantState // the global scope's state; always resident
	globalMu sync.Mutex   // serialises global writes: the global scope's own lock

	bufs sync.Pool // *[]byte request and response buffers

	routeMetrics map[string]*routeMetrics // by route pattern; read-only after New

	// lastRelease is when the janitor last returned memory to the OS
	// (only the janitor uses it).
	lastRelease time.Time

	draining atomic.Bool
	// feedReady is set once the store's change feed, if it has one,
	// reported its first Resync, and cleared while it is not watching
	// (see watchFeed); /readyz reports 503 until then.
	feedReady atomic.Bool
	feedStop  chan struct{}
	feedDone  chan struct{}
	// resyncs counts the feed's Resyncs (see publish).
	resyncs atomic.Uint64
	// resyncAsked has the feed watch again (see askResync); nil without
	// a feed.
	resyncAsked chan struct{}
	janStop     chan struct{}
	janDone     chan struct{}
	janOnce     sync.Once
}

// ErrInvalidConfig is wrapped by the errors of New for a Config it cannot
// use.
var ErrInvalidConfig = errors.New("server: invalid configuration")

// New returns a server for cfg. It loads the global models from the store
// and starts the janitor, which unloads idle tenants and returns freed
// memory to the OS, and, when the store is a store.Feed (one that several
// replicas share), a goroutine that applies the changes made through the
// other replicas (see watchFeed); it returns once that watches. Close
// stops both.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: Config.Store is required", ErrInvalidConfig)
	}
	cfg.defaults()
	s := &Server{
		cfg:       cfg,
		st:        cfg.Store,
		log:       cfg.Logger,
		m:         newMetrics(),
		lim:       newLimiter(cfg.MaxInFlight, cfg.QueueWait, cfg.MaxBodyBytes),
		tenantLim: &tenantLimiter{max: cfg.MaxTenantInFlight, run: cfg.MaxTenantRunning, n: make(map[string]*tenantShare)},
	}
	s.reg = modelreg.New(modelreg.WithPolicy(cfg.Policy), modelreg.WithClock(cfg.Clock), modelreg.WithLimits(cfg.Limits))
	s.auth = newAuthenticator(cfg.AdminTokenHash, cfg.Store, s.m, cfg.MaxCachedTokens)
	s.resident.seed = maphash.MakeSeed()
	s.locks.init()
	s.epoch = time.Now()
	s.global = &tenantState{id: store.Global, meta: map[string]modelMeta{}}
	if err := s.loadGlobal(ctx); err != nil {
		return nil, err
	}
	s.m.reg.MustRegister(newRegistryCollector(s))
	s.routes()
	if cfg.IdleTimeout > 0 || cfg.ReleaseMemoryAfter > 0 {
		s.janStop, s.janDone = make(chan struct{}), make(chan struct{})
		go s.janitor(s.janStop, s.janDone)
	}
	if feed, ok := cfg.Store.(store.Feed); ok {
		// Watch before serving, so that no tenant is loaded before the
		// feed's first Resync, which would unload it.
		ready := make(chan error, 1)
		s.feedStop, s.feedDone = make(chan struct{}), make(chan struct{})
		s.resyncAsked = make(chan struct{}, 1)
		go s.watchFeed(feed, ready, s.feedStop, s.feedDone)
		select {
		case err := <-ready:
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("server: watching the store's changes: %w", err)
			}
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("server: watching the store's changes: %w", ctx.Err())
		}
	}
	return s, nil
}

func (s *Server) now() time.Time { return s.cfg.Clock() }

// loadGlobal defines every stored global model.
func (s *Server) loadGlobal(ctx context.Context) error {
	t0 := time.Now()
	models, err := s.st.Models(ctx, store.Global)
	s.m.observeStore("models", t0)
	if err != nil {
		return fmt.Errorf("server: loading global models: %w", err)
	}
	for _, sm := range models {
		if err := s.defineStored(ctx, sm); err != nil {
			s.m.loadSkips.Inc()
			s.log.Error("skipping stored global definition that does not compile", "model", sm.Name, "err", err)
			s.global.markUnreadable(sm.Name, int64(len(sm.Definition)))
			continue
		}
		s.global.meta[sm.Name] = modelMeta{revision: sm.Revision, created: sm.Created, updated: sm.Updated, size: int64(len(sm.Definition))}
	}
	return nil
}

// Registry returns the server's registry (for tests and embedding).
func (s *Server) Registry() *modelreg.Registry { return s.reg }

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.wrap(s.mux) }

// Drain makes /readyz report 503 so that load balancers stop sending new
// requests; call it when shutdown starts.
func (s *Server) Drain() { s.draining.Store(true) }

// Close stops the janitor, and the watch of the store's changes. It does
// not close the store.
func (s *Server) Close() error {
	s.janOnce.Do(func() {
		if s.janStop != nil {
			close(s.janStop)
			<-s.janDone
		}
		if s.feedStop != nil {
			close(s.feedStop)
			<-s.feedDone
		}
	})
	return nil
}

// SweepIdle unloads the tenants idle for longer than maxIdle now, as the
// janitor does, and returns their ids. For tests and operations.
func (s *Server) SweepIdle(ctx context.Context, maxIdle time.Duration) []string {
	return s.sweepIdle(ctx, s.now(), maxIdle)
}

// Resident reports whether tenant id is loaded in memory.
func (s *Server) Resident(id string) bool { return s.resident.get(id) != nil }

// route is a handler that returns an error, turned into a problem.
type route func(w http.ResponseWriter, r *http.Request) error

// Routes lists every route pattern the server registers (docs/api.md
// documents exactly these).
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routeTable() {
		out = append(out, rt.pattern)
	}
	return append(out, "GET /metrics")
}

type routeEntry struct {
	pattern string
	h       route
}

func (s *Server) routeTable() []routeEntry {
	return []routeEntry{
		{"GET /healthz", s.healthz},
		{"GET /readyz", s.readyz},

		{"GET /v1/stats", s.globalStats},
		{"GET /v1/tenants", s.listTenants},
		{"DELETE /v1/tenants/{tenant}", s.deleteTenant},
		{"POST /v1/tenants/{tenant}/evict", s.evictTenant},
		{"GET /v1/tenants/{tenant}/stats", s.tenantStats},
		{"POST /v1/tenants/{tenant}/tokens", s.issueToken},
		{"GET /v1/tenants/{tenant}/tokens", s.listTokens},
		{"DELETE /v1/tenants/{tenant}/tokens/{id}", s.revokeToken},
		{"GET /v1/tenants/{tenant}/models", s.listModels},
		{"PUT /v1/tenants/{tenant}/models/{name}", s.putModel},
		{"GET /v1/tenants/{tenant}/models/{name}", s.getModel},
		{"DELETE /v1/tenants/{tenant}/models/{name}", s.deleteModel},
		{"POST /v1/tenants/{tenant}/models/{name}/validate", s.validate},
		{"GET /v1/tenants/{tenant}/models/{name}/schema", s.schema},
		{"POST /v1/tenants/{tenant}/lookup", s.lookup},

		{"GET /v1/global/models", s.listModels},
		{"PUT /v1/global/models/{name}", s.putModel},
		{"GET /v1/global/models/{name}", s.getModel},
		{"DELETE /v1/global/models/{name}", s.deleteModel},
		{"POST /v1/global/models/{name}/validate", s.validate},
		{"GET /v1/global/models/{name}/schema", s.schema},
		{"POST /v1/global/lookup", s.lookup},
	}
}

// failureLevel is the level at which a request that failed with p (a 5xx)
// is logged (see Server.failed): a 500 is a fault (error); a 503 tells the server's state, not
// a fault: with a cause, such as a busy store, a warning; without one
// (draining, shedding load), which metrics count and which come by the
// thousand exactly when logs should stay readable, debug.
func failureLevel(p *Problem) slog.Level {
	switch {
	case p.Status != http.StatusServiceUnavailable:
		return slog.LevelError
	case p.cause != nil:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.routeMetrics = map[string]*routeMetrics{"GET /metrics": s.m.forRoute("GET /metrics")}
	for _, rt := range s.routeTable() {
		s.routeMetrics[rt.pattern] = s.m.forRoute(rt.pattern)
		s.mux.HandleFunc(rt.pattern, s.serveRoute(rt.h))
	}
	if !s.cfg.MetricsElsewhere {
		s.mux.Handle("GET /metrics", s.m.handler())
	}
}

// serveRoute serves h, turning the error it returns into a problem, or,
// for an answerCut, cutting the connection.
func (s *Server) serveRoute(h route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		if _, ok := err.(*answerCut); ok {
			s.failed(w, r, slog.LevelError, "err", err)
			// The status and part of the answer are sent: a problem
			// written after them would make a complete answer of a
			// wrong one. net/http closes the connection without
			// ending the answer, so the client sees it cut short.
			panic(http.ErrAbortHandler)
		}
		p := asProblem(err)
		if p.Status >= 500 {
			// The cause (a store error, say) is for the log only: the
			// client gets the problem.
			attrs := []any{"err", err}
			if p.cause != nil {
				attrs = append(attrs, "cause", p.cause.Error())
			}
			s.failed(w, r, failureLevel(p), attrs...)
		}
		writeProblem(w, r, p)
	}
}

// failed has the request's log line say why it failed, at level (at
// least): the middleware writes that one line, with the status and
// duration, once the request is over, so that a failure is not logged
// twice. Outside the middleware (w not its recorder), it logs at once.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, level slog.Level, attrs ...any) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.failure, rec.failLevel = attrs, level
		return
	}
	s.log.Log(r.Context(), level, "request failed", append([]any{"method", r.Method, "path", r.URL.Path}, attrs...)...)
}

// answerCut is the error of a handler that failed once its answer was
// under way (see Server.writeList): what it wrapped is logged, and the
// connection cut.
type answerCut struct{ err error }

func (e *answerCut) Error() string { return "answer cut short: " + e.err.Error() }
func (e *answerCut) Unwrap() error { return e.err }

// MetricsHandler serves the Prometheus metrics that Handler serves at
// /metrics (unless Config.MetricsElsewhere), for a listener of their own.
func (s *Server) MetricsHandler() http.Handler { return s.m.handler() }
