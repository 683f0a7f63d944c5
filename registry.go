package modelreg

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/modelreg/modelreg/definition"
)

// Define compiles def into an immutable model and registers it in the
// scope of ctx's tenant (creating that tenant's scope if needed), or in the
// global scope when ctx carries no tenant. Nested objects become anonymous
// models of that scope, reusing identical ones (see the package
// documentation for the conflict policy). A model of the same name in the
// same scope is replaced.
//
// Errors: a *TenantIDError for an invalid tenant id, a *QuotaError when
// the tenant's policy refuses the model, a *DefinitionError when def
// breaks an invariant of package definition. def is not modified and is
// not retained (the model holds a compiled copy that shares its settings
// and property options).
//
// A definition built in Go is checked for what makes its structure,
// names and removed properties well formed, not held to the parser's limits
// (sizes, depth, counts), and the values of its settings and extra
// options are kept as given: Parse makes them valid JSON, and one built
// in Go must, for the model's Definition to write back as JSON that Parse
// reads as the same definition.
func (r *Registry) Define(ctx context.Context, def *definition.Definition) (*Model, error) {
	return r.defineGo(ctx, def, true)
}

// Restore registers a model that was accepted before, as Define does but
// without checking the tenant's quotas. A service whose store is the
// source of truth reloads its stored models with it: a quota tightened
// since they were written then never makes a stored model disappear, as
// quotas apply to later registrations only (see SetPolicy). A tenant over
// a quota that way accepts no new model, or no larger definitions, until
// it is back under it. Errors are Define's, but for *QuotaError.
func (r *Registry) Restore(ctx context.Context, def *definition.Definition) (*Model, error) {
	return r.defineGo(ctx, def, false)
}

// defineGo is Define (quotas) or Restore (no quotas) of a definition the
// caller built or parsed.
func (r *Registry) defineGo(ctx context.Context, def *definition.Definition, quotas bool) (*Model, error) {
	if def == nil {
		return nil, &DefinitionError{Msg: "nil definition"}
	}
	c := r.getCompiler()
	defer r.putCompiler(c)
	return r.define(ctx, def, c, quotas)
}

// CheckDefine reports the error Define(ctx, def) would return now, and
// nil when Define would succeed, without registering anything or creating
// a tenant. It compiles def and checks the tenant's quotas against the
// scope as it is: a Define that follows succeeds unless the scope or the
// policy changed meanwhile.
//
// A service whose store is the source of truth calls it before storing a
// definition, so that the registry does not refuse a definition already
// stored. Its errors are Define's.
func (r *Registry) CheckDefine(ctx context.Context, def *definition.Definition) error {
	if def == nil {
		return &DefinitionError{Msg: "nil definition"}
	}
	c := r.getCompiler()
	defer r.putCompiler(c)
	tv, id, pol, err := r.prepare(ctx, def, c, true)
	if err != nil {
		return err
	}
	n := c.defBytes(def)
	over := singleQuota(id, pol, n)
	var s *scope
	if tv != nil {
		if s, _ = r.readScope(ctx); s == nil {
			return over // Define would create the scope: single quotas only
		}
	} else {
		s = r.global
		s.mu.RLock()
	}
	defer s.mu.RUnlock()
	_, err = scopeQuota(s, id, pol, r.nameHash(def.Name), def.Name, n)
	return err
}

// prepare is the first step of Define and CheckDefine: it resolves ctx's
// tenant (tv, nil for the global scope; id, "" for it) and its policy, and
// compiles def with c under the policy's depth quota. Without quotas (for
// Restore), the policy returned has none.
func (r *Registry) prepare(ctx context.Context, def *definition.Definition, c *compiler, quotas bool) (tv *tenantCtx, id string, pol Policy, err error) {
	if tv = tenantValueFrom(ctx); tv != nil {
		id = tv.id
		if err := ValidTenantID(id); err != nil {
			return nil, "", pol, err
		}
		if quotas {
			pol = r.Policy(id)
		}
	}
	c.maxDepth = pol.MaxDepth
	if err := c.compile(def); err != nil {
		if c.tooDeep {
			return nil, "", pol, &QuotaError{Tenant: id, Quota: QuotaDepth, Limit: int64(pol.MaxDepth), Value: int64(c.depth)}
		}
		return nil, "", pol, err
	}
	pol.MaxModels = max(pol.MaxModels, 0)
	pol.MaxBytes = max(pol.MaxBytes, 0)
	return tv, id, pol, nil
}

