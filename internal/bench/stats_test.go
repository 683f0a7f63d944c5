package bench

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 1, 2}, 2},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := Median(tt.xs); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Fatalf("Median modified its input: %v -> %v", in, tt.xs)
			}
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	// 31 values 1..31 in reverse order, like R=31 cleanup timings.
	xs := make([]float64, 31)
	for i := range xs {
		xs[i] = float64(31 - i)
	}
	tests := []struct {
		p, want float64
	}{
		// index ceil(p/100·31)−1 of the sorted values 1..31.
		{10, 4},   // ceil(3.1)=4 -> index 3
		{50, 16},  // ceil(15.5)=16 -> index 15
		{90, 28},  // ceil(27.9)=28 -> index 27
		{100, 31}, // index 30
		{0, 1},    // ceil(0)−1 = −1 is clamped to 0
	}
	for _, tt := range tests {
		if got := Percentile(xs, tt.p); got != tt.want {
			t.Errorf("Percentile(1..31, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	// Ten values: p90 is index 8, p10 index 0.
	ten := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	if got := Percentile(ten, 90); got != 90 {
		t.Errorf("p90 of 10..100 = %v, want 90", got)
	}
	if got := Percentile(ten, 10); got != 10 {
		t.Errorf("p10 of 10..100 = %v, want 10", got)
	}
	for _, p := range []float64{-1, 101, math.NaN()} {
		if !math.IsNaN(Percentile(ten, p)) {
			t.Errorf("Percentile(_, %v) is not NaN", p)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile(nil, 50) is not NaN")
	}
}

func TestSlope(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"line", []float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}, 2},
		{"flat", []float64{0, 1000, 2000}, []float64{5, 5, 5}, 0},
		{"falling", []float64{0, 10}, []float64{100, 50}, -5},
		// Least squares through (0,0),(1,1),(2,0),(3,1): slope 0.2.
		{"noisy", []float64{0, 1, 2, 3}, []float64{0, 1, 0, 1}, 0.2},
	}
	for _, tt := range tests {
		if got := Slope(tt.x, tt.y); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Slope = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, bad := range [][2][]float64{{nil, nil}, {{1}, {1}}, {{2, 2, 2}, {1, 2, 3}}} {
		if got := Slope(bad[0], bad[1]); !math.IsNaN(got) {
			t.Errorf("Slope(%v, %v) = %v, want NaN", bad[0], bad[1], got)
		}
	}
}

func TestNumJSON(t *testing.T) {
	tests := []struct {
		n    Num
		want string
	}{
		{0, "0"},
		{1.5, "1.5"},
		{95.5612345, "95.5612"},
		{0.0000251234567, "0.0000251235"},
		{12345678, "12345700"},
		{Num(math.NaN()), "null"},
		{Num(math.Inf(1)), "null"},
	}
	for _, tt := range tests {
		b, err := tt.n.MarshalJSON()
		if err != nil || string(b) != tt.want {
			t.Errorf("Num(%v).MarshalJSON() = %s, %v; want %s", float64(tt.n), b, err, tt.want)
		}
	}
}
