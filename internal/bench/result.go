package bench

import (
	"math"
	"strconv"
)

// Num is a float64 that marshals to JSON rounded to 6 significant digits,
// and as null when it is NaN or infinite (a figure that could not be
// computed, e.g. a slope of fewer than two samples).
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	if err != nil {
		return nil, err
	}
	return strconv.AppendFloat(nil, r, 'f', -1, 64), nil
}

// Result is everything one run measures. Its JSON form has the sections
// and keys of the JavaScript harness (WORKLOAD.md §6): meta, params, w1,
// w2, w3, w4, w5 and probes. Keys that only the Go harness has are
// documented on their fields.
type Result struct {
	Meta   Meta   `json:"meta"`
	Params Params `json:"params"`
	W1     W1     `json:"w1"`
	W2     W2     `json:"w2"`
	W3     W3     `json:"w3"`
	W4     W4     `json:"w4"`
	W5     *W5    `json:"w5"` // null when W5 is skipped
	Probes Probes `json:"probes"`
}

// Meta describes the run and the machine.
type Meta struct {
	Implementation string `json:"implementation"`
	GoVersion      string `json:"go_version"`
	GOOS           string `json:"goos"`
	GOARCH         string `json:"goarch"`
	NumCPU         int    `json:"num_cpu"`
	GOMAXPROCS     int    `json:"gomaxprocs"`
	CPU            string `json:"cpu,omitempty"` // model name from /proc/cpuinfo
	StartedAt      string `json:"started_at"`    // RFC 3339, UTC
	TotalS         Num    `json:"total_s"`       // whole run, seconds
	// WarmupLiveTenants is the number of live tenants after the warm-up
	// (must be 0).
	WarmupLiveTenants int `json:"warmup_live_tenants"`
	// Notes explain how the workload maps onto modelreg, and where the Go
	// harness deviates from the JavaScript one.
	Notes []string `json:"notes"`
}

// RegistryCounters are registry counter deltas under the names of the old
// registry's getStats(): totalModels is the number of models registered
// (named and anonymous), reuseCount the number of anonymous reuses.
type RegistryCounters struct {
	TotalModels uint64 `json:"totalModels"`
	ReuseCount  uint64 `json:"reuseCount"`
}

// W1 is the define workload (WORKLOAD.md §4.1).
type W1 struct {
	Define        DefineMode `json:"define"` // json (DefineJSON) or parsed (Define)
	Tenants       int        `json:"tenants"`
	TotalMs       Num        `json:"total_ms"`
	PerTenantMs   Num        `json:"per_tenant_ms"`
	PerModelUs    Num        `json:"per_model_us"`
	ModelsDefined int        `json:"models_defined"`
	// AnonymousCreated counts the distinct anonymous structures (Object
	// pointers) that the application's models refer to, summed over
	// tenants; it must equal N·(M+2) and the registry's own counter.
	AnonymousCreated int `json:"anonymous_created"`
	AnonymousReused  int `json:"anonymous_reused"` // 3MN − created
	ReuseViolations  int `json:"reuse_violations"`
	// RegistryCounters are deltas of the registry's Stats counters over W1.
	RegistryCounters RegistryCounters `json:"registry_counters"`
	// RegistryEntriesPerTenant is the number of models (named and
	// anonymous) in one tenant's scope, from the registry's TenantStats.
	RegistryEntriesPerTenant Num `json:"registry_entries_per_tenant"`
	// TenantContextReads counts registry calls that read a tenant from
	// the context (one per define in modelreg).
	TenantContextReads          int `json:"tenant_context_reads"`
	TenantContextReadsPerTenant Num `json:"tenant_context_reads_per_tenant"`
	HeapAfterDefineMiB          Num `json:"heap_after_define_mib"`
	HeapDeltaMiB                Num `json:"heap_delta_mib"`
	HeapPerTenantKiB            Num `json:"heap_per_tenant_kib"`
	// RegistryBytesPerTenant is the registry's own approximate bytes of
	// one tenant (Go only).
	RegistryBytesPerTenant Num `json:"registry_bytes_per_tenant,omitempty"`
	// ParseMs is the time spent parsing the definitions before the timed
	// loop when Define is "parsed" (Go only).
	ParseMs Num `json:"parse_ms,omitempty"`
}

// Bench is one lookup benchmark of W2.
type Bench struct {
	Ops     int `json:"ops"`
	Ms      Num `json:"ms"`
	OpsPerS Num `json:"ops_per_s"`
	UsPerOp Num `json:"us_per_op"`
	Errors  int `json:"errors"`
	// Hits is the number of ops that returned a model (Go only).
	Hits int `json:"hits"`
	// NsPerOp and AllocsPerOp are Go only.
	NsPerOp     Num `json:"ns_per_op"`
	AllocsPerOp Num `json:"allocs_per_op"`
}

