package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/definition"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// smallParams are tiny parameters that still run every step, -others too.
func smallParams() Params {
	p := DefaultParams()
	p.N, p.M, p.C, p.S, p.B, p.R, p.OpsScale, p.W = 5, 3, 20, 6, 4, 3, 0.01, 2
	p.Others, p.OthersM = 7, 2
	return p
}

func TestRunSmall(t *testing.T) {
	for _, mode := range []DefineMode{DefineJSON, DefineParsed} {
		t.Run(string(mode), func(t *testing.T) {
			p := smallParams()
			p.Define = mode
			var prog bytes.Buffer
			res, err := Run(context.Background(), p, &prog)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if err := res.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			// The main correctness fields, asserted directly as well.
			N, M := p.N, p.M
			if res.W1.ModelsDefined != N*M || res.W1.AnonymousCreated != N*(M+2) ||
				res.W1.AnonymousReused != N*(2*M-2) || res.W1.ReuseViolations != 0 {
				t.Errorf("W1 counts = %+v", res.W1)
			}
			if got := int(res.W1.RegistryCounters.ReuseCount); got != N*(2*M-2) {
				t.Errorf("registry reuse counter = %d, want %d", got, N*(2*M-2))
			}
			for _, s := range []Suite{res.W2.BeforeChurn, res.W2.AfterChurn} {
				for _, b := range []Bench{s.NameHit, s.NameMiss, s.StructHit, s.StructHitNoBuilder, s.StructGlobalHit, s.StructGlobalMiss} {
					if b.Errors != 0 || b.Ops == 0 {
						t.Errorf("lookup benchmark %+v", b)
					}
				}
				if s.NameHit.Hits != s.NameHit.Ops || s.StructHit.Hits != s.StructHit.Ops || s.StructGlobalHit.Hits != 0 {
					t.Errorf("hits: name %d/%d struct %d/%d global %d", s.NameHit.Hits, s.NameHit.Ops,
						s.StructHit.Hits, s.StructHit.Ops, s.StructGlobalHit.Hits)
				}
			}
			if res.W2.PeakLiveTenants != 2*N || res.W2.LiveTenantsAfterChurn != N {
				t.Errorf("W2 live tenants: peak %d after churn %d", res.W2.PeakLiveTenants, res.W2.LiveTenantsAfterChurn)
			}
			for _, bt := range []*BigTenant{&res.W3.BigTenantWithNLive, &res.W3.BigTenantWith0Live, res.W3.BigTenantWithOthersLive} {
				if bt == nil || bt.Removed != 2*p.B+2 || bt.RemovedMismatches != 0 || bt.Reps != p.R {
					t.Errorf("big tenant %+v", bt)
				}
			}
			if o := res.W3.BigTenantWithOthersLive; o != nil && o.OtherLiveTenants != p.Others {
				t.Errorf("others live = %d, want %d", o.OtherLiveTenants, p.Others)
			}
			if res.W3.CleanupAll.ModelsRemoved != N*(2*M+2) || res.W3.CleanupAll.LiveTenantsAfter != 0 {
				t.Errorf("cleanup all = %+v", res.W3.CleanupAll)
			}
			f := res.W4.Findability
			if f.NamedFound+f.AnonNamesFound+f.StructuresFound+f.TenantCtxItemFound+f.TenantCtxNamedFound+f.TenantCtxModelsListed != 0 ||
				f.StaleCtxFound != 0 || f.NamedTotal != N*M || f.TenantCtxItemTotal != N || f.StaleCtxTotal != N*M+N {
				t.Errorf("findability after cleanup = %+v", f)
			}
			if res.W4.EmptyRegistriesRecreated != 0 || res.W4.LiveTenantsAfter != 0 {
				t.Errorf("W4 live tenants: recreated %d after %d", res.W4.EmptyRegistriesRecreated, res.W4.LiveTenantsAfter)
			}
			if res.W4.WeakTracked == 0 || res.W4.WeakAlive != 0 {
				t.Errorf("weak pointers: %d of %d alive", res.W4.WeakAlive, res.W4.WeakTracked)
			}
			if res.W5 == nil || res.W5.LiveTenantsEnd != 0 || len(res.W5.Series) != 1+(p.C+p.S-1)/p.S {
				t.Errorf("W5 = %+v", res.W5)
			} else if last := res.W5.Series[len(res.W5.Series)-1]; int(last[0]) != p.C {
				t.Errorf("last W5 sample at %v cycles, want %d", last[0], p.C)
			}
			pr := res.Probes
			if pr.AnonNameLookupInTenantCtxReturnsOtherTenant || pr.StructureLookupWithoutTenantReturnsTenantModel ||
				pr.TenantDefineReusesGlobalAnonymousModel || pr.FingerprintIgnoresConstructorTypes ||
				pr.NumberFieldReusesStringFieldModel || pr.ModelsRemainInBuilderAfterCleanup != 0 ||
				pr.IdleCleanupSparesTenantTouchedByUnrelatedNameLookup || len(pr.Errors) != 0 {
				t.Errorf("probes = %+v", pr)
			}
			if mode == DefineParsed && !(res.W1.ParseMs > 0) {
				t.Errorf("parsed mode: parse_ms = %v", res.W1.ParseMs)
			}
			if !strings.Contains(prog.String(), "W5") {
				t.Errorf("no progress output:\n%s", prog.String())
			}

			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"define, per model", "heap retained", "all correctness checks passed", "P6"} {
				if !strings.Contains(table.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, table.String())
				}
			}
			if _, err := json.Marshal(res); err != nil {
				t.Fatalf("JSON: %v", err)
			}
		})
	}
}

