package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/document"
	"github.com/modelreg/modelreg/store"
)

// Tenancy in the server.
//
// The store is the source of truth; the registry holds, for each resident
// tenant, the compiled models of its stored definitions. The server keeps
// a small state per resident tenant (tenantState) and coordinates three
// kinds of actors:
//
//   - readers (GET, lookup, validate) take the state's read lock for the
//     duration of their registry calls;
//   - writers (PUT, DELETE model) and loaders hold the tenant's lock (its
//     own, see scopeLocks; the global scope's is Server.globalMu), so the
//     store and the registry see a tenant's writes in the same order;
//   - unloaders (idle sweep, evict, tenant deletion) hold the tenant's lock
//     and then the state's write lock, mark the state dead, and only then
//     drop the tenant from the registry: no reader can be between its
//     residency check and its registry call while a tenant disappears
//     under it.
//
// Readers never take the tenant's lock. A tenant's lock is never shared
// with another tenant: a slow write or load of one tenant (a large
// definition to compile, an fsync, a store that is slow to read) holds up
// that tenant's other writes and loads only. An operation takes the lock
// of one tenant at a time, except capacity eviction, which tries others'
// without waiting (see evictForCapacity), so there is no lock order to
// keep.
//
// A tenant that is not resident is loaded on first use: concurrent first
// requests share one load through a singleflight.Group keyed by tenant id,
// and the tenant's lock plus a re-check make it exactly one load even
// across separate flights.

// tenantState is the server's state for one resident tenant.
type tenantState struct {
	id string
	mu sync.RWMutex // read: requests using the registry; write: unloading
	// dead is set (under mu's write lock) when the tenant was unloaded; a
	// reader that sees it starts over.
	dead bool

	active     atomic.Bool  // set by each request; turned into lastActive by takeMark
	lastActive atomic.Int64 // unix nanoseconds
	// lastUsed is when a request last used the tenant, in nanoseconds since
	// the server's epoch (monotonic, coarse: see touch); capacity
	// eviction unloads the least recently used.
	lastUsed atomic.Int64

	// meta holds the stored metadata of the named models, by name. A
	// writer (holding the tenant's lock) changes the registry and
	// meta together under metaMu's write lock; a reader that answers with
	// a model's revision finds the model and reads meta under the read
	// lock (see Server.rlockMeta), so a definition and its revision are
	// always of the same write.
	metaMu sync.RWMutex
	meta   map[string]modelMeta
	// storedBytes is the sum of the sizes of the tenant's stored
	// definitions, as sent (guarded by metaMu): what the store holds for
	// it, which --max-tenant-bytes bounds as well as the registry's count
	// (see Server.storedQuota).
	storedBytes int64
	// unreadable holds the names of the stored models that could not be
	// loaded (guarded by metaMu): they exist, but memory lacks them, so a
	// request for one is answered with a server error, not "not found".
	// A successful write or delete of the name takes it out. The value is
	// the stored definition's size, which storedBytes counts.
	unreadable map[string]int64
	// anyUnreadable is len(unreadable) > 0, so that the requests of a
	// tenant without any (nearly all) check without taking metaMu.
	anyUnreadable atomic.Bool

	vmu        sync.RWMutex
	validators map[string]cachedValidator // by model name, as seen from this scope

	// epoch is Server.resyncs when the tenant's store read began (see
	// publish).
	epoch uint64
}

// cachedValidator is a compiled document validator for one model version.
type cachedValidator struct {
	m *modelreg.Model
	v *document.Validator
}

// modelMeta is what the store knows about a model beyond its definition.
type modelMeta struct {
	revision         int64
	created, updated time.Time
	size             int64 // bytes of the stored definition (as sent)
}

// rlockMeta read-locks the model metadata of t (a pinned scope's state)
// and of the global scope, whose models a tenant's lookups also find, and
// returns the unlock. Between the two, the models a lookup in t's scope
// finds and their metadata (metaOf) are of the same writes.
func (s *Server) rlockMeta(t *tenantState) (unlock func()) {
	if t != s.global {
		t.metaMu.RLock()
	}
	s.global.metaMu.RLock()
	return func() {
		s.global.metaMu.RUnlock()
		if t != s.global {
			t.metaMu.RUnlock()
		}
	}
}

