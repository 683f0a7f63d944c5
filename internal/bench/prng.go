package bench

// XorShift32 is the workload's pseudo-random generator (WORKLOAD.md §4.2):
// Marsaglia's xorshift32 with shifts 13, 17 and 5 on a uint32 state. Every
// benchmark sequence uses a fresh generator with a fixed seed, so a Go run
// and a JavaScript run draw exactly the same tenants and queries.
//
// The zero state is a fixed point of xorshift (it returns 0 forever); the
// workload never seeds it with 0.
type XorShift32 struct {
	x uint32
}

// NewXorShift32 returns a generator seeded with seed.
func NewXorShift32(seed uint32) *XorShift32 {
	return &XorShift32{x: seed}
}

// Next advances the generator and returns the new state.
func (g *XorShift32) Next() uint32 {
	x := g.x
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	g.x = x
	return x
}

// Seeds of the W2 lookup sequences (WORKLOAD.md §4.2).
const (
	SeedNameHit            uint32 = 0x9E3779B9
	SeedStructHit          uint32 = 0x85EBCA6B
	SeedStructHitNoBuilder uint32 = 0xC2B2AE35
	SeedStructGlobalHit    uint32 = 0x27D4EB2F
)
