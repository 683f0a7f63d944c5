package bench

import (
	"math"
	"slices"
)

// Median returns the median of xs (the mean of the two middle values when
// len(xs) is even), or NaN when xs is empty. xs is not modified.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Percentile returns the nearest-rank percentile p (0 ≤ p ≤ 100; p = 0 gives the smallest) of xs as
// WORKLOAD.md §4.3 defines it: the element at index ceil(p/100·n)−1 of the
// sorted values (index 0 when that is negative). It returns NaN when xs is
// empty or p is out of range. xs is not modified.
func Percentile(xs []float64, p float64) float64 {
	n := len(xs)
	if n == 0 || !(p >= 0 && p <= 100) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(n))) - 1
	i = max(0, min(i, n-1))
	return s[i]
}

// Slope returns the least-squares slope of y against x, or NaN when there
// are fewer than two points or every x is the same. x and y must have the
// same length; extra values of the longer one are ignored.
func Slope(x, y []float64) float64 {
	n := min(len(x), len(y))
	if n < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range n {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx float64
	for i := range n {
		dx := x[i] - mx
		sxy += dx * (y[i] - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return math.NaN()
	}
	return sxy / sxx
}