// metaOf returns the stored metadata of named model m, found through the
// scope whose state is t (m is t's or a global model). The caller holds
// rlockMeta(t), or is the writer of m's scope.
func (s *Server) metaOf(t *tenantState, m *modelreg.Model) modelMeta {
	if m.Tenant() == "" {
		t = s.global
	}
	return t.meta[m.Name()]
}

// residentSet maps tenant ids to their states. It is sharded to spread
// contention, and each shard's map is rebuilt when it shrinks to a fraction
// of its peak, since Go maps never give memory back: a server that loaded
// and unloaded many tenants returns to the footprint of a fresh one.
type residentSet struct {
	seed   maphash.Seed
	shards [64]residentShard
	count  atomic.Int64
	// peak is the largest count since the janitor last returned memory
	// to the OS (approximately: a put racing with the reset may be
	// missed).
	peak atomic.Int64
}

type residentShard struct {
	mu   sync.RWMutex
	m    map[string]*tenantState
	peak int
	_    [40]byte
}

func (rs *residentSet) shard(id string) *residentShard {
	return &rs.shards[maphash.String(rs.seed, id)%uint64(len(rs.shards))]
}

func (rs *residentSet) get(id string) *tenantState {
	sh := rs.shard(id)
	sh.mu.RLock()
	t := sh.m[id]
	sh.mu.RUnlock()
	return t
}

func (rs *residentSet) put(t *tenantState) {
	sh := rs.shard(t.id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*tenantState)
	}
	if _, ok := sh.m[t.id]; !ok {
		rs.count.Add(1)
	}
	sh.m[t.id] = t
	sh.peak = max(sh.peak, len(sh.m))
	sh.mu.Unlock()
}

// notePeak raises the peak to the current count. Loads call it once they
// have unloaded what went over MaxResidentTenants, so that tenants
// replacing each other at the limit do not count as a peak above it.
func (rs *residentSet) notePeak() {
	n := rs.count.Load()
	for p := rs.peak.Load(); n > p && !rs.peak.CompareAndSwap(p, n); p = rs.peak.Load() {
	}
}

func (rs *residentSet) remove(id string) {
	sh := rs.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[id]; !ok {
		return
	}
	delete(sh.m, id)
	rs.count.Add(-1)
	if len(sh.m) == 0 {
		sh.m, sh.peak = nil, 0 // give the buckets back
		return
	}
	if n := len(sh.m); sh.peak >= 64 && n*8 < sh.peak {
		m := make(map[string]*tenantState, n)
		for k, v := range sh.m {
			m[k] = v
		}
		sh.m = m
		sh.peak = n
	}
}

// all returns every resident state (a snapshot).
func (rs *residentSet) all() []*tenantState {
	var out []*tenantState
	for i := range rs.shards {
		sh := &rs.shards[i]
		sh.mu.RLock()
		for _, t := range sh.m {
			out = append(out, t)
		}
		sh.mu.RUnlock()
	}
	return out
}

// errNoTenant reports that a tenant does not exist in the store.
var errNoTenant = errors.New("tenant does not exist")

// errLoadPanicked is wrapped by the error of a shared load that panicked.
var errLoadPanicked = errors.New("panic")

// loadResult is what a (shared) load returns.
type loadResult struct {
	state *tenantState
}

// loadWaiters counts, by tenant id, the requests waiting for a load of
// the tenant and not yet holding its state (see acquire). Capacity
// eviction leaves such a tenant alone: between the end of the shared load
// and its waiters' read locks, it looks unused, and unloading it then had
// every waiter load it again.
type loadWaiters struct {
	mu sync.Mutex
	n  map[string]int
}

