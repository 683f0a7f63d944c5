package modelreg

import (
	"bytes"
	"github.com/modelreg/modelreg/definition"
	"sync"
	"sync/atomic"
)

// scope holds the models of the global scope or of one tenant. All its
// indexes belong to it alone, so dropping a scope drops them whole.
type scope struct {
	reg    *Registry
	id     string // tenant id, "" for the global scope
	tenant bool
	// created is the creation time (clock, unix ns); immutable.
	created int64

	// lastActive is the latest known activity time (clock, unix ns):
	// registrations store the clock; lookups only set touched, which
	// sweeps fold into lastActive (see Registry.fold).
	lastActive atomic.Int64
	touched    atomic.Bool

	mu   sync.RWMutex
	dead bool // cleaned up: no longer in the tenant index, never revived
	// named: name -> named model.
	named map[string]*Model
	// namedFP, anonFP: fingerprint -> chain (via Model.nextFP) of the
	// named / anonymous models with that fingerprint. A chain has more
	// than one element only for equal named structures or hash
	// collisions.
	namedFP map[definition.Fingerprint]*Model
	anonFP  map[definition.Fingerprint]*Model
	nAnon   int
	// defBytes: definition bytes (quota), approx: approximate heap bytes.
	defBytes int64
	approx   int64
	leases   int
}

func newScope(r *Registry, id string, tenant bool, now int64) *scope {
	s := &scope{reg: r, id: id, tenant: tenant, created: now}
	s.lastActive.Store(now)
	return s
}

// touch marks the scope active. It writes only when the flag is clear, so
// that concurrent lookups do not fight over the cache line.
func (s *scope) touch() {
	if !s.touched.Load() {
		s.touched.Store(true)
	}
}

// setActive records activity at time now (never moving lastActive back).
func (s *scope) setActive(now int64) {
	for {
		old := s.lastActive.Load()
		if old >= now || s.lastActive.CompareAndSwap(old, now) {
			return
		}
	}
}

// fold turns a pending lookup mark into an activity time: the lookup
// happened at or before now.
func (s *scope) fold(now int64) {
	if s.touched.Load() && s.touched.Swap(false) {
		s.setActive(now)
	}
}

// findChain returns the model of chain head whose canonical form is
// canon. For named chains it returns the one with the smallest name.
func findChain(head *Model, canon []byte) *Model {
	var best *Model
	for m := head; m != nil; m = m.nextFP {
		if bytes.Equal(m.canonical, canon) && (best == nil || m.name < best.name) {
			best = m
		}
	}
	return best
}

// findAnon returns the anonymous model with canonical form canon. The
// caller holds s.mu.
func (s *scope) findAnon(fp definition.Fingerprint, canon []byte) *Model {
	if h := s.anonFP[fp]; h != nil {
		return findChain(h, canon)
	}
	return nil
}

// findStructure returns the anonymous, else named, model with canonical
// form canon. The caller holds s.mu.
func (s *scope) findStructure(fp definition.Fingerprint, canon []byte, anon bool) *Model {
	if anon {
		if m := s.findAnon(fp, canon); m != nil {
			return m
		}
	}
	if h := s.namedFP[fp]; h != nil {
		return findChain(h, canon)
	}
	return nil
}

func chainInsert(m map[definition.Fingerprint]*Model, x *Model) {
	x.nextFP = m[x.fp]
	m[x.fp] = x
}

func chainRemove(m map[definition.Fingerprint]*Model, x *Model) {
	h := m[x.fp]
	if h == x {
		if x.nextFP == nil {
			delete(m, x.fp)
		} else {
			m[x.fp] = x.nextFP
		}
	} else {
		for p := h; p != nil; p = p.nextFP {
			if p.nextFP == x {
				p.nextFP = x.nextFP
				break
			}
		}
	}
	x.nextFP = nil
}

func (s *scope) initMaps() {
	if s.named == nil {
		s.named = make(map[string]*Model)
		s.namedFP = make(map[definition.Fingerprint]*Model)
		s.anonFP = make(map[definition.Fingerprint]*Model)
	}
}

// addAnon indexes a new anonymous model and takes a reference on each of
// its own anonymous models. The caller holds s.mu for writing.
func (s *scope) addAnon(m *Model) {
	chainInsert(s.anonFP, m)
	s.nAnon++
	s.approx += m.approx
	for _, d := range m.nested {
		d.refcnt++
	}
}

// release drops one reference on each anonymous model m uses, removing
// those that are no longer used, recursively. It returns the number of
// anonymous models removed. The caller holds s.mu for writing.
func (s *scope) release(m *Model) (removed int) {
	for _, d := range m.nested {
		d.refcnt--
		if d.refcnt == 0 {
			chainRemove(s.anonFP, d)
			s.nAnon--
			s.approx -= d.approx
			removed += 1 + s.release(d)
		}
	}
	return removed
}

// putNamed installs named model m, replacing old (the current model of
// that name, or nil), and releases what old no longer needs. It returns
// the number of anonymous models released. The caller holds s.mu.
func (s *scope) putNamed(m, old *Model) int {
	for _, d := range m.nested {
		d.refcnt++
	}
	s.named[m.name] = m
	chainInsert(s.namedFP, m)
	s.defBytes += m.defBytes
	s.approx += m.approx
	if old == nil {
		return 0
	}
	return s.dropNamed(old)
}

// dropNamed unindexes named model old (its name entry must already be
// replaced or deleted) and releases its anonymous models.
func (s *scope) dropNamed(old *Model) int {
	chainRemove(s.namedFP, old)
	s.defBytes -= old.defBytes
	s.approx -= old.approx
	return s.release(old)
}
