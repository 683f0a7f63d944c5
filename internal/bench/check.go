package bench

import (
	"fmt"
	"strings"
)

// notes explains how the workload maps onto modelreg; they go to
// meta.notes.
func notes() []string {
	return []string{
		"tenant context = modelreg.WithTenant(ctx, code); no tenant context = context.Background()",
		"builder = the application's slice of the *Model values Define returned; it is dropped after cleanup",
		"W1 defines through Registry.DefineJSON (JSON bytes, parsing included in the define cost) unless params.define is \"parsed\"",
		"anonymous models are identified by the *definition.Object a named model's nested property points to; anonymous_created counts distinct ones per tenant",
		"registry_counters: totalModels = models registered (named + anonymous), reuseCount = anonymous reuses, from Registry.Stats; modelreg counts each real reuse once (2M−2 per tenant)",
		"tenant_context_reads = registry calls that read the tenant from the context (one per define)",
		"struct_hit_nobuilder: modelreg has no builder argument, so it runs exactly like struct_hit",
		"struct_global_hit: without a tenant context modelreg searches only global models (there are none), so 0 hits is the correct answer; errors = ops that returned a tenant's model",
		"W3 cleanup_all models_removed and the big-tenant removed counts come from CleanupReport.ModelsRemoved (named + anonymous)",
		"W4 cleanup undo step: cleaning an already-cleaned tenant is a no-op in modelreg",
		"P1: modelreg's anonymous models have no name, so tenant_0's first named model is also looked up by name in tenant_<N−1>'s context (with N > 1; tenant_0's own context finds it)",
		"P3: the global probe model is removed with RemoveModel, since modelreg refuses to clean the global scope",
		"P4: Go has no constructor types; {a: \"String\"} and {a: \"Number\"} stand in for {a: String} and {a: Number}",
		"P5: number of the probe tenant's 2 models still reachable after cleanup, by any lookup or at all (weak pointers) once the application dropped them",
		"P6: the registry's injected clock is advanced by 60 ms instead of sleeping; the unrelated lookup is made without a context and from probe_idle_b's own context",
		"heap = runtime.GC() twice then runtime.MemStats.HeapAlloc",
		"W4: the heap samples follow the cleanup of all tenants, as WORKLOAD.md §4.3 orders them, before any lookup; the harness keeps one context per tenant (allocated before the baseline) for the reference's context variable; heap_after_cleanup_mib is sampled with fresh ones in their place, which hold nothing of the registry, as the variable does; heap_after_cleanup_contexts_held_mib with the contexts as the W2 lookups left them, each caching its tenant's emptied scope and name table (no model) until it is used again or dropped",
		"w2.heap_after_churn and w3.heap_before_cleanup are in MiB, like the *_mib keys",
	}
}

