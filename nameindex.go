package modelreg

// nameIndex is a scope's index of its named models by name: an
// open-addressing hash table with linear probing and backward-shift
// deletion. Compared with a Go map it touches fewer cache lines per lookup
// (one slot, holding the hash and the name, then the name's bytes), which
// is what a lookup among thousands of tenants pays for; and it shrinks
// when models are removed, where a Go map never does. The hash is the
// registry's seeded maphash of the name. The owning scope's mutex guards
// it.
type nameIndex struct {
	slots []nameSlot // len is 0 or a power of two
	n     int
}

type nameSlot struct {
	h    uint64
	name string
	m    *Model // nil: empty slot
}

const nameIndexMin = 8

func (x *nameIndex) len() int { return x.n }

// get returns the model called name (hash h), or nil.
func (x *nameIndex) get(h uint64, name string) *Model {
	if x.n == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.m == nil {
			return nil
		}
		if s.h == h && s.name == name {
			return s.m
		}
	}
}

// put indexes m (hash h) and returns the model of the same name it
// replaces, or nil.
func (x *nameIndex) put(h uint64, m *Model) *Model {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(nameIndexMin, 2*len(x.slots)))
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.m == nil {
			*s = nameSlot{h, m.name, m}
			x.n++
			return nil
		}
		if s.h == h && s.name == m.name {
			old := s.m
			s.m = m
			s.name = m.name
			return old
		}
	}
}

// del removes the model called name (hash h) and returns it, or nil.
func (x *nameIndex) del(h uint64, name string) *Model {
	if x.n == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for {
		s := &x.slots[i]
		if s.m == nil {
			return nil
		}
		if s.h == h && s.name == name {
			break
		}
		i = (i + 1) & mask
	}
	old := x.slots[i].m
	// Shift back the entries of the probe run that follow, so that no
	// entry is separated from its home slot by an empty one.
	for j := (i + 1) & mask; x.slots[j].m != nil; j = (j + 1) & mask {
		home := x.slots[j].h & mask
		// Entry j may move to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = nameSlot{}
	x.n--
	if len(x.slots) > nameIndexMin && x.n*8 <= len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
	return old
}

func (x *nameIndex) resize(n int) {
	old := x.slots
	x.slots = make([]nameSlot, n)
	mask := uint64(n - 1)
	for _, s := range old {
		if s.m == nil {
			continue
		}
		i := s.h & mask
		for x.slots[i].m != nil {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// each calls f for every indexed model, in no particular order.
func (x *nameIndex) each(f func(*Model)) {
	for i := range x.slots {
		if m := x.slots[i].m; m != nil {
			f(m)
		}
	}
}
