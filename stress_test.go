package modelreg_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg"
)

// TestConcurrentStress runs defines, lookups, cleanups, idle evictions
// and leases concurrently on a few tenants and checks, using a global
// sequence to order operations:
//   - a model whose Define returned before a cleanup (or eviction) of its
//     tenant started is not findable, from any context, once the cleanup
//     returned;
//   - a successful Define is findable right after it returns unless a
//     cleanup of its tenant overlapped, and at the end unless a cleanup
//     of its tenant ended after the Define started (no registration lost);
//   - lookups never return another tenant's model.
func TestConcurrentStress(t *testing.T) {
	const tenants = 6
	iters := 1500
	if testing.Short() || raceEnabled {
		iters = 300
	}
	r := modelreg.New()
	mustDefine(t, r, bg, `{"name": "Global", "properties": {"g": {"x": "string"}}}`)
	ids := make([]string, tenants)
	// long[tn] is one context per tenant that every goroutine shares for
	// its whole life: it caches the tenant's scope and name table while
	// they are resized, replaced and cleaned up concurrently. Fresh
	// contexts (tctx) are used beside it throughout.
	long := make([]context.Context, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i)
		long[i] = tctx(ids[i])
	}
	var seq atomic.Int64
	type defRec struct {
		tenant     int
		name       string
		m, u       *modelreg.Model // the model and its unique anonymous model
		start, end int64
		lend       int64 // < 0: not found right after Define
	}
	type cleanRec struct{ start, end int64 }
	var mu sync.Mutex
	defs := make([][]defRec, tenants)
	cleans := make([][]cleanRec, tenants)
	overlaps := func(tn int, from, to int64) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cleans[tn] {
			if c.start < to && c.end > from {
				return true
			}
		}
		return false
	}
	// checkGone verifies that models of tn defined before start are gone.
	checked := make([]int, tenants) // defs[tn][:checked[tn]] were seen gone
	checkGone := func(t *testing.T, tn int, start int64) {
		mu.Lock()
		var old []defRec
		for i := checked[tn]; i < len(defs[tn]); i++ {
			if d := defs[tn][i]; d.end < start {
				old = append(old, d)
			}
		}
		for checked[tn] < len(defs[tn]) && defs[tn][checked[tn]].end < start {
			checked[tn]++
		}
		mu.Unlock()
		other := (tn + 1) % tenants
		for _, d := range old {
			for _, c := range []struct {
				what string
				ctx  context.Context
			}{{ids[tn], tctx(ids[tn])}, {ids[other], tctx(ids[other])}, {"", bg},
				{ids[tn] + " (shared context)", long[tn]}, {ids[other] + " (shared context)", long[other]}} {
				if m, ok := r.FindByName(c.ctx, d.name); ok && m == d.m {
					t.Errorf("%s of %s findable from %q after cleanup", d.name, ids[tn], c.what)
				}
				if m, ok := r.FindByStructure(c.ctx, d.u.Object()); ok && m == d.u {
					t.Errorf("anonymous model of %s findable from %q after cleanup", d.name, c.what)
				}
			}
		}
	}
	var wg sync.WaitGroup
	var lost atomic.Int64
	var definers sync.WaitGroup
	var progress atomic.Int64
	busy := func() bool { return progress.Load() < int64(4*iters*3/4) } // cleaners stop at 3/4
	for g := range 4 {                                                  // definers
		definers.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range iters {
				tn := rnd.IntN(tenants)
				name := fmt.Sprintf("D%d_%d", g, i)
				js := fmt.Sprintf(`{"name": %q, "properties": {"u": {"u%d_%d": "string"}, "s": {"shared": "number"}, "r": "Global"}}`, name, g, i)
				start := seq.Add(1)
				dctx := tctx(ids[tn])
				if i%2 == 0 {
					dctx = long[tn]
				}
				m, err := r.DefineJSON(dctx, []byte(js))
				end := seq.Add(1)
				progress.Add(1)
				if err != nil {
					t.Error(err)
					return
				}
				u := m.Nested()[0]
				mu.Lock()
				idx := len(defs[tn]) // other definers may append to defs[tn] meanwhile
				defs[tn] = append(defs[tn], defRec{tn, name, m, u, start, end, 0})
				mu.Unlock()
				got, ok := r.FindByName(tctx(ids[tn]), name)
				if ok && got == m {
					got, ok = r.FindByName(long[tn], name)
				}
				lend := seq.Add(1)
				if (!ok || got != m) && !overlaps(tn, start, lend) {
					// The cleanup may not have recorded itself yet: check
					// again once it has, at the end.
					lost.Add(1)
					mu.Lock()
					defs[tn][idx].lend = -lend // mark
					mu.Unlock()
				}
			}
		})
	}
	for g := range 2 { // cleaners, until the definers are done
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 2))
			for busy() {
				runtime.Gosched()
				tn := rnd.IntN(tenants)
				start := seq.Add(1)
				if _, err := r.CleanupTenant(bg, ids[tn]); err != nil {
					t.Error(err)
				}
				end := seq.Add(1)
				mu.Lock()
				cleans[tn] = append(cleans[tn], cleanRec{start, end})
				mu.Unlock()
				checkGone(t, tn, start)
			}
		})
	}
	wg.Go(func() { // evictor: everything not touched within 1ns
		for busy() {
			runtime.Gosched()
			start := seq.Add(1)
			reps := r.CleanupIdle(bg, time.Nanosecond)
			end := seq.Add(1)
			for _, rep := range reps {
				var tn int
				fmt.Sscanf(rep.Tenant, "s%d", &tn)
				mu.Lock()
				cleans[tn] = append(cleans[tn], cleanRec{start, end})
				mu.Unlock()
				checkGone(t, tn, start)
			}
		}
	})
	wg.Go(func() { // leases
		rnd := rand.New(rand.NewPCG(3, 3))
		for range iters {
			l, err := r.Acquire(bg, ids[rnd.IntN(tenants)])
			if err != nil {
				t.Error(err)
				return
			}
			l.Release()
			l.Release()
		}
	})
	for g := range 2 { // lookers
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 4))
			q := props(t, `{"shared": "number"}`)
			for range iters * 2 {
				tn := rnd.IntN(tenants)
				ctx := tctx(ids[tn])
				if rnd.IntN(2) == 0 {
					ctx = long[tn]
				}
				if m, ok := r.FindByName(ctx, fmt.Sprintf("D%d_%d", rnd.IntN(4), rnd.IntN(iters))); ok && m.Tenant() != ids[tn] {
					t.Errorf("tenant %s found a model of %q", ids[tn], m.Tenant())
				}
				if m, ok := r.FindByStructure(ctx, q); ok && m.Tenant() != ids[tn] {
					t.Errorf("tenant %s found by structure a model of %q", ids[tn], m.Tenant())
				}
				for _, m := range r.Models(ctx) {
					if m.Tenant() != ids[tn] && m.Tenant() != "" {
						t.Errorf("Models(%s) lists a model of %q", ids[tn], m.Tenant())
					}
				}
				if m, ok := r.FindByStructure(bg, q); ok {
					t.Errorf("tenantless lookup found %s of %q", m.ID(), m.Tenant())
				}
				if _, ok := r.Resolver(ctx)("Global"); !ok {
					t.Error("global model not resolvable")
				}
			}
		})
	}
	definers.Wait()
	wg.Wait()
	// No successful registration lost.
	for tn := range tenants {
		for _, d := range defs[tn] {
			if d.lend < 0 && !overlaps(tn, d.start, -d.lend) {
				t.Errorf("%s: not findable right after Define, and no cleanup overlapped", d.name)
			}
			for _, ctx := range []context.Context{tctx(ids[tn]), long[tn]} {
				m, ok := r.FindByName(ctx, d.name)
				if !overlaps(tn, d.start, 1<<62) && (!ok || m != d.m) {
					t.Errorf("%s lost: no cleanup of %s after its Define", d.name, ids[tn])
				}
			}
		}
	}
	if live := r.Stats().Gauges.TenantModels; live < iters/2 {
		t.Errorf("only %d models live at the end", live)
	}
	// The gauges match what is live.
	var models, anon int
	for _, ts := range r.Tenants() {
		models += ts.Models
		anon += ts.Anonymous
		if ts.Leases != 0 {
			t.Errorf("%s has %d leases", ts.Tenant, ts.Leases)
		}
	}
	g := r.Stats().Gauges
	if g.TenantModels != models || g.TenantAnonymous != anon || g.Tenants != len(r.Tenants()) || g.Leases != 0 {
		t.Errorf("gauges %+v, counted %d models %d anonymous", g, models, anon)
	}
	t.Logf("lost-then-explained %d, tenants live at the end %d, stats %+v", lost.Load(), len(r.Tenants()), r.Stats())
}
