package modelreg

import (
	"context"
	"sync/atomic"
)

// A Lease keeps a tenant live: a leased tenant is never evicted for
// idleness. Get one with Registry.Acquire and give it back with Release.
// A Lease not made by Acquire (the zero value, or nil) holds no tenant:
// Release does nothing and Tenant returns "".
type Lease struct {
	r        *Registry
	s        *scope
	released atomic.Bool
}

// Acquire leases tenant id, creating its (empty) scope if it is not live:
// a lease announces that the holder (a connection pool, a request) is
// about to use the tenant, so Acquire counts as a registration and as
// activity. An invalid id is refused with a *TenantIDError. ctx is not
// used for the tenant; it is accepted for symmetry with other calls.
//
// CleanupTenant removes a leased tenant all the same (an explicit
// cleanup wins); its outstanding leases then become inert, and releasing
// them has no effect on a later scope of the same tenant.
func (r *Registry) Acquire(ctx context.Context, id string) (*Lease, error) {
	_ = ctx
	if err := ValidTenantID(id); err != nil {
		return nil, err
	}
	s, _ := r.writeScope(id, true)
	s.leases++
	// Under the scope's lock, as a cleanup subtracts the scope's leases:
	// the gauge never reads one lease too few.
	r.gau.leases.Add(1)
	s.setActive(r.now())
	s.mu.Unlock()
	return &Lease{r: r, s: s}, nil
}

// Tenant returns the leased tenant's id.
func (l *Lease) Tenant() string {
	if l == nil || l.s == nil {
		return ""
	}
	return l.s.id
}

// Release gives the lease back. Releasing twice is harmless. When it was
// the tenant's last lease and the tenant's policy says ReleaseCleanup, the
// tenant is cleaned up (OnCleanup hooks run with context.Background();
// their errors are counted and sent as events).
func (l *Lease) Release() {
	if l == nil || l.s == nil || !l.released.CompareAndSwap(false, true) {
		return
	}
	r, s := l.r, l.s
	s.mu.Lock()
	if s.dead.Load() {
		s.mu.Unlock()
		return
	}
	s.leases--
	r.gau.leases.Add(-1)
	last := s.leases == 0
	s.setActive(r.now())
	s.mu.Unlock()
	if last && r.Policy(s.id).OnLastRelease == ReleaseCleanup {
		r.cleanup(context.Background(), s.id, ReasonLastRelease, s, func(s *scope) bool { return s.leases == 0 })
	}
}
