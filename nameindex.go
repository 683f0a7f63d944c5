package modelreg

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// nameIndex is a scope's index of its named models by name: an
// open-addressing hash table with linear probing, read without locks.
//
// A lookup among thousands of tenants is bound by cache misses, so the
// table is laid out for them, as two arrays: 32-bit tags (24 bits of the
// name's seeded nameHash and the name's length), sixteen to a cache line,
// and slots, each the model and the name's bytes inline (names of up to
// inlineName bytes; longer names are compared through the model). Probing
// reads tags only, so a hit reads the tag line, which the other lookups in
// that tenant keep in the cache, and one slot: never the model's name for
// a short name. Because a probe costs a compare and not a cache miss, a
// table may be three quarters full: the ten names of a typical tenant
// take 16 slots, a 64-byte tag line and 512 bytes of slots, where 64-byte
// slots at half load took 2 KiB and as many cache lines as names. Such a
// table is one 640-byte block, its tags and slots in the table itself, so
// a hit's tag and slot are loaded together (see nameTable).
// (TestNameTableAligned checks that tags and slots start on a line.)
//
// Concurrency: writers hold the owning scope's mutex. Readers take no
// lock: they load the published table (a *nameTable, whose arrays are
// fixed) and then its tags and slots. A published table is never
// rewritten except in two ways safe for readers: an empty slot is filled
// (name bytes and model first, then the tag, so a reader that sees the
// tag sees the rest), and a slot's model is replaced atomically (same
// name; nil for a deleted entry, a tombstone). Resizing builds and
// publishes a new table; the table shrinks when models are removed, where
// a Go map never does. A table that is no longer published (resized, or
// its scope cleaned up) is retired: its tags and models are cleared, so
// that nothing that still refers to it (a tenant context's nameCache)
// keeps models reachable. A lookup counts only if its table is still the
// published one after it: a table is published once, and a reader that
// read a retired one reads again.
type nameIndex struct {
	tab atomic.Pointer[nameTable] // nil: empty
	// Guarded by the scope's mutex: live entries, and filled slots
	// (live entries and tombstones).
	n, used int
}

// nameTable is one table of a nameIndex: len(tags) == len(slots), a power
// of two. Only its tags and slots' contents change once it is published.
//
// A table of nameIndexMin slots, the size of most tenants', keeps its tags
// and slots in itself (small and inline), one allocation: the addresses
// of a name's tag and home slot then follow from the table's address and
// the name's hash alone, so a lookup loads both at once instead of
// loading the slots' address first (one dependent cache miss fewer). A
// larger table leaves them unused.
type nameTable struct {
	tags  []atomic.Uint32 // 0: empty slot
	slots []nameSlot
	// The allocator puts an 8-byte header before an object of this size
	// (over 512 bytes, with pointers) in a 640-byte block that starts on
	// a cache line: this pad puts small on the block's second line, and
	// inline on the next ones (TestNameTableAligned).
	_      [8]byte
	small  [nameIndexMin]atomic.Uint32 // tags, when there are nameIndexMin
	inline [nameIndexMin]nameSlot      // slots, when there are nameIndexMin
}

// inlineName is the longest name stored in the slot itself.
const inlineName = 24

type nameSlot struct {
	m    atomic.Pointer[Model]
	name [inlineName]byte // the name if it fits, written before the tag
}

// nameIndexMin is the number of slots of the smallest table: one line
// of tags.
const nameIndexMin = 16

// nameTag returns the tag of a name of hash h: never 0 for a non-empty
// name. Its hash bits are not those home uses.
func nameTag(h uint64, name string) uint32 {
	return uint32(h>>32)&^0xFF | uint32(min(len(name), 0xFF))
}

// home returns the first slot probed for a name of hash h.
func home(h, mask uint64) uint64 { return h & mask }

func (x *nameIndex) len() int { return x.n }

// table returns the published table (nil when empty).
func (x *nameIndex) table() *nameTable { return x.tab.Load() }

// publish makes t the table and retires the one it replaces. The caller
// holds the scope's mutex.
func (x *nameIndex) publish(t *nameTable) {
	old := x.tab.Swap(t)
	if old == nil {
		return
	}
	// Retire old: readers still looking at it see the change above
	// before they can see a cleared slot. The inline names stay (a
	// reader may be comparing them).
	for i := range old.tags {
		old.tags[i].Store(0)
		old.slots[i].m.Store(nil)
	}
}

// current reports whether t is the table x publishes. A lookup in a
// cached table is valid if the table is current after it.
func (x *nameIndex) current(t *nameTable) bool { return x.tab.Load() == t }

// match reports whether slot s, whose tag equals nameTag(_, name), holds
// name. (find compares most names itself, word by word.)
func (s *nameSlot) match(name string) bool {
	if len(name) <= inlineName {
		return string(s.name[:len(name)]) == name
	}
	m := s.m.Load() // a tombstone of a long name matches nothing
	return m != nil && m.name == name
}

// word returns the 8 bytes at p+off, which must lie in one object, as a
// little-endian number.
func word(p unsafe.Pointer, off int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, off))[:])
}

// get returns the model called name (hash h), or nil. It takes no lock.
func (x *nameIndex) get(h uint64, name string) *Model {
	for {
		t := x.tab.Load()
		m := modelOf(t.find(h, name))
		if x.tab.Load() == t {
			return m // t was published throughout
		}
	}
}

// modelOf returns the model of slot s (nil for a tombstone), or nil when
// s is nil. With find, it is a lookup in a table.
func modelOf(s *nameSlot) *Model {
	if s == nil {
		return nil
	}
	return s.m.Load()
}