// Suite is one run of the six W2 lookup benchmarks.
type Suite struct {
	NameHit            Bench `json:"name_hit"`
	NameMiss           Bench `json:"name_miss"`
	StructHit          Bench `json:"struct_hit"`
	StructHitNoBuilder Bench `json:"struct_hit_nobuilder"`
	StructGlobalHit    Bench `json:"struct_global_hit"`
	StructGlobalMiss   Bench `json:"struct_global_miss"`
}

// SuiteOps are the op counts of the six benchmarks after ops-scale.
type SuiteOps struct {
	NameHit            int `json:"name_hit"`
	NameMiss           int `json:"name_miss"`
	StructHit          int `json:"struct_hit"`
	StructHitNoBuilder int `json:"struct_hit_nobuilder"`
	StructGlobalHit    int `json:"struct_global_hit"`
	StructGlobalMiss   int `json:"struct_global_miss"`
}

// SuiteRatio holds ops/s after churn divided by ops/s before, per benchmark.
type SuiteRatio struct {
	NameHit            Num `json:"name_hit"`
	NameMiss           Num `json:"name_miss"`
	StructHit          Num `json:"struct_hit"`
	StructHitNoBuilder Num `json:"struct_hit_nobuilder"`
	StructGlobalHit    Num `json:"struct_global_hit"`
	StructGlobalMiss   Num `json:"struct_global_miss"`
}

// W2 is the lookup workload with churn in between (WORKLOAD.md §4.2).
type W2 struct {
	Ops                   SuiteOps   `json:"ops"`
	LiveTenantsBefore     int        `json:"live_tenants_before"`
	BeforeChurn           Suite      `json:"before_churn"`
	ChurnDefineMs         Num        `json:"churn_define_ms"`
	PeakLiveTenants       int        `json:"peak_live_tenants"`
	ChurnCleanupMs        Num        `json:"churn_cleanup_ms"`
	LiveTenantsAfterChurn int        `json:"live_tenants_after_churn"`
	HeapAfterChurnMiB     Num        `json:"heap_after_churn"` // MiB
	AfterChurn            Suite      `json:"after_churn"`
	RatioAfterVsBefore    SuiteRatio `json:"ratio_after_vs_before"`
}

// BigTenant is the timing of R cleanups of a B-model tenant (WORKLOAD.md
// §4.3).
type BigTenant struct {
	Reps int `json:"reps"`
	// OtherLiveTenants is the number of other tenants live meanwhile.
	OtherLiveTenants int `json:"other_live_tenants"`
	// OthersModels is the number of models of each other tenant (only in
	// big_tenant_with_others_live).
	OthersModels int `json:"others_models,omitempty"`
	MedianMs     Num `json:"median_ms"`
	P10Ms        Num `json:"p10_ms"`
	P90Ms        Num `json:"p90_ms"`
	MinMs        Num `json:"min_ms"`
	MaxMs        Num `json:"max_ms"`
	// ExpectedRemoved is 2B+2; RemovedMismatches counts the cleanups whose
	// report did not say exactly that many models were removed.
	ExpectedRemoved   int `json:"expected_removed"`
	Removed           int `json:"removed"` // of the last repetition
	RemovedMismatches int `json:"removed_mismatches"`
	// OthersDefineMs and OthersCleanupMs time setting up and cleaning the
	// other tenants (only in big_tenant_with_others_live).
	OthersDefineMs  Num `json:"others_define_ms,omitempty"`
	OthersCleanupMs Num `json:"others_cleanup_ms,omitempty"`
}

// CleanupAll is the cleanup of all N tenants (WORKLOAD.md §4.3 step 3).
type CleanupAll struct {
	TotalMs          Num `json:"total_ms"`
	PerTenantUs      Num `json:"per_tenant_us"`
	ModelsRemoved    int `json:"models_removed"`
	LiveTenantsAfter int `json:"live_tenants_after"`
}

// W3 is the cleanup workload (WORKLOAD.md §4.3).
type W3 struct {
	BigTenantWithNLive      BigTenant  `json:"big_tenant_with_N_live"`
	HeapBeforeCleanupMiB    Num        `json:"heap_before_cleanup"` // MiB
	CleanupAll              CleanupAll `json:"cleanup_all"`
	BigTenantWith0Live      BigTenant  `json:"big_tenant_with_0_live"`
	BigTenantWithOthersLive *BigTenant `json:"big_tenant_with_others_live,omitempty"`
}