func (lw *loadWaiters) add(id string, d int) {
	lw.mu.Lock()
	if lw.n == nil {
		lw.n = make(map[string]int)
	}
	if lw.n[id] += d; lw.n[id] <= 0 {
		delete(lw.n, id)
	}
	lw.mu.Unlock()
}

func (lw *loadWaiters) any(id string) bool {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.n[id] > 0
}

// acquire returns tenant id's resident state read-locked, loading the
// tenant from the store if it is not resident. It returns errNoTenant for
// a tenant the store does not know. The caller must call release.
func (s *Server) acquire(ctx context.Context, id string) (*tenantState, error) {
	for range 100 {
		t := s.resident.get(id)
		waiting := false
		if t == nil {
			s.awaiting.add(id, 1)
			waiting = true
			var err error
			if t, err = s.load(ctx, id); err != nil {
				s.awaiting.add(id, -1)
				return nil, err
			}
		}
		t.mu.RLock()
		if waiting {
			s.awaiting.add(id, -1)
		}
		if !t.dead {
			t.active.Store(true)
			s.touch(t)
			return t, nil
		}
		t.mu.RUnlock() // unloaded meanwhile: start over
	}
	return nil, fmt.Errorf("tenant %q: unloaded 100 times while being acquired", id)
}

func (s *Server) release(t *tenantState) { t.mu.RUnlock() }