func TestRunSkipW5AndCancel(t *testing.T) {
	p := smallParams()
	p.SkipW5, p.Others = true, 0
	res, err := Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.W5 != nil || res.W3.BigTenantWithOthersLive != nil {
		t.Errorf("skipped steps ran: w5 %v others %v", res.W5, res.W3.BigTenantWithOthersLive)
	}
	b, _ := json.Marshal(res)
	if !bytes.Contains(b, []byte(`"w5":null`)) {
		t.Errorf("skipped W5 is not null in JSON")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, p, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v", err)
	}
	p.N = 0
	if _, err := Run(context.Background(), p, nil); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("Run with N=0 = %v", err)
	}
}

// TestCheckCatchesFailures proves Check is not vacuous: each corruption of
// a good result is reported.
func TestCheckCatchesFailures(t *testing.T) {
	p := smallParams()
	p.Others = 0
	res, err := Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(); err != nil {
		t.Fatalf("good run fails Check: %v", err)
	}
	corruptions := map[string]func(*Result){
		"reuse violation":     func(r *Result) { r.W1.ReuseViolations = 1 },
		"anonymous count":     func(r *Result) { r.W1.AnonymousCreated++ },
		"lookup error":        func(r *Result) { r.W2.AfterChurn.StructHit.Errors = 3 },
		"global hit":          func(r *Result) { r.W2.BeforeChurn.StructGlobalHit.Hits = 1 },
		"cleanup count":       func(r *Result) { r.W3.BigTenantWith0Live.RemovedMismatches = 1 },
		"findable":            func(r *Result) { r.W4.Findability.NamedFound = 1 },
		"recreated":           func(r *Result) { r.W4.EmptyRegistriesRecreated = 5 },
		"weak alive":          func(r *Result) { r.W4.WeakAlive = 1 },
		"stale context":       func(r *Result) { r.W4.Findability.StaleCtxFound = 1 },
		"W5 live":             func(r *Result) { r.W5.LiveTenantsEnd = 1 },
		"P1":                  func(r *Result) { r.Probes.AnonNameLookupInTenantCtxReturnsOtherTenant = true },
		"P4":                  func(r *Result) { r.Probes.NumberFieldReusesStringFieldModel = true },
		"P5":                  func(r *Result) { r.Probes.ModelsRemainInBuilderAfterCleanup = 2 },
		"P6":                  func(r *Result) { r.Probes.IdleCleanupSparesTenantTouchedByUnrelatedNameLookup = true },
		"probe error":         func(r *Result) { r.Probes.Errors = []string{"x"} },
		"warm-up not cleaned": func(r *Result) { r.Meta.WarmupLiveTenants = 1 },
	}
	for name, corrupt := range corruptions {
		c := *res
		w5 := *res.W5
		c.W5 = &w5
		corrupt(&c)
		if err := c.Check(); !errors.Is(err, ErrCheckFailed) {
			t.Errorf("%s: Check() = %v, want ErrCheckFailed", name, err)
		}
	}
}

