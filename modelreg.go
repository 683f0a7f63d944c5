// Package modelreg is a tenant-aware registry of data models with
// collision-proof structural deduplication and complete tenant cleanup.
//
// A Registry keeps compiled, immutable models (see Model) in scopes: the
// global scope, used by code whose context carries no tenant, and one
// scope per tenant, selected with WithTenant. Each scope owns its own
// indexes (by name, by structure, and the reference counts of its
// anonymous models), so a tenant's cleanup drops them whole, at a cost
// proportional to that tenant's models only.
//
// # Visibility
//
// A tenant sees its own models and the global named models, nothing else.
// Code without a tenant sees only global models. Anonymous models never
// cross scopes, and no lookup ever looks at another tenant:
//
//   - FindByName in a tenant looks in the tenant's named models, then in
//     the global named models. Without a tenant it looks in the global
//     named models. Anonymous models have no name and are never found by
//     name.
//   - FindByStructure looks in the context's own scope, anonymous models
//     first, then named models; in a tenant it then looks in the global
//     named models the tenant does not shadow (never in global anonymous
//     models).
//   - Resolver resolves a reference by name exactly as FindByName does,
//     at the time it is called.
//   - Models lists exactly the models FindByName can return.
//
// # Conflict policy
//
//   - Redefining a named model in the same scope replaces it atomically: a
//     concurrent FindByName returns the old or the new model, never
//     nothing. Holders of the old Model keep a valid, unchanged value. The
//     anonymous models that nothing uses any more are released.
//   - A tenant model with the name of a global model shadows it, for that
//     tenant only: no lookup of the tenant's, by name or by structure,
//     returns the global one.
//   - A nested object (at any depth, in arrays too) whose structure equals
//     an existing anonymous model's in the same scope resolves to that
//     model (counted as a reuse). It never resolves to a named model,
//     even an identical one, and a tenant definition never reuses a
//     global anonymous model: it gets its own.
//   - Two named models may have the same structure; FindByStructure then
//     returns the one with the smallest name (an anonymous model with that
//     structure, if any, comes first).
//   - A reference (a KindRef type) may name a model that does not exist
//     yet, or that is later replaced or removed: references are names,
//     resolved at use time with Resolver, never at definition time.
//   - Structural identity is the canonical form v1 of package definition
//     (property order, type-name spelling and shorthand/long forms do not
//     matter; types, options and strictness do). Each scope indexes its
//     models by a 64-bit hash of their canonical bytes, seeded at random
//     per Registry (so collisions cannot be crafted to slow lookups down),
//     and every hit is confirmed by comparing the canonical bytes: a hash
//     collision can never return the wrong model, colliding structures
//     simply coexist. (Anonymous models keep their canonical bytes; a
//     named model writes its own when a hit must be confirmed, since its
//     form repeats those of its anonymous models.) A model's Fingerprint
//     (definition.Sum, SHA-256) is its identity outside the process; it is
//     computed on demand, the indexes do not need it.
//
// # Tenants, activity and cleanup
//
// Only registrations (Define, DefineJSON) and Acquire create a tenant's
// scope; lookups never do. A lookup marks its own tenant active (and no
// other: tenantless lookups mark nothing); it does so with an atomic flag
// rather than a clock read, and the flag is turned into a time by the next
// CleanupIdle sweep (or TenantStats call), which records it as the time of
// that sweep (a lookup costs no clock read, which would cost more than the
// lookup). So idle eviction never evicts a tenant that was active within
// maxIdle, and evicts a tenant whose last activity was a lookup at most
// one sweep interval later than exact timestamps would. Registrations,
// RemoveModel and lease operations record the clock directly.
//
// CleanupTenant removes a tenant from every lookup path, index and gauge
// and returns a CleanupReport; afterwards nothing of it is findable from
// any context and, once callers drop the Models they hold, all its models
// can be collected. (A context made by WithTenant remembers the scope its
// last lookup found; a cleaned-up scope is marked dead and emptied, so such
// a context only keeps an empty shell, which its next lookup replaces.) A registration racing with the cleanup of its tenant
// either lands before it (and is removed with it) or after it, in a new
// scope: never in a dead one.
//
// # Concurrency and events
//
// A Registry is safe for concurrent use and keeps no package-level state.
// FindByName takes no lock and writes nothing shared (beyond a tenant's
// activity flag, set once per sweep): it follows the context (which
// caches its tenant's scope and the scope's name table) to the table's
// line of hash tags, then to one 32-byte slot that holds the model and the
// name's bytes (names up to 24 bytes; longer ones are compared through the
// model). On warm caches a hit costs about 25-35 ns; spread at random over
// a thousand tenants it is bound by those dependent cache misses (about
// 60-100 ns on a shared 2-core machine).
// Events (Subscribe) are sent without ever blocking a registry operation:
// a subscriber whose buffer is full loses the event, which is counted.
package modelreg

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/definition"
)

