package bench

import "runtime"

// HeapSample forces two full collections and returns the live heap size in
// bytes (runtime.MemStats.HeapAlloc), the Go analogue of the workload's
// `global.gc(); global.gc(); process.memoryUsage().heapUsed` (WORKLOAD.md
// §5.2).
func HeapSample() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// mallocs returns the number of heap allocations made so far by the whole
// process. It stops the world briefly; call it outside timed regions.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

const mib = 1 << 20

// toMiB converts bytes to MiB.
func toMiB(b float64) float64 { return b / mib }