// Findability counts what lookups still find after every tenant was
// cleaned up (WORKLOAD.md §4.4); every *Found figure must be 0.
type Findability struct {
	NamedFound      int `json:"named_found"`
	NamedTotal      int `json:"named_total"`
	AnonNamesFound  int `json:"anon_names_found"`
	AnonNamesTotal  int `json:"anon_names_total"`
	StructuresFound int `json:"structures_found"`
	StructuresTotal int `json:"structures_total"`
	// TenantCtxItemFound counts the item lookups from inside each cleaned
	// tenant's context that found a model.
	TenantCtxItemFound int `json:"tenant_ctx_item_found"`
	TenantCtxItemTotal int `json:"tenant_ctx_item_total"`
	// TenantCtxNamedFound and TenantCtxModelsListed are Go only: every
	// name looked up from its own (cleaned) tenant's context, and the
	// number of models Registry.Models lists there.
	TenantCtxNamedFound   int `json:"tenant_ctx_named_found"`
	TenantCtxModelsListed int `json:"tenant_ctx_models_listed"`
	// StaleCtxFound counts what the contexts used before the cleanup
	// (which may cache the tenant's scope) still find, right after it:
	// every name and the item structure of every tenant (Go only).
	StaleCtxFound int `json:"stale_ctx_found"`
	StaleCtxTotal int `json:"stale_ctx_total"`
}

// W4 is memory and findability after cleanup (WORKLOAD.md §4.4).
type W4 struct {
	HeapBaselineMiB                 Num         `json:"heap_baseline_mib"`
	HeapAfterDefineMiB              Num         `json:"heap_after_define_mib"`
	HeapBeforeCleanupMiB            Num         `json:"heap_before_cleanup_mib"`
	HeapAfterCleanupBuildersHeldMiB Num         `json:"heap_after_cleanup_builders_held_mib"`
	HeapAfterCleanupMiB             Num         `json:"heap_after_cleanup_mib"`
	RetainedAfterCleanup            Num         `json:"retained_after_cleanup"`
	RetainedAfterCleanupBuilderHeld Num         `json:"retained_after_cleanup_builders_held"`
	Findability                     Findability `json:"findability"`
	EmptyRegistriesRecreated        int         `json:"empty_registries_recreated_by_lookup"`
	LiveTenantsAfter                int         `json:"live_tenants_after"`
	// WeakTracked models and anonymous structures of two tenants were
	// watched with weak pointers; WeakAlive of them were still reachable
	// after the builders were dropped (must be 0). Go only.
	WeakTracked int `json:"weak_tracked"`
	WeakAlive   int `json:"weak_alive"`
	// The same as HeapAfterCleanupMiB and RetainedAfterCleanup, with the
	// harness's tenant contexts as the W2 lookups left them rather than
	// fresh ones (Go only; see meta.notes).
	HeapAfterCleanupContextsHeldMiB  Num `json:"heap_after_cleanup_contexts_held_mib"`
	RetainedAfterCleanupContextsHeld Num `json:"retained_after_cleanup_contexts_held"`
}

// W5Sample is one point of the W5 heap series: [cycles, heap MiB].
type W5Sample [2]Num

// W5 is the churn workload (WORKLOAD.md §4.5).
type W5 struct {
	Cycles                        int        `json:"cycles"`
	SampleEvery                   int        `json:"sample_every"`
	Series                        []W5Sample `json:"series"`
	SlopeBytesPerTenant           Num        `json:"slope_bytes_per_tenant"`
	SlopeSecondHalfBytesPerTenant Num        `json:"slope_second_half_bytes_per_tenant"`
	GrowthMiB                     Num        `json:"growth_mib"`
	TotalMs                       Num        `json:"total_ms"` // including heap samples
	MsPerCycle                    Num        `json:"ms_per_cycle"`
	LiveTenantsEnd                int        `json:"live_tenants_end"`
}

// Probes are the semantic probes (WORKLOAD.md §4.6). The old registry
// answers true, true, true, true, true, 2 and true; modelreg must answer
// false everywhere and 0.
type Probes struct {
	AnonNameLookupInTenantCtxReturnsOtherTenant         bool `json:"anon_name_lookup_in_tenant_ctx_returns_other_tenant"`
	StructureLookupWithoutTenantReturnsTenantModel      bool `json:"structure_lookup_without_tenant_returns_tenant_model"`
	TenantDefineReusesGlobalAnonymousModel              bool `json:"tenant_define_reuses_global_anonymous_model"`
	FingerprintIgnoresConstructorTypes                  bool `json:"fingerprint_ignores_constructor_types"`
	NumberFieldReusesStringFieldModel                   bool `json:"number_field_reuses_string_field_model"`
	ModelsRemainInBuilderAfterCleanup                   int  `json:"models_remain_in_builder_after_cleanup"`
	IdleCleanupSparesTenantTouchedByUnrelatedNameLookup bool `json:"idle_cleanup_spares_tenant_touched_by_unrelated_name_lookup"`
	// Errors lists probe steps that failed (a define refused, ...); Go only.
	Errors []string `json:"errors,omitempty"`
}
