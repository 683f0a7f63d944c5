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
