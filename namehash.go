package modelreg

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// nameHash is the seeded hash of model names in the scopes' name
// indexes. A name lookup is a handful of loads around this function, so
// it is written for short strings (model names are typically 5 to 40
// bytes): one or two 8-byte loads per 16 bytes (three for 8 to 24 bytes),
// mixed by 64×64→128-bit multiplications, in the manner of wyhash. It is
// seeded per registry, so the layout of a name table cannot be predicted
// from outside.
type nameHash struct{ seed uint64 }

// Mixing constants: odd, with bits spread (from wyhash).
const (
	nhK0 = 0xa0761d6478bd642f
	nhK1 = 0xe7037ed1a0b428db
	nhK2 = 0x8ebc6af09c88c6e3
)

func nhMix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// sum returns the hash of s.
func (h nameHash) sum(s string) uint64 {
	n := len(s)
	b := unsafe.Slice(unsafe.StringData(s), n)
	seed := h.seed
	var x, y uint64
	switch {
	case n > 24:
		for len(b) > 16 {
			seed = nhMix(binary.LittleEndian.Uint64(b)^nhK1, binary.LittleEndian.Uint64(b[8:])^seed)
			b = b[16:]
		}
		// The last 16 bytes of s, overlapping the loop's when shorter.
		b = unsafe.Slice(unsafe.StringData(s), n)[n-16:]
		x = binary.LittleEndian.Uint64(b)
		y = binary.LittleEndian.Uint64(b[8:])
	case n >= 8:
		// 8 to 24 bytes, most names, in one branch: the words at 0,
		// (n-8)/2 and n-8 cover every byte.
		x = binary.LittleEndian.Uint64(b)
		y = binary.LittleEndian.Uint64(b[n-8:])
		z := binary.LittleEndian.Uint64(b[(n-8)/2:])
		return nhMix(nhK2^uint64(n)^z, nhMix(x^nhK1, y^seed))
	case n >= 4:
		x = uint64(binary.LittleEndian.Uint32(b))
		y = uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	case n > 0:
		x = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	}
	return nhMix(nhK2^uint64(n), nhMix(x^nhK1, y^seed))
}
