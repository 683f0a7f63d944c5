package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsFigures holds the old JavaScript registry's medians of 3 runs at the
// defaults (N=1000, M=10, C=10000, B=100, R=31), from
// shared/bench/results-js.md. Lookup figures are ops/s, times ms, heap MiB
// or KiB, retained figures fractions.
type jsFigures struct {
	W1PerModelUs, W1TotalMs, W1HeapDeltaMiB, W1HeapPerTenantKiB         float64
	NameHit, NameMiss, StructHit, StructHitNoBuilder                    [2]float64 // before, after churn
	StructGlobalHit, StructGlobalMiss                                   [2]float64
	ChurnDefineMs, ChurnCleanupMs                                       float64
	BigNLiveMedianMs, BigNLiveP90Ms, Big0LiveMedianMs, CleanupAllMs     float64
	RetainedAfterCleanup, RetainedBuildersHeld                          float64
	W5MsPerCycle, W5SlopeAll, W5SlopeSecondHalf, W5GrowthMiB, TotalRunS float64
	ModelsRemainInBuilder                                               int
}

// jsRef is the old registry's figures (a constant table).
func jsRefFigures() jsFigures {
	return jsFigures{
		W1PerModelUs: 95.56, W1TotalMs: 955.64, W1HeapDeltaMiB: 268.11, W1HeapPerTenantKiB: 274.54,
		NameHit: [2]float64{29276, 29572}, NameMiss: [2]float64{20140, 20611},
		StructHit: [2]float64{351697, 347324}, StructHitNoBuilder: [2]float64{50465, 49392},
		StructGlobalHit: [2]float64{253932, 225494}, StructGlobalMiss: [2]float64{647, 632},
		ChurnDefineMs: 928.15, ChurnCleanupMs: 186.71,
		BigNLiveMedianMs: 0.156, BigNLiveP90Ms: 3.49, Big0LiveMedianMs: 0.053, CleanupAllMs: 86.07,
		RetainedAfterCleanup: 0.009, RetainedBuildersHeld: 0.993,
		W5MsPerCycle: 0.886, W5SlopeAll: -160.91, W5SlopeSecondHalf: 0.89, W5GrowthMiB: -1.96, TotalRunS: 19.96,
		ModelsRemainInBuilder: 2,
	}
}

// better says which direction of a figure is an improvement.
type better int

const (
	noOrder better = iota
	lower
)

// row is one line of the comparison table.
type row struct {
	figure   string
	got, js  float64 // same unit; NaN = not available
	unit     string
	dir      better
	target   float64 // NaN = none; the figure must be ≤ target
	decimals int
}

// cell formats one figure of r; times per op (unit "ns/op") also show
// ops/s.
func (r row) cell(v float64) string {
	s := fmtVal(v, r.unit, r.decimals)
	if r.unit == "ns/op" && v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
		s = fmt.Sprintf("%14s %10s", s, fmtRate(1e9/v))
	}
	return s
}

// fmtRate formats ops/s with a k or M suffix.
func fmtRate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM/s", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk/s", x/1e3)
	default:
		return fmt.Sprintf("%.0f/s", x)
	}
}

