package bench

import "testing"

func TestXorShift32Vectors(t *testing.T) {
	tests := []struct {
		seed uint32
		want []uint32
	}{
		{0x9E3779B9, []uint32{1359758873, 3761132862, 2075758394, 25405621}},
		{0x27D4EB2F, []uint32{3969620119, 1857019187, 876020055, 1470947449}},
	}
	for _, tt := range tests {
		g := NewXorShift32(tt.seed)
		for i, want := range tt.want {
			if got := g.Next(); got != want {
				t.Errorf("seed %#x: output %d = %d, want %d", tt.seed, i, got, want)
			}
		}
	}
}

func TestXorShift32FreshGeneratorsRepeat(t *testing.T) {
	a, b := NewXorShift32(SeedStructHit), NewXorShift32(SeedStructHit)
	for i := range 1000 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("output %d differs: %d vs %d", i, x, y)
		}
	}
}
