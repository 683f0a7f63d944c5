//go:build !unix

package modelreg_test

import "time"

// cpuTime returns 0: getrusage is a Unix call, so the cpu-ns/op figure
// of the benchmarks means nothing here.
func cpuTime() time.Duration { return 0 }