// singleQuota checks the quotas a model of n definition bytes can break
// on its own. They are checked before the scope is created, so a refused
// registration never creates a tenant. A model that breaks them can only
// be registered as the replacement of one no smaller (in a tenant over
// its quota, see Restore), which scopeQuota checks: such a registration
// never creates its scope.
func singleQuota(id string, pol Policy, n int64) error {
	if pol.MaxBytes > 0 && n > pol.MaxBytes {
		return &QuotaError{Tenant: id, Quota: QuotaBytes, Limit: pol.MaxBytes, Value: n}
	}
	return nil
}

// scopeQuota checks the quotas of scope s (locked by the caller) for a
// named model called name (hash nh) of n definition bytes, and returns
// the model it would replace.
func scopeQuota(s *scope, id string, pol Policy, nh uint64, name string, n int64) (old *Model, err error) {
	old = s.named.get(nh, name)
	if pol.MaxModels > 0 && old == nil && s.named.len()+1 > pol.MaxModels {
		return nil, &QuotaError{Tenant: id, Quota: QuotaModels, Limit: int64(pol.MaxModels), Value: int64(s.named.len() + 1)}
	}
	if pol.MaxBytes > 0 {
		total := s.defBytes + n
		if old != nil {
			total -= old.defBytes
		}
		// A tenant over the quota (see Restore) may still replace a
		// model with a definition no larger than the one it replaces.
		if total > pol.MaxBytes && (old == nil || n > old.defBytes) {
			return nil, &QuotaError{Tenant: id, Quota: QuotaBytes, Limit: pol.MaxBytes, Value: total}
		}
	}
	return old, nil
}