// load loads tenant id through the singleflight group.
func (s *Server) load(ctx context.Context, id string) (*tenantState, error) {
	ch := s.flight.DoChan(id, func() (res any, err error) {
		// The load is shared by every waiter: it must not fail because
		// the first caller went away.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LoadTimeout)
		defer cancel()
		l := s.locks.lock(id)
		defer l.unlock()
		// A panic would end the process here: the group panics again on
		// a goroutine of its own, where no handler recovers it. It fails
		// the load instead, as a handler's panic fails its request.
		defer func() {
			if v := recover(); v != nil {
				s.m.panics.Inc()
				s.log.Error("panic while loading a tenant", "tenant", id, "panic", v, "stack", string(debug.Stack()))
				if s.resident.get(id) == nil {
					// What a read cut short defined: no tenant that is
					// not resident has models in the registry.
					s.reg.CleanupTenant(context.WithoutCancel(ctx), id)
				}
				res, err = nil, fmt.Errorf("loading tenant %q: %w: %v", id, errLoadPanicked, v)
			}
		}()
		t, _, err := s.loadLocked(lctx, id, false, true)
		return loadResult{t}, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(loadResult).state, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loadLocked returns the resident state of tenant id, loading it from the
// store if needed. The caller holds the tenant's lock. A tenant the
// store does not know is errNoTenant; with create, it gets instead a new
// empty state that is not resident yet (isNew): the caller is about to
// create the tenant, and publishes the state once it did (see publish),
// so that a write that fails leaves no tenant behind. A tenant loaded now
// is published (made resident, which may unload others) unless publish is
// false: then the caller unloads it before it lets go of the tenant's lock.
func (s *Server) loadLocked(ctx context.Context, id string, create, publish bool) (t *tenantState, isNew bool, err error) {
	for {
		if t := s.resident.get(id); t != nil {
			return t, false, nil
		}
		t, isNew, err := s.readTenant(ctx, id, create)
		if err != nil || isNew || !publish || s.publish(ctx, t) {
			return t, isNew, err
		}
		// A Resync came during the read: read again.
	}
}

// readTenant reads tenant id from the store and defines its models in the
// registry, for loadLocked.
func (s *Server) readTenant(ctx context.Context, id string, create bool) (t *tenantState, isNew bool, err error) {
	epoch := s.resyncs.Load()
	t0 := time.Now()
	models, err := s.st.Models(ctx, id)
	s.m.observeStore("models", t0)
	if err != nil {
		s.m.loads.WithLabelValues("error").Inc()
		return nil, false, fmt.Errorf("loading tenant %q: %w", id, err)
	}
	if len(models) == 0 {
		// No models: the tenant may still exist (it has tokens, or all
		// its models were deleted).
		t0 := time.Now()
		_, err := s.st.Tenant(ctx, id)
		s.m.observeStore("tenant", t0)
		if errors.Is(err, store.ErrNotFound) {
			if !create {
				return nil, false, errNoTenant
			}
			t := s.newState(id, 0)
			t.epoch = epoch
			return t, true, nil
		} else if err != nil {
			s.m.loads.WithLabelValues("error").Inc()
			return nil, false, fmt.Errorf("loading tenant %q: %w", id, err)
		}
	}
	t = s.newState(id, len(models))
	t.epoch = epoch
	tctx := modelreg.WithTenant(ctx, id)
	for _, sm := range models {
		t.storedBytes += int64(len(sm.Definition))
		if err := s.defineStored(tctx, sm); err != nil {
			// A stored definition that no longer compiles (a parser
			// made stricter, a quota lowered) must not make the whole
			// tenant unavailable: skip it, loudly.
			s.m.loadSkips.Inc()
			s.log.Error("skipping stored definition that does not compile", "tenant", id, "model", sm.Name, "revision", sm.Revision, "err", err)
			t.markUnreadable(sm.Name, int64(len(sm.Definition)))
			continue
		}
		t.meta[sm.Name] = modelMeta{revision: sm.Revision, created: sm.Created, updated: sm.Updated, size: int64(len(sm.Definition))}
	}
	s.m.loads.WithLabelValues("ok").Inc()
	s.m.loadTime.Observe(time.Since(t0).Seconds())
	return t, false, nil
}

// markUnreadable records that the stored model name, of size bytes, could
// not be loaded. The caller holds metaMu or owns t alone.
func (t *tenantState) markUnreadable(name string, size int64) {
	if t.unreadable == nil {
		t.unreadable = make(map[string]int64)
	}
	t.unreadable[name] = size
	t.anyUnreadable.Store(true)
}

// clearUnreadable records that name was written or deleted. The caller
// holds metaMu.
func (t *tenantState) clearUnreadable(name string) {
	delete(t.unreadable, name)
	t.anyUnreadable.Store(len(t.unreadable) > 0)
}

// storedSize returns the size of model name's stored definition, as
// storedBytes counts it: a model that could not be loaded has no meta,
// but its size is known all the same. The caller holds metaMu.
func (t *tenantState) storedSize(name string) int64 {
	if size, ok := t.unreadable[name]; ok {
		return size
	}
	return t.meta[name].size
}

// forgetModel drops model name from t's metadata, deleted from the store.
// The caller holds metaMu's write lock.
func (t *tenantState) forgetModel(name string) {
	t.storedBytes -= t.storedSize(name)
	delete(t.meta, name)
	t.clearUnreadable(name)
}

// dropValidator forgets the cached validator of model name, which a write
// just replaced or removed in t's scope (after it changed the registry),
// so that the cache lets go of the model it was built for.
func (t *tenantState) dropValidator(name string) {
	t.vmu.Lock()
	delete(t.validators, name)
	t.vmu.Unlock()
}

// dropValidators is dropValidator for a write to the scope whose state is
// t. A global model is also validated through the tenants, which cache
// their own validators of it: a global write drops those too, in every
// resident tenant, so that none keeps the model the write replaced or
// removed.
func (s *Server) dropValidators(t *tenantState, name string) {
	t.dropValidator(name)
	if t != s.global {
		return
	}
	for _, rt := range s.resident.all() {
		rt.dropValidator(name)
	}
}

// isUnreadable reports whether name is a stored model of t that could not
// be loaded. The caller does not hold metaMu.
func (t *tenantState) isUnreadable(name string) bool {
	if !t.anyUnreadable.Load() {
		return false
	}
	t.metaMu.RLock()
	defer t.metaMu.RUnlock()
	_, ok := t.unreadable[name]
	return ok
}

// shadowed reports whether the models of ctx's scope (t's) that a lookup
// finds must not include m: a global model whose name is that of a stored
// model of the tenant that could not be loaded. Had that model loaded, it
// would shadow the global one; it shadows it all the same, so that a
// tenant never gets, or validates against, another model than its own.
// The caller holds t's metaMu if locked is true.
func (s *Server) shadowed(t *tenantState, m *modelreg.Model, locked bool) bool {
	if t == s.global || m.Tenant() != "" || !t.anyUnreadable.Load() {
		return false
	}
	if locked {
		_, ok := t.unreadable[m.Name()]
		return ok
	}
	return t.isUnreadable(m.Name())
}

// resolver resolves references as the registry's Resolver does in ctx
// (t's scope), except to a global model shadowed by an unreadable model of
// the tenant (see shadowed), which it does not find.
func (s *Server) resolver(t *tenantState, ctx context.Context) document.Resolver {
	res := s.reg.Resolver(ctx)
	if t == s.global {
		return res
	}
	return func(name string) (*definition.Object, bool) {
		if t.isUnreadable(name) {
			return nil, false
		}
		return res(name)
	}
}

// missing returns the problem for a model called name that t's registry
// scope lacks: not found, or, for a stored model that could not be
// loaded, an internal error that says so.
func (s *Server) missing(t *tenantState, name string) error {
	bad := false
	for _, st := range []*tenantState{t, s.global} { // a tenant sees global models too
		st.metaMu.RLock()
		_, ok := st.unreadable[name]
		bad = bad || ok
		st.metaMu.RUnlock()
	}
	if bad {
		return problem(ProblemInternal, "model %q is stored but its definition cannot be loaded; see the server's log", name)
	}
	return problem(ProblemModelNotFound, "model %q not found", name)
}

// newState returns the state of a tenant about to be loaded or created,
// with room for n models' metadata.
func (s *Server) newState(id string, n int) *tenantState {
	t := &tenantState{id: id, meta: make(map[string]modelMeta, n)}
	t.lastActive.Store(s.now().UnixNano())
	s.touch(t)
	return t
}

// publish makes t resident, unloading others if that goes over
// MaxResidentTenants, and reports whether t stays resident. It does not
// when the store's feed reported a Resync since t was read from the store
// (t.epoch): the feed may have missed changes committed after that read,
// and the Resync unloaded the tenants resident then, which t was not yet.
// t is then unloaded, and its next use reads it again. The caller holds
// t's lock, and t is not resident yet, so nothing else holds t.mu.
func (s *Server) publish(ctx context.Context, t *tenantState) bool {
	// t.mu from before the put until the check: a request that finds t
	// resident meanwhile waits for it (see acquire), and then finds t
	// either checked or unloaded, never what a Resync made stale.
	t.mu.Lock()
	s.resident.put(t)
	// After the put: a Resync counts (resyncs) before it lists the
	// resident tenants, so either it lists t, or t sees its count.
	if s.resyncs.Load() != t.epoch {
		if _, err := s.unloadHeld(ctx, t, unloadRemote); err != nil {
			s.log.Error("unloading a tenant read before a resync", "tenant", t.id, "err", err)
		}
		return false
	}
	t.mu.Unlock()
	s.evictForCapacity(ctx, t)
	s.resident.notePeak()
	return true
}

// touchGranularity is the resolution of tenantState.lastUsed: a request
// writes the (shared) field only when it has moved by more than this, so a
// hot tenant's readers do not all write the same cache line.
const touchGranularity = int64(time.Millisecond)

// touch records that a request uses t now.
func (s *Server) touch(t *tenantState) {
	now := int64(time.Since(s.epoch))
	if now-t.lastUsed.Load() > touchGranularity {
		t.lastUsed.Store(now)
	}
}

// Capacity eviction: the least recently used idle tenant of a sample.
//
// When a load makes more than MaxResidentTenants tenants resident, the load
// unloads the excess right away. Keeping an exact LRU list would put every
// request (readers included) on one global lock to move its tenant to the
// front; instead, as Redis does, the victim is the least recently used
// (tenantState.lastUsed) idle tenant of a small random sample of resident
// tenants. That is O(evictSample log evictSample) per victim whatever the
// number of tenants, and close to true LRU in practice: a tenant among the
// most recently used fraction f of the residents is picked only if the
// whole sample is, with probability about f^evictSample.
//
// Eviction never waits: the sample is tried in LRU order, and a candidate
// whose lock is held (a write or a load in progress) or whose state is
// read-locked (a request is using it) is skipped with TryLock. The load
// that triggered the eviction holds its own tenant's lock meanwhile:
// trying the others' without waiting is what keeps two loads that evict
// each other's tenants from deadlocking. The victim is then unloaded
// exactly as the idle sweep does it, under its lock and its state's write
// lock, so no reader is using it, no write is in progress on it, and its
// next request reloads it from the store. When every candidate is busy,
// the set stays above the bound until a later load (or the idle sweep)
// finds idle ones.
const (
	evictSample   = 8 // candidates per victim
	evictAttempts = 4 // samples per load without a victim before giving up
)

// evictForCapacity unloads tenants, other than just (the tenant just
// loaded), until at most MaxResidentTenants are resident or no idle victim
// is found. The caller may hold just's lock.
func (s *Server) evictForCapacity(ctx context.Context, just *tenantState) {
	limit := int64(s.cfg.MaxResidentTenants)
	if limit < 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var buf [evictSample]*tenantState
	for attempts := 0; s.resident.count.Load() > limit && attempts < evictAttempts; {
		if !s.evictOne(ctx, s.resident.sample(buf[:0], just)) {
			attempts++
		}
	}
}

// evictOne unloads the least recently used of candidates that is not in
// use, and reports whether it found one.
func (s *Server) evictOne(ctx context.Context, candidates []*tenantState) bool {
	used := func(t *tenantState) int64 { return t.lastUsed.Load() }
	slices.SortFunc(candidates, func(a, b *tenantState) int { return cmp.Compare(used(a), used(b)) })
	for _, t := range candidates {
		if s.tryUnload(ctx, t, unloadCapacity) {
			return true
		}
	}
	return false
}

// sample appends to out up to cap(out) resident tenants picked at random,
// other than skip. It visits the shards from a random one, taking entries
// in the maps' (random) iteration order: it reads at most cap(out) entries
// (and every shard once, at worst).
func (rs *residentSet) sample(out []*tenantState, skip *tenantState) []*tenantState {
	k := cap(out)
	start := rand.IntN(len(rs.shards))
	for i := 0; i < len(rs.shards) && len(out) < k; i++ {
		sh := &rs.shards[(start+i)%len(rs.shards)]
		sh.mu.RLock()
		for _, t := range sh.m {
			if len(out) >= k {
				break
			}
			if t != skip {
				out = append(out, t)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// tryUnload unloads t, as unloadLocked does, if it can without waiting:
// its lock and its state's write lock must both be free. It reports
// whether t was unloaded.
func (s *Server) tryUnload(ctx context.Context, t *tenantState, why unloadReason) bool {
	l, ok := s.locks.tryLock(t.id)
	if !ok {
		return false
	}
	defer l.unlock()
	if s.resident.get(t.id) != t || s.awaiting.any(t.id) || !t.mu.TryLock() {
		return false // unloaded (or reloaded) meanwhile, or in use or about to be
	}
	if _, err := s.unloadHeld(ctx, t, why); err != nil {
		s.log.Error("unload", "tenant", t.id, "reason", string(why), "err", err)
		return false
	}
	return true
}

// StoredMaxNesting is the JSON nesting a stored definition may have
// whatever the depth quota: above what any depth the registry compiles
// (256 levels, two JSON levels each) can take. No write is parsed under
// more (see Config.Limits), so a client that leaves nesting to the server
// can parse under it.
const StoredMaxNesting = 1024

// defineStored parses a stored definition and registers it. Quotas are
// not checked: they refuse new writes, and a quota tightened since a model
// was stored must not hide it (or let another write take its place).
//
// For the same reason a stored definition parses under a nesting limit
// that does not follow the depth quota (see Config.Limits): one stored
// under a higher quota still loads.
func (s *Server) defineStored(ctx context.Context, sm store.Model) error {
	lim := s.cfg.Limits
	lim.MaxDepth = max(lim.MaxDepth, StoredMaxNesting)
	def, err := definition.ParseNamed(sm.Definition, sm.Name, lim)
	if err != nil {
		return err
	}
	if def.Name != sm.Name {
		return fmt.Errorf("stored definition is named %q, not %q", def.Name, sm.Name)
	}
	m, err := s.reg.Restore(ctx, def)
	if err != nil {
		return err
	}
	if sm.Fingerprint != "" && m.Fingerprint().String() != sm.Fingerprint {
		// Not fatal: the canonical form is versioned, and a new version
		// may fingerprint differently. Worth knowing, though.
		s.log.Warn("stored fingerprint differs from the compiled model's", "tenant", sm.Scope, "model", sm.Name,
			"stored", sm.Fingerprint, "compiled", m.Fingerprint().String())
	}
	return nil
}

// unloadReason says why a tenant leaves memory.
type unloadReason string

const (
	unloadIdle     unloadReason = "idle"
	unloadCapacity unloadReason = "capacity" // over MaxResidentTenants
	unloadEvict    unloadReason = "evict"
	unloadDelete   unloadReason = "delete"
	unloadRemote   unloadReason = "changed" // changed through another replica, or by a write that failed
)

// unloadLocked drops tenant id from memory (server state and registry) and
// returns the registry's cleanup report. The caller holds the tenant's lock.
// It is a no-op, with a zero report, for a tenant that is not resident.
func (s *Server) unloadLocked(ctx context.Context, id string, why unloadReason) (modelreg.CleanupReport, bool, error) {
	t := s.resident.get(id)
	if t == nil {
		return modelreg.CleanupReport{Tenant: id}, false, nil
	}
	t.mu.Lock()
	rep, err := s.unloadHeld(ctx, t, why)
	return rep, true, err
}

// unloadHeld drops the resident tenant t from memory. The caller holds t's
// lock and t.mu's write lock, which unloadHeld releases.
func (s *Server) unloadHeld(ctx context.Context, t *tenantState, why unloadReason) (modelreg.CleanupReport, error) {
	t.dead = true
	s.resident.remove(t.id)
	rep, err := s.reg.CleanupTenant(ctx, t.id)
	t.mu.Unlock()
	if err != nil && !errors.Is(err, modelreg.ErrHook) {
		return rep, err
	}
	s.m.unloads.WithLabelValues(string(why)).Inc()
	return rep, nil
}

// takeMark records a request that used t since the mark was last taken
// (by a sweep or a stats request) as activity at a time read afterwards,
// so never earlier than the request, and reports whether there was one.
func (t *tenantState) takeMark(now func() time.Time) bool {
	if !t.active.Load() || !t.active.Swap(false) {
		return false
	}
	at := now().UnixNano()
	for {
		old := t.lastActive.Load()
		if old >= at || t.lastActive.CompareAndSwap(old, at) {
			return true
		}
	}
}

// sweepIdle unloads the resident tenants that have been idle for longer
// than maxIdle at time now. A tenant is active when a request used it since
// the previous sweep; its idle time is counted from a clock reading taken
// after the sweep saw the mark (not from now, which a request may have
// come after). It returns the ids it unloaded.
func (s *Server) sweepIdle(ctx context.Context, now time.Time, maxIdle time.Duration) []string {
	var out []string
	for _, t := range s.resident.all() {
		if t.takeMark(s.now) {
			continue
		}
		if now.Sub(time.Unix(0, t.lastActive.Load())) < maxIdle {
			continue
		}
		if s.unloadIfIdle(ctx, t, now, maxIdle) {
			out = append(out, t.id)
		}
	}
	if len(out) > 0 {
		s.log.Info("unloaded idle tenants", "count", len(out))
	}
	return out
}

// unloadIfIdle unloads t, a tenant the sweep found idle, if it still is,
// and reports whether it did. It checks again under t's lock and write
// lock: t may have been unloaded, reloaded or used since, and a stats
// request (which takes the mark under t's read lock) may have turned a use
// into a recent lastActive meanwhile, which the mark alone does not show.
func (s *Server) unloadIfIdle(ctx context.Context, t *tenantState, now time.Time, maxIdle time.Duration) bool {
	l := s.locks.lock(t.id)
	defer l.unlock()
	if s.resident.get(t.id) != t {
		return false
	}
	t.mu.Lock()
	if t.active.Load() || now.Sub(time.Unix(0, t.lastActive.Load())) < maxIdle {
		t.mu.Unlock()
		return false
	}
	if _, err := s.unloadHeld(ctx, t, unloadIdle); err != nil {
		s.log.Error("idle unload", "tenant", t.id, "err", err)
		return false
	}
	return true
}

// janitor runs sweep every SweepInterval until stop is closed.
func (s *Server) janitor(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			s.sweep(context.Background(), s.now())
		}
	}
}

// sweep is one round of the janitor at time now: it unloads the idle
// tenants (unless IdleTimeout is negative), then returns freed memory to
// the OS if the resident set has shrunk enough since the last time.
func (s *Server) sweep(ctx context.Context, now time.Time) {
	if s.cfg.IdleTimeout > 0 {
		s.sweepIdle(ctx, now, s.cfg.IdleTimeout)
	}
	s.releaseMemory(now)
}

// releaseMemory returns free memory to the OS, as Config.ReleaseMemoryAfter
// describes, and reports whether it did. Only the janitor calls it (tests
// call it after Close): it is never on a request's path.
//
// Counting the drop of the resident set rather than the unloads keeps
// capacity churn (a load unloading another tenant to stay at
// MaxResidentTenants) from triggering it: there the heap reuses what the
// victims freed, and handing those pages to the OS would only have them
// faulted back in. A release is for a server that held many more tenants
// than it holds now, after a burst or once idle tenants were swept; or
// that holds none any more, however few it held (the memory of a handful
// of tenants is not worth a release by itself, but what is left of a
// burst after the last release is).
func (s *Server) releaseMemory(now time.Time) bool {
	after := int64(s.cfg.ReleaseMemoryAfter)
	if after <= 0 {
		return false
	}
	n := s.resident.count.Load()
	drop := s.resident.peak.Load() - n
	if drop <= 0 || drop < after && n > 0 {
		return false
	}
	if !s.lastRelease.IsZero() && now.Sub(s.lastRelease) < s.cfg.SweepInterval {
		return false
	}
	s.lastRelease = now
	s.resident.peak.Store(n)
	t0 := time.Now()
	before := heapReleased()
	s.cfg.releaseMemory()
	released := heapReleased() - before
	s.m.memReleases.Inc()
	s.log.Info("returned free memory to the operating system", "resident_peak", n+drop, "resident", n,
		"released_bytes", released, "took", time.Since(t0).String())
	return true
}

// heapReleased is the Go heap memory returned to the OS (and not reused
// since), in bytes.
func heapReleased() int64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// tenantAccess resolves the {tenant} of a request for principal p: it
// validates the id and checks that p may use it. A tenant token used on
// another tenant gets exactly the answer a nonexistent tenant gets.
func (s *Server) tenantAccess(r *http.Request, p principal) (string, error) {
	id := r.PathValue("tenant")
	if err := modelreg.ValidTenantID(id); err != nil {
		return "", problem(ProblemInvalidTenantID, "%s", tenantIDReason(err))
	}
	if !p.canAccess(id) {
		return "", tenantNotFound(id)
	}
	return id, nil
}

func tenantNotFound(id string) *Problem {
	return problem(ProblemTenantNotFound, "tenant %q not found", id)
}

func tenantIDReason(err error) string {
	var te *modelreg.TenantIDError
	if errors.As(err, &te) {
		return "invalid tenant id: " + te.Reason
	}
	return "invalid tenant id"
}