// Registry is a tenant-aware model registry. Create it with New: the zero
// Registry has no global scope, clock or limits, and its methods panic. It
// is safe for concurrent use.
type Registry struct {
	clock    func() time.Time
	hash     func([]byte) uint64 // structure index key
	seed     maphash.Seed
	names    nameHash // hash of the name indexes
	defaults Policy
	// overrides counts the tenants with a policy of their own (see
	// SetPolicy), so that registrations need not look when there are none.
	overrides atomic.Int64
	limits    definition.Limits
	maxNodes  int

	global *scope
	shards [numShards]shard

	subsMu sync.Mutex
	subs   atomic.Pointer[[]*Subscription]

	hooksMu sync.Mutex
	hooks   atomic.Pointer[[]*hookEntry]

	ctr counters
	gau gauges

	bufs      sync.Pool // *[]byte canonical buffers
	compilers sync.Pool // *compiler: per-definition scratch (see getCompiler)
}

const (
	shardBits = 6
	numShards = 1 << shardBits
)

// shard is one part of the tenant index: tenant id -> scope, and the
// tenants' own policies.
type shard struct {
	mu       sync.RWMutex
	scopes   map[string]*scope
	peak     int // largest len(scopes) since the map was last rebuilt
	policies map[string]Policy
	_        [32]byte // keep shards on separate cache lines
}

// An Option configures a Registry.
type Option func(*Registry)

// WithClock sets the clock used for activity times, idle eviction and
// event times (default time.Now). Report durations are always measured
// with time.Now.
func WithClock(now func() time.Time) Option {
	return func(r *Registry) {
		if now != nil {
			r.clock = now
		}
	}
}

// WithPolicy sets the default policy of every tenant (see Policy).
func WithPolicy(p Policy) Option {
	return func(r *Registry) { r.defaults = p }
}

// WithLimits sets the parser limits used by DefineJSON (default: the zero
// definition.Limits, which means definition's defaults). Whatever the
// limits, the registry compiles no structure nested deeper than 256
// levels (objects and arrays): Define and DefineJSON refuse a deeper one
// with a *DefinitionError. Only a Limits.MaxDepth above 256 lets the
// parser accept one.
func WithLimits(l definition.Limits) Option {
	return func(r *Registry) { r.limits = l }
}

// withHash replaces the fingerprint function. Only tests use it (through
// export_test.go), to inject collisions.
func withHash(hash func([]byte) uint64) Option {
	return func(r *Registry) { r.hash = hash }
}

// New returns an empty registry. It starts no goroutine (see
// StartJanitor).
func New(opts ...Option) *Registry {
	r := &Registry{
		clock:    time.Now,
		seed:     maphash.MakeSeed(),
		names:    nameHash{seed: rand.Uint64()},
		maxNodes: defaultMaxNodes,
	}
	for _, o := range opts {
		o(r)
	}
	if r.hash == nil {
		seed := r.seed
		r.hash = func(b []byte) uint64 { return maphash.Bytes(seed, b) }
	}
	r.global = newScope(r, "", false, 0)
	r.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return r
}

// defaultMaxNodes bounds the number of properties a compilation visits,
// which bounds the canonical bytes of a definition built in Go with
// shared sub-objects (a parsed definition is a tree bounded by its size).
const defaultMaxNodes = 1 << 20

func (r *Registry) now() int64 { return r.clock().UnixNano() }

// shard returns the shard of tenant id. The shard only spreads lock
// contention, so a cheap mix of the id's length and last 8 bytes (where
// ids usually differ) is enough; the shard's map does the real hashing.
func (r *Registry) shard(id string) *shard {
	var x uint64
	n := len(id)
	if n >= 8 {
		x = binary.LittleEndian.Uint64([]byte(id[n-8:]))
	} else {
		for i := 0; i < n; i++ {
			x = x<<8 | uint64(id[i])
		}
	}
	x ^= uint64(n) << 56
	x ^= x >> 29
	x *= 0x9E3779B97F4A7C15
	return &r.shards[x>>(64-shardBits)]
}

// lookupScope returns the live-or-dying scope of tenant id, or nil. It
// never creates one.
func (r *Registry) lookupScope(id string) *scope {
	sh := r.shard(id)
	sh.mu.RLock()
	s := sh.scopes[id]
	sh.mu.RUnlock()
	return s
}

