package modelreg_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"go.uber.org/goleak"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

func evicted(reps []modelreg.CleanupReport) []string {
	var out []string
	for _, r := range reps {
		out = append(out, r.Tenant)
	}
	slices.Sort(out)
	return out
}

func TestIdleEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := modelreg.New()
		mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
		mustDefine(t, r, tctx("b"), `{"name": "B", "properties": {"x": "string"}}`)
		mustDefine(t, r, bg, `{"name": "G", "properties": {"x": "string"}}`)
		time.Sleep(60 * time.Millisecond)
		// A lookup in b's context marks b only; tenantless lookups and
		// lookups of other tenants' names mark nothing.
		r.FindByName(tctx("b"), "A")
		r.FindByName(bg, "A")
		r.FindByName(bg, "G")
		r.FindByStructure(bg, props(t, `{"x": "string"}`))
		reps := r.CleanupIdle(bg, 30*time.Millisecond)
		if got := evicted(reps); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("evicted %v, want [a]", got)
		}
		if reps[0].Reason != modelreg.ReasonIdle || reps[0].ModelsRemoved != 1 {
			t.Errorf("report %+v", reps[0])
		}
		// b's lookup was recorded at the sweep's time (t=60ms): not idle
		// at t=90ms, idle at t=91ms.
		time.Sleep(30 * time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 30*time.Millisecond)); got != nil {
			t.Fatalf("evicted %v at the limit", got)
		}
		time.Sleep(time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 30*time.Millisecond)); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("evicted %v, want [b]", got)
		}
		if c := r.Stats().Counters; c.Evictions != 2 || c.Cleanups != 0 {
			t.Errorf("counters %+v", c)
		}
		if _, ok := r.FindByName(bg, "G"); !ok {
			t.Error("the global scope was evicted")
		}
	})
}

// TestIdleNeverEvictsActiveTenant checks that lookups keep a tenant from
// idle eviction, through a new context each time and through one kept
// context (whose cached name table is the lookup's fast path).
func TestIdleNeverEvictsActiveTenant(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(fmt.Sprint("kept=", kept), func(t *testing.T) {
			testIdleNeverEvictsActiveTenant(t, kept)
		})
	}
}

func testIdleNeverEvictsActiveTenant(t *testing.T, kept bool) {
	synctest.Test(t, func(t *testing.T) {
		r := modelreg.New()
		mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
		ctx := tctx("a")
		r.FindByName(ctx, "A")
		// Looked up every 10ms, swept every 7ms with maxIdle 15ms: a must
		// survive every sweep.
		for i := range 100 {
			time.Sleep(time.Millisecond)
			if i%10 == 0 {
				if !kept {
					ctx = tctx("a")
				}
				if _, ok := r.FindByName(ctx, "A"); !ok {
					t.Fatalf("step %d: A not found", i)
				}
			}
			if i%7 == 0 {
				if got := evicted(r.CleanupIdle(bg, 15*time.Millisecond)); got != nil {
					t.Fatalf("step %d: evicted %v", i, got)
				}
			}
		}
		// Registration activity counts too.
		time.Sleep(14 * time.Millisecond)
		mustDefine(t, r, tctx("a"), `{"name": "B", "properties": {"x": "string"}}`)
		time.Sleep(14 * time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 15*time.Millisecond)); got != nil {
			t.Fatalf("evicted %v after a registration", got)
		}
	})
}

// SetPolicy adds, replaces and removes overrides; removing one twice, or
// one that was never set, leaves the others in force.
func TestPolicyOverrides(t *testing.T) {
	def := modelreg.Policy{MaxModels: 5, MaxDepth: 4}
	r := modelreg.New(modelreg.WithPolicy(def))
	small := modelreg.Policy{MaxModels: 1}
	deep := modelreg.Policy{MaxDepth: 9}
	steps := []struct {
		id   string
		set  modelreg.Policy
		want map[string]modelreg.Policy
	}{
		{"", modelreg.Policy{}, map[string]modelreg.Policy{"a": def, "b": def}},
		{"a", small, map[string]modelreg.Policy{"a": {MaxModels: 1, MaxDepth: 4}, "b": def}},
		{"a", deep, map[string]modelreg.Policy{"a": {MaxModels: 5, MaxDepth: 9}, "b": def}},
		{"b", small, map[string]modelreg.Policy{"a": {MaxModels: 5, MaxDepth: 9}, "b": {MaxModels: 1, MaxDepth: 4}}},
		{"a", modelreg.Policy{}, map[string]modelreg.Policy{"a": def, "b": {MaxModels: 1, MaxDepth: 4}}},
		{"a", modelreg.Policy{}, map[string]modelreg.Policy{"a": def, "b": {MaxModels: 1, MaxDepth: 4}}},
		{"c", modelreg.Policy{}, map[string]modelreg.Policy{"a": def, "b": {MaxModels: 1, MaxDepth: 4}}},
		{"b", modelreg.Policy{}, map[string]modelreg.Policy{"a": def, "b": def}},
	}
	for i, st := range steps {
		if st.id != "" {
			must(t, r.SetPolicy(st.id, st.set))
		}
		for id, want := range st.want {
			if got := r.Policy(id); got != want {
				t.Errorf("step %d: Policy(%s) = %+v, want %+v", i, id, got, want)
			}
		}
	}
	// The quota of the override applies to registrations.
	must(t, r.SetPolicy("b", small))
	mustDefine(t, r, tctx("b"), `{"name": "A", "properties": {"x": "string"}}`)
	if _, err := r.DefineJSON(tctx("b"), []byte(`{"name": "B", "properties": {"x": "string"}}`)); !errors.Is(err, modelreg.ErrQuota) {
		t.Errorf("second model under MaxModels 1: %v", err)
	}
}

func TestIdlePolicies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxIdle: 50 * time.Millisecond}))
		for _, id := range []string{"default", "never", "short", "leased"} {
			mustDefine(t, r, tctx(id), `{"name": "A", "properties": {"x": "string"}}`)
		}
		must(t, r.SetPolicy("never", modelreg.Policy{MaxIdle: -1}))
		must(t, r.SetPolicy("short", modelreg.Policy{MaxIdle: 10 * time.Millisecond}))
		l, err := r.Acquire(bg, "leased")
		must(t, err)
		time.Sleep(20 * time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 0)); !slices.Equal(got, []string{"short"}) {
			t.Fatalf("evicted %v, want [short]", got)
		}
		time.Sleep(40 * time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 0)); !slices.Equal(got, []string{"default"}) {
			t.Fatalf("evicted %v, want [default]", got)
		}
		// The argument replaces the default policy's limit.
		time.Sleep(time.Hour)
		if got := evicted(r.CleanupIdle(bg, 2*time.Hour)); got != nil {
			t.Fatalf("evicted %v", got)
		}
		l.Release()
		l.Release() // harmless
		// Releasing is activity: idle again 50ms later.
		time.Sleep(50 * time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 0)); got != nil {
			t.Fatalf("evicted %v", got)
		}
		time.Sleep(time.Millisecond)
		if got := evicted(r.CleanupIdle(bg, 0)); !slices.Equal(got, []string{"leased"}) {
			t.Fatalf("evicted %v, want [leased]", got)
		}
		if _, ok := r.TenantStats("never"); !ok {
			t.Fatal("tenant with MaxIdle -1 evicted")
		}
		// The policy survives the tenant's eviction.
		if p := r.Policy("short"); p.MaxIdle != 10*time.Millisecond {
			t.Errorf("policy after eviction %+v", p)
		}
	})
}

func TestJanitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := modelreg.New()
		sub := r.Subscribe(16)
		defer sub.Close()
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		j, err := r.StartJanitor(ctx, 10*time.Millisecond, 25*time.Millisecond)
		must(t, err)
		mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
		time.Sleep(25 * time.Millisecond)
		synctest.Wait()
		if _, ok := r.TenantStats("a"); !ok {
			t.Fatal("evicted too early")
		}
		time.Sleep(10 * time.Millisecond) // sweep at 30ms
		synctest.Wait()
		if _, ok := r.TenantStats("a"); ok {
			t.Fatal("not evicted by the janitor")
		}
		var kinds []modelreg.EventKind
	drain:
		for {
			select {
			case ev := <-sub.C():
				kinds = append(kinds, ev.Kind)
			default:
				break drain
			}
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != modelreg.EventTenantEvicted {
			t.Errorf("events %v", kinds)
		}
		j.Stop()
		j.Stop() // harmless
		if _, err := r.StartJanitor(ctx, 0, time.Second); !errors.Is(err, modelreg.ErrInvalidArgument) {
			t.Errorf("zero interval: %v", err)
		}
		// Stopping through the context.
		j2, err := r.StartJanitor(ctx, time.Millisecond, time.Second)
		must(t, err)
		cancel()
		<-j2.Done()
		j2.Stop()
	})
}

func TestLeases(t *testing.T) {
	r := modelreg.New()
	l1, err := r.Acquire(bg, "t")
	must(t, err)
	if st, ok := r.TenantStats("t"); !ok || st.Leases != 1 || st.Models != 0 {
		t.Fatalf("after Acquire: %+v %v", st, ok)
	}
	l2, _ := r.Acquire(bg, "t")
	if g := r.Stats().Gauges; g.Leases != 2 || g.Tenants != 1 {
		t.Errorf("gauges %+v", g)
	}
	must(t, r.SetPolicy("t", modelreg.Policy{OnLastRelease: modelreg.ReleaseCleanup}))
	l1.Release()
	l1.Release()
	if _, ok := r.TenantStats("t"); !ok {
		t.Fatal("cleaned up before the last release")
	}
	l2.Release()
	if _, ok := r.TenantStats("t"); ok {
		t.Fatal("not cleaned up on last release")
	}
	if c := r.Stats().Counters; c.ReleaseCleanups != 1 {
		t.Errorf("counters %+v", c)
	}
	if g := r.Stats().Gauges; g.Leases != 0 || g.Tenants != 0 {
		t.Errorf("gauges %+v", g)
	}
	// An explicit cleanup wins over leases; the old lease is inert.
	l3, _ := r.Acquire(bg, "u")
	mustDefine(t, r, tctx("u"), `{"name": "A", "properties": {"x": "string"}}`)
	if rep, err := r.CleanupTenant(bg, "u"); err != nil || rep.ModelsRemoved != 1 {
		t.Fatal(rep, err)
	}
	l4, _ := r.Acquire(bg, "u")
	l3.Release()
	if st, ok := r.TenantStats("u"); !ok || st.Leases != 1 {
		t.Errorf("an inert lease changed the new scope: %+v %v", st, ok)
	}
	l4.Release()
	if g := r.Stats().Gauges; g.Leases != 0 {
		t.Errorf("gauges %+v", g)
	}
	if _, err := r.Acquire(bg, "global"); !errors.Is(err, modelreg.ErrGlobalScope) {
		t.Errorf("Acquire(global) = %v", err)
	}
	if _, err := r.Acquire(bg, ""); !errors.Is(err, modelreg.ErrInvalidTenant) {
		t.Errorf("Acquire(\"\") = %v", err)
	}
}

func TestQuotas(t *testing.T) {
	r := modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxModels: 2, MaxDepth: 3}))
	ctx := tctx("q")
	mustDefine(t, r, ctx, `{"name": "A", "properties": {"x": "string"}}`)
	mustDefine(t, r, ctx, `{"name": "B", "properties": {"x": "string"}}`)
	_, err := r.DefineJSON(ctx, []byte(`{"name": "C", "properties": {"x": "string"}}`))
	var qe *modelreg.QuotaError
	if !errors.Is(err, modelreg.ErrQuota) || !errors.As(err, &qe) || qe.Quota != modelreg.QuotaModels || qe.Limit != 2 || qe.Value != 3 || qe.Tenant != "q" {
		t.Fatalf("third model: %v", err)
	}
	// Replacing does not count as a new model.
	mustDefine(t, r, ctx, `{"name": "B", "properties": {"y": "string"}}`)
	// Depth: {"o": [{"p": "string"}]} has depth 3, one more level is 4.
	mustDefine(t, r, tctx("d"), `{"name": "A", "properties": {"o": [{"p": "string"}]}}`)
	_, err = r.DefineJSON(tctx("d"), []byte(`{"name": "B", "properties": {"o": [{"p": {"q": "string"}}]}}`))
	if !errors.As(err, &qe) || qe.Quota != modelreg.QuotaDepth || qe.Value != 4 {
		t.Fatalf("depth: %v", err)
	}
	// Deeper still: the first depth over the limit, as documented.
	_, err = r.DefineJSON(tctx("d"), []byte(`{"name": "B", "properties": {"o": [{"p": {"q": {"r": {"s": "string"}}}}]}}`))
	if !errors.As(err, &qe) || qe.Quota != modelreg.QuotaDepth || qe.Limit != 3 || qe.Value != 4 {
		t.Fatalf("depth 6: %v", err)
	}
	// A refused registration does not create a tenant.
	if _, err := r.DefineJSON(tctx("new"), []byte(`{"name": "B", "properties": {"o": [{"p": {"q": "string"}}]}}`)); err == nil {
		t.Fatal("accepted")
	}
	if _, ok := r.TenantStats("new"); ok {
		t.Error("a refused registration created the tenant")
	}
	// A tenant policy lifts the default limit; bytes.
	must(t, r.SetPolicy("q", modelreg.Policy{MaxModels: -1, MaxBytes: 400}))
	mustDefine(t, r, ctx, `{"name": "C", "properties": {"x": "string"}}`)
	st, _ := r.TenantStats("q")
	big := fmt.Sprintf(`{"name": "D", "properties": {"x": {"type": "string", "default": %q}}}`, strings.Repeat("a", int(400-st.DefinitionBytes)))
	_, err = r.DefineJSON(ctx, []byte(big))
	if !errors.As(err, &qe) || qe.Quota != modelreg.QuotaBytes || qe.Limit != 400 {
		t.Fatalf("bytes: %v", err)
	}
	// Global code has no quotas.
	for i := range 5 {
		mustDefine(t, r, bg, fmt.Sprintf(`{"name": "G%d", "properties": {"o": [{"p": {"q": "string"}}]}}`, i))
	}
}

