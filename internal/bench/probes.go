package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"
	"weak"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// trackWeak makes weak pointers to the models and anonymous structures of
// the first and the last W1 tenant, and returns how many it tracks. Only a
// few are tracked so that the weak handles do not weigh on the heap
// samples.
func (r *runner) trackWeak() int {
	for _, t := range []int{0, r.p.N - 1} {
		for _, mod := range r.builders[t] {
			if mod == nil {
				continue
			}
			r.weakModels = append(r.weakModels, weak.Make(mod))
			n := modelNested(mod)
			for _, o := range []*definition.Object{n.address, n.detail, n.item} {
				if o != nil {
					r.weakObjects = append(r.weakObjects, weak.Make(o))
				}
			}
		}
		if r.p.N == 1 {
			break
		}
	}
	return len(r.weakModels) + len(r.weakObjects)
}

// weakAlive returns how many tracked pointers are still reachable. The
// caller has just forced two collections.
func (r *runner) weakAlive() int {
	alive := 0
	for _, w := range r.weakModels {
		if w.Value() != nil {
			alive++
		}
	}
	for _, w := range r.weakObjects {
		if w.Value() != nil {
			alive++
		}
	}
	r.weakModels, r.weakObjects = nil, nil
	return alive
}

// probeErr records a probe step that could not run.
func (r *runner) probeErr(format string, args ...any) {
	r.res.Probes.Errors = append(r.res.Probes.Errors, fmt.Sprintf(format, args...))
}

// probe1 (P1): in the context of tenant_<N−1>, look tenant_0's address
// model up by the JS name "AnonymousModel_0" and by its own id, and (with
// N > 1) tenant_0's first named model by its name. Answers true if any
// returns a model of another tenant.
func (r *runner) probe1() {
	p := &r.res.Probes
	last := r.tctx[r.p.N-1]
	if m, ok := r.reg.FindByName(last, anonPrefix+"0"); ok && m.Tenant() != r.codes[r.p.N-1] {
		p.AnonNameLookupInTenantCtxReturnsOtherTenant = true
	}
	addr0, ok := r.reg.FindByStructure(r.tctx[0], r.queries[0])
	if !ok {
		r.probeErr("P1: tenant_0's address model not found in its own context")
		return
	}
	for _, name := range []string{addr0.Name(), addr0.ID()} {
		if name == "" {
			continue
		}
		if m, ok := r.reg.FindByName(last, name); ok && m.Tenant() != r.codes[r.p.N-1] {
			p.AnonNameLookupInTenantCtxReturnsOtherTenant = true
		}
	}
	// modelreg's anonymous models have no name, so the lookups above find
	// nothing in any context. The question P1 asks, whether a name lookup
	// in one tenant's context reaches another tenant's model, is also asked
	// of a named model: tenant_0's first, which its own context finds.
	if r.p.N > 1 {
		name0 := r.names[0]
		if _, ok := r.reg.FindByName(r.tctx[0], name0); !ok {
			r.probeErr("P1: %s not found in its own tenant's context", name0)
			return
		}
		if m, ok := r.reg.FindByName(last, name0); ok && m.Tenant() != r.codes[r.p.N-1] {
			p.AnonNameLookupInTenantCtxReturnsOtherTenant = true
		}
	}
}

// probe2 (P2): with no tenant context, look the item structure up. Answers
// true if a tenant's model comes back.
func (r *runner) probe2() {
	if m, ok := r.reg.FindByStructure(bg(), r.queries[2*r.p.M]); ok && m.Tenant() != "" {
		r.res.Probes.StructureLookupWithoutTenantReturnsTenantModel = true
	}
}

// defineProbe defines a probe model from JSON.
func (r *runner) defineProbe(ctx context.Context, js string) *modelreg.Model {
	m, err := r.reg.DefineJSON(ctx, []byte(js))
	if err != nil {
		r.probeErr("define %s: %v", js, err)
		return nil
	}
	return m
}

// nestedObject returns the Object of m's nested property prop, or nil.
func nestedObject(m *modelreg.Model, prop string) *definition.Object {
	if m == nil {
		return nil
	}
	if pr := findProp(m.Object(), prop); pr != nil && pr.Type.Kind == definition.KindNested {
		return pr.Type.Object
	}
	return nil
}

func (r *runner) probes() error {
	r.prog.phase("probes P3–P6")
	r.probe3()
	r.probe4()
	r.probe5()
	r.probe6()
	return nil
}

// probe3 (P3): a global model and a tenant model with the same nested
// structure. Answers true if the tenant's nested type is the global one.
func (r *runner) probe3() {
	g := r.defineProbe(bg(), `{"name":"ProbeGlobal","properties":{"z":{"probe_k":"string"}}}`)
	tctx := modelreg.WithTenant(bg(), "probe_global")
	t := r.defineProbe(tctx, `{"name":"ProbeTenant","properties":{"z":{"probe_k":"string"}}}`)
	if g != nil && t != nil {
		gz, tz := nestedObject(g, "z"), nestedObject(t, "z")
		if gz == nil || tz == nil {
			r.probeErr("P3: a z property is not a nested object")
		}
		r.res.Probes.TenantDefineReusesGlobalAnonymousModel = gz != nil && gz == tz
	}
	if _, err := r.cleanup("probe_global"); err != nil {
		r.probeErr("P3: %v", err)
	}
	// The global scope cannot be cleaned up like a tenant (modelreg refuses
	// it with ErrGlobalScope); remove the global probe model instead.
	if _, err := r.reg.RemoveModel(bg(), "ProbeGlobal"); err != nil {
		r.probeErr("P3: remove ProbeGlobal: %v", err)
	}
}

