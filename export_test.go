package modelreg

import "github.com/modelreg/modelreg/definition"

// WithHash replaces the fingerprint function, to inject collisions.
func WithHash(sum func([]byte) definition.Fingerprint) Option { return withHash(sum) }

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