// define is Define (or Restore, without quotas) with compiler c.
func (r *Registry) define(ctx context.Context, def *definition.Definition, c *compiler, quotas bool) (*Model, error) {
	tv, id, pol, err := r.prepare(ctx, def, c, quotas)
	if err != nil {
		return nil, err
	}
	nm, props := allocModel[namedModel](len(def.Properties))
	nm.def = definition.Definition{Name: def.Name, Settings: def.Settings, Removed: def.Removed}
	if !c.ownsTypes {
		nm.def.Removed = slices.Clone(def.Removed) // the caller's slice, which it may change
	}
	m := &nm.Model
	m.name = def.Name
	m.tenant = id
	m.def = &nm.def
	m.obj = &nm.def.Object
	m.key = c.topKey
	m.defBytes = c.defBytes(def)
	over := singleQuota(id, pol, m.defBytes)

	var s *scope
	if tv != nil {
		// A model over a quota on its own can only replace one (see
		// singleQuota): it never creates the tenant.
		if s = r.tenantWriteScope(tv, over == nil); s == nil {
			return nil, over
		}
	} else {
		s = r.global
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	s.initMaps()
	nh := r.nameHash(m.name)
	old, err := scopeQuota(s, id, pol, nh, m.name, m.defBytes)
	if err != nil {
		return nil, err
	}

	nAnon0 := s.nAnon
	approx0 := s.approx
	reuses := c.intern(s)
	anonCreated := s.nAnon - nAnon0
	c.build(m.obj, &def.Object, c.topKids, props, true)
	m.nested = c.kids(c.topKids, nm.nestedBuf[:])
	m.approx = int32(min(int64(approxModelBytes(m))+c.privApprox, math.MaxInt32))
	released := s.putNamed(m, nh, old)

	named := 1
	if old != nil {
		named = 0
		r.ctr.replacements.Add(1)
	}
	r.addModels(s, named, s.nAnon-nAnon0, s.approx-approx0)
	r.ctr.registrations.Add(1)
	r.ctr.anonCreated.Add(uint64(anonCreated))
	r.ctr.reuses.Add(uint64(reuses))
	r.ctr.anonReleased.Add(uint64(released))
	now := r.now()
	s.setActive(now)
	// Whether to send events is decided once the model is findable (and
	// before the scope is unlocked): a subscription that Subscribe
	// returned before then gets them.
	if r.hasSubscribers() {
		t := time.Unix(0, now)
		for i := range c.pend {
			if p := &c.pend[i]; !p.reused {
				r.emit(Event{Kind: EventModelRegistered, Tenant: id, Model: p.model.ID(), Anonymous: true, Time: t})
			}
		}
		if reuses > 0 {
			for i := range c.pend {
				if p := &c.pend[i]; p.reused {
					r.emit(Event{Kind: EventModelReused, Tenant: id, Model: p.model.ID(), Anonymous: true, Time: t})
				}
			}
		}
		r.emit(Event{Kind: EventModelRegistered, Tenant: id, Model: m.name, Replaced: old != nil, Time: t})
	}
	return m, nil
}

// DefineJSON parses data with definition.Parse (under the registry's
// limits, see WithLimits) and defines the result as Define does. Parse
// errors are *definition.Error values.
func (r *Registry) DefineJSON(ctx context.Context, data []byte) (*Model, error) {
	// The parsed definition lives in the compiler's scratch storage:
	// Define copies what the model keeps (see compiler.build), so it
	// never refers to that storage.
	c := r.getCompiler()
	def, err := definition.ParseScratch(data, r.limits, &c.scratch)
	if err != nil {
		r.putCompiler(c)
		return nil, err
	}
	c.ownsTypes = true
	m, err := r.define(ctx, def, c, true)
	r.putCompiler(c)
	return m, err
}

// FindByName returns the named model called name that ctx can see: the
// tenant's own model, else the global one. It never returns an anonymous
// model, never creates a tenant, and marks only ctx's own tenant active.
// It does not allocate.
func (r *Registry) FindByName(ctx context.Context, name string) (*Model, bool) {
	h := r.nameHash(name)
	if tv := tenantValueFrom(ctx); tv != nil {
		// The fast path: the name table cached in the context. The
		// lookup is valid if, after it, the table is still the current
		// one of the context's scope (a table no longer current never
		// is again) and the scope is still live. A cleanup marks the
		// scope dead before it lets go of the tenant index and retires
		// the table only later: another CleanupTenant of the tenant
		// that finds no scope meanwhile returns at once, and its caller
		// must not find the models through a kept context then.
		s := tv.scope.Load()
		if t := tv.names.load(); t != nil && s != nil && s.reg == r {
			m := modelOf(t.find(h, name))
			if s.named.current(t) && !s.dead.Load() {
				s.touch()
				if m != nil {
					return m, true
				}
				return r.findGlobal(h, name)
			}
		}
		if s = r.nameScope(ctx); s != nil {
			s.touch()
			m := s.named.get(h, name)
			tv.names.store(s.named.table())
			if m != nil {
				return m, true
			}
		} else {
			tv.names.store(nil) // let go of a retired table
		}
	}
	return r.findGlobal(h, name)
}

// findGlobal returns the global named model called name (hash h).
func (r *Registry) findGlobal(h uint64, name string) (*Model, bool) {
	m := r.global.named.get(h, name)
	return m, m != nil
}

// FindByStructure returns a model of ctx's scope whose structure is props
// (compared by canonical form, so property order and type-name spelling do
// not matter but options do): an anonymous model first, else a named one
// (the smallest name if several). In a tenant it then looks at the global
// named models the tenant does not shadow (see FindByName), never at
// global anonymous ones. props is typically parsed
// with definition.ParseProperties, whose objects are StrictOpen like nested
// objects; one built in Go must be well formed as Define requires
// (properties sorted by name and unique, canonical defaults), or nothing is
// found. It never creates a tenant and marks only ctx's own tenant
// active.
func (r *Registry) FindByStructure(ctx context.Context, props *definition.Object) (*Model, bool) {
	if props == nil || !validQuery(props, 1, new(int), r.maxNodes) {
		return nil, false
	}
	bp := r.getBuf()
	canon := appendCanonical((*bp)[:0], props)
	// The buffer's spare room, as large as the query's form, is where a
	// named candidate writes its own form to be compared.
	canon = slices.Grow(canon, len(canon))
	m := r.findStructure(ctx, r.hash(canon), canon, canon[len(canon):])
	*bp = canon
	r.putBuf(bp)
	return m, m != nil
}

func (r *Registry) findStructure(ctx context.Context, key uint64, canon, scratch []byte) *Model {
	s, isTenant := r.readScope(ctx)
	if s != nil {
		s.touch()
		m := s.findStructure(key, canon, scratch, findAnon|findNamed, nil)
		s.mu.RUnlock()
		if m != nil {
			return m
		}
	}
	g := r.global
	g.mu.RLock()
	which := findAnon | findNamed
	if isTenant {
		which = findNamed // global anonymous models never cross scopes
	}
	// A global named model the tenant shadows with its own of that name is
	// not the tenant's to find, by structure no more than by name.
	m := g.findStructure(key, canon, scratch, which, s)
	g.mu.RUnlock()
	return m
}

// validQuery reports whether o is a well-formed object (properties sorted
// by name and unique, as definition.Object requires; no cycle, no nil
// pointer) that can be canonicalized safely.
func validQuery(o *definition.Object, depth int, nodes *int, maxNodes int) bool {
	if depth > maxCompileDepth {
		return false
	}
	*nodes += len(o.Properties)
	if *nodes > maxNodes {
		return false
	}
	for i := range o.Properties {
		p := &o.Properties[i]
		if i > 0 && o.Properties[i-1].Name >= p.Name {
			return false // unsorted or duplicated, as Define refuses
		}
		if len(p.Default) > 0 && !definition.IsCanonicalValue(p.Default) {
			return false // its canonical form could spell another structure's
		}
		t, d := &p.Type, depth
		for t.Kind == definition.KindArray {
			if d++; t.Elem == nil || d > maxCompileDepth {
				return false // an array that is its own element, at worst
			}
			t = t.Elem
		}
		if t.Kind == definition.KindNested && (t.Object == nil || !validQuery(t.Object, d+1, nodes, maxNodes)) {
			return false
		}
		if t.Kind == definition.KindInvalid || t.Kind > definition.KindNested {
			return false
		}
	}
	return true
}

// Models returns the named models ctx can see, sorted by name: exactly
// those FindByName can return (a tenant's own models, and the global models
// it does not shadow). It never creates a tenant and marks only ctx's own
// tenant active.
func (r *Registry) Models(ctx context.Context) []*Model {
	var out []*Model
	own, _ := r.readScope(ctx)
	if own != nil {
		own.touch()
		out = make([]*Model, 0, own.named.len())
		own.named.each(func(m *Model) { out = append(out, m) })
		own.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b *Model) int { return strings.Compare(a.name, b.name) })
	n := len(out)
	g := r.global
	g.mu.RLock()
	g.named.each(func(m *Model) {
		if own != nil {
			if _, shadowed := slices.BinarySearchFunc(out[:n], m.name, func(x *Model, name string) int { return strings.Compare(x.name, name) }); shadowed {
				return
			}
		}
		out = append(out, m)
	})
	g.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Model) int { return strings.Compare(a.name, b.name) })
	return out
}

