package modelreg

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"
)

// CleanupReason says why a tenant was cleaned up.
type CleanupReason uint8

// Cleanup reasons.
const (
	ReasonExplicit    CleanupReason = iota + 1 // CleanupTenant
	ReasonIdle                                 // CleanupIdle or the janitor
	ReasonLastRelease                          // Policy.OnLastRelease
)

// String returns the reason's name, as reports and logs show it:
// "explicit", "idle" or "last-release".
func (c CleanupReason) String() string {
	switch c {
	case ReasonExplicit:
		return "explicit"
	case ReasonIdle:
		return "idle"
	case ReasonLastRelease:
		return "last-release"
	}
	return fmt.Sprintf("CleanupReason(%d)", uint8(c))
}

// CleanupReport describes the cleanup of one tenant. The zero report
// (empty Tenant) means nothing was cleaned.
type CleanupReport struct {
	Tenant string
	Reason CleanupReason
	// ModelsRemoved is the number of models removed, named and
	// anonymous; AnonymousRemoved the anonymous ones among them.
	ModelsRemoved    int
	AnonymousRemoved int
	// MappingsRemoved is the number of index entries dropped: one in the
	// name index per named model, one in the structure index per model,
	// and the tenant's entry in the tenant index.
	MappingsRemoved int
	// CleanedModels lists the names of the named models removed, in no
	// particular order (sorting would cost more than the cleanup itself;
	// sort them if needed). Anonymous models have no name; they are
	// counted, not listed.
	CleanedModels []string
	// Duration is the time the registry took to remove the tenant, not
	// counting OnCleanup hooks.
	Duration time.Duration
	// HookErr is nil, or a *HookError holding the errors the OnCleanup
	// hooks returned for this cleanup.
	HookErr error
}

type hookEntry struct {
	fn func(context.Context, CleanupReport) error
}

// call runs the hook, turning a panic into a *HookPanicError: the other
// hooks still run, and a janitor's goroutine survives a faulty hook.
func (h hookEntry) call(ctx context.Context, rep CleanupReport) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &HookPanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h.fn(ctx, rep)
}

// OnCleanup registers a hook called after every tenant cleanup (explicit,
// idle eviction or last release), outside registry locks, with the
// cleanup's report; the hook must not modify it. Hook errors are never
// swallowed: they are joined into the report's HookErr, returned by
// CleanupTenant, counted in Counters.HookErrors and sent as
// EventHookFailed events. A hook that panics is reported the same way,
// with a *HookPanicError, and the other hooks still run. The returned
// function unregisters the hook. A nil fn is ignored.
func (r *Registry) OnCleanup(fn func(ctx context.Context, rep CleanupReport) error) (remove func()) {
	if fn == nil {
		return func() {} // nothing to run
	}
	e := &hookEntry{fn: fn}
	r.hooksMu.Lock()
	var list []*hookEntry
	if p := r.hooks.Load(); p != nil {
		list = slices.Clone(*p)
	}
	list = append(list, e)
	r.hooks.Store(&list)
	r.hooksMu.Unlock()
	return func() {
		r.hooksMu.Lock()
		defer r.hooksMu.Unlock()
		if p := r.hooks.Load(); p != nil {
			list := slices.DeleteFunc(slices.Clone(*p), func(x *hookEntry) bool { return x == e })
			r.hooks.Store(&list)
		}
	}
}

// CleanupTenant removes tenant id and everything it registered, whatever
// its leases (outstanding leases become inert). Afterwards nothing of the
// tenant is findable from any context; a later registration creates a
// new, empty scope. Its cost is proportional to the tenant's models,
// independent of other tenants.
//
// An invalid id is refused with a *TenantIDError (ErrInvalidTenant), the
// global scope's id with ErrGlobalScope. Cleaning an unknown or already
// cleaned tenant returns the zero report and no error. If OnCleanup hooks
// fail, the cleanup has still happened: the report is complete and the
// error is its HookErr (a *HookError, matching ErrHook).
func (r *Registry) CleanupTenant(ctx context.Context, id string) (CleanupReport, error) {
	if err := ValidTenantID(id); err != nil {
		return CleanupReport{}, err
	}
	rep, _ := r.cleanup(ctx, id, ReasonExplicit, nil, nil)
	return rep, rep.HookErr
}

