package modelreg

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the registry's figures. Gauges go up and down
// with what is live; Counters only ever go up.
type Stats struct {
	Gauges   Gauges
	Counters Counters
}

// Gauges are the registry's live figures. Anonymous models are counted
// apart from named ones. Approximate bytes estimate the heap held by the
// models and their indexes.
type Gauges struct {
	Tenants         int   // live tenant scopes
	GlobalModels    int   // named models in the global scope
	GlobalAnonymous int   // anonymous models in the global scope
	GlobalBytes     int64 // approximate bytes of the global scope
	TenantModels    int   // named models in all tenant scopes
	TenantAnonymous int   // anonymous models in all tenant scopes
	TenantBytes     int64 // approximate bytes of all tenant scopes
	Leases          int   // leases not yet released (on live tenants)
	Subscribers     int   // open event subscriptions
}

// Counters are the registry's monotonic counters, since New. Lookups are
// not counted (counting would cost every lookup a shared atomic write).
type Counters struct {
	TenantsCreated    uint64 // tenant scopes created
	Registrations     uint64 // named models registered (new or replacing)
	Replacements      uint64 // registrations that replaced a model of the same name
	AnonymousCreated  uint64 // anonymous models created
	Reuses            uint64 // nested objects resolved to an existing anonymous model
	AnonymousReleased uint64 // anonymous models released because nothing used them
	Removals          uint64 // named models removed by RemoveModel
	Cleanups          uint64 // tenants cleaned up by CleanupTenant
	Evictions         uint64 // tenants evicted for idleness
	ReleaseCleanups   uint64 // tenants cleaned up on their last lease's release
	HookErrors        uint64 // errors returned by OnCleanup hooks
	EventsDropped     uint64 // events lost because a subscriber's buffer was full
}

type counters struct {
	tenantsCreated, registrations, replacements, anonCreated, reuses,
	anonReleased, removals, cleanups, evictions, releaseCleanups,
	hookErrors, eventsDropped atomic.Uint64
}

type gauges struct {
	tenants, globalModels, globalAnon, tenantModels, tenantAnon,
	leases atomic.Int64
	globalBytes, tenantBytes atomic.Int64
}

// addModels applies a change of a scope's figures to the gauges.
func (r *Registry) addModels(s *scope, named, anon int, bytes int64) {
	if s.tenant {
		r.gau.tenantModels.Add(int64(named))
		r.gau.tenantAnon.Add(int64(anon))
		r.gau.tenantBytes.Add(bytes)
	} else {
		r.gau.globalModels.Add(int64(named))
		r.gau.globalAnon.Add(int64(anon))
		r.gau.globalBytes.Add(bytes)
	}
}

// Stats returns the registry's gauges and counters. The figures are read
// one by one, not as an atomic snapshot.
func (r *Registry) Stats() Stats {
	g := &r.gau
	c := &r.ctr
	var subs int
	if p := r.subs.Load(); p != nil {
		subs = len(*p)
	}
	return Stats{
		Gauges: Gauges{
			Tenants:         int(g.tenants.Load()),
			GlobalModels:    int(g.globalModels.Load()),
			GlobalAnonymous: int(g.globalAnon.Load()),
			GlobalBytes:     g.globalBytes.Load(),
			TenantModels:    int(g.tenantModels.Load()),
			TenantAnonymous: int(g.tenantAnon.Load()),
			TenantBytes:     g.tenantBytes.Load(),
			Leases:          int(g.leases.Load()),
			Subscribers:     subs,
		},
		Counters: Counters{
			TenantsCreated:    c.tenantsCreated.Load(),
			Registrations:     c.registrations.Load(),
			Replacements:      c.replacements.Load(),
			AnonymousCreated:  c.anonCreated.Load(),
			Reuses:            c.reuses.Load(),
			AnonymousReleased: c.anonReleased.Load(),
			Removals:          c.removals.Load(),
			Cleanups:          c.cleanups.Load(),
			Evictions:         c.evictions.Load(),
			ReleaseCleanups:   c.releaseCleanups.Load(),
			HookErrors:        c.hookErrors.Load(),
			EventsDropped:     c.eventsDropped.Load(),
		},
	}
}

// TenantStats describes one live tenant.
type TenantStats struct {
	Tenant          string
	Models          int   // named models
	Anonymous       int   // anonymous models
	DefinitionBytes int64 // bytes counted against Policy.MaxBytes
	ApproxBytes     int64 // approximate heap bytes of its models and indexes
	Leases          int   // leases not yet released
	Created         time.Time
	// LastActive is the time of the latest registration, lease operation
	// or lookup. A lookup is recorded at the first sweep (CleanupIdle) or
	// TenantStats call after it, so LastActive may be later than the
	// lookup itself, never earlier.
	LastActive time.Time
	Idle       time.Duration // clock now - LastActive
}

// TenantStats returns the figures of live tenant id, and false if the
// tenant is not live. It does not create the tenant or count as activity.
func (r *Registry) TenantStats(id string) (TenantStats, bool) {
	s := r.lookupScope(id)
	if s == nil {
		return TenantStats{}, false
	}
	now := r.now()
	st, ok := s.stats(now)
	return st, ok
}

// Tenants returns the figures of every live tenant, sorted by id. Its
// cost is proportional to the number of tenants.
func (r *Registry) Tenants() []TenantStats {
	now := r.now()
	var out []TenantStats
	var scopes []*scope
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, s := range sh.scopes {
			scopes = append(scopes, s)
		}
		sh.mu.RUnlock()
		for _, s := range scopes {
			if st, ok := s.stats(now); ok {
				out = append(out, st)
			}
		}
		scopes = scopes[:0]
	}
	slices.SortFunc(out, func(a, b TenantStats) int { return strings.Compare(a.Tenant, b.Tenant) })
	return out
}

func (s *scope) stats(now int64) (TenantStats, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.takeMark() { // as recordMark does, under the same lock
		s.setActive(s.reg.now())
	}
	if s.dead.Load() {
		return TenantStats{}, false
	}
	last := s.lastActive.Load()
	return TenantStats{
		Tenant:          s.id,
		Models:          s.named.len(),
		Anonymous:       s.nAnon,
		DefinitionBytes: s.defBytes,
		ApproxBytes:     s.approx,
		Leases:          s.leases,
		Created:         time.Unix(0, s.created),
		LastActive:      time.Unix(0, last),
		Idle:            time.Duration(max(0, now-last)),
	}, true
}