// WriteTable writes the human comparison with the old registry: the
// figures a user of that registry cares about, each with the old median,
// the ratio and, where issue 2 sets one, the target; then the correctness
// figures and the probes. The old figures are medians at the defaults: at
// other parameters the comparison is indicative only.
func (res *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	p := res.Params
	fmt.Fprintf(&b, "modelreg bench: N=%d M=%d C=%d S=%d B=%d R=%d ops-scale=%g W=%d define=%s",
		p.N, p.M, p.C, p.S, p.B, p.R, p.OpsScale, p.W, p.Define)
	if p.Others > 0 {
		fmt.Fprintf(&b, " others=%d×%d", p.Others, p.OthersM)
	}
	fmt.Fprintf(&b, "\n%s, %s/%s, %d CPUs (GOMAXPROCS %d)", res.Meta.GoVersion, res.Meta.GOOS, res.Meta.GOARCH,
		res.Meta.NumCPU, res.Meta.GOMAXPROCS)
	if res.Meta.CPU != "" {
		fmt.Fprintf(&b, ", %s", res.Meta.CPU)
	}
	fmt.Fprintf(&b, "; run %.1f s\n", float64(res.Meta.TotalS))
	if !res.defaults() {
		b.WriteString("note: the old registry's figures are medians at the defaults (N=1000, M=10, C=10000, S=1000, B=100, R=31, W=20, ops-scale 1, define json); at other parameters compare with care\n")
	}
	b.WriteString("\n")

	cells := [][]string{{"figure", "modelreg", "old JS registry", "ratio", "issue-2 target"}}
	for _, sec := range res.rows() {
		cells = append(cells, []string{sec.title})
		for _, r := range sec.rows {
			cells = append(cells, []string{"  " + r.figure, r.cell(r.got), r.cell(r.js), fmtRatio(r), fmtTarget(r)})
		}
	}
	writeCells(&b, cells, []bool{false, true, true, true, false})
	b.WriteString("\n")
	res.writeCorrectness(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// defaults reports whether the run used the parameters of the JS figures.
func (res *Result) defaults() bool {
	p := res.Params
	d := DefaultParams()
	return p.N == d.N && p.M == d.M && p.C == d.C && p.S == d.S && p.B == d.B && p.R == d.R &&
		p.OpsScale == d.OpsScale && p.W == d.W && p.Define == d.Define
}

type section struct {
	title string
	rows  []row
}

var nan = math.NaN()

func nsPerOp(opsPerS float64) float64 { return 1e9 / opsPerS }

func (res *Result) rows() []section {
	jsRef := jsRefFigures()
	w1, w2, w3, w4 := res.W1, res.W2, res.W3, res.W4
	define := section{"define (W1)", []row{
		{"define, per model", float64(w1.PerModelUs), jsRef.W1PerModelUs, "µs", lower, 10, 2},
		{"define, all N tenants", float64(w1.TotalMs), jsRef.W1TotalMs, "ms", lower, nan, 1},
		{"heap per tenant", float64(w1.HeapPerTenantKiB), jsRef.W1HeapPerTenantKiB, "KiB", lower, 40, 1},
		{"heap, all N tenants", float64(w1.HeapDeltaMiB), jsRef.W1HeapDeltaMiB, "MiB", lower, nan, 2},
	}}
	lookups := section{title: "lookups (W2): time per op and ops/s"}
	type lk struct {
		name   string
		b, a   Bench
		js     [2]float64
		target float64
	}
	for _, l := range []lk{
		{"name, hit", w2.BeforeChurn.NameHit, w2.AfterChurn.NameHit, jsRef.NameHit, 50},
		{"name, miss", w2.BeforeChurn.NameMiss, w2.AfterChurn.NameMiss, jsRef.NameMiss, 50},
		{"structure, hit", w2.BeforeChurn.StructHit, w2.AfterChurn.StructHit, jsRef.StructHit, 1000},
		{"structure, hit, \"no builder\"", w2.BeforeChurn.StructHitNoBuilder, w2.AfterChurn.StructHitNoBuilder, jsRef.StructHitNoBuilder, 1000},
		{"structure, no tenant (JS: any hit)", w2.BeforeChurn.StructGlobalHit, w2.AfterChurn.StructGlobalHit, jsRef.StructGlobalHit, 1000},
		{"structure, no tenant, miss", w2.BeforeChurn.StructGlobalMiss, w2.AfterChurn.StructGlobalMiss, jsRef.StructGlobalMiss, 1000},
	} {
		lookups.rows = append(lookups.rows,
			row{l.name + ", before churn", float64(l.b.NsPerOp), nsPerOp(l.js[0]), "ns/op", lower, l.target, 1},
			row{l.name + ", after churn", float64(l.a.NsPerOp), nsPerOp(l.js[1]), "ns/op", lower, l.target, 1})
	}
	lookups.rows = append(lookups.rows,
		row{"name, hit: allocations per op", float64(w2.BeforeChurn.NameHit.AllocsPerOp), nan, "", lower, 0, 2},
		row{"churn: define N tenants", float64(w2.ChurnDefineMs), jsRef.ChurnDefineMs, "ms", lower, nan, 1},
		row{"churn: clean up N tenants", float64(w2.ChurnCleanupMs), jsRef.ChurnCleanupMs, "ms", lower, nan, 2},
	)
	cleanup := section{"cleanup (W3)", []row{
		{fmt.Sprintf("%d-model tenant, N others live: median", res.Params.B), 1000 * float64(w3.BigTenantWithNLive.MedianMs), 1000 * jsRef.BigNLiveMedianMs, "µs", lower, 20, 1},
		{"  p90", 1000 * float64(w3.BigTenantWithNLive.P90Ms), 1000 * jsRef.BigNLiveP90Ms, "µs", lower, nan, 1},
		{fmt.Sprintf("%d-model tenant, 0 others live: median", res.Params.B), 1000 * float64(w3.BigTenantWith0Live.MedianMs), 1000 * jsRef.Big0LiveMedianMs, "µs", lower, 20, 1},
		{"  p90", 1000 * float64(w3.BigTenantWith0Live.P90Ms), nan, "µs", lower, nan, 1},
	}}
	if o := w3.BigTenantWithOthersLive; o != nil {
		cleanup.rows = append(cleanup.rows,
			row{fmt.Sprintf("%d-model tenant, %d others live: median", res.Params.B, o.OtherLiveTenants), 1000 * float64(o.MedianMs), nan, "µs", lower, 20, 1},
			row{"  p90", 1000 * float64(o.P90Ms), nan, "µs", lower, nan, 1})
	}
	indep := float64(w3.BigTenantWithNLive.MedianMs) / float64(w3.BigTenantWith0Live.MedianMs)
	cleanup.rows = append(cleanup.rows,
		row{"median with N live / with 0 live", indep, jsRef.BigNLiveMedianMs / jsRef.Big0LiveMedianMs, "×", lower, 1.5, 2})
	if o := w3.BigTenantWithOthersLive; o != nil {
		cleanup.rows = append(cleanup.rows,
			row{fmt.Sprintf("median with %d live / with 0 live", o.OtherLiveTenants),
				float64(o.MedianMs) / float64(w3.BigTenantWith0Live.MedianMs), nan, "×", lower, 1.5, 2})
	}
	cleanup.rows = append(cleanup.rows,
		row{"clean up all N tenants", float64(w3.CleanupAll.TotalMs), jsRef.CleanupAllMs, "ms", lower, 5, 2},
		row{"  per tenant", float64(w3.CleanupAll.PerTenantUs), 1000 * jsRef.CleanupAllMs / 1000, // ms for N=1000 -> µs per tenant
			"µs", lower, nan, 2})
	memory := section{"memory after cleanup (W4)", []row{
		{"heap retained after cleaning every tenant", 100 * float64(w4.RetainedAfterCleanup), 100 * jsRef.RetainedAfterCleanup, "%", lower, 0.5, 2},
		{"  same, application still holding its models", 100 * float64(w4.RetainedAfterCleanupBuilderHeld), 100 * jsRef.RetainedBuildersHeld, "%", noOrder, nan, 1},
		{"  same, still holding the tenant contexts it used", 100 * float64(w4.RetainedAfterCleanupContextsHeld), nan, "%", noOrder, nan, 2},
	}}
	secs := []section{define, lookups, cleanup, memory}
	if w5 := res.W5; w5 != nil {
		secs = append(secs, section{fmt.Sprintf("churn (W5), %d define+cleanup cycles", w5.Cycles), []row{
			{"per cycle", 1000 * float64(w5.MsPerCycle), 1000 * jsRef.W5MsPerCycle, "µs", lower, 100, 1},
			{"heap slope, all samples", float64(w5.SlopeBytesPerTenant), jsRef.W5SlopeAll, "B/tenant", noOrder, nan, 2},
			{"heap slope, second half", float64(w5.SlopeSecondHalfBytesPerTenant), jsRef.W5SlopeSecondHalf, "B/tenant", noOrder, nan, 2},
			{"heap growth, first to last sample", float64(w5.GrowthMiB), jsRef.W5GrowthMiB, "MiB", noOrder, nan, 3},
		}})
	}
	secs = append(secs, section{"whole run", []row{
		{"total", float64(res.Meta.TotalS), jsRef.TotalRunS, "s", lower, nan, 1},
	}})
	return secs
}

// writeCells writes rows of cells as aligned columns, two spaces apart;
// right[i] right-aligns column i. A row with a single cell is a heading
// and does not widen the first column.
func writeCells(b *strings.Builder, rows [][]string, right []bool) {
	width := make([]int, len(right))
	for _, row := range rows {
		if len(row) == 1 {
			continue
		}
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", max(0, width[i]-utf8.RuneCountInString(c)))
			if i > 0 {
				line.WriteString("  ")
			}
			if len(row) > 1 && right[i] {
				line.WriteString(pad + c)
			} else if len(row) > 1 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}

// fmtVal formats v with unit, or "–" when v is not a number.
func fmtVal(v float64, unit string, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.*f", decimals, v)
	if a := math.Abs(v); a >= 10000 {
		s = fmt.Sprintf("%.0f", v)
	} else if a != 0 && a < math.Pow(10, -float64(decimals)) {
		s = fmt.Sprintf("%.2g", v)
	}
	if unit == "" {
		return s
	}
	if unit == "×" || unit == "%" {
		return s + unit
	}
	return s + " " + unit
}

// fmtRatio says how many times better (or worse) modelreg is.
func fmtRatio(r row) string {
	if r.dir == noOrder || math.IsNaN(r.got) || math.IsNaN(r.js) || r.got <= 0 || r.js <= 0 {
		return ""
	}
	x := r.js / r.got // lower is better
	switch {
	case x >= 1.05:
		return fmtTimes(x) + " better"
	case x <= 1/1.05:
		return fmtTimes(1/x) + " worse"
	default:
		return "same"
	}
}

// fmtTimes formats a ratio with 3 significant digits, without exponent.
func fmtTimes(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

// fmtTarget shows the target and whether the figure meets it.
func fmtTarget(r row) string {
	if math.IsNaN(r.target) {
		return ""
	}
	mark := "ok"
	switch {
	case math.IsNaN(r.got):
		mark = "n/a" // not measured in this run (e.g. --churn 0)
	case !(r.got <= r.target):
		mark = "MISSED"
	}
	t := strconv.FormatFloat(r.target, 'g', -1, 64)
	switch r.unit {
	case "", "×", "%":
		t += r.unit
	default:
		t += " " + r.unit
	}
	return fmt.Sprintf("≤ %s  %s", t, mark)
}

// writeCorrectness writes the correctness figures and the probes.
func (res *Result) writeCorrectness(b *strings.Builder) {
	jsRef := jsRefFigures()
	p := res.Params
	w1, w2, w4 := res.W1, res.W2, res.W4
	lookupErrs := 0
	for _, s := range []Suite{w2.BeforeChurn, w2.AfterChurn} {
		lookupErrs += s.NameHit.Errors + s.NameMiss.Errors + s.StructHit.Errors + s.StructHitNoBuilder.Errors +
			s.StructGlobalHit.Errors + s.StructGlobalMiss.Errors
	}
	f := w4.Findability
	var cells [][]string
	row := func(format string, args ...any) {
		cells = append(cells, strings.Split(fmt.Sprintf(format, args...), "\t"))
	}
	row("correctness\tmodelreg\told JS registry")
	row("  anonymous models created / reused in W1\t%d / %d\t%d / %d", w1.AnonymousCreated, w1.AnonymousReused,
		p.N*ExpectedAnonCreated(p.M), p.N*ExpectedAnonReused(p.M))
	row("  registry reuse counter over W1\t%d\t%d (counts repeated lookups)", w1.RegistryCounters.ReuseCount, p.N*(5*p.M-2))
	row("  reuse violations\t%d\t0", w1.ReuseViolations)
	row("  registry entries per tenant\t%g\t%d", float64(w1.RegistryEntriesPerTenant), ExpectedEntries(p.M))
	row("  lookup errors (all W2 benchmarks)\t%d\t0", lookupErrs)
	row("  tenant models found with no tenant context (W2)\t%d\tevery lookup",
		w2.BeforeChurn.StructGlobalHit.Hits+w2.AfterChurn.StructGlobalHit.Hits)
	row("  findable after cleanup: names, anon names, structures\t%d/%d, %d/%d, %d/%d\t0, 0, 0",
		f.NamedFound, f.NamedTotal, f.AnonNamesFound, f.AnonNamesTotal, f.StructuresFound, f.StructuresTotal)
	row("  findable after cleanup from the tenant's own context\t%d\t0",
		f.TenantCtxItemFound+f.TenantCtxNamedFound+f.TenantCtxModelsListed)
	row("  findable through contexts used before the cleanup\t%d/%d\t–", f.StaleCtxFound, f.StaleCtxTotal)
	row("  empty tenant registries re-created by lookups\t%d\t%d", w4.EmptyRegistriesRecreated, p.N)
	row("  watched models still alive after cleanup (weak pointers)\t%d/%d\t–", w4.WeakAlive, w4.WeakTracked)
	if res.W5 != nil {
		row("  live tenants after W5\t%d\t0", res.W5.LiveTenantsEnd)
	}
	pr := res.Probes
	row("probes (must be the opposite of the old registry)\t\t")
	row("  P1 anonymous-name lookup returns another tenant's model\t%t\ttrue", pr.AnonNameLookupInTenantCtxReturnsOtherTenant)
	row("  P2 structure lookup without tenant returns a tenant's model\t%t\ttrue", pr.StructureLookupWithoutTenantReturnsTenantModel)
	row("  P3 tenant define reuses a global anonymous model\t%t\ttrue", pr.TenantDefineReusesGlobalAnonymousModel)
	row("  P4 {a: String} and {a: Number} share a fingerprint\t%t\ttrue", pr.FingerprintIgnoresConstructorTypes)
	row("  P4 number field reuses the string field's model\t%t\ttrue", pr.NumberFieldReusesStringFieldModel)
	row("  P5 models still reachable after cleanup\t%d\t%d", pr.ModelsRemainInBuilderAfterCleanup, jsRef.ModelsRemainInBuilder)
	row("  P6 idle cleanup spares a tenant touched by another's lookup\t%t\ttrue", pr.IdleCleanupSparesTenantTouchedByUnrelatedNameLookup)
	writeCells(b, cells, []bool{false, true, true})
	for _, e := range pr.Errors {
		fmt.Fprintf(b, "probe error: %s\n", e)
	}
	if err := res.Check(); err != nil {
		fmt.Fprintf(b, "\nFAILED: %v\n", err)
	} else {
		b.WriteString("\nall correctness checks passed\n")
	}
}