// readScope returns the live scope of ctx's tenant read-locked, or nil
// (isTenant reports whether ctx carries a tenant). It never creates a
// scope.
func (r *Registry) readScope(ctx context.Context) (s *scope, isTenant bool) {
	tv := tenantValueFrom(ctx)
	if tv == nil {
		return nil, false
	}
	if s = tv.scope.Load(); s != nil && s.reg == r {
		s.mu.RLock()
		if !s.dead.Load() {
			return s, true
		}
		s.mu.RUnlock()
		tv.forget(s)
	}
	if s = r.lookupScope(tv.id); s == nil {
		return nil, true
	}
	s.mu.RLock()
	if s.dead.Load() {
		s.mu.RUnlock()
		return nil, true
	}
	tv.scope.Store(s)
	return s, true
}

// nameScope returns the live scope of ctx's tenant, without locking it, or
// nil. It never creates a scope. Only lock-free readers (the name index)
// may use the result.
func (r *Registry) nameScope(ctx context.Context) *scope {
	tv := tenantValueFrom(ctx)
	if tv == nil {
		return nil
	}
	if s := tv.scope.Load(); s != nil && s.reg == r {
		if !s.dead.Load() {
			return s
		}
		tv.forget(s)
	}
	s := r.lookupScope(tv.id)
	if s == nil || s.dead.Load() {
		return nil
	}
	tv.scope.Store(s)
	return s
}

// tenantWriteScope is writeScope for the tenant of tv, through the scope
// tv caches when it is live (and caching the one it returns). Without
// create, it returns nil rather than create the scope.
func (r *Registry) tenantWriteScope(tv *tenantCtx, create bool) *scope {
	if s := tv.scope.Load(); s != nil && s.reg == r {
		s.mu.Lock()
		if !s.dead.Load() {
			return s
		}
		s.mu.Unlock()
		tv.forget(s)
	}
	s, _ := r.writeScope(tv.id, create)
	if s != nil {
		tv.scope.Store(s)
	}
	return s
}

// writeScope returns the live scope of tenant id, locked for writing,
// creating it if needed and create is set (created reports that; without
// create, a tenant with no scope gets nil). The id must be valid.
func (r *Registry) writeScope(id string, create bool) (s *scope, created bool) {
	sh := r.shard(id)
	for {
		sh.mu.RLock()
		s = sh.scopes[id]
		sh.mu.RUnlock()
		if s != nil {
			s.mu.Lock()
			if !s.dead.Load() {
				return s, false
			}
			// Its cleanup removes it from the index under the shard
			// lock before letting go of it; try again.
			s.mu.Unlock()
			continue
		}
		if !create {
			return nil, false
		}
		sh.mu.Lock()
		if sh.scopes[id] != nil {
			sh.mu.Unlock()
			continue
		}
		now := r.now()
		s = newScope(r, id, true, now)
		s.mu.Lock() // uncontended: nobody else has it yet
		if sh.scopes == nil {
			sh.scopes = make(map[string]*scope)
		}
		sh.scopes[id] = s
		sh.peak = max(sh.peak, len(sh.scopes))
		sh.mu.Unlock()
		r.gau.tenants.Add(1)
		r.ctr.tenantsCreated.Add(1)
		if r.hasSubscribers() {
			r.emit(Event{Kind: EventTenantCreated, Tenant: id, Time: time.Unix(0, now)})
		}
		return s, true
	}
}

// removeScope removes s from the tenant index. The caller holds s.mu
// and sh.mu for writing. When the shard's map has shrunk to an eighth of
// its peak it is rebuilt, since Go maps never give memory back; the copy
// is paid for by the deletions since the peak, so it is amortized O(1).
func (sh *shard) removeScope(id string) {
	delete(sh.scopes, id)
	if len(sh.scopes) == 0 {
		// Empty: drop the buckets too (writeScope makes a new map), so a
		// registry whose tenants all left is back to its fresh size
		// even when no shard ever reached the rebuild threshold below.
		sh.scopes, sh.peak = nil, 0
		return
	}
	if n := len(sh.scopes); sh.peak >= 512 && n*8 < sh.peak {
		m := make(map[string]*scope, n)
		for k, v := range sh.scopes {
			m[k] = v
		}
		sh.scopes = m
		sh.peak = n
	}
}

// nameHash returns the hash of a model name in the scopes' name indexes.
func (r *Registry) nameHash(name string) uint64 { return r.names.sum(name) }

// getBuf returns a pooled buffer for canonical bytes.
func (r *Registry) getBuf() *[]byte { return r.bufs.Get().(*[]byte) }

func (r *Registry) putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // do not keep huge buffers alive
	}
	*b = (*b)[:0]
	r.bufs.Put(b)
}