// probe4 (P4): {a: "String"} and {a: "Number"} in one tenant. Go has no
// constructor types, so the capitalised type names stand in for String and
// Number. Answers true if both nested types are the same model, and if the
// number field got a string structure.
func (r *runner) probe4() {
	tctx := modelreg.WithTenant(bg(), "probe_types")
	x := r.defineProbe(tctx, `{"name":"ProbeX","properties":{"n":{"a":"String"}}}`)
	y := r.defineProbe(tctx, `{"name":"ProbeY","properties":{"n":{"a":"Number"}}}`)
	if x != nil && y != nil {
		xn, yn := nestedObject(x, "n"), nestedObject(y, "n")
		if xn == nil || yn == nil {
			r.probeErr("P4: an n property is not a nested object")
		} else {
			r.res.Probes.FingerprintIgnoresConstructorTypes = xn == yn
			if a := findProp(yn, "a"); a == nil || a.Type.Kind != definition.KindNumber {
				r.res.Probes.NumberFieldReusesStringFieldModel = true
			}
		}
	}
	if _, err := r.cleanup("probe_types"); err != nil {
		r.probeErr("P4: %v", err)
	}
}

// probe5 (P5): after cleanupTenant, how many of the tenant's two models
// (the named one and its anonymous one) can still be reached: through any
// lookup from the tenant's or the global context, or at all once the
// application dropped its references (weak pointers after two GCs).
func (r *runner) probe5() {
	const code, name = "probe_builder", "ProbeBuilder"
	tctx := modelreg.WithTenant(bg(), code)
	wm, wo, ok := r.probe5Define(tctx, `{"name":"ProbeBuilder","properties":{"z":{"pb_k":"string"}}}`)
	if !ok {
		return
	}
	if _, err := r.cleanup(code); err != nil {
		r.probeErr("P5: %v", err)
	}
	found := len(r.reg.Models(tctx))
	if _, ok := r.reg.FindByName(tctx, name); ok {
		found++
	}
	if _, ok := r.reg.FindByName(bg(), name); ok {
		found++
	}
	if q, err := definition.ParseProperties([]byte(`{"pb_k":"string"}`), definition.Limits{}); err == nil {
		if _, ok := r.reg.FindByStructure(tctx, q); ok {
			found++
		}
	} else {
		r.probeErr("P5: %v", err)
	}
	runtime.GC()
	runtime.GC()
	alive := 0
	if wm.Value() != nil {
		alive++
	}
	if wo.Value() != nil {
		alive++
	}
	r.res.Probes.ModelsRemainInBuilderAfterCleanup = max(alive, min(found, 2))
}

// probe5Define defines the P5 model and returns only weak pointers to it
// and to its anonymous structure, so that nothing on the caller's stack
// keeps them alive.
func (r *runner) probe5Define(tctx context.Context, js string) (weak.Pointer[modelreg.Model], weak.Pointer[definition.Object], bool) {
	m := r.defineProbe(tctx, js)
	z := nestedObject(m, "z")
	if m == nil || z == nil {
		r.probeErr("P5: the probe model has no nested z")
		return weak.Pointer[modelreg.Model]{}, weak.Pointer[definition.Object]{}, false
	}
	return weak.Make(m), weak.Make(z), true
}

// Probe P6 timing: the idle gap and the idle limit of the workload. The
// registry's injected clock is advanced by p6Gap instead of sleeping.
const (
	p6Gap     = 60 * time.Millisecond
	p6MaxIdle = 30 * time.Millisecond
)

// probe6 (P6): two idle tenants; a name lookup of probe_idle_b's model
// (from no context, then from probe_idle_b's own context) must not refresh
// probe_idle_a. Answers true if the idle cleanup spares probe_idle_a.
// modelreg's own rule is also checked: probe_idle_b, refreshed by its own
// lookup, must survive.
func (r *runner) probe6() {
	actx := modelreg.WithTenant(bg(), "probe_idle_a")
	bctx := modelreg.WithTenant(bg(), "probe_idle_b")
	a := r.defineProbe(actx, `{"name":"probe_idle_a_Model","properties":{"v":"string"}}`)
	b := r.defineProbe(bctx, `{"name":"probe_idle_b_Model","properties":{"v":"string"}}`)
	if a == nil || b == nil {
		return
	}
	r.clock.advance(p6Gap)
	if _, ok := r.reg.FindByName(bg(), "probe_idle_b_Model"); ok {
		r.probeErr("P6: probe_idle_b_Model found without a tenant context")
	}
	if _, ok := r.reg.FindByName(bctx, "probe_idle_b_Model"); !ok {
		r.probeErr("P6: probe_idle_b_Model not found in its own context")
	}
	r.reg.CleanupIdle(bg(), p6MaxIdle)
	r.res.Probes.IdleCleanupSparesTenantTouchedByUnrelatedNameLookup = tenantLive(r.reg, "probe_idle_a")
	if !tenantLive(r.reg, "probe_idle_b") {
		r.probeErr("P6: probe_idle_b was evicted although its own lookup had just refreshed it")
	}
	for _, code := range []string{"probe_idle_a", "probe_idle_b"} {
		if _, err := r.cleanup(code); err != nil {
			r.probeErr("P6: %v", err)
		}
	}
}
