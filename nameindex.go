package modelreg

import (
	"sync/atomic"
	"unsafe"
)

// nameIndex is a scope's index of its named models by name: an
// open-addressing hash table with linear probing, read without locks.
//
// A lookup among thousands of tenants is bound by dependent cache misses,
// so the table is laid out for them: a slot is one 64-byte cache line
// holding a 64-bit tag (the seeded nameHash of the name, whose low byte
// is replaced by the name's length), the model, and the name's bytes inline
// (names of up to inlineName bytes; longer names are compared through the
// model). A hit therefore touches one slot line and nothing else; the
// model's name is never dereferenced for a short name.
//
// Concurrency: writers hold the owning scope's mutex. Readers take no
// lock: they read the table pointer and mask under a sequence counter (a
// seqlock made of atomics only), then the slots, then the counter again.
// A published table is never rewritten except in two ways safe for
// readers: an empty slot is filled (name bytes and model first, then the
// tag, so a reader that sees the tag sees the rest), and a slot's model
// is replaced atomically (same name; nil for a deleted entry, a
// tombstone). Resizing builds and publishes a new table; the table
// shrinks when models are removed, where a Go map never does. A table
// that is no longer published (resized, or its scope cleaned up) is
// retired: its tags and models are cleared, so that nothing that still
// refers to it (a tenant context's nameCache) keeps models reachable. A
// reader that read a retired table sees the counter (or the published
// table) changed and reads again.
type nameIndex struct {
	seq  atomic.Uint64            // odd while tab and mask are being changed
	tab  atomic.Pointer[nameSlot] // first slot of the table, nil: empty
	mask atomic.Uint64            // len(table)-1
	// Guarded by the scope's mutex: live entries, and filled slots
	// (live entries and tombstones).
	n, used int
}

// inlineName is the longest name stored in the slot itself.
const inlineName = 48

type nameSlot struct {
	tag  atomic.Uint64 // 0: empty slot
	m    atomic.Pointer[Model]
	name [inlineName]byte // the name if it fits, written before tag
}

const nameIndexMin = 8

// nameTag returns the tag of a name of hash h: never 0 for a non-empty name.
func nameTag(h uint64, name string) uint64 {
	return h&^0xFF | uint64(min(len(name), 0xFF))
}

// home returns the first slot probed for tag t.
func home(t, mask uint64) uint64 { return (t >> 8) & mask }

func (x *nameIndex) len() int { return x.n }

// table returns a consistent snapshot of the table (nil when empty).
func (x *nameIndex) table() []nameSlot {
	for {
		v := x.seq.Load()
		p := x.tab.Load()
		mask := x.mask.Load()
		if v&1 == 0 && x.seq.Load() == v {
			if p == nil {
				return nil
			}
			return unsafe.Slice(p, mask+1)
		}
	}
}

// publish makes slots the table and retires the one it replaces. The
// caller holds the scope's mutex.
func (x *nameIndex) publish(slots []nameSlot) {
	old := x.table()
	x.seq.Add(1)
	if len(slots) == 0 {
		x.tab.Store(nil)
		x.mask.Store(0)
	} else {
		x.tab.Store(&slots[0])
		x.mask.Store(uint64(len(slots) - 1))
	}
	x.seq.Add(1)
	// Retire old: readers still looking at it see the change above
	// before they can see a cleared slot. The inline names stay (a
	// reader may be comparing them).
	for i := range old {
		old[i].tag.Store(0)
		old[i].m.Store(nil)
	}
}

// match reports whether slot s, whose tag equals nameTag(_, name), holds name.
func (s *nameSlot) match(name string) bool {
	if len(name) <= inlineName {
		return string(s.name[:len(name)]) == name
	}
	m := s.m.Load() // a tombstone of a long name matches nothing
	return m != nil && m.name == name
}

// get returns the model called name (hash h), or nil. It takes no lock.
func (x *nameIndex) get(h uint64, name string) *Model {
	for {
		v := x.seq.Load()
		slots := x.table()
		m := modelOf(find(slots, h, name))
		if x.seq.Load() == v {
			return m // slots was published throughout
		}
	}
}

// modelOf returns the model of slot s (nil for a tombstone), or nil when
// s is nil. With find, it is a lookup in a table snapshot.
func modelOf(s *nameSlot) *Model {
	if s == nil {
		return nil
	}
	return s.m.Load()
}

// find returns the slot of slots that holds name (hash h), live or a
// tombstone, or nil.
func find(slots []nameSlot, h uint64, name string) *nameSlot {
	if len(slots) == 0 || name == "" {
		return nil
	}
	t := nameTag(h, name)
	mask := uint64(len(slots) - 1)
	for i := home(t, mask); ; i = (i + 1) & mask {
		s := &slots[i]
		st := s.tag.Load()
		if st == 0 {
			return nil
		}
		if st == t && s.match(name) {
			return s
		}
	}
}

