package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"weak"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// ErrCheckFailed is returned (wrapped) by Check when a correctness figure of
// a run is wrong: a lookup error, a reuse violation, something findable
// after cleanup, a probe answering like the old registry, ...
var ErrCheckFailed = errors.New("bench: correctness check failed")

// WorkloadError reports a registry operation of the workload that failed
// (a define refused, a cleanup error). Run stops at the first one.
type WorkloadError struct {
	Phase string // "W1", "W3", ...
	Op    string // what was being done
	Err   error
}

// Error implements error.
func (e *WorkloadError) Error() string {
	return fmt.Sprintf("bench: %s: %s: %v", e.Phase, e.Op, e.Err)
}

// Unwrap returns the registry's error.
func (e *WorkloadError) Unwrap() error { return e.Err }

// offsetClock is the registry's injected clock: real time plus an offset
// that probe P6 advances instead of sleeping.
type offsetClock struct {
	off atomic.Int64 // nanoseconds
}

// Now is the clock given to the registry.
func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// nestedRefs are the anonymous structures one named model of the recipe
// uses, identified by their interned Object pointers.
type nestedRefs struct {
	address, detail, item *definition.Object
}

// nameOps are the ops of name_hit: op i looks name[i] up in ctx[i] and must
// return want[i].
type nameOps struct {
	t, m []int32 // the drawn tenant and model
	ctx  []context.Context
	name []string
	want []*modelreg.Model
}

// structOps are the ops of struct_hit or struct_hit_nobuilder: op i looks
// Q[k[i]] up in tenant t[i]'s context and must return the model whose
// Object is the expected answer. The ops hold no pointers (a structure
// lookup is slow enough that finding its arguments in the harness tables
// costs nothing measurable), so the collector does not scan them while
// W1 builds the registry.
type structOps struct {
	t, k []int32 // the drawn tenant and query
}

// runner holds the registry and the harness tables of one run.
type runner struct {
	ctx   context.Context // for cancellation between steps only
	p     Params
	reg   *modelreg.Registry
	clock *offsetClock
	prog  *progress
	res   *Result

	jsbuf []byte // the JSON definition being defined

	// Harness tables, allocated before the heap baseline.
	codes    []string          // tenant_<t>
	tctx     []context.Context // tenant_<t> contexts
	names    []string          // N·M model names, t*M+m
	queries  []*definition.Object
	miss     *definition.Object
	builders [][]*modelreg.Model  // the application's models of tenant t
	expected []*definition.Object // N·(2M+1): Q[k]'s expected structure in tenant t

	// Raw heap samples (bytes).
	heapBaseline, heapAfterDefine, heapBeforeCleanup, heapHeld, heapUsedCtx, heapAfterCleanup uint64
	// Weak pointers to a few models and anonymous structures of W1.
	weakModels  []weak.Pointer[modelreg.Model]
	weakObjects []weak.Pointer[definition.Object]

	// The W2 op sequences, one entry per op, so that the timed loops read
	// their arguments and expected answers sequentially.
	nameHit                  nameOps
	structHit, noBuilder     structOps
	globalHit                []*definition.Object
	opsNameMiss, opsGlobMiss int
}

// Run runs the whole workload with parameters p against a new registry and
// returns its figures. Progress lines go to progress (nil for none). Run
// returns an error for invalid parameters, a failed registry operation or
// a cancelled ctx; correctness figures are reported in the Result (see
// Result.Check), not as errors.
func Run(ctx context.Context, p Params, progress io.Writer) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	clock := &offsetClock{}
	r := &runner{
		ctx:   ctx,
		p:     p,
		reg:   modelreg.New(modelreg.WithClock(clock.Now)),
		clock: clock,
		prog:  newProgress(progress),
		res:   &Result{Params: p},
	}
	start := time.Now()
	r.res.Meta = newMeta(start)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"warm-up", r.warmup},
		{"tables", r.tables},
		{"W1", r.w1},
		{"W2", r.w2},
		{"W3", r.w3},
		{"W4", r.w4},
		{"W5", r.w5},
		{"W3 others", r.others},
		{"probes", r.probes},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.fn(); err != nil {
			return nil, err
		}
	}
	r.res.Meta.TotalS = Num(time.Since(start).Seconds())
	r.prog.phase("done in %.1f s", time.Since(start).Seconds())
	return r.res, nil
}