// cleanup removes the scope of tenant id if it is want (when want is not
// nil) and cond holds (when cond is not nil), under the scope's lock.
func (r *Registry) cleanup(ctx context.Context, id string, reason CleanupReason, want *scope, cond func(*scope) bool) (CleanupReport, bool) {
	if ctx == nil {
		ctx = context.Background() // as everywhere: the hooks get a usable context
	}
	start := time.Now()
	sh := r.shard(id)
	sh.mu.Lock()
	s := sh.scopes[id]
	if s == nil || (want != nil && s != want) {
		sh.mu.Unlock()
		return CleanupReport{}, false
	}
	s.mu.Lock()
	if cond != nil && !cond(s) {
		s.mu.Unlock()
		sh.mu.Unlock()
		return CleanupReport{}, false
	}
	s.dead.Store(true)
	sh.removeScope(id)
	// s is dead: nobody else reads or writes its indexes any more.
	named, anon := s.named.len(), s.nAnon
	kind := EventTenantCleaned
	switch reason {
	case ReasonExplicit:
		r.ctr.cleanups.Add(1)
	case ReasonIdle:
		r.ctr.evictions.Add(1)
		kind = EventTenantEvicted
	case ReasonLastRelease:
		r.ctr.releaseCleanups.Add(1)
	}
	if r.hasSubscribers() {
		// Under the shard lock: a new scope of the tenant is created
		// under it too, so its events follow this one.
		r.emit(Event{Kind: kind, Tenant: id, Models: named + anon, Reason: reason, Time: r.clock()})
	}
	sh.mu.Unlock()

	names := make([]string, 0, named)
	s.named.each(func(m *Model) { names = append(names, m.name) })
	r.gau.tenants.Add(-1)
	r.gau.leases.Add(-int64(s.leases))
	r.addModels(s, -named, -anon, -s.approx)
	// Drop the indexes now, so that a Lease still holding the scope keeps
	// nothing of the tenant alive.
	s.named.reset()
	s.byKey = nil
	s.nAnon, s.defBytes, s.approx, s.leases = 0, 0, 0, 0
	s.mu.Unlock()

	rep := CleanupReport{
		Tenant:           id,
		Reason:           reason,
		ModelsRemoved:    named + anon,
		AnonymousRemoved: anon,
		MappingsRemoved:  2*named + anon + 1,
		CleanedModels:    names,
		Duration:         time.Since(start),
	}
	rep.HookErr = r.runHooks(ctx, rep)
	return rep, true
}

func (r *Registry) runHooks(ctx context.Context, rep CleanupReport) error {
	p := r.hooks.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	var errs []error
	for _, h := range *p {
		if err := h.call(ctx, rep); err != nil {
			errs = append(errs, err)
			r.ctr.hookErrors.Add(1)
			if r.hasSubscribers() {
				r.emit(Event{Kind: EventHookFailed, Tenant: rep.Tenant, Reason: rep.Reason, Err: err, Time: r.clock()})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &HookError{Tenant: rep.Tenant, Err: errors.Join(errs...)}
}

// CleanupIdle evicts every tenant idle for longer than its idle limit and
// not leased, and returns the reports (with Reason ReasonIdle). A tenant's
// idle limit is its policy's MaxIdle if set, else maxIdle if non-zero,
// else the default policy's MaxIdle; a limit <= 0 means never.
//
// Activity precision: registrations, RemoveModel and lease operations
// record the clock; a lookup only marks its tenant, and the first sweep (or
// TenantStats call) after it takes the mark and records it as the time it
// reads next, never earlier than the lookup. So a tenant active within its limit is never
// evicted; a tenant last registered to at time t is evicted by the first
// sweep after t+limit, and one last looked up at time t by the first sweep
// more than limit after the first sweep following t (at most one sweep
// interval later than exact timestamps would give). The check is repeated
// under the tenant's lock, so a lookup or lease racing with the sweep
// saves the tenant. Its cost is proportional to the number of live
// tenants. It stops early, returning what it did, when ctx is done.
func (r *Registry) CleanupIdle(ctx context.Context, maxIdle time.Duration) []CleanupReport {
	if ctx == nil {
		ctx = context.Background()
	}
	now := r.now()
	def := maxIdle
	if def == 0 {
		def = r.defaults.MaxIdle
	}
	type cand struct {
		id    string
		s     *scope
		limit int64
	}
	var cands []cand
	var marked []*scope
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for id, s := range sh.scopes {
			if s.touched.Load() {
				// Looked up since the last sweep: active now, so not
				// a candidate. The mark becomes activity below.
				marked = append(marked, s)
				continue
			}
			limit := def
			if p, ok := sh.policies[id]; ok && p.MaxIdle != 0 {
				limit = p.MaxIdle
			}
			if limit > 0 && now-s.lastActive.Load() > int64(limit) {
				cands = append(cands, cand{id, s, int64(limit)})
			}
		}
		sh.mu.RUnlock()
		for _, s := range marked {
			s.recordMark()
		}
		clear(marked)
		marked = marked[:0]
	}
	var reps []CleanupReport
	for _, c := range cands {
		if ctx.Err() != nil {
			break
		}
		rep, ok := r.cleanup(ctx, c.id, ReasonIdle, c.s, func(s *scope) bool {
			return s.leases == 0 && !s.touched.Load() && now-s.lastActive.Load() > c.limit
		})
		if ok {
			reps = append(reps, rep)
		}
	}
	return reps
}
