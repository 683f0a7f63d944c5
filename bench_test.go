package modelreg_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// xorshift32 is the PRNG of WORKLOAD.md §4.2.
type xorshift32 uint32

func (x *xorshift32) next() uint32 {
	v := uint32(*x)
	v ^= v << 13
	v ^= v >> 17
	v ^= v << 5
	*x = xorshift32(v)
	return v
}

func parsed(tb testing.TB, js []byte) *definition.Definition {
	tb.Helper()
	d, err := definition.Parse(js, definition.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkFindByName looks up a tenant's models by name in the tenant's
// context. tenants=N: one tenant of 10 models is looked up while N-1 other
// tenants (one model each) are live, to show the cost does not depend on
// the number of tenants. random/tenants=1000: the workload's name_hit, a
// random tenant of 1000 (10 models each) per lookup, whose cost is mostly
// cache misses.
func BenchmarkFindByName(b *testing.B) {
	const M = 10
	small := parsed(b, []byte(`{"name": "Small", "properties": {"a": "string", "o": {"x": "number"}}}`))
	for _, n := range []int{1, 100000} {
		b.Run("tenants="+strconv.Itoa(n), func(b *testing.B) {
			r := modelreg.New()
			for t := range n - 1 {
				if _, err := r.Define(tctx("other_"+strconv.Itoa(t)), small); err != nil {
					b.Fatal(err)
				}
			}
			defineTenant(b, r, "t", M)
			ctx := tctx("t")
			var names [16]string
			for i := range names {
				names[i] = fmt.Sprintf("t_Model%d", i%M)
			}
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			i := 0
			for b.Loop() {
				if _, ok := r.FindByName(ctx, names[i&15]); !ok {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
	// random: one context per tenant, made once and reused, as a request
	// makes one and uses it for all its calls. random-new-context: a new
	// context for every lookup, so none has cached its tenant's scope
	// (WithTenant's allocation included).
	for _, fresh := range []bool{false, true} {
		name := "random/tenants=1000"
		if fresh {
			name = "random-new-context/tenants=1000"
		}
		b.Run(name, func(b *testing.B) {
			const n = 1000
			r := modelreg.New()
			ctxs := defineTenants(b, r, n, M)
			const ops = 1 << 14
			type op struct {
				ctx    context.Context
				tenant string
				name   string
			}
			seq := make([]op, ops)
			x := xorshift32(0x9E3779B9)
			for i := range seq {
				t := int(x.next() % n)
				m := int(x.next() % M)
				seq[i] = op{ctxs[t], "tenant_" + strconv.Itoa(t), fmt.Sprintf("tenant_%d_Model%d", t, m)}
			}
			b.ReportAllocs()
			defer reportCPU(b, cpuTime())
			i := 0
			for b.Loop() {
				o := &seq[i&(ops-1)]
				ctx := o.ctx
				if fresh {
					ctx = modelreg.WithTenant(bg, o.tenant)
				}
				if _, ok := r.FindByName(ctx, o.name); !ok {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
	b.Run("global-miss", func(b *testing.B) {
		r := modelreg.New()
		defineTenant(b, r, "t", M)
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := r.FindByName(bg, "NoSuchModel"); ok {
				b.Fatal("found")
			}
		}
	})
}

// defineTenants defines tenants tenant_0 to tenant_<n-1> with k recipe
// models each and returns a context for each.
func defineTenants(tb testing.TB, r *modelreg.Registry, n, k int) []context.Context {
	ctxs := make([]context.Context, n)
	for t := range n {
		tn := "tenant_" + strconv.Itoa(t)
		defineTenant(tb, r, tn, k)
		ctxs[t] = tctx(tn)
	}
	return ctxs
}

// BenchmarkFindByStructure looks up Q[k] in tenant t, as the workload's
// struct_hit, over 100 tenants.
func BenchmarkFindByStructure(b *testing.B) {
	const M, N = 10, 100
	r := modelreg.New()
	ctxs := defineTenants(b, r, N, M)
	q := queries(b, M)
	const ops = 1 << 12
	type op struct {
		ctx context.Context
		q   *definition.Object
	}
	seq := make([]op, ops)
	x := xorshift32(0x85EBCA6B)
	for i := range seq {
		t := x.next() % N
		k := x.next() % uint32(len(q))
		seq[i] = op{ctxs[t], q[k]}
	}
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	i := 0
	for b.Loop() {
		o := &seq[i&(ops-1)]
		if _, ok := r.FindByStructure(o.ctx, o.q); !ok {
			b.Fatal("not found")
		}
		i++
	}
}

// BenchmarkDefine defines the workload's model (JSON parse included).
// new: models 0..9 of ever new tenants (tenants are cleaned up, untimed,
// every 1000); replace: tenant t redefines one of its models.
func BenchmarkDefine(b *testing.B) {
	const M = 10
	b.Run("new", func(b *testing.B) {
		r := modelreg.New()
		const tenants = 1000
		js := make([][]byte, tenants*M)
		ctxs := make([]context.Context, tenants)
		for t := range tenants {
			tn := "tenant_" + strconv.Itoa(t)
			ctxs[t] = tctx(tn)
			for m := range M {
				js[t*M+m] = recipeJSON(tn, m)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i == len(js) {
				b.StopTimer()
				for t := range tenants {
					r.CleanupTenant(bg, "tenant_"+strconv.Itoa(t))
				}
				i = 0
				b.StartTimer()
			}
			if _, err := r.DefineJSON(ctxs[i/M], js[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parsed", func(b *testing.B) {
		r := modelreg.New()
		defineTenant(b, r, "t", M)
		ctx := tctx("t")
		d := parsed(b, recipeJSON("t", 3))
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := r.Define(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replace", func(b *testing.B) {
		r := modelreg.New()
		defineTenant(b, r, "t", M)
		ctx := tctx("t")
		js := recipeJSON("t", 3)
		b.ReportAllocs()
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := r.DefineJSON(ctx, js); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCleanupTenant times the cleanup of a tenant of 100 models
// (defined untimed) with 0 or 100,000 other tenants live (one model each).
// Run it with a fixed count, e.g. -benchtime=2000x: each iteration defines
// 100 models outside the timed region.
func BenchmarkCleanupTenant(b *testing.B) {
	const B = 100
	defs := make([]*definition.Definition, B)
	for m := range B {
		defs[m] = parsed(b, recipeJSON("big", m))
	}
	for _, others := range []int{0, 100000} {
		b.Run("others="+strconv.Itoa(others), func(b *testing.B) {
			r := modelreg.New()
			small := parsed(b, []byte(`{"name": "Small", "properties": {"a": "string", "o": {"x": "number"}}}`))
			for t := range others {
				if _, err := r.Define(tctx("other_"+strconv.Itoa(t)), small); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			var times []time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				id := "big_" + strconv.Itoa(i)
				ctx := tctx(id)
				for _, d := range defs {
					if _, err := r.Define(ctx, d); err != nil {
						b.Fatal(err)
					}
				}
				i++
				b.StartTimer()
				start := time.Now()
				rep, err := r.CleanupTenant(bg, id)
				times = append(times, time.Since(start))
				if err != nil || rep.ModelsRemoved != 2*B+2 {
					b.Fatal(rep, err)
				}
			}
			// The median and p90 of the individual cleanups: the mean
			// (ns/op) also counts the cleanups that ran while the
			// collector was marking the large heap of the other tenants.
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2]), "median-ns/op")
			b.ReportMetric(float64(times[(len(times)*9+9)/10-1]), "p90-ns/op")
		})
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkTenantHeap reports the heap held per tenant of 10 recipe models
// (WORKLOAD.md: 1000 tenants, two forced collections before each sample),
// defined from JSON (DefineJSON) or from parsed definitions (Define).
func BenchmarkTenantHeap(b *testing.B) {
	const N, M = 1000, 10
	js := make([][][]byte, N)
	for t := range N {
		for m := range M {
			js[t] = append(js[t], recipeJSON("tenant_"+strconv.Itoa(t), m))
		}
	}
	for _, mode := range []string{"json", "parsed"} {
		b.Run(mode, func(b *testing.B) {
			var defs [][]*definition.Definition
			if mode == "parsed" {
				defs = make([][]*definition.Definition, N)
				for t := range N {
					for m := range M {
						defs[t] = append(defs[t], parsed(b, js[t][m]))
					}
				}
			}
			var per float64
			for b.Loop() {
				r := modelreg.New()
				before := liveHeap()
				for t := range N {
					ctx := tctx("tenant_" + strconv.Itoa(t))
					for m := range M {
						var err error
						if mode == "parsed" {
							_, err = r.Define(ctx, defs[t][m])
						} else {
							_, err = r.DefineJSON(ctx, js[t][m])
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				after := liveHeap()
				per = float64(after-before) / N
				var approx int64
				for _, ts := range r.Tenants() {
					approx += ts.ApproxBytes
				}
				b.ReportMetric(float64(approx)/N, "approx-B/tenant")
				runtime.KeepAlive(r)
			}
			b.ReportMetric(per, "heap-B/tenant")
		})
	}
}

// BenchmarkChurn defines a tenant of 10 recipe models (JSON parse
// included) and cleans it up, per op.
func BenchmarkChurn(b *testing.B) {
	const M = 10
	r := modelreg.New()
	js := make([][]byte, M)
	for m := range M {
		js[m] = recipeJSON("cycle", m)
	}
	ctx := tctx("cycle")
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		for _, j := range js {
			if _, err := r.DefineJSON(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
		if rep, err := r.CleanupTenant(bg, "cycle"); err != nil || rep.ModelsRemoved != 2*M+2 {
			b.Fatal(rep, err)
		}
	}
}

// reportCPU reports the process CPU time per op since start, a figure
// less sensitive than wall time to other processes on a shared machine
// (it includes the collector's work). Only for benchmarks without
// untimed parts.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkFindByNameParallel looks up one tenant's models from every P.
func BenchmarkFindByNameParallel(b *testing.B) {
	r := modelreg.New()
	defineTenant(b, r, "t", 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := tctx("t")
		i := 0
		for pb.Next() {
			if _, ok := r.FindByName(ctx, "t_Model"+strconv.Itoa(i%10)); !ok {
				b.Error("not found")
				return
			}
			i++
		}
	})
}