func newMeta(start time.Time) Meta {
	return Meta{
		Implementation: "modelreg (Go, in-process)",
		GoVersion:      runtime.Version(),
		GOOS:           runtime.GOOS,
		GOARCH:         runtime.GOARCH,
		NumCPU:         runtime.NumCPU(),
		GOMAXPROCS:     runtime.GOMAXPROCS(0),
		CPU:            cpuModel(),
		StartedAt:      start.UTC().Format(time.RFC3339),
		Notes:          notes(),
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// bg is the context of code without a tenant.
func bg() context.Context { return context.Background() }

// defineTenant defines models 0..k−1 of the recipe in tenant code through
// DefineJSON and returns them (the tenant's "builder").
func (r *runner) defineTenant(tctx context.Context, code string, k int) ([]*modelreg.Model, error) {
	models := make([]*modelreg.Model, k)
	for m := range k {
		// The definition is written into one reused buffer, as an
		// application reading requests would: DefineJSON keeps nothing
		// of its input.
		r.jsbuf = AppendModelJSON(r.jsbuf[:0], code, m)
		mod, err := r.reg.DefineJSON(tctx, r.jsbuf)
		if err != nil {
			return nil, fmt.Errorf("define %s: %w", ModelName(code, m), err)
		}
		models[m] = mod
	}
	return models, nil
}

// cleanup cleans tenant code up and returns the number of models removed.
func (r *runner) cleanup(code string) (int, error) {
	rep, err := r.reg.CleanupTenant(bg(), code)
	if err != nil {
		return 0, fmt.Errorf("cleanup %s: %w", code, err)
	}
	return reportRemoved(rep), nil
}

func (r *runner) warmup() error {
	r.prog.phase("warm-up: %d tenants", r.p.W)
	for i := range r.p.W {
		code := TenantCode("warm_", i)
		if _, err := r.defineTenant(modelreg.WithTenant(bg(), code), code, r.p.M); err != nil {
			return &WorkloadError{"warm-up", "define", err}
		}
		if _, err := r.cleanup(code); err != nil {
			return &WorkloadError{"warm-up", "cleanup", err}
		}
		if i%1024 == 1023 {
			r.prog.tick("warm-up tenants", i+1, r.p.W)
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
	}
	r.res.Meta.WarmupLiveTenants = liveTenants(r.reg)
	return nil
}

// tables allocates the harness tables and the lookup sequences, then takes
// the heap baseline.
func (r *runner) tables() error {
	p := r.p
	r.codes = make([]string, p.N)
	r.tctx = make([]context.Context, p.N)
	r.names = make([]string, p.N*p.M)
	for t := range p.N {
		r.codes[t] = TenantCode("tenant_", t)
		r.tctx[t] = modelreg.WithTenant(bg(), r.codes[t])
		for m := range p.M {
			r.names[t*p.M+m] = ModelName(r.codes[t], m)
		}
	}
	r.queries = make([]*definition.Object, 2*p.M+1)
	for k := range r.queries {
		q, err := definition.ParseProperties(QueryJSON(k, p.M), definition.Limits{})
		if err != nil {
			return &WorkloadError{"tables", fmt.Sprintf("parse Q[%d]", k), err}
		}
		r.queries[k] = q
	}
	miss, err := definition.ParseProperties([]byte(missStructure), definition.Limits{})
	if err != nil {
		return &WorkloadError{"tables", "parse the miss structure", err}
	}
	r.miss = miss
	r.builders = make([][]*modelreg.Model, p.N)
	r.expected = make([]*definition.Object, p.N*(2*p.M+1))

	ops := SuiteOps{
		NameHit:            p.scaledOps(50000),
		NameMiss:           p.scaledOps(5000),
		StructHit:          p.scaledOps(100000),
		StructHitNoBuilder: p.scaledOps(20000),
		StructGlobalHit:    p.scaledOps(10000),
		StructGlobalMiss:   p.scaledOps(200),
	}
	r.res.W2.Ops = ops
	n, m, q := uint32(p.N), uint32(p.M), uint32(2*p.M+1)
	nh := &r.nameHit
	nh.t, nh.m = pairs(SeedNameHit, ops.NameHit, n, m)
	nh.ctx, nh.name, nh.want = make([]context.Context, len(nh.t)), make([]string, len(nh.t)), make([]*modelreg.Model, len(nh.t))
	for i, t := range nh.t {
		nh.ctx[i], nh.name[i] = r.tctx[t], r.names[int(t)*p.M+int(nh.m[i])]
	}
	r.structHit = r.structOps(SeedStructHit, ops.StructHit)
	r.noBuilder = r.structOps(SeedStructHitNoBuilder, ops.StructHitNoBuilder)
	g := NewXorShift32(SeedStructGlobalHit)
	r.globalHit = make([]*definition.Object, ops.StructGlobalHit)
	for i := range r.globalHit {
		r.globalHit[i] = r.queries[g.Next()%q]
	}
	r.opsNameMiss, r.opsGlobMiss = ops.NameMiss, ops.StructGlobalMiss

	r.heapBaseline = HeapSample()
	r.res.W4.HeapBaselineMiB = Num(toMiB(float64(r.heapBaseline)))
	return nil
}

// structOps draws the ops of a struct_hit benchmark.
func (r *runner) structOps(seed uint32, ops int) structOps {
	var so structOps
	so.t, so.k = pairs(seed, ops, uint32(r.p.N), uint32(2*r.p.M+1))
	return so
}

// fillWants sets the expected answers of the W2 ops from the W1 models, or
// clears them when the builders are dropped.
func (r *runner) fillWants(drop bool) {
	nh := &r.nameHit
	for i, t := range nh.t {
		if drop {
			nh.want[i] = nil
		} else {
			nh.want[i] = r.builders[t][nh.m[i]]
		}
	}
}

// pairs draws ops pairs (r()%a, then r()%b) from a fresh generator.
func pairs(seed uint32, ops int, a, b uint32) (x, y []int32) {
	g := NewXorShift32(seed)
	x, y = make([]int32, ops), make([]int32, ops)
	for i := range ops {
		x[i] = int32(g.Next() % a)
		y[i] = int32(g.Next() % b)
	}
	return x, y
}

func (r *runner) w1() error {
	p := r.p
	w := &r.res.W1
	w.Define, w.Tenants = p.Define, p.N
	r.prog.phase("W1: define %d tenants × %d models (%s)", p.N, p.M, p.Define)
	reg0, reuse0 := counters(r.reg)

	var elapsed time.Duration
	if p.Define == DefineParsed {
		t0 := time.Now()
		defs := make([][]*definition.Definition, p.N)
		for t := range p.N {
			defs[t] = make([]*definition.Definition, p.M)
			for m := range p.M {
				d, err := definition.Parse(ModelJSON(r.codes[t], m), definition.Limits{})
				if err != nil {
					return &WorkloadError{"W1", "parse " + ModelName(r.codes[t], m), err}
				}
				defs[t][m] = d
			}
		}
		w.ParseMs = Num(ms(time.Since(t0)))
		start := time.Now()
		for t := range p.N {
			models := make([]*modelreg.Model, p.M)
			for m, d := range defs[t] {
				mod, err := r.reg.Define(r.tctx[t], d)
				if err != nil {
					return &WorkloadError{"W1", "define " + ModelName(r.codes[t], m), err}
				}
				models[m] = mod
			}
			r.builders[t] = models
			if t%1024 == 1023 {
				r.prog.tick("W1 tenants", t+1, p.N)
				if err := r.ctx.Err(); err != nil {
					return err
				}
			}
		}
		elapsed = time.Since(start)
		defs = nil // parsed definitions are not part of the heap after define
	} else {
		start := time.Now()
		for t := range p.N {
			models, err := r.defineTenant(r.tctx[t], r.codes[t], p.M)
			if err != nil {
				return &WorkloadError{"W1", "define", err}
			}
			r.builders[t] = models
			if t%1024 == 1023 {
				r.prog.tick("W1 tenants", t+1, p.N)
				if err := r.ctx.Err(); err != nil {
					return err
				}
			}
		}
		elapsed = time.Since(start)
	}
	reg1, reuse1 := counters(r.reg)

	w.TotalMs = Num(ms(elapsed))
	w.PerTenantMs = Num(ms(elapsed) / float64(p.N))
	w.PerModelUs = Num(us(elapsed) / float64(p.N*p.M))
	w.ModelsDefined = p.N * p.M
	w.RegistryCounters = RegistryCounters{TotalModels: reg1 - reg0, ReuseCount: reuse1 - reuse0}
	w.TenantContextReads = p.N * p.M
	w.TenantContextReadsPerTenant = Num(p.M)

	// Identity checks, outside the timed region.
	owner := make(map[*definition.Object]int32, p.N*(p.M+2))
	for t := range p.N {
		refs := make([]nestedRefs, p.M)
		for m, mod := range r.builders[t] {
			refs[m] = modelNested(mod)
		}
		distinct, violations := checkTenantReuse(refs, int32(t), owner)
		w.AnonymousCreated += distinct
		w.ReuseViolations += violations
		// Expected answer of Q[k] in tenant t.
		row := r.expected[t*(2*p.M+1) : (t+1)*(2*p.M+1)]
		for k := range row {
			switch {
			case k < p.M:
				row[k] = refs[0].address
			case k < 2*p.M:
				row[k] = refs[k-p.M].detail
			default:
				row[k] = refs[0].item
			}
		}
	}
	w.AnonymousReused = 3*p.M*p.N - w.AnonymousCreated
	r.fillWants(false)
	w.RegistryEntriesPerTenant = Num(tenantEntries(r.reg, r.codes[0]))
	if b, ok := tenantBytes(r.reg, r.codes[0]); ok {
		w.RegistryBytesPerTenant = Num(b)
	}

	r.heapAfterDefine = HeapSample()
	w.HeapAfterDefineMiB = Num(toMiB(float64(r.heapAfterDefine)))
	r.res.W4.HeapAfterDefineMiB = w.HeapAfterDefineMiB
	delta := float64(r.heapAfterDefine) - float64(r.heapBaseline)
	w.HeapDeltaMiB = Num(toMiB(delta))
	w.HeapPerTenantKiB = Num(delta / 1024 / float64(p.N))

	r.probe1()
	r.probe2()
	return nil
}

// modelNested returns the anonymous structures a recipe model points to:
// the Objects of its address, detail and items element properties (nil
// when a property is missing or not of the expected kind).
func modelNested(mod *modelreg.Model) nestedRefs {
	var n nestedRefs
	o := mod.Object()
	if pr := findProp(o, "address"); pr != nil && pr.Type.Kind == definition.KindNested {
		n.address = pr.Type.Object
	}
	if pr := findProp(o, "detail"); pr != nil && pr.Type.Kind == definition.KindNested {
		n.detail = pr.Type.Object
	}
	if pr := findProp(o, "items"); pr != nil && pr.Type.Kind == definition.KindArray &&
		pr.Type.Elem != nil && pr.Type.Elem.Kind == definition.KindNested {
		n.item = pr.Type.Elem.Object
	}
	return n
}

// findProp returns the property name of o, or nil.
func findProp(o *definition.Object, name string) *definition.Property {
	if o == nil {
		return nil
	}
	for i := range o.Properties {
		if o.Properties[i].Name == name {
			return &o.Properties[i]
		}
	}
	return nil
}

// checkTenantReuse checks the anonymous structures of tenant t's models
// (refs[m] for model m) against WORKLOAD.md §2: every model shares model
// 0's address and item, every detail is its own, and none of them belongs
// to another tenant, since tenants never share anonymous models. owner
// maps every structure of the tenants checked before to its tenant; the
// check adds t's. It returns the number of distinct structures (the
// anonymous models created) and the number of violations.
func checkTenantReuse(refs []nestedRefs, t int32, owner map[*definition.Object]int32) (distinct, violations int) {
	if len(refs) == 0 {
		return 0, 0
	}
	seen := make(map[*definition.Object]bool, len(refs)+2)
	first := refs[0]
	for m, n := range refs {
		for _, o := range []*definition.Object{n.address, n.detail, n.item} {
			if o == nil {
				violations++
				continue
			}
			if own, ok := owner[o]; ok && own != t {
				violations++ // shared across tenants
			}
			seen[o] = true
		}
		if m > 0 && (n.address != first.address || n.item != first.item) {
			violations++ // address or item not reused
		}
	}
	details := make(map[*definition.Object]bool, len(refs))
	for _, n := range refs {
		if n.detail == nil {
			continue
		}
		if details[n.detail] || n.detail == first.address || n.detail == first.item {
			violations++ // a detail reused where it must be new
		}
		details[n.detail] = true
	}
	if first.address != nil && first.address == first.item {
		violations++
	}
	for o := range seen {
		if _, ok := owner[o]; !ok {
			owner[o] = t
		}
	}
	return len(seen), violations
}

// opFunc runs the first n ops of a lookup benchmark and returns how many
// were wrong and how many found a model.
type opFunc func(n int) (errs, hits int)

// timeOps runs the untimed warm-up, then times all ops (WORKLOAD.md §4.2).
func timeOps(ops int, run opFunc) Bench {
	run(warmupOps(ops))
	a0 := mallocs()
	start := time.Now()
	errs, hits := run(ops)
	el := time.Since(start)
	a1 := mallocs()
	b := Bench{Ops: ops, Ms: Num(ms(el)), Errors: errs, Hits: hits}
	secs := el.Seconds()
	if secs > 0 {
		b.OpsPerS = Num(float64(ops) / secs)
	} else {
		b.OpsPerS = Num(math.Inf(1))
	}
	b.UsPerOp = Num(us(el) / float64(ops))
	b.NsPerOp = Num(float64(el.Nanoseconds()) / float64(ops))
	b.AllocsPerOp = Num(float64(a1-a0) / float64(ops))
	return b
}

// suite runs the six lookup benchmarks.
func (r *runner) suite() Suite {
	reg := r.reg
	var s Suite
	nh := &r.nameHit
	s.NameHit = timeOps(len(nh.name), func(n int) (errs, hits int) {
		ctx, name, want := nh.ctx[:n], nh.name[:n], nh.want[:n]
		for i := range ctx {
			got, ok := reg.FindByName(ctx[i], name[i])
			if ok {
				hits++
			}
			if !ok || got != want[i] {
				errs++
			}
		}
		return errs, hits
	})
	s.NameMiss = timeOps(r.opsNameMiss, func(n int) (errs, hits int) {
		for range n {
			if _, ok := reg.FindByName(bg(), missName); ok {
				hits++
				errs++
			}
		}
		return errs, hits
	})
	structHit := func(so *structOps) opFunc {
		return func(n int) (errs, hits int) {
			tctx, queries, expected := r.tctx, r.queries, r.expected
			Q := int32(len(queries))
			for i, t := range so.t[:n] {
				k := so.k[i]
				got, ok := reg.FindByStructure(tctx[t], queries[k])
				if ok {
					hits++
				}
				if !ok || got.Object() != expected[t*Q+k] {
					errs++
				}
			}
			return errs, hits
		}
	}
	s.StructHit = timeOps(len(r.structHit.t), structHit(&r.structHit))
	// modelreg has no builder argument: struct_hit_nobuilder runs exactly
	// like struct_hit, with its own sequence.
	s.StructHitNoBuilder = timeOps(len(r.noBuilder.t), structHit(&r.noBuilder))
	// Without a tenant context only global models are searched; there are
	// none, so every op must miss. An error is an op that returned a
	// tenant's model (an isolation breach).
	s.StructGlobalHit = timeOps(len(r.globalHit), func(n int) (errs, hits int) {
		for _, q := range r.globalHit[:n] {
			got, ok := reg.FindByStructure(bg(), q)
			if ok {
				hits++
				if got.Tenant() != "" {
					errs++
				}
			}
		}
		return errs, hits
	})
	s.StructGlobalMiss = timeOps(r.opsGlobMiss, func(n int) (errs, hits int) {
		for range n {
			if _, ok := reg.FindByStructure(bg(), r.miss); ok {
				hits++
				errs++
			}
		}
		return errs, hits
	})
	return s
}

func ratio(after, before Bench) Num {
	return Num(float64(after.OpsPerS) / float64(before.OpsPerS))
}

func (r *runner) w2() error {
	p, w := r.p, &r.res.W2
	w.LiveTenantsBefore = liveTenants(r.reg)
	r.prog.phase("W2: lookups before churn")
	w.BeforeChurn = r.suite()

	r.prog.phase("W2: churn %d tenants", p.N)
	churn := make([]string, p.N)
	for i := range churn {
		churn[i] = TenantCode("churn_", i)
	}
	start := time.Now()
	for i, code := range churn {
		if _, err := r.defineTenant(modelreg.WithTenant(bg(), code), code, p.M); err != nil {
			return &WorkloadError{"W2", "churn define", err}
		}
		if i%1024 == 1023 {
			r.prog.tick("churn define", i+1, p.N)
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
	}
	w.ChurnDefineMs = Num(ms(time.Since(start)))
	w.PeakLiveTenants = liveTenants(r.reg)
	start = time.Now()
	for _, code := range churn {
		if _, err := r.cleanup(code); err != nil {
			return &WorkloadError{"W2", "churn cleanup", err}
		}
	}
	w.ChurnCleanupMs = Num(ms(time.Since(start)))
	w.LiveTenantsAfterChurn = liveTenants(r.reg)
	w.HeapAfterChurnMiB = Num(toMiB(float64(HeapSample())))

	r.prog.phase("W2: lookups after churn")
	w.AfterChurn = r.suite()
	b, a := &w.BeforeChurn, &w.AfterChurn
	w.RatioAfterVsBefore = SuiteRatio{
		NameHit:            ratio(a.NameHit, b.NameHit),
		NameMiss:           ratio(a.NameMiss, b.NameMiss),
		StructHit:          ratio(a.StructHit, b.StructHit),
		StructHitNoBuilder: ratio(a.StructHitNoBuilder, b.StructHitNoBuilder),
		StructGlobalHit:    ratio(a.StructGlobalHit, b.StructGlobalHit),
		StructGlobalMiss:   ratio(a.StructGlobalMiss, b.StructGlobalMiss),
	}
	return nil
}

// bigTenant defines and times the cleanup of R tenants prefix<r> of B
// models each (WORKLOAD.md §4.3 step 1).
func (r *runner) bigTenant(prefix string, others int) (BigTenant, error) {
	p := r.p
	bt := BigTenant{Reps: p.R, OtherLiveTenants: others, ExpectedRemoved: ExpectedEntries(p.B)}
	times := make([]float64, p.R)
	for i := range p.R {
		code := TenantCode(prefix, i)
		models, err := r.defineTenant(modelreg.WithTenant(bg(), code), code, p.B)
		if err != nil {
			return bt, &WorkloadError{"W3", "big tenant define", err}
		}
		start := time.Now()
		rep, err := r.reg.CleanupTenant(bg(), code)
		el := time.Since(start)
		if err != nil {
			return bt, &WorkloadError{"W3", "big tenant cleanup " + code, err}
		}
		runtime.KeepAlive(models) // the builder is discarded only now
		times[i] = ms(el)
		bt.Removed = reportRemoved(rep)
		if bt.Removed != bt.ExpectedRemoved {
			bt.RemovedMismatches++
		}
	}
	bt.MedianMs = Num(Median(times))
	bt.P10Ms = Num(Percentile(times, 10))
	bt.P90Ms = Num(Percentile(times, 90))
	lo, hi := minMax(times)
	bt.MinMs, bt.MaxMs = Num(lo), Num(hi)
	return bt, nil
}

func (r *runner) w3() error {
	p, w := r.p, &r.res.W3
	r.prog.phase("W3: cleanup of a %d-model tenant with %d tenants live, ×%d", p.B, p.N, p.R)
	others := liveTenants(r.reg)
	bt, err := r.bigTenant("big_", others)
	if err != nil {
		return err
	}
	w.BigTenantWithNLive = bt
	r.heapBeforeCleanup = HeapSample()
	w.HeapBeforeCleanupMiB = Num(toMiB(float64(r.heapBeforeCleanup)))
	r.res.W4.HeapBeforeCleanupMiB = w.HeapBeforeCleanupMiB

	r.prog.phase("W3: cleanup of all %d tenants", p.N)
	removed := 0
	start := time.Now()
	for _, code := range r.codes {
		rep, err := r.reg.CleanupTenant(bg(), code)
		if err != nil {
			return &WorkloadError{"W3", "cleanup " + code, err}
		}
		removed += reportRemoved(rep)
	}
	el := time.Since(start)
	w.CleanupAll = CleanupAll{
		TotalMs:          Num(ms(el)),
		PerTenantUs:      Num(us(el) / float64(p.N)),
		ModelsRemoved:    removed,
		LiveTenantsAfter: liveTenants(r.reg),
	}

	// W4's heap samples, right after the cleanup as WORKLOAD.md §4.3 says:
	// with the application's models held, then without them. The
	// harness's tenant contexts (one per tenant, allocated before the
	// baseline) stand for the reference's context variable, which holds
	// a tenant code and nothing of the registry. A context used for
	// lookups caches its tenant's scope and name table, and lets go of
	// them, emptied by the cleanup, only when it is used again or
	// dropped: the heap is sampled once with the used contexts held (Go
	// only), and then with fresh ones in their place, which hold what the
	// reference's variable holds.
	w4 := &r.res.W4
	w4.WeakTracked = r.trackWeak()
	r.heapHeld = HeapSample()
	w4.HeapAfterCleanupBuildersHeldMiB = Num(toMiB(float64(r.heapHeld)))
	clear(r.builders)
	clear(r.expected)
	r.fillWants(true)
	r.heapUsedCtx = HeapSample()
	w4.HeapAfterCleanupContextsHeldMiB = Num(toMiB(float64(r.heapUsedCtx)))

	// Lookups through the contexts used before the cleanup, which may
	// carry the registry's cached pointer to the (now dead) tenant scope.
	w4.Findability.StaleCtxTotal = p.N*p.M + p.N
	for t, tc := range r.tctx {
		for m := range p.M {
			if _, ok := r.reg.FindByName(tc, r.names[t*p.M+m]); ok {
				w4.Findability.StaleCtxFound++
			}
		}
		if _, ok := r.reg.FindByStructure(tc, r.queries[2*p.M]); ok {
			w4.Findability.StaleCtxFound++
		}
	}

	for t, code := range r.codes {
		r.tctx[t] = modelreg.WithTenant(bg(), code)
	}
	nh := &r.nameHit
	for i, t := range nh.t {
		nh.ctx[i] = r.tctx[t]
	}
	r.heapAfterCleanup = HeapSample()
	w4.HeapAfterCleanupMiB = Num(toMiB(float64(r.heapAfterCleanup)))
	w4.WeakAlive = r.weakAlive()

	r.prog.phase("W3: cleanup of a %d-model tenant with no other tenant live, ×%d", p.B, p.R)
	bt, err = r.bigTenant("solo_", liveTenants(r.reg))
	if err != nil {
		return err
	}
	w.BigTenantWith0Live = bt
	return nil
}

// others runs the optional W3 step with Params.Others extra tenants live.
func (r *runner) others() error {
	p := r.p
	if p.Others == 0 {
		return nil
	}
	r.prog.phase("W3 others: define %d tenants × %d models", p.Others, p.OthersM)
	codes := make([]string, p.Others)
	start := time.Now()
	for i := range codes {
		codes[i] = TenantCode("other_", i)
		if _, err := r.defineTenant(modelreg.WithTenant(bg(), codes[i]), codes[i], p.OthersM); err != nil {
			return &WorkloadError{"W3 others", "define", err}
		}
		if i%1024 == 0 {
			r.prog.tick("define others", i, p.Others)
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
	}
	defineMs := ms(time.Since(start))
	// Defining the others grew the heap by hundreds of MiB, and the
	// collection that growth started would still be marking during the
	// timed cleanups, slowing them by its write barriers and assists
	// (medians of 10 µs instead of 6 in some runs): a cost of this set-up,
	// not of living beside 100,000 tenants, where a collection comes once
	// the heap has grown by as much again. Let it finish first, as W3
	// with N live does after W2.
	runtime.GC()
	r.prog.phase("W3 others: cleanup of a %d-model tenant with %d tenants live, ×%d", p.B, p.Others, p.R)
	bt, err := r.bigTenant("crowd_", liveTenants(r.reg))
	if err != nil {
		return err
	}
	bt.OthersModels = p.OthersM
	bt.OthersDefineMs = Num(defineMs)
	start = time.Now()
	for i, code := range codes {
		if _, err := r.cleanup(code); err != nil {
			return &WorkloadError{"W3 others", "cleanup", err}
		}
		if i%1024 == 0 {
			r.prog.tick("cleanup others", i, p.Others)
		}
	}
	bt.OthersCleanupMs = Num(ms(time.Since(start)))
	r.res.W3.BigTenantWithOthersLive = &bt
	return nil
}

func (r *runner) w4() error {
	p, w := r.p, &r.res.W4
	r.prog.phase("W4: findability after cleanup")
	base := float64(r.heapBaseline)
	used := float64(r.heapAfterDefine) - base
	w.RetainedAfterCleanup = Num((float64(r.heapAfterCleanup) - base) / used)
	w.RetainedAfterCleanupBuilderHeld = Num((float64(r.heapHeld) - base) / used)
	w.RetainedAfterCleanupContextsHeld = Num((float64(r.heapUsedCtx) - base) / used)

	f := &w.Findability
	f.NamedTotal = p.N * p.M
	for _, name := range r.names {
		if _, ok := r.reg.FindByName(bg(), name); ok {
			f.NamedFound++
		}
	}
	f.AnonNamesTotal = p.M + 2
	for i := range p.M + 2 {
		if _, ok := r.reg.FindByName(bg(), anonPrefix+fmt.Sprint(i)); ok {
			f.AnonNamesFound++
		}
	}
	f.StructuresTotal = len(r.queries)
	for _, q := range r.queries {
		if _, ok := r.reg.FindByStructure(bg(), q); ok {
			f.StructuresFound++
		}
	}
	// From inside each cleaned tenant's context (Go extras: names and
	// Models too).
	for t, tc := range r.tctx {
		for m := range p.M {
			if _, ok := r.reg.FindByName(tc, r.names[t*p.M+m]); ok {
				f.TenantCtxNamedFound++
			}
		}
		f.TenantCtxModelsListed += len(r.reg.Models(tc))
	}
	f.TenantCtxItemTotal = p.N
	item := r.queries[2*p.M]
	for _, tc := range r.tctx {
		if _, ok := r.reg.FindByStructure(tc, item); ok {
			f.TenantCtxItemFound++
		}
	}
	w.EmptyRegistriesRecreated = liveTenants(r.reg)
	for _, code := range r.codes {
		if _, err := r.cleanup(code); err != nil {
			return &WorkloadError{"W4", "cleanup", err}
		}
	}
	w.LiveTenantsAfter = liveTenants(r.reg)
	return nil
}

func (r *runner) w5() error {
	p := r.p
	if p.SkipW5 {
		return nil
	}
	r.prog.phase("W5: churn %d cycles, heap sample every %d", p.C, p.S)
	// The W2 op sequences are not needed any more (W4 has taken its heap
	// figures): drop them, so that the collector does not mark their
	// 2 MB of pointers again and again during the churn, where the
	// registry itself holds one small tenant at a time.
	r.nameHit, r.structHit, r.noBuilder, r.globalHit = nameOps{}, structOps{}, structOps{}, nil
	w := &W5{Cycles: p.C, SampleEvery: p.S}
	xs, ys := []float64{0}, []float64{float64(HeapSample())}
	var busy time.Duration
	start := time.Now()
	block := time.Now()
	for i := range p.C {
		code := TenantCode("cycle_", i)
		if _, err := r.defineTenant(modelreg.WithTenant(bg(), code), code, p.M); err != nil {
			return &WorkloadError{"W5", "define", err}
		}
		if _, err := r.cleanup(code); err != nil {
			return &WorkloadError{"W5", "cleanup", err}
		}
		if done := i + 1; done%p.S == 0 || done == p.C {
			busy += time.Since(block)
			xs = append(xs, float64(done))
			ys = append(ys, float64(HeapSample()))
			r.prog.tick("W5 cycles", done, p.C)
			if err := r.ctx.Err(); err != nil {
				return err
			}
			block = time.Now()
		} else if done%1024 == 0 {
			// Between samples too, for a -sample that spaces them out
			// (the block time includes these cheap calls).
			r.prog.tick("W5 cycles", done, p.C)
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
	}
	w.TotalMs = Num(ms(time.Since(start)))
	w.Series = make([]W5Sample, len(xs))
	for i := range xs {
		w.Series[i] = W5Sample{Num(xs[i]), Num(toMiB(ys[i]))}
	}
	w.SlopeBytesPerTenant = Num(Slope(xs, ys))
	h := (len(xs) - 1) / 2
	w.SlopeSecondHalfBytesPerTenant = Num(Slope(xs[h:], ys[h:]))
	w.GrowthMiB = Num(toMiB(ys[len(ys)-1] - ys[0]))
	if p.C > 0 {
		w.MsPerCycle = Num(ms(busy) / float64(p.C))
	} else {
		w.MsPerCycle = Num(math.NaN())
	}
	w.LiveTenantsEnd = liveTenants(r.reg)
	r.res.W5 = w
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// minMax returns the smallest and largest of xs (NaN, NaN when empty).
func minMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
