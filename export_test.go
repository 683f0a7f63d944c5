package modelreg

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
