package modelreg

import (
	"context"
	"weak"
)

// WithHash replaces the structure index hash, to inject collisions.
func WithHash(hash func([]byte) uint64) Option { return withHash(hash) }

// RefCount returns the reference count of an anonymous model.
func (r *Registry) RefCount(m *Model) int32 {
	s := r.global
	if m.tenant != "" {
		s = r.lookupScope(m.tenant)
	}
	if s == nil {
		return -1
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return m.refcnt
}

// ContextCache returns functions reporting whether the scope and the name
// table ctx (a WithTenant context) caches now are still reachable.
func ContextCache(ctx context.Context) (scopeAlive, tableAlive func() bool) {
	tv := tenantValueFrom(ctx)
	return weakAlive(tv.scope.Load()), weakAlive(tv.names.load())
}

func weakAlive[T any](p *T) func() bool {
	if p == nil {
		return func() bool { return false }
	}
	w := weak.Make(p)
	return func() bool { return w.Value() != nil }
}

// HoldPooled takes the registry's pooled compilation state out of its pool
// and returns the function that puts it back: a test holding it through
// its collections sees what that state keeps reachable, which emptying
// the pool during the collections would hide.
func (r *Registry) HoldPooled() (putBack func()) {
	c := r.getCompiler()
	return func() { r.putCompiler(c) }
}