// Check returns nil when every correctness figure of the run is right, and
// otherwise an error wrapping ErrCheckFailed that lists what is wrong.
// Performance targets are not checked here.
func (res *Result) Check() error {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	eq := func(what string, got, want int) {
		if got != want {
			fail("%s = %d, want %d", what, got, want)
		}
	}
	p := res.Params
	N, M := p.N, p.M
	eq("meta.warmup_live_tenants", res.Meta.WarmupLiveTenants, 0)

	w1 := res.W1
	eq("w1.models_defined", w1.ModelsDefined, N*M)
	eq("w1.anonymous_created", w1.AnonymousCreated, N*ExpectedAnonCreated(M))
	eq("w1.anonymous_reused", w1.AnonymousReused, N*ExpectedAnonReused(M))
	eq("w1.reuse_violations", w1.ReuseViolations, 0)
	eq("w1.registry_counters.totalModels", int(w1.RegistryCounters.TotalModels), N*ExpectedEntries(M))
	eq("w1.registry_counters.reuseCount", int(w1.RegistryCounters.ReuseCount), N*ExpectedAnonReused(M))
	eq("w1.registry_entries_per_tenant", int(w1.RegistryEntriesPerTenant), ExpectedEntries(M))

	w2 := res.W2
	eq("w2.live_tenants_before", w2.LiveTenantsBefore, N)
	eq("w2.peak_live_tenants", w2.PeakLiveTenants, 2*N)
	eq("w2.live_tenants_after_churn", w2.LiveTenantsAfterChurn, N)
	for _, s := range []struct {
		name string
		s    Suite
	}{{"before_churn", w2.BeforeChurn}, {"after_churn", w2.AfterChurn}} {
		for _, b := range []struct {
			name     string
			b        Bench
			wantHits int
		}{
			{"name_hit", s.s.NameHit, s.s.NameHit.Ops},
			{"name_miss", s.s.NameMiss, 0},
			{"struct_hit", s.s.StructHit, s.s.StructHit.Ops},
			{"struct_hit_nobuilder", s.s.StructHitNoBuilder, s.s.StructHitNoBuilder.Ops},
			{"struct_global_hit", s.s.StructGlobalHit, 0},
			{"struct_global_miss", s.s.StructGlobalMiss, 0},
		} {
			eq("w2."+s.name+"."+b.name+".errors", b.b.Errors, 0)
			eq("w2."+s.name+"."+b.name+".hits", b.b.Hits, b.wantHits)
		}
	}

	w3 := res.W3
	for _, b := range []struct {
		name string
		b    *BigTenant
	}{{"big_tenant_with_N_live", &w3.BigTenantWithNLive}, {"big_tenant_with_0_live", &w3.BigTenantWith0Live},
		{"big_tenant_with_others_live", w3.BigTenantWithOthersLive}} {
		if b.b == nil {
			continue
		}
		eq("w3."+b.name+".removed_mismatches", b.b.RemovedMismatches, 0)
	}
	eq("w3.big_tenant_with_N_live.other_live_tenants", w3.BigTenantWithNLive.OtherLiveTenants, N)
	eq("w3.big_tenant_with_0_live.other_live_tenants", w3.BigTenantWith0Live.OtherLiveTenants, 0)
	if o := w3.BigTenantWithOthersLive; o != nil {
		eq("w3.big_tenant_with_others_live.other_live_tenants", o.OtherLiveTenants, p.Others)
	}
	eq("w3.cleanup_all.models_removed", w3.CleanupAll.ModelsRemoved, N*ExpectedEntries(M))
	eq("w3.cleanup_all.live_tenants_after", w3.CleanupAll.LiveTenantsAfter, 0)

	w4 := res.W4
	f := w4.Findability
	eq("w4.findability.named_found", f.NamedFound, 0)
	eq("w4.findability.anon_names_found", f.AnonNamesFound, 0)
	eq("w4.findability.structures_found", f.StructuresFound, 0)
	eq("w4.findability.tenant_ctx_item_found", f.TenantCtxItemFound, 0)
	eq("w4.findability.tenant_ctx_named_found", f.TenantCtxNamedFound, 0)
	eq("w4.findability.tenant_ctx_models_listed", f.TenantCtxModelsListed, 0)
	eq("w4.findability.stale_ctx_found", f.StaleCtxFound, 0)
	eq("w4.empty_registries_recreated_by_lookup", w4.EmptyRegistriesRecreated, 0)
	eq("w4.live_tenants_after", w4.LiveTenantsAfter, 0)
	eq("w4.weak_alive", w4.WeakAlive, 0)

	if res.W5 != nil {
		eq("w5.live_tenants_end", res.W5.LiveTenantsEnd, 0)
	}

	pr := res.Probes
	for _, b := range []struct {
		name string
		v    bool
	}{
		{"anon_name_lookup_in_tenant_ctx_returns_other_tenant", pr.AnonNameLookupInTenantCtxReturnsOtherTenant},
		{"structure_lookup_without_tenant_returns_tenant_model", pr.StructureLookupWithoutTenantReturnsTenantModel},
		{"tenant_define_reuses_global_anonymous_model", pr.TenantDefineReusesGlobalAnonymousModel},
		{"fingerprint_ignores_constructor_types", pr.FingerprintIgnoresConstructorTypes},
		{"number_field_reuses_string_field_model", pr.NumberFieldReusesStringFieldModel},
		{"idle_cleanup_spares_tenant_touched_by_unrelated_name_lookup", pr.IdleCleanupSparesTenantTouchedByUnrelatedNameLookup},
	} {
		if b.v {
			fail("probes.%s = true, want false", b.name)
		}
	}
	eq("probes.models_remain_in_builder_after_cleanup", pr.ModelsRemainInBuilderAfterCleanup, 0)
	for _, e := range pr.Errors {
		fail("probes: %s", e)
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrCheckFailed, strings.Join(bad, "; "))
}