// TestBytesQuotaCountsExtraOptions: a property's extra options
// (description, index, ...) are kept with the model, so the bytes quota
// counts them, at every level, and so do the approximate bytes: a few
// definitions with large descriptions cannot hold far more memory than
// the quota allows.
func TestBytesQuotaCountsExtraOptions(t *testing.T) {
	big := strings.Repeat("a", 50_000)
	for _, tc := range []struct{ name, js string }{
		{"top", `{"name": "A", "properties": {"x": {"type": "string", "description": %q}}}`},
		{"nested", `{"name": "A", "properties": {"n": {"x": {"type": "string", "description": %q}}}}`},
		{"array", `{"name": "A", "properties": {"n": [{"x": {"type": "string", "description": %q}}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := fmt.Sprintf(tc.js, big)
			r := modelreg.New()
			mustDefine(t, r, tctx("free"), js)
			st, _ := r.TenantStats("free")
			if st.DefinitionBytes < int64(len(big)) || st.ApproxBytes < int64(len(big)) {
				t.Errorf("a model holding a %d-byte description counts %d definition bytes, %d approximate bytes", len(big), st.DefinitionBytes, st.ApproxBytes)
			}
			r = modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxBytes: 10_000}))
			var qe *modelreg.QuotaError
			if _, err := r.DefineJSON(tctx("q"), []byte(js)); !errors.As(err, &qe) || qe.Quota != modelreg.QuotaBytes {
				t.Errorf("a %d-byte description under a 10,000-byte quota: %v, want the bytes quota", len(big), err)
			}
		})
	}
}

// TestNestedExtraOptionsStayWithTheirModel: extra options (description,
// index, ...) are not part of a structure, so nested objects that differ
// only in them share one anonymous model; each named model keeps its own
// options and writes back as it was defined, and the anonymous model
// keeps none, so none shows in another model.
func TestNestedExtraOptionsStayWithTheirModel(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("t")
	defs := []string{
		`{"name": "A", "properties": {"home": {"street": {"type": "string", "description": "A's street"}}, "lines": [{"sku": {"type": "string", "index": true}}]}}`,
		`{"name": "B", "properties": {"home": {"street": {"type": "string", "description": "B's street"}}, "lines": [{"sku": "string"}]}}`,
		`{"name": "C", "properties": {"home": {"street": "string"}, "deep": {"a": {"b": {"type": "number", "description": "three levels down"}}}}}`,
		`{"name": "D", "properties": {"home": {"street": "string"}, "deep": {"a": {"b": "number"}}}}`,
	}
	models := make([]*modelreg.Model, len(defs))
	for i, js := range defs {
		models[i] = mustDefine(t, r, ctx, js)
	}
	for i, m := range models {
		want, err := definition.Parse([]byte(defs[i]), definition.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		wantJS, _ := want.MarshalJSON()
		if got, _ := m.Definition().MarshalJSON(); string(got) != string(wantJS) {
			t.Errorf("%s writes back as\n%s\nnot as defined\n%s", m.Name(), got, wantJS)
		}
	}
	home := nested(t, r, models[0], "home")
	for _, m := range models[1:] {
		if got := nested(t, r, m, "home"); got != home {
			t.Errorf("%s.home: another anonymous model than A.home's, for the same structure", m.Name())
		}
	}
	if nested(t, r, models[2], "deep") != nested(t, r, models[3], "deep") {
		t.Error("C.deep and D.deep: two anonymous models for one structure")
	}
	if st, _ := r.TenantStats("t"); st.Anonymous != 4 { // home, lines[], deep, deep.a
		t.Errorf("%d anonymous models, want 4", st.Anonymous)
	}
	// The anonymous models keep no extra options, whichever definition
	// created them.
	for _, m := range models {
		for _, a := range m.Nested() {
			if js := string(a.Object().Canonical()); strings.Contains(js, "street") || strings.Contains(js, "sku") || strings.Contains(js, `"a"`) {
				for _, p := range a.Object().Properties {
					if p.Extra != nil {
						t.Errorf("anonymous model %s keeps the extra options %v of property %s", a.ID(), p.Extra, p.Name)
					}
				}
			}
		}
	}
	// A model whose nested objects have no extra options shares the
	// anonymous models' objects.
	if p, _ := models[3].Object().Property("home"); p.Type.Object != home.Object() {
		t.Error("D.home is a copy, not the anonymous model's object")
	}
	// Replacing the model that created an anonymous model leaves what
	// the others show as it was.
	mustDefine(t, r, ctx, `{"name": "A", "properties": {"x": "string"}}`)
	if got, _ := models[3].Definition().MarshalJSON(); strings.Contains(string(got), "description") {
		t.Errorf("D writes back as %s", got)
	}
	if b, ok := r.FindByName(ctx, "B"); !ok || !strings.Contains(mustMarshal(t, b), "B's street") || strings.Contains(mustMarshal(t, b), "A's street") {
		t.Errorf("B after A was replaced: %v %s", ok, mustMarshal(t, b))
	}
}

func mustMarshal(tb testing.TB, m *modelreg.Model) string {
	tb.Helper()
	if m == nil {
		return ""
	}
	js, err := m.Definition().MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(js)
}

// TestBytesQuotaBoundsExtraOptionsOfReplacedModels: a model's extra
// options, at every level, go with the model: replacing it frees the
// quota they took and the memory they held, also when other models reuse
// its nested structures.
func TestBytesQuotaBoundsExtraOptionsOfReplacedModels(t *testing.T) {
	const quota = 300_000
	r := modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxBytes: quota}))
	ctx := tctx("x")
	big := strings.Repeat("a", 250_000)
	for i := range 10 {
		// A brings a large description into a new nested structure, B
		// reuses that structure, and A is replaced: the structure lives
		// on in B, without A's description.
		mustDefine(t, r, ctx, fmt.Sprintf(`{"name": "A", "properties": {"n": {"k%d": {"type": "string", "description": %q}}}}`, i, big))
		mustDefine(t, r, ctx, fmt.Sprintf(`{"name": "B%d", "properties": {"n": {"k%d": "string"}}}`, i, i))
		mustDefine(t, r, ctx, `{"name": "A", "properties": {"x": "string"}}`)
	}
	st, _ := r.TenantStats("x")
	if st.ApproxBytes > quota/10 || st.DefinitionBytes > quota/10 {
		t.Errorf("without any description left, the models hold about %d bytes (%d definition bytes counted)", st.ApproxBytes, st.DefinitionBytes)
	}
	// Two models that each describe a nested property hold a description
	// each, and each counts.
	shared := fmt.Sprintf(`"properties": {"n": {"k": {"type": "string", "description": %q}}}}`, big)
	mustDefine(t, r, ctx, `{"name": "C", `+shared)
	def, err := definition.Parse([]byte(`{"name": "D", `+shared), definition.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var qe *modelreg.QuotaError
	if err := r.CheckDefine(ctx, def); !errors.As(err, &qe) || qe.Quota != modelreg.QuotaBytes {
		t.Errorf("CheckDefine of a second %d-byte description under a %d-byte quota: %v, want the bytes quota", len(big), quota, err)
	}
	if _, err := r.Define(ctx, def); !errors.As(err, &qe) || qe.Quota != modelreg.QuotaBytes {
		t.Errorf("Define of a second %d-byte description under a %d-byte quota: %v, want the bytes quota", len(big), quota, err)
	}
	for _, m := range r.Models(ctx) {
		if _, err := r.RemoveModel(ctx, m.Name()); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := r.TenantStats("x"); st.Anonymous != 0 || st.DefinitionBytes != 0 || st.ApproxBytes != 0 {
		t.Errorf("with every model removed: %d anonymous models, %d definition bytes, %d approximate bytes", st.Anonymous, st.DefinitionBytes, st.ApproxBytes)
	}
}

// TestBytesQuotaCountsNestedForms: every anonymous model holds the
// canonical form of its structure, so a large structure nested d levels
// deep is held about d times; the bytes quota counts each nested form, and
// so bounds the memory a tenant's models hold (ApproxBytes) within a small
// factor however deep they nest.
func TestBytesQuotaCountsNestedForms(t *testing.T) {
	deep := func(name string, depth int) string {
		inner := fmt.Sprintf(`{"x": {"type": "string", "default": %q}}`, strings.Repeat("a", 4000))
		for range depth - 1 {
			inner = `{"n": ` + inner + `}`
		}
		return `{"name": "` + name + `", "properties": ` + inner + `}`
	}
	r := modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxBytes: 100_000}))
	ctx := tctx("deep")
	mustDefine(t, r, ctx, deep("A", 16))
	st, _ := r.TenantStats("deep")
	if st.DefinitionBytes < 16*4000 {
		t.Errorf("a 4,000-byte structure nested 16 deep counts %d bytes, want at least 16 times 4,000", st.DefinitionBytes)
	}
	if st.ApproxBytes > 2*st.DefinitionBytes {
		t.Errorf("the models hold about %d bytes, more than twice the %d the quota counts", st.ApproxBytes, st.DefinitionBytes)
	}
	// A second one, under 5 KB of JSON, would hold another 64 KB.
	var qe *modelreg.QuotaError
	if _, err := r.DefineJSON(ctx, []byte(deep("B", 16))); !errors.As(err, &qe) || qe.Quota != modelreg.QuotaBytes {
		t.Errorf("a second deep definition: %v, want the bytes quota", err)
	}
}

func TestEventsNeverBlock(t *testing.T) {
	r := modelreg.New()
	stuck := r.Subscribe(1) // never read
	defer stuck.Close()
	for i := range 50 {
		defineTenant(t, r, fmt.Sprintf("t%d", i), 3)
		if _, err := r.CleanupTenant(bg, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if stuck.Dropped() == 0 || r.Stats().Counters.EventsDropped != stuck.Dropped() {
		t.Errorf("dropped %d, counter %d", stuck.Dropped(), r.Stats().Counters.EventsDropped)
	}
	stuck.Close()
	stuck.Close()
	if _, open := <-stuck.C(); !open {
		// The one buffered event may still be there; then the channel closes.
		t.Log("closed")
	}
}

func TestEventsOrder(t *testing.T) {
	r := modelreg.New()
	sub := r.Subscribe(100)
	mustDefine(t, r, tctx("e"), `{"name": "A", "properties": {"o": {"x": "string"}, "p": {"x": "string"}}}`)
	mustDefine(t, r, tctx("e"), `{"name": "A", "properties": {"o": {"x": "string"}}}`)
	if _, err := r.RemoveModel(tctx("e"), "A"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CleanupTenant(bg, "e"); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	var got []string
	for ev := range sub.C() {
		s := ev.Kind.String()
		if ev.Anonymous {
			s += "(anon)"
		}
		if ev.Replaced {
			s += "(replaced)"
		}
		if ev.Tenant != "e" {
			t.Errorf("event %v of tenant %q", ev.Kind, ev.Tenant)
		}
		got = append(got, s)
	}
	want := []string{
		"TenantCreated", "ModelRegistered(anon)", "ModelReused(anon)", "ModelRegistered",
		"ModelReused(anon)", "ModelRegistered(replaced)", "ModelRemoved", "TenantCleaned",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
}

// TestEventsOrderAcrossCleanup: while a tenant is cleaned up, a define
// in it creates a new scope; a subscriber still sees the tenant's events in
// the order they took effect: created, its models, cleaned, created again,
// and never a model event of a tenant it was told is gone.
func TestEventsOrderAcrossCleanup(t *testing.T) {
	for iter := range 20 {
		r := modelreg.New()
		sub := r.Subscribe(1 << 16)
		for i := range 2000 {
			mustDefine(t, r, tctx("t"), fmt.Sprintf(`{"name": "M%d", "properties": {"a": "string"}}`, i))
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := r.CleanupTenant(bg, "t"); err != nil {
				t.Error(err)
			}
		}()
		for {
			mustDefine(t, r, tctx("t"), `{"name": "New", "properties": {"b": "string"}}`)
			if st, ok := r.TenantStats("t"); ok && st.Models == 1 {
				break // defined in the new scope
			}
		}
		<-done
		sub.Close()
		live := false
		for ev := range sub.C() {
			switch ev.Kind {
			case modelreg.EventTenantCreated:
				if live {
					t.Fatalf("iteration %d: TenantCreated while the tenant is live", iter)
				}
				live = true
			case modelreg.EventTenantCleaned:
				if !live {
					t.Fatalf("iteration %d: TenantCleaned of a tenant not live", iter)
				}
				live = false
			default:
				if !live {
					t.Fatalf("iteration %d: %v of a tenant not live", iter, ev.Kind)
				}
			}
		}
		if !live {
			t.Fatalf("iteration %d: the last events say the tenant is gone, but it is live", iter)
		}
	}
}

func TestCleanupHookErrors(t *testing.T) {
	r := modelreg.New()
	sub := r.Subscribe(100)
	defer sub.Close()
	boom := errors.New("boom")
	var seen []modelreg.CleanupReport
	r.OnCleanup(func(_ context.Context, rep modelreg.CleanupReport) error {
		seen = append(seen, rep)
		return nil
	})
	remove := r.OnCleanup(func(context.Context, modelreg.CleanupReport) error { return boom })
	defineTenant(t, r, "h", 2)
	rep, err := r.CleanupTenant(bg, "h")
	if !errors.Is(err, modelreg.ErrHook) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var he *modelreg.HookError
	if !errors.As(err, &he) || he.Tenant != "h" || rep.HookErr != err {
		t.Errorf("hook error %v, report %+v", err, rep)
	}
	if rep.ModelsRemoved != 2+4 || len(seen) != 1 || seen[0].ModelsRemoved != 6 || seen[0].HookErr != nil {
		t.Errorf("report %+v, seen %+v", rep, seen)
	}
	if _, ok := r.TenantStats("h"); ok {
		t.Error("tenant still live after a failed hook")
	}
	if c := r.Stats().Counters; c.HookErrors != 1 {
		t.Errorf("HookErrors = %d", c.HookErrors)
	}
	failed := false
	for len(sub.C()) > 0 {
		if ev := <-sub.C(); ev.Kind == modelreg.EventHookFailed && errors.Is(ev.Err, boom) {
			failed = true
		}
	}
	if !failed {
		t.Error("no EventHookFailed")
	}
	remove()
	defineTenant(t, r, "h", 1)
	if _, err := r.CleanupTenant(bg, "h"); err != nil {
		t.Errorf("after removing the hook: %v", err)
	}
}

// A hook that panics is reported as a failed hook: the cleanup returns,
// the other hooks run, and on the janitor's goroutine the process (and
// the janitor) goes on.
func TestCleanupHookPanics(t *testing.T) {
	r := modelreg.New()
	sub := r.Subscribe(100)
	defer sub.Close()
	boom := errors.New("boom")
	r.OnCleanup(func(context.Context, modelreg.CleanupReport) error { panic(boom) })
	ran := 0
	r.OnCleanup(func(context.Context, modelreg.CleanupReport) error { ran++; return nil })
	defineTenant(t, r, "h", 1)
	_, err := r.CleanupTenant(bg, "h")
	var hp *modelreg.HookPanicError
	if !errors.Is(err, modelreg.ErrHook) || !errors.As(err, &hp) || hp.Value != boom || len(hp.Stack) == 0 || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if ran != 1 {
		t.Errorf("the hook after the panicking one ran %d times, want 1", ran)
	}
	if c := r.Stats().Counters; c.HookErrors != 1 {
		t.Errorf("HookErrors = %d", c.HookErrors)
	}
	failed := false
	for len(sub.C()) > 0 {
		if ev := <-sub.C(); ev.Kind == modelreg.EventHookFailed && errors.As(ev.Err, &hp) {
			failed = true
		}
	}
	if !failed {
		t.Error("no EventHookFailed")
	}

	synctest.Test(t, func(t *testing.T) {
		r := modelreg.New()
		r.OnCleanup(func(context.Context, modelreg.CleanupReport) error { panic("hook bug") })
		j, err := r.StartJanitor(bg, 10*time.Millisecond, 15*time.Millisecond)
		must(t, err)
		defer j.Stop()
		for _, id := range []string{"a", "b"} {
			defineTenant(t, r, id, 1)
			time.Sleep(30 * time.Millisecond)
			synctest.Wait()
			if _, ok := r.TenantStats(id); ok {
				t.Fatalf("tenant %s not evicted: the janitor stopped", id)
			}
		}
		if c := r.Stats().Counters; c.HookErrors != 2 || c.Evictions != 2 {
			t.Errorf("counters %+v", c)
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// collected runs the collector until every pointer is nil.
func collected[T any](ws []weak.Pointer[T]) bool {
	for range 20 {
		runtime.GC()
		if !slices.ContainsFunc(ws, func(w weak.Pointer[T]) bool { return w.Value() != nil }) {
			return true
		}
	}
	return false
}

func TestCleanedTenantCollected(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("w") // a context that cached the scope
	keep := defineTenant(t, r, "keep", 2)
	var ws []weak.Pointer[modelreg.Model]
	for _, m := range defineTenant(t, r, "w", 10) {
		ws = append(ws, weak.Make(m))
		for _, a := range m.Nested() {
			ws = append(ws, weak.Make(a))
		}
	}
	// Hold the pooled state the last definitions (w's) used through the
	// collections, which would otherwise empty the pool.
	putBack := r.HoldPooled()
	r.FindByName(ctx, "w_Model1")
	r.FindByStructure(ctx, props(t, `{"sku": "string", "qty": "number", "price": "number"}`))
	l, _ := r.Acquire(bg, "w") // a lease still held
	if collected(ws) {
		t.Fatal("live models collected")
	}
	if _, err := r.CleanupTenant(bg, "w"); err != nil {
		t.Fatal(err)
	}
	if !collected(ws) {
		t.Error("models of the cleaned tenant still reachable")
	}
	putBack()
	runtime.KeepAlive(ctx)
	runtime.KeepAlive(l)
	runtime.KeepAlive(keep)
}

// TestUsedContextDropsCleanedScope checks that a tenant context kept after
// its tenant's cleanup lets go of the scope and name table it cached as
// soon as a lookup or a registration uses it again.
func TestUsedContextDropsCleanedScope(t *testing.T) {
	item := props(t, `{"sku": "string", "qty": "number", "price": "number"}`)
	for _, tc := range []struct {
		name string
		use  func(r *modelreg.Registry, ctx context.Context)
	}{
		{"FindByName", func(r *modelreg.Registry, ctx context.Context) { r.FindByName(ctx, "w_Model1") }},
		{"FindByStructure", func(r *modelreg.Registry, ctx context.Context) { r.FindByStructure(ctx, item) }},
		{"Models", func(r *modelreg.Registry, ctx context.Context) { r.Models(ctx) }},
		{"Define", func(r *modelreg.Registry, ctx context.Context) {
			if _, err := r.DefineJSON(ctx, []byte(`{"name": "Again", "properties": {"a": "string"}}`)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := modelreg.New()
			ctx := tctx("w")
			defineTenant(t, r, "w", 3)
			if _, ok := r.FindByName(ctx, "w_Model1"); !ok { // caches the scope and its name table
				t.Fatal("w_Model1 not found")
			}
			scopeAlive, tableAlive := modelreg.ContextCache(ctx)
			if !scopeAlive() || !tableAlive() {
				t.Fatal("the context caches no scope or no name table")
			}
			if _, err := r.CleanupTenant(bg, "w"); err != nil {
				t.Fatal(err)
			}
			tc.use(r, ctx)
			alive := func() bool { runtime.GC(); return scopeAlive() || tableAlive() }
			for i := 0; i < 10 && alive(); i++ {
			}
			if scopeAlive() {
				t.Error("the context still holds the cleaned-up scope")
			}
			if tableAlive() {
				t.Error("the context still holds the cleaned-up scope's name table")
			}
			runtime.KeepAlive(ctx)
		})
	}
}

func TestReplaceReleasesOrphans(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("edit")
	n := 100000
	if testing.Short() || raceEnabled {
		n = 10000
	}
	var orphans []weak.Pointer[modelreg.Model]
	var shared, last *modelreg.Model
	for i := range n {
		m := mustDefine(t, r, ctx, fmt.Sprintf(`{"name": "M", "properties": {"v": {"f%d": {"g%d": "string"}}, "s": {"keep": "number"}}}`, i, i))
		shared, last = nested(t, r, m, "s"), nested(t, r, m, "v")
		if i%1000 == 0 {
			orphans = append(orphans, weak.Make(last), weak.Make(nested(t, r, last, fmt.Sprintf("f%d", i))))
		}
	}
	st, _ := r.TenantStats("edit")
	if st.Models != 1 || st.Anonymous != 3 {
		t.Errorf("after %d edits: %d models, %d anonymous, want 1 and 3", n, st.Models, st.Anonymous)
	}
	c := r.Stats().Counters
	if c.Registrations != uint64(n) || c.Replacements != uint64(n-1) ||
		c.AnonymousCreated != uint64(1+2*n) || c.AnonymousReleased != uint64(2*(n-1)) {
		t.Errorf("counters %+v", c)
	}
	if g := r.Stats().Gauges; g.TenantModels != 1 || g.TenantAnonymous != 3 {
		t.Errorf("gauges %+v", g)
	}
	if !collected(orphans) {
		t.Error("orphaned anonymous models still reachable")
	}
	// Sanity: the live ones are not collected.
	if collected([]weak.Pointer[modelreg.Model]{weak.Make(shared)}) || collected([]weak.Pointer[modelreg.Model]{weak.Make(last)}) {
		t.Fatal("a live anonymous model was collected")
	}
	// Removing the model releases everything.
	ws := []weak.Pointer[modelreg.Model]{weak.Make(shared), weak.Make(last)}
	shared, last = nil, nil
	if ok, err := r.RemoveModel(ctx, "M"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if st, _ := r.TenantStats("edit"); st.Models != 0 || st.Anonymous != 0 || st.DefinitionBytes != 0 {
		t.Errorf("after removal %+v", st)
	}
	if !collected(ws) {
		t.Error("removed model's anonymous models still reachable")
	}
}

// TestDefineJSONReleasesReplacedAnonymous edits a schema in which each
// version's new structure comes back in the next one (cur, then prev) and
// whose anonymous models hold arrays, with DefineJSON and with Define:
// every anonymous model the edits release is collected. DefineJSON's
// anonymous models once kept the element Types of the parse that created
// them, which point to that version's other anonymous models, so each
// edit added a link to a chain that was never collected.
func TestDefineJSONReleasesReplacedAnonymous(t *testing.T) {
	for _, name := range []string{"DefineJSON", "Define"} {
		t.Run(name, func(t *testing.T) {
			r := modelreg.New()
			ctx := tctx("edit")
			const n = 50
			var cur []weak.Pointer[modelreg.Model]
			for k := 1; k <= n; k++ {
				js := fmt.Sprintf(`{"name": "N", "properties": {"cur": [{"id%d": ["string"]}], "prev": [{"id%d": ["string"]}]}}`, k, k-1)
				var m *modelreg.Model
				if name == "Define" {
					def := parsed(t, []byte(js))
					var err error
					if m, err = r.Define(ctx, def); err != nil {
						t.Fatal(err)
					}
				} else {
					m = mustDefine(t, r, ctx, js)
				}
				cur = append(cur, weak.Make(nested(t, r, m, "cur")))
			}
			if st, _ := r.TenantStats("edit"); st.Models != 1 || st.Anonymous != 2 {
				t.Fatalf("%d models, %d anonymous, want 1 and 2", st.Models, st.Anonymous)
			}
			// The last two versions' cur are the live model's prev and cur.
			released := cur[:n-2]
			if !collected(released) {
				alive := 0
				for _, w := range released {
					if w.Value() != nil {
						alive++
					}
				}
				t.Errorf("%d of the %d released anonymous models still reachable", alive, len(released))
			}
			for _, w := range cur[n-2:] {
				if collected([]weak.Pointer[modelreg.Model]{w}) {
					t.Fatal("a live anonymous model was collected")
				}
			}
			runtime.KeepAlive(r)
		})
	}
}

func TestInjectedClock(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := modelreg.New(modelreg.WithClock(clock))
	mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
	st, _ := r.TenantStats("a")
	if !st.Created.Equal(clock()) || !st.LastActive.Equal(clock()) || st.Idle != 0 {
		t.Errorf("stats %+v", st)
	}
	kept := tctx("a")
	r.FindByName(kept, "A") // caches the tenant's name table in kept
	advance(2 * time.Hour)
	r.FindByName(tctx("a"), "A") // recorded when next taken: TenantStats
	st, _ = r.TenantStats("a")
	if !st.LastActive.Equal(clock()) {
		t.Errorf("lookup not recorded: %+v", st)
	}
	advance(time.Hour)
	r.FindByName(kept, "A") // through the cached table
	st, _ = r.TenantStats("a")
	if !st.LastActive.Equal(clock()) {
		t.Errorf("lookup through a kept context not recorded: %+v", st)
	}
	advance(61 * time.Minute)
	if st, _ := r.TenantStats("a"); st.Idle != 61*time.Minute {
		t.Errorf("idle %v", st.Idle)
	}
	if got := evicted(r.CleanupIdle(bg, time.Hour)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("evicted %v", got)
	}
}

func TestChurnFlatHeap(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are not meaningful under the race detector")
	}
	r := modelreg.New()
	js := make([][]byte, 10)
	for m := range js {
		js[m] = recipeJSON("cycle", m)
	}
	ctx := tctx("cycle")
	cycle := func() {
		for _, j := range js {
			if _, err := r.DefineJSON(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if rep, err := r.CleanupTenant(bg, "cycle"); err != nil || rep.ModelsRemoved != 22 {
			t.Fatal(rep, err)
		}
	}
	n := 4000
	if testing.Short() {
		n = 1000
	}
	for range n / 4 {
		cycle()
	}
	before := liveHeap()
	for range n {
		cycle()
	}
	after := liveHeap()
	if g := r.Stats().Gauges; g.Tenants != 0 || g.TenantModels != 0 || g.TenantAnonymous != 0 || g.TenantBytes != 0 {
		t.Errorf("gauges %+v", g)
	}
	// One tenant of 10 models is about 20 KB: a leak of one byte per
	// cycle would already show.
	if growth := int64(after) - int64(before); growth > 64<<10 {
		t.Errorf("heap grew by %d bytes over %d cycles", growth, n)
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	r := modelreg.New()
	defineTenant(t, r, "a", 2)
	ctx := tctx("a")
	q := props(t, `{"sku": "string", "qty": "number", "price": "number"}`)
	// A named model does not keep its canonical form: a lookup that
	// finds one writes the form into the lookup's own buffer.
	point, err := r.DefineJSON(ctx, []byte(`{"name": "Point", "properties": {"x": "number", "y": "number"}}`))
	must(t, err)
	qPoint := props(t, `{"y": "number", "x": "number"}`)
	if m, ok := r.FindByStructure(ctx, qPoint); !ok || m != point {
		t.Fatalf("FindByStructure(Point's structure) = %v, %v", m, ok)
	}
	for name, f := range map[string]func(){
		"TenantFromContext":     func() { modelreg.TenantFromContext(ctx) },
		"FindByName":            func() { r.FindByName(ctx, "a_Model1") },
		"FindByName global":     func() { r.FindByName(bg, "a_Model1") },
		"FindByStructure":       func() { r.FindByStructure(ctx, q) },
		"FindByStructure named": func() { r.FindByStructure(ctx, qPoint) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}

func TestJanitorStopLeavesNoGoroutine(t *testing.T) {
	r := modelreg.New()
	j, err := r.StartJanitor(bg, time.Hour, time.Hour)
	must(t, err)
	j.Stop()
	goleak.VerifyNone(t)
}

// A model keeps nothing of the parsed definition it was compiled from:
// the parser allocates a definition's properties, objects and array
// types together, so sharing even one array Type would keep them all.
func TestDefineDoesNotRetainDefinition(t *testing.T) {
	for _, src := range []string{
		`{"name": "A", "properties": {"tags": ["string"]}}`,
		`{"name": "A", "properties": {"tags": ["string"], "lines": [{"sku": "string"}]}}`,
		`{"name": "A", "properties": {"refs": ["B"], "o": {"x": [["number"]], "y": [{"z": "date"}]}}}`,
		`{"name": "A", "strict": true, "properties": {"id": {"type": "string", "required": true, "default": "x"},
			"tags": {"type": ["string"], "pattern": "^a"}, "s": {"a": "string"}, "b": {"a": "string"}}}`,
	} {
		r := modelreg.New()
		def := parsed(t, []byte(src))
		ws := []weak.Pointer[definition.Property]{weak.Make(&def.Properties[0])}
		for _, p := range def.Properties {
			if o := p.Type.Object; o != nil {
				ws = append(ws, weak.Make(&o.Properties[0]))
			}
		}
		m, err := r.Define(tctx("t"), def)
		if err != nil {
			t.Fatal(err)
		}
		def = nil
		if !collected(ws) {
			t.Errorf("%s: the model keeps the parsed definition reachable", src)
		}
		if got, ok := r.FindByName(tctx("t"), "A"); !ok || got != m {
			t.Fatalf("%s: model lost", src)
		}
	}
}

// heldClock is an injected clock whose next read, once held, waits after
// reading the time, as a preempted goroutine would.
type heldClock struct {
	mu      sync.Mutex
	now     time.Time
	hold    bool
	skip    int           // reads to let pass before the held one
	reading chan struct{} // a held read has read the time
	release chan struct{}
}

func (c *heldClock) read() time.Time {
	c.mu.Lock()
	v, hold := c.now, c.hold
	if c.skip > 0 {
		c.skip--
		hold = false
	} else {
		c.hold = false
	}
	c.mu.Unlock()
	if hold {
		c.reading <- struct{}{}
		<-c.release
	}
	return v
}

// holdRead holds the n-th read from now on.
func (c *heldClock) holdRead(n int) {
	c.mu.Lock()
	c.hold, c.skip = true, n-1
	c.mu.Unlock()
}

func (c *heldClock) set(d time.Duration) {
	c.mu.Lock()
	c.now = time.Unix(0, 0).Add(d)
	c.mu.Unlock()
}

// TestSweepRecordsLookupNoEarlier checks that a lookup made while a sweep
// runs is recorded at a time no earlier than the lookup: the sweep read
// its clock before the lookup, and recording the lookup at that time made
// a later sweep evict a tenant looked up within its idle limit.
func TestSweepRecordsLookupNoEarlier(t *testing.T) {
	c := &heldClock{reading: make(chan struct{}), release: make(chan struct{})}
	r := modelreg.New(modelreg.WithClock(c.read))
	c.set(0)
	mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)

	c.set(100 * time.Millisecond)
	c.mu.Lock()
	c.hold = true
	c.mu.Unlock()
	done := make(chan []modelreg.CleanupReport)
	go func() { done <- r.CleanupIdle(bg, 50*time.Millisecond) }() // reads 100ms, then waits
	<-c.reading
	c.set(190 * time.Millisecond)
	if _, ok := r.FindByName(tctx("a"), "A"); !ok { // a lookup at 190ms
		t.Fatal("A not found")
	}
	close(c.release)
	if got := evicted(<-done); got != nil {
		t.Fatalf("the sweep running during the lookup evicted %v", got)
	}
	c.set(210 * time.Millisecond) // 20ms after the lookup; the limit is 50ms
	if st, _ := r.TenantStats("a"); st.LastActive.Before(time.Unix(0, 0).Add(190 * time.Millisecond)) {
		t.Errorf("LastActive %v is earlier than the lookup at 190ms", st.LastActive.Sub(time.Unix(0, 0)))
	}
	if got := evicted(r.CleanupIdle(bg, 50*time.Millisecond)); got != nil {
		t.Errorf("evicted %v 20ms after a lookup, with a limit of 50ms", got)
	}
}

// TestSweepDuringMarkKeepsTenant runs a sweep while another sweep, or a
// TenantStats call, has taken a tenant's lookup mark and is reading the
// clock to record it: the tenant, looked up an instant before, must stay.
// The second sweep once found neither the mark nor a recent activity time
// and evicted it.
func TestSweepDuringMarkKeepsTenant(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(r *modelreg.Registry) []modelreg.CleanupReport
	}{
		{"sweep", func(r *modelreg.Registry) []modelreg.CleanupReport { return r.CleanupIdle(bg, time.Hour) }},
		{"TenantStats", func(r *modelreg.Registry) []modelreg.CleanupReport { r.TenantStats("a"); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &heldClock{reading: make(chan struct{}), release: make(chan struct{})}
			r := modelreg.New(modelreg.WithClock(c.read))
			c.set(0)
			mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
			c.set(2 * time.Hour)
			if _, ok := r.FindByName(tctx("a"), "A"); !ok { // marks a
				t.Fatal("A not found")
			}
			// Both calls read the clock first, then take the mark and read
			// it again: hold that second read.
			c.holdRead(2)
			first := make(chan []modelreg.CleanupReport)
			go func() { first <- tc.first(r) }()
			<-c.reading
			second := make(chan []modelreg.CleanupReport, 1)
			go func() { second <- r.CleanupIdle(bg, time.Hour) }()
			var got []modelreg.CleanupReport
			done := false
			select {
			case got = <-second: // it ran entirely in the window
				done = true
			case <-time.After(200 * time.Millisecond): // it waits: fine
			}
			close(c.release)
			got = append(got, <-first...)
			if !done {
				got = append(got, <-second...)
			}
			if e := evicted(got); e != nil {
				t.Errorf("evicted %v, looked up an instant before, with a limit of an hour", e)
			}
			if _, ok := r.TenantStats("a"); !ok {
				t.Error("tenant a is gone")
			}
		})
	}
}

// TestNilContextAndHook checks that the calls documented to take a context
// accept a nil one as context.Background(), as WithTenant does, and that a
// nil cleanup hook is ignored rather than run.
func TestNilContextAndHook(t *testing.T) {
	r := modelreg.New()
	r.OnCleanup(nil)
	var got []context.Context
	var mu sync.Mutex
	r.OnCleanup(func(ctx context.Context, _ modelreg.CleanupReport) error {
		mu.Lock()
		got = append(got, ctx)
		mu.Unlock()
		return nil
	})
	mustDefine(t, r, tctx("a"), `{"name": "A", "properties": {"x": "string"}}`)
	mustDefine(t, r, tctx("b"), `{"name": "B", "properties": {"x": "string"}}`)
	//lint:ignore SA1012 a nil context is what is tested
	if rep, err := r.CleanupTenant(nil, "a"); err != nil || rep.ModelsRemoved != 1 {
		t.Fatalf("CleanupTenant(nil, a) = %+v, %v", rep, err)
	}
	//lint:ignore SA1012 a nil context is what is tested
	if got := evicted(r.CleanupIdle(nil, time.Nanosecond)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("CleanupIdle(nil) evicted %v, want [b]", got)
	}
	mustDefine(t, r, tctx("c"), `{"name": "C", "properties": {"x": "string"}}`)
	//lint:ignore SA1012 a nil context is what is tested
	j, err := r.StartJanitor(nil, time.Millisecond, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, live := r.TenantStats("c"); !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the janitor started with a nil context did not evict c")
		}
	}
	j.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("the hook ran %d times, want 3", len(got))
	}
	for i, ctx := range got {
		if ctx == nil {
			t.Errorf("hook call %d got a nil context", i)
		}
	}
}

// TestRestoreSkipsQuotas checks Restore: it registers what the tenant's
// quotas refuse (a model past MaxModels, bytes past MaxBytes, depth past
// MaxDepth), after which Define still refuses new models until the tenant
// is back under its quotas; its other errors are Define's.
func TestRestoreSkipsQuotas(t *testing.T) {
	r := modelreg.New()
	must(t, r.SetPolicy("acme", modelreg.Policy{MaxModels: 1, MaxBytes: 200, MaxDepth: 2}))
	ctx := tctx("acme")
	parse := func(js string) *definition.Definition {
		d, err := definition.Parse([]byte(js), definition.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	mustDefine(t, r, ctx, `{"name": "A", "properties": {"x": "string"}}`)
	for _, js := range []string{
		`{"name": "B", "properties": {"x": "string"}}`,                                                          // MaxModels
		`{"name": "C", "properties": {"o": {"p": {"q": {"r": "string"}}}}}`,                                     // MaxDepth
		`{"name": "D", "properties": {"x": {"type": "string", "default": "` + strings.Repeat("y", 300) + `"}}}`, // MaxBytes
	} {
		def := parse(js)
		var qe *modelreg.QuotaError
		if _, err := r.Define(ctx, def); !errors.As(err, &qe) {
			t.Fatalf("Define %s: %v, want a *QuotaError", def.Name, err)
		}
		if _, err := r.Restore(ctx, def); err != nil {
			t.Fatalf("Restore %s: %v", def.Name, err)
		}
		if _, ok := r.FindByName(ctx, def.Name); !ok {
			t.Errorf("%s restored but not found", def.Name)
		}
	}
	var qe *modelreg.QuotaError
	if _, err := r.Define(ctx, parse(`{"name": "E", "properties": {"x": "string"}}`)); !errors.As(err, &qe) {
		t.Errorf("Define over the quotas after Restore: %v, want a *QuotaError", err)
	}
	if _, err := r.Restore(tctx("bad id!"), parse(`{"name": "F"}`)); !errors.Is(err, modelreg.ErrInvalidTenant) {
		t.Errorf("Restore with an invalid tenant: %v", err)
	}
	if _, err := r.Restore(ctx, nil); !errors.Is(err, modelreg.ErrInvalidDefinition) {
		t.Errorf("Restore(nil): %v", err)
	}
}

// A tenant over its MaxBytes quota (restored, or the quota lowered) may
// still replace a model with a definition no larger than the one it
// replaces, as Restore's doc says; it gets no new model and no larger one.
func TestOverQuotaTenantMayShrink(t *testing.T) {
	r := modelreg.New()
	must(t, r.SetPolicy("acme", modelreg.Policy{MaxBytes: 200}))
	must(t, r.SetPolicy("solo", modelreg.Policy{MaxBytes: 200}))
	must(t, r.SetPolicy("none", modelreg.Policy{MaxBytes: 200}))
	def := func(name string, n int) *definition.Definition {
		d, err := definition.Parse([]byte(`{"name": "`+name+`", "properties": {"x": {"type": "string", "default": "`+strings.Repeat("y", n)+`"}}}`), definition.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, name := range []string{"A", "B", "C"} {
		if _, err := r.Restore(tctx("acme"), def(name, 60)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Restore(tctx("solo"), def("Big", 300)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant string
		def    *definition.Definition
		ok     bool
	}{
		{"acme", def("A", 60), true},  // unchanged
		{"acme", def("A", 61), false}, // larger
		{"acme", def("A", 10), true},  // smaller, the tenant still over
		{"acme", def("A", 11), false}, // larger than the one it replaces
		{"acme", def("D", 1), false},  // a new model
		// Over the quota on its own, but smaller than the one it replaces.
		{"solo", def("Big", 250), true},
		{"solo", def("Big", 251), false},
		{"solo", def("Other", 1), false},
		// Over the quota on its own, with no model to replace.
		{"none", def("Big", 250), false},
	} {
		ctx := tctx(c.tenant)
		before, _ := r.TenantStats(c.tenant)
		checkErr := r.CheckDefine(ctx, c.def)
		_, err := r.Define(ctx, c.def)
		if (checkErr == nil) != (err == nil) {
			t.Errorf("%s %s: CheckDefine %v, Define %v", c.tenant, c.def.Name, checkErr, err)
		}
		var qe *modelreg.QuotaError
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: Define %s (%d bytes before): %v", c.tenant, c.def.Name, before.DefinitionBytes, err)
		case !c.ok && !errors.As(err, &qe):
			t.Errorf("%s: Define %s (%d bytes before): %v, want a *QuotaError", c.tenant, c.def.Name, before.DefinitionBytes, err)
		}
	}
	// The refusal did not create the tenant.
	if _, ok := r.TenantStats("none"); ok {
		t.Error("a refused registration created the tenant")
	}
}

// TestSubscribeHugeBuffer checks that Subscribe bounds its buffer rather
// than failing to make the channel.
func TestSubscribeHugeBuffer(t *testing.T) {
	r := modelreg.New()
	for _, n := range []int{math.MaxInt, math.MaxInt32} {
		s := r.Subscribe(n)
		s.Close()
	}
}

// TestSubscribeSeesEveryLaterRegistration: a subscription gets the events
// of every registration that was not yet findable when Subscribe returned,
// also when it is the registry's first subscription and a Define was
// already under way (it decided whether to send events before its model
// was findable).
func TestSubscribeSeesEveryLaterRegistration(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"name": "Big", "properties": {`)
	for i := range 900 { // the parser's limit is 1,000 properties
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"p%d": {"x%d": "string", "y": {"z%d": "number"}}`, i, i, i)
	}
	b.WriteString(`}}`)
	def := []byte(b.String())
	ctx := tctx("subs")
	runs, raced := 300, 0
	if testing.Short() {
		runs = 60
	}
	for i := range runs {
		r := modelreg.New()
		done := make(chan error)
		go func() {
			_, err := r.DefineJSON(ctx, def)
			done <- err
		}()
		// Subscribe at varying moments of the Define.
		for range i % 50 {
			runtime.Gosched()
		}
		sub := r.Subscribe(4000)
		_, before := r.FindByName(ctx, "Big")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sub.Close()
		got := false
		for ev := range sub.C() {
			got = got || ev.Kind == modelreg.EventModelRegistered && ev.Model == "Big"
		}
		if !before {
			raced++
			if !got {
				t.Fatalf("run %d: subscribed before Big was findable, but got no ModelRegistered event for it", i)
			}
		}
	}
	t.Logf("%d of %d runs subscribed before the model was findable", raced, runs)
}

// TestZeroValuesAreInert: the exported types that only a Registry makes
// are safe to use as zero values (or nil): they hold and run nothing, and
// never panic.
func TestZeroValuesAreInert(t *testing.T) {
	var l modelreg.Lease
	l.Release()
	l.Release()
	if l.Tenant() != "" {
		t.Errorf("zero Lease has tenant %q", l.Tenant())
	}
	var nl *modelreg.Lease
	nl.Release()

	var j modelreg.Janitor
	j.Stop()
	j.Stop()
	select {
	case <-j.Done():
	default:
		t.Error("zero Janitor's Done is not closed")
	}
	(*modelreg.Janitor)(nil).Stop()

	var s modelreg.Subscription
	s.Close()
	s.Close()
	if _, ok := <-s.C(); ok {
		t.Error("zero Subscription's channel is open")
	}
	if s.Dropped() != 0 {
		t.Error("zero Subscription dropped events")
	}
	var ns *modelreg.Subscription
	ns.Close()
	if _, ok := <-ns.C(); ok || ns.Dropped() != 0 {
		t.Error("nil Subscription is not closed")
	}
}
