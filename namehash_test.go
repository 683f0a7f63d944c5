package modelreg

import (
	"fmt"
	"strings"
	"testing"
)

// Every byte of a name, at every length the hash treats differently,
// changes the hash; so do the length and the seed.
func TestNameHashUsesEveryByte(t *testing.T) {
	h := nameHash{seed: 0x9E3779B97F4A7C15}
	for n := 0; n <= 70; n++ {
		s := []byte(strings.Repeat("a", n))
		base := h.sum(string(s))
		if base != h.sum(strings.Repeat("a", n)) {
			t.Fatalf("len %d: not deterministic", n)
		}
		if n > 0 && base == h.sum(string(s[:n-1])) {
			t.Errorf("len %d: same hash as len %d", n, n-1)
		}
		if base == (nameHash{seed: h.seed + 1}).sum(string(s)) {
			t.Errorf("len %d: the seed does not change the hash", n)
		}
		for i := range s {
			s[i] = 'b'
			if h.sum(string(s)) == base {
				t.Errorf("len %d: byte %d does not change the hash", n, i)
			}
			s[i] = 'a'
		}
	}
}

// The names of a thousand tenants' models spread over a table as a
// random function would: no more collisions of the low bits than
// expected, with some slack.
func TestNameHashSpreads(t *testing.T) {
	h := nameHash{seed: 12345}
	const bucketsLog = 16
	var buckets [1 << bucketsLog]int
	n := 0
	for tn := range 1000 {
		for m := range 10 {
			v := h.sum(fmt.Sprintf("tenant_%d_Model%d", tn, m))
			buckets[(v>>8)&(1<<bucketsLog-1)]++ // as home() uses it
			n++
		}
	}
	collisions := 0
	for _, c := range buckets {
		if c > 1 {
			collisions += c - 1
		}
	}
	// Expected about n - B(1 - (1-1/B)^n) ≈ 720 for n = 10,000 and B = 65,536.
	if collisions > 900 {
		t.Errorf("%d colliding names of %d in %d buckets", collisions, n, len(buckets))
	}
}

func BenchmarkNameHash(b *testing.B) {
	h := nameHash{seed: 1}
	for _, s := range []string{"Order", "tenant_17_Model3", "a_rather_long_model_name_for_a_custom_object"} {
		b.Run(fmt.Sprint(len(s)), func(b *testing.B) {
			for b.Loop() {
				h.sum(s)
			}
		})
	}
}

// Every byte of a name moves its home slot in a way the seed decides:
// over many seeds, two names one bit apart share their home in a table of
// 2^k slots about as often as chance (2^-k), never several times as
// often, at every length and position. A byte mixed in after the seeded
// multiplication, and then only with a constant, did: names of 17 to 24
// bytes differing in their middle bytes shared a 16-slot home for 39% of
// seeds.
func TestNameHashSeedDecidesEveryByte(t *testing.T) {
	const seeds = 1000
	base := "abcdefghijklmnopqrstuvwxyz0123456789"
	for n := 1; n <= 32; n++ {
		for p := range n {
			for bit := range 7 {
				a := []byte(base[:n])
				b := append([]byte(nil), a...)
				b[p] ^= 1 << bit
				for _, k := range []uint{4, 8} {
					mask := uint64(1)<<k - 1
					same := 0
					for s := range seeds {
						h := nameHash{seed: uint64(s)*0x9E3779B97F4A7C15 + 777}
						if h.sum(string(a))&mask == h.sum(string(b))&mask {
							same++
						}
					}
					chance := 1 / float64(mask+1)
					if r := float64(same) / seeds; r > 2*chance+0.03 {
						t.Errorf("len %d, byte %d, bit %d: %q and %q share a home of %d slots for %.1f%% of seeds (chance %.1f%%)",
							n, p, bit, a, b, mask+1, 100*r, 100*chance)
					}
				}
			}
		}
	}
}