func TestCheckTenantReuse(t *testing.T) {
	a, i, d0, d1, d2 := &definition.Object{}, &definition.Object{}, &definition.Object{}, &definition.Object{}, &definition.Object{}
	good := []nestedRefs{{a, d0, i}, {a, d1, i}, {a, d2, i}}
	if n, v := checkTenantReuse(good, 0, map[*definition.Object]int32{}); n != 5 || v != 0 {
		t.Errorf("good tenant: %d distinct, %d violations; want 5, 0", n, v)
	}
	a2 := &definition.Object{}
	// Tenant 0 owns d0; tenant 1 owns a2 (its address).
	owned := map[*definition.Object]int32{d0: 0, a2: 1}
	tests := []struct {
		name  string
		refs  []nestedRefs
		owner map[*definition.Object]int32
	}{
		{"address not reused", []nestedRefs{{a, d0, i}, {a2, d1, i}}, nil},
		{"item not reused", []nestedRefs{{a, d0, i}, {a, d1, a2}}, nil},
		{"detail reused", []nestedRefs{{a, d0, i}, {a, d0, i}}, nil},
		{"detail is the address", []nestedRefs{{a, d0, i}, {a, a, i}}, nil},
		{"missing nested", []nestedRefs{{a, nil, i}}, nil},
		{"address of an earlier tenant", []nestedRefs{{a2, d1, i}}, owned},
		{"one detail of an earlier tenant, not the previous one", []nestedRefs{{a, d1, i}, {a, d0, i}}, owned},
	}
	for _, tt := range tests {
		owner := maps.Clone(tt.owner)
		if owner == nil {
			owner = map[*definition.Object]int32{}
		}
		if _, v := checkTenantReuse(tt.refs, 2, owner); v == 0 {
			t.Errorf("%s: no violation reported", tt.name)
		}
	}
	// A tenant's structures are recorded as its own: checking it again as
	// the same tenant finds nothing, as another tenant finds them all.
	owner := map[*definition.Object]int32{}
	checkTenantReuse(good, 0, owner)
	if _, v := checkTenantReuse(good, 0, owner); v != 0 {
		t.Errorf("a tenant's own structures reported as shared: %d violations", v)
	}
	if _, v := checkTenantReuse(good, 1, owner); v != 9 {
		t.Errorf("another tenant's structures: %d violations, want 9 (3 models × 3 structures)", v)
	}
}