// RemoveModel removes the named model called name from ctx's own scope
// (never from the global scope when ctx has a tenant), releasing the
// anonymous models nothing else uses. It reports whether a model was
// removed. The tenant stays live, even if it has no model left; it is
// not created if it does not exist.
func (r *Registry) RemoveModel(ctx context.Context, name string) (bool, error) {
	id, isTenant := TenantFromContext(ctx)
	s := r.global
	if isTenant {
		if err := ValidTenantID(id); err != nil {
			return false, err
		}
		if s = r.lookupScope(id); s == nil {
			return false, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead.Load() {
		return false, nil
	}
	old := s.named.del(r.nameHash(name), name, r.nameHash)
	if old == nil {
		return false, nil
	}
	nAnon0, approx0 := s.nAnon, s.approx
	released := s.dropNamed(old)
	r.addModels(s, -1, s.nAnon-nAnon0, s.approx-approx0)
	r.ctr.removals.Add(1)
	r.ctr.anonReleased.Add(uint64(released))
	now := r.now()
	s.setActive(now)
	if r.hasSubscribers() {
		r.emit(Event{Kind: EventModelRemoved, Tenant: id, Model: name, Time: time.Unix(0, now)})
	}
	return true, nil
}

// Resolver returns a function that resolves model references seen from
// ctx, by name, exactly as FindByName: the tenant's model, else the
// global one. Each call looks the name up at that time, so it follows
// later definitions, replacements and removals.
func (r *Registry) Resolver(ctx context.Context) func(name string) (*definition.Object, bool) {
	return func(name string) (*definition.Object, bool) {
		m, ok := r.FindByName(ctx, name)
		if !ok {
			return nil, false
		}
		return m.obj, true
	}
}