// find returns the slot of t (which may be nil) that holds name (hash h),
// live or a tombstone, or nil.
func (t *nameTable) find(h uint64, name string) *nameSlot {
	if t == nil || name == "" {
		return nil
	}
	tg, n, b := nameTag(h, name), len(name), unsafe.Pointer(unsafe.StringData(name))
	// The common case, a table of nameIndexMin slots: the home slot's tag
	// and slot are then loaded without reading the table's header first.
	tags, slots := t.small[:], t.inline[:]
	if len(t.tags) != nameIndexMin {
		tags, slots = t.tags, t.slots
	}
	mask := uint64(len(tags) - 1)
	for i := home(h, mask); ; i = (i + 1) & mask {
		st := tags[i].Load()
		if st == 0 {
			return nil
		}
		if st != tg {
			continue
		}
		s := &slots[i]
		if n >= 8 && n <= inlineName {
			// The inline name (of n bytes: the tag holds the length)
			// as three overlapping words, at 0, (n-8)/2 and n-8, which
			// cover every byte: no call, unlike match.
			a, m := unsafe.Pointer(&s.name), (n-8)/2
			if (word(a, 0)^word(b, 0))|(word(a, m)^word(b, m))|(word(a, n-8)^word(b, n-8)) == 0 {
				return s
			}
		} else if s.match(name) {
			return s
		}
	}
}

// nameCache is a copy, kept in a tenant context, of the table its scope's
// name index publishes, so that a lookup with the context reads the table
// from the context alone and checks that it is still the scope's current
// one in parallel (the processor predicts that check), rather than reading
// the scope first: one dependent cache miss fewer for a lookup among many
// tenants.
//
// A lookup in the cached table counts only if, after it, the scope is
// still live and its nameIndex still publishes that very table (see
// Registry.FindByName): a table is published once, and once retired
// (resized away, or its scope cleaned up) it never is again and holds no
// model, so a context kept after its tenant is gone keeps at most an
// emptied table until it is used again or dropped.
type nameCache struct {
	tab atomic.Pointer[nameTable]
}

// load returns the cached table, or nil.
func (c *nameCache) load() *nameTable { return c.tab.Load() }

// store caches table t.
func (c *nameCache) store(t *nameTable) {
	if c.tab.Load() != t {
		c.tab.Store(t)
	}
}

// put indexes m (hash h) and returns the model of the same name it
// replaces, or nil. hash is the hash of names (for a resize). The caller
// holds the scope's mutex.
func (x *nameIndex) put(h uint64, m *Model, hash func(string) uint64) *Model {
	t := x.table()
	// At most three quarters full: probing reads only tags, so a longer
	// run costs a few compares, not cache misses.
	if t == nil || (x.used+1)*4 > len(t.tags)*3 {
		t = x.rebuild(x.n+1, hash)
	}
	tg := nameTag(h, m.name)
	mask := uint64(len(t.tags) - 1)
	for i := home(h, mask); ; i = (i + 1) & mask {
		st := t.tags[i].Load()
		if st == 0 {
			t.fill(i, tg, m)
			x.n++
			x.used++
			return nil
		}
		if s := &t.slots[i]; st == tg && s.match(m.name) {
			old := s.m.Swap(m)
			if old == nil { // a tombstone of the same name
				x.n++
			}
			return old
		}
	}
}

// fill writes an entry into empty slot i, publishing it with the tag last.
func (t *nameTable) fill(i uint64, tag uint32, m *Model) {
	s := &t.slots[i]
	copy(s.name[:], m.name)
	s.m.Store(m)
	t.tags[i].Store(tag)
}

// del removes the model called name (hash h) and returns it, or nil. The
// slot keeps its tag and inline name as a tombstone (holding no model),
// which put revives for the same name and rebuild drops. hash is the
// hash of names (for a resize). The caller holds the scope's mutex.
func (x *nameIndex) del(h uint64, name string, hash func(string) uint64) *Model {
	t := x.table()
	s := t.find(h, name)
	if s == nil {
		return nil
	}
	old := s.m.Swap(nil)
	if old == nil {
		return nil
	}
	x.n--
	if len(t.tags) > nameIndexMin && x.n*8 <= len(t.tags) {
		x.rebuild(x.n, hash)
	}
	return old
}

// rebuild publishes a new table holding the live entries, sized for n
// entries at a load of at most one half (none at all when n is 0), and
// returns it. hash is the hash of names.
func (x *nameIndex) rebuild(n int, hash func(string) uint64) *nameTable {
	old := x.table()
	var t *nameTable
	if n > 0 {
		size := nameIndexMin
		for size < 2*n {
			size *= 2
		}
		t = new(nameTable)
		if size == nameIndexMin {
			t.tags, t.slots = t.small[:], t.inline[:]
		} else {
			t.tags, t.slots = make([]atomic.Uint32, size), make([]nameSlot, size)
		}
		mask := uint64(size - 1)
		if old != nil {
			for i := range old.slots {
				m := old.slots[i].m.Load()
				if m == nil {
					continue // empty or tombstone
				}
				j := home(hash(m.name), mask)
				for t.tags[j].Load() != 0 {
					j = (j + 1) & mask
				}
				t.fill(j, old.tags[i].Load(), m)
			}
		}
	}
	x.used = x.n
	x.publish(t)
	return t
}

// reset empties the index. The caller holds the scope's mutex.
func (x *nameIndex) reset() {
	x.publish(nil)
	x.n, x.used = 0, 0
}

// each calls f for every indexed model, in no particular order. The
// caller holds the scope's mutex.
func (x *nameIndex) each(f func(*Model)) {
	if t := x.table(); t != nil {
		for i := range t.slots {
			if m := t.slots[i].m.Load(); m != nil {
				f(m)
			}
		}
	}
}
