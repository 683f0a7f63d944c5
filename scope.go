package modelreg

import (
	"sync"
	"sync/atomic"
)

// scope holds the models of the global scope or of one tenant. All its
// indexes belong to it alone, so dropping a scope drops them whole.
type scope struct {
	// The fields a name lookup reads come first, in one cache line.
	reg *Registry
	// named: name -> named model; read without locking (see nameIndex).
	named   nameIndex
	dead    atomic.Bool // cleaned up: no longer in the tenant index, never revived (set under mu)
	touched atomic.Bool // a lookup happened since the mark was last taken (takeMark)

	id     string // tenant id, "" for the global scope
	tenant bool
	// created is the creation time (clock, unix ns); immutable.
	created int64

	// lastActive is the latest known activity time (clock, unix ns):
	// registrations store the clock; lookups only set touched, which
	// sweeps and stats turn into activity (see takeMark).
	lastActive atomic.Int64

	mu sync.RWMutex
	// byKey: structure index key (a seeded 64-bit hash of the canonical
	// form) -> chain (via Model.nextFP) of the models with that key,
	// anonymous ones first. A hit is always confirmed by comparing the
	// canonical bytes; a chain has more than one element only for named
	// models of equal structure or hash collisions.
	byKey map[uint64]*Model
	nAnon int
	// defBytes: definition bytes (quota), approx: approximate heap bytes.
	defBytes int64
	approx   int64
	leases   int

	// Pads the struct to a multiple of 64 bytes: the allocator then
	// places every scope at the start of a cache line, so the fields a
	// name lookup reads (the first 64 bytes) are one line, not two.
	_ [48]byte
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

// takeMark clears the pending lookup mark and reports whether there was
// one. The caller holds s.mu (at least for reading) and records the mark
// as activity at a clock time read after takeMark returned, before it
// lets go of the lock (see recordMark): a lookup that set the mark
// happened before that time, and one that comes after it sets the mark
// again.
func (s *scope) takeMark() bool {
	return s.touched.Load() && s.touched.Swap(false)
}

// recordMark turns a pending lookup mark into activity, at a clock time
// read after the mark was taken. Both happen under the scope's read lock:
// an eviction checks the mark and the activity time under the write lock,
// so it sees the mark or the time it became, never neither (a second
// sweep running between the two once evicted a tenant looked up an
// instant before).
func (s *scope) recordMark() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.takeMark() {
		s.setActive(s.reg.now())
	}
}

// Which models a structure lookup considers.
const (
	findAnon  = 1 << iota // anonymous models
	findNamed             // named models
)

// findStructure returns the model with canonical form canon among those
// selected by which: an anonymous one first, else the named one with the
// smallest name. scratch is room to write a named candidate's canonical
// form in (see Model.Canonical); it must not overlap canon. The caller
// holds s.mu.
func (s *scope) findStructure(key uint64, canon, scratch []byte, which int, shadow *scope) *Model {
	var best *Model
	for m := s.byKey[key]; m != nil; m = m.nextFP {
		if m.def != nil { // named models follow the anonymous ones
			if which&findNamed == 0 {
				return nil
			}
			if (best == nil || m.name < best.name) && m.hasCanonical(canon, scratch) && !shadow.shadows(m.name) {
				best = m
			}
		} else if which&findAnon != 0 && m.hasCanonical(canon, scratch) {
			return m
		}
	}
	return best
}

// findAnon returns the anonymous model with canonical form canon.
func (s *scope) findAnon(key uint64, canon []byte) *Model {
	return s.findStructure(key, canon, nil, findAnon, nil)
}

// shadows reports whether tenant scope s (nil: none) has a named model
// called name, which hides the global one of that name from the tenant.
// It takes no lock (the name index is read without one).
func (s *scope) shadows(name string) bool {
	return s != nil && s.named.get(s.reg.nameHash(name), name) != nil
}

// index adds x to the structure index: anonymous models at the head of
// their chain, named models after them.
func (s *scope) index(x *Model) {
	h := s.byKey[x.key]
	if x.def == nil || h == nil || h.def != nil {
		x.nextFP = h
		s.byKey[x.key] = x
		return
	}
	p := h
	for p.nextFP != nil && p.nextFP.def == nil {
		p = p.nextFP
	}
	x.nextFP = p.nextFP
	p.nextFP = x
}

// unindex removes x from the structure index.
func (s *scope) unindex(x *Model) {
	h := s.byKey[x.key]
	if h == x {
		if x.nextFP == nil {
			delete(s.byKey, x.key)
		} else {
			s.byKey[x.key] = x.nextFP
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
	if s.byKey == nil {
		s.byKey = make(map[uint64]*Model)
	}
}

// addAnon indexes a new anonymous model and takes a reference on each of
// its own anonymous models. The caller holds s.mu for writing.
func (s *scope) addAnon(m *Model) {
	s.index(m)
	s.nAnon++
	s.approx += int64(m.approx)
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
			s.unindex(d)
			s.nAnon--
			s.approx -= int64(d.approx)
			removed += 1 + s.release(d)
		}
	}
	return removed
}

// putNamed installs named model m (whose name has hash nameHash),
// replacing old (the current model of that name, or nil), and releases
// what old no longer needs. It returns the number of anonymous models
// released. The caller holds s.mu.
func (s *scope) putNamed(m *Model, nameHash uint64, old *Model) int {
	for _, d := range m.nested {
		d.refcnt++
	}
	s.named.put(nameHash, m, s.reg.nameHash)
	s.index(m)
	s.defBytes += m.defBytes
	s.approx += int64(m.approx)
	if old == nil {
		return 0
	}
	return s.dropNamed(old)
}

// dropNamed unindexes named model old (its name entry must already be
// replaced or deleted) and releases its anonymous models.
func (s *scope) dropNamed(old *Model) int {
	s.unindex(old)
	s.defBytes -= old.defBytes
	s.approx -= int64(old.approx)
	return s.release(old)
}