// TestJSONKeys pins the JSON layout (the JS harness's sections and key
// names) so that a rename cannot slip through.
func TestJSONKeys(t *testing.T) {
	res := &Result{W5: &W5{}, W3: W3{BigTenantWithOthersLive: &BigTenant{}}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keysOf := func(path ...string) []string {
		v := any(m)
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	want := map[string][]string{
		"":                         {"meta", "params", "probes", "w1", "w2", "w3", "w4", "w5"},
		"w2":                       {"after_churn", "before_churn", "churn_cleanup_ms", "churn_define_ms", "heap_after_churn", "live_tenants_after_churn", "live_tenants_before", "ops", "peak_live_tenants", "ratio_after_vs_before"},
		"w2/before_churn":          {"name_hit", "name_miss", "struct_global_hit", "struct_global_miss", "struct_hit", "struct_hit_nobuilder"},
		"w2/before_churn/name_hit": {"allocs_per_op", "errors", "hits", "ms", "ns_per_op", "ops", "ops_per_s", "us_per_op"},
		"w3":                       {"big_tenant_with_0_live", "big_tenant_with_N_live", "big_tenant_with_others_live", "cleanup_all", "heap_before_cleanup"},
		"w3/cleanup_all":           {"live_tenants_after", "models_removed", "per_tenant_us", "total_ms"},
		"probes":                   {"anon_name_lookup_in_tenant_ctx_returns_other_tenant", "fingerprint_ignores_constructor_types", "idle_cleanup_spares_tenant_touched_by_unrelated_name_lookup", "models_remain_in_builder_after_cleanup", "number_field_reuses_string_field_model", "structure_lookup_without_tenant_returns_tenant_model", "tenant_define_reuses_global_anonymous_model"},
		"params":                   {"B", "C", "M", "N", "R", "S", "W", "define", "ops_scale", "others", "others_m", "skip_w5"},
	}
	for path, keys := range want {
		var parts []string
		if path != "" {
			parts = strings.Split(path, "/")
		}
		if got := keysOf(parts...); !slices.Equal(got, keys) {
			t.Errorf("keys of %q = %q, want %q", path, got, keys)
		}
	}
	w4 := keysOf("w4")
	for _, k := range []string{"retained_after_cleanup", "retained_after_cleanup_builders_held", "retained_after_cleanup_contexts_held", "empty_registries_recreated_by_lookup", "heap_baseline_mib", "heap_after_cleanup_mib"} {
		if !slices.Contains(w4, k) {
			t.Errorf("w4 lacks %q", k)
		}
	}
	w5 := keysOf("w5")
	for _, k := range []string{"series", "slope_bytes_per_tenant", "slope_second_half_bytes_per_tenant", "growth_mib", "ms_per_cycle", "live_tenants_end"} {
		if !slices.Contains(w5, k) {
			t.Errorf("w5 lacks %q", k)
		}
	}
}

// W4's heap samples come right after the cleanup (WORKLOAD.md §4.3), before
// any lookup lets a used tenant context drop what it caches: held as the
// W2 lookups left them, the contexts keep each tenant's emptied scope and
// name table, which the sample with fresh contexts does not include.
func TestW4SamplesBeforeLookups(t *testing.T) {
	p := smallParams()
	p.N, p.Others, p.SkipW5 = 200, 0, true
	res, err := Run(context.Background(), p, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w := res.W4
	held := float64(w.HeapAfterCleanupContextsHeldMiB-w.HeapAfterCleanupMiB) * (1 << 20)
	if perTenant := held / float64(p.N); perTenant < 300 {
		t.Errorf("used contexts held %.0f B per tenant more than fresh ones, want the emptied scope and table (about 800 B): heap %v MiB with them, %v MiB without",
			perTenant, w.HeapAfterCleanupContextsHeldMiB, w.HeapAfterCleanupMiB)
	}
	if w.RetainedAfterCleanupContextsHeld <= w.RetainedAfterCleanup {
		t.Errorf("retained %v with the used contexts, %v with fresh ones", w.RetainedAfterCleanupContextsHeld, w.RetainedAfterCleanup)
	}
}

// cancelOn is a progress writer that cancels a run when a line contains
// its text.
type cancelOn struct {
	text   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(c.text)) {
		c.cancel()
	}
	return len(b), nil
}

// TestRunCancelledInsideLongLoops: a cancelled run stops within a long
// warm-up or W5 loop, not only at W5's heap samples (which -sample can
// space out to the whole run) or at the end of the warm-up.
func TestRunCancelledInsideLongLoops(t *testing.T) {
	for _, tc := range []struct {
		phase string
		edit  func(*Params)
	}{
		{"warm-up:", func(p *Params) { p.W, p.M = 1_000_000, 30 }},
		{"W5:", func(p *Params) { p.C, p.S = 10_000_000, 10_000_000 }},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			p := smallParams()
			p.Others = 0
			tc.edit(&p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := Run(ctx, p, &cancelOn{tc.phase, cancel})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("Run still going 30 s after it was cancelled in %s", tc.phase)
			}
		})
	}
}
