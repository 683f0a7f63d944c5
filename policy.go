package modelreg

import "time"

// Policy holds the per-tenant limits and lifecycle rules. The registry
// has a default policy (WithPolicy) and a tenant may have its own
// (SetPolicy). A tenant's effective policy takes each field from the
// tenant's policy when that field is non-zero and from the default policy
// otherwise; a negative value means "no limit" (or "never", for MaxIdle),
// so a tenant can lift a default limit. Policies apply to tenants only:
// the global scope has no quotas and is never evicted.
type Policy struct {
	// MaxIdle is how long a tenant may stay without activity before
	// CleanupIdle and the janitor evict it. The maxIdle argument of
	// CleanupIdle/StartJanitor takes the place of the default policy's
	// MaxIdle when it is non-zero; a tenant's own MaxIdle overrides both.
	MaxIdle time.Duration
	// MaxModels is the maximum number of named models of a tenant
	// (anonymous models are bounded by MaxBytes and MaxDepth).
	MaxModels int
	// MaxBytes is the maximum number of definition bytes a tenant holds:
	// the sum, over its named models, of the length of the canonical form,
	// that of each nested object's canonical form (which the anonymous
	// model of that structure holds: a structure nested d levels deep
	// counts about d times), the size of the properties' extra options
	// (description, index, ..., at every level), of the kept settings
	// (relations, ACLs, ...) and of the removed property names. It thus bounds the
	// memory a tenant's models hold, within a small factor. A tenant
	// over it (see Registry.Restore) can still replace a model with a
	// definition no larger than the one it replaces.
	MaxBytes int64
	// MaxDepth is the maximum nesting depth of a definition's structure,
	// as definition.Object.Depth counts it: 1 for scalar properties only,
	// plus one level for every nested object and every array on the
	// deepest path.
	MaxDepth int
	// OnLastRelease says what happens when the last lease of a tenant is
	// released.
	OnLastRelease ReleaseAction
}

// ReleaseAction is what happens to a tenant when its last lease is
// released.
type ReleaseAction uint8

// Release actions. ReleaseInherit takes the default policy's action (and
// means ReleaseKeep in the default policy).
const (
	ReleaseInherit ReleaseAction = iota
	ReleaseKeep                  // keep the tenant (idle eviction may remove it later)
	ReleaseCleanup               // clean the tenant up, as CleanupTenant would
)

// merge returns the effective policy: p's non-zero fields over d.
func (p Policy) merge(d Policy) Policy {
	if p.MaxIdle == 0 {
		p.MaxIdle = d.MaxIdle
	}
	if p.MaxModels == 0 {
		p.MaxModels = d.MaxModels
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = d.MaxBytes
	}
	if p.MaxDepth == 0 {
		p.MaxDepth = d.MaxDepth
	}
	if p.OnLastRelease == ReleaseInherit {
		p.OnLastRelease = d.OnLastRelease
	}
	return p
}

// SetPolicy sets the policy of tenant id, overriding the default policy
// field by field; the zero Policy removes the override. A policy is
// configuration, not tenant data: it applies whether or not the tenant is
// live, does not create the tenant, and survives its cleanup and eviction
// (so a tenant's quotas cannot be lost by letting it idle out). The new
// quotas apply to later registrations; models already registered are
// kept.
func (r *Registry) SetPolicy(id string, p Policy) error {
	if err := ValidTenantID(id); err != nil {
		return err
	}
	sh := r.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, had := sh.policies[id]
	if p == (Policy{}) {
		if had {
			delete(sh.policies, id)
			r.overrides.Add(-1)
		}
		return nil
	}
	if sh.policies == nil {
		sh.policies = make(map[string]Policy)
	}
	sh.policies[id] = p
	if !had {
		r.overrides.Add(1)
	}
	return nil
}

// Policy returns the effective policy of tenant id (its own policy merged
// over the default one).
func (r *Registry) Policy(id string) Policy {
	if r.overrides.Load() == 0 {
		return Policy{}.merge(r.defaults) // no tenant has its own
	}
	sh := r.shard(id)
	sh.mu.RLock()
	p := sh.policies[id]
	sh.mu.RUnlock()
	return p.merge(r.defaults)
}