// nameCache is a copy, kept in a tenant context, of the table pointer and
// mask of its scope's name index, so that a lookup with the context
// computes the slot to read from the context alone and checks that the
// table is still the scope's current one in parallel (the processor
// predicts that check), rather than reading the scope first: one
// dependent cache miss fewer for a lookup among many tenants.
//
// The pair is written under a sequence counter (odd while written) that
// only one writer at a time can take; a reader that sees it odd or
// changed does not use the cache. A lookup in the cached table counts
// only if the scope's nameIndex still publishes that very table after
// it (see Registry.FindByName): a table is published once, and once
// retired (resized away, or its scope cleaned up) it never is again and
// holds no model, so a context kept after its tenant is gone keeps at
// most an emptied table until it is used again or dropped.
type nameCache struct {
	seq  atomic.Uint64
	tab  atomic.Pointer[nameSlot]
	mask atomic.Uint64
}

// load returns the cached table, or nil.
func (c *nameCache) load() []nameSlot {
	v := c.seq.Load()
	p := c.tab.Load()
	mask := c.mask.Load()
	if v&1 != 0 || c.seq.Load() != v || p == nil {
		return nil
	}
	return unsafe.Slice(p, mask+1)
}

// store caches slots, unless they are cached already or another
// goroutine is storing.
func (c *nameCache) store(slots []nameSlot) {
	var p *nameSlot
	if len(slots) > 0 {
		p = &slots[0]
	}
	v := c.seq.Load()
	if c.tab.Load() == p || v&1 != 0 || !c.seq.CompareAndSwap(v, v+1) {
		return
	}
	if len(slots) == 0 {
		c.tab.Store(nil)
		c.mask.Store(0)
	} else {
		c.tab.Store(&slots[0])
		c.mask.Store(uint64(len(slots) - 1))
	}
	c.seq.Store(v + 2)
}

// current reports whether slots (non-empty) is the table x publishes. A
// lookup in a cached table is valid if the table is current after it.
func (x *nameIndex) current(slots []nameSlot) bool {
	return x.tab.Load() == &slots[0]
}

// put indexes m (hash h) and returns the model of the same name it
// replaces, or nil. The caller holds the scope's mutex.
func (x *nameIndex) put(h uint64, m *Model) *Model {
	slots := x.table()
	// At most half full: a hit then almost always ends at its first
	// probe, which matters more than the bytes (the probe loop's branch
	// depends on a load that usually misses the cache, and a mispredicted
	// one stalls the next lookups too).
	if (x.used+1)*2 > len(slots) {
		slots = x.rebuild(x.n + 1)
	}
	t := nameTag(h, m.name)
	mask := uint64(len(slots) - 1)
	for i := home(t, mask); ; i = (i + 1) & mask {
		s := &slots[i]
		st := s.tag.Load()
		if st == 0 {
			s.fill(t, m)
			x.n++
			x.used++
			return nil
		}
		if st == t && s.match(m.name) {
			old := s.m.Swap(m)
			if old == nil { // a tombstone of the same name
				x.n++
			}
			return old
		}
	}
}

// fill writes an entry into empty slot s, publishing it with the tag last.
func (s *nameSlot) fill(t uint64, m *Model) {
	copy(s.name[:], m.name)
	s.m.Store(m)
	s.tag.Store(t)
}

// del removes the model called name (hash h) and returns it, or nil. The
// slot keeps its tag and inline name as a tombstone (holding no model),
// which put revives for the same name and rebuild drops. The caller holds
// the scope's mutex.
func (x *nameIndex) del(h uint64, name string) *Model {
	slots := x.table()
	s := find(slots, h, name)
	if s == nil {
		return nil
	}
	old := s.m.Swap(nil)
	if old == nil {
		return nil
	}
	x.n--
	if len(slots) > nameIndexMin && x.n*8 <= len(slots) {
		x.rebuild(x.n)
	}
	return old
}

// rebuild publishes a new table holding the live entries, sized for n
// entries at a load of at most one half (none at all when n is 0), and
// returns it.
func (x *nameIndex) rebuild(n int) []nameSlot {
	old := x.table()
	var slots []nameSlot
	if n > 0 {
		size := nameIndexMin
		for size < 2*n {
			size *= 2
		}
		slots = make([]nameSlot, size)
		mask := uint64(size - 1)
		for i := range old {
			o := &old[i]
			m := o.m.Load()
			if m == nil {
				continue // empty or tombstone
			}
			t := o.tag.Load()
			j := home(t, mask)
			for slots[j].tag.Load() != 0 {
				j = (j + 1) & mask
			}
			slots[j].fill(t, m)
		}
	}
	x.used = x.n
	x.publish(slots)
	return slots
}

// reset empties the index. The caller holds the scope's mutex.
func (x *nameIndex) reset() {
	x.publish(nil)
	x.n, x.used = 0, 0
}

// each calls f for every indexed model, in no particular order. The
// caller holds the scope's mutex.
func (x *nameIndex) each(f func(*Model)) {
	slots := x.table()
	for i := range slots {
		if m := slots[i].m.Load(); m != nil {
			f(m)
		}
	}
}
