package modelreg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

func TestRecipeTenantCounts(t *testing.T) {
	r := modelreg.New()
	const M = 10
	ms := defineTenant(t, r, "t1", M)
	st, ok := r.TenantStats("t1")
	if !ok {
		t.Fatal("tenant t1 not live")
	}
	if st.Models != M || st.Anonymous != M+2 {
		t.Errorf("models %d anonymous %d, want %d and %d", st.Models, st.Anonymous, M, M+2)
	}
	c := r.Stats().Counters
	if c.Registrations != M || c.AnonymousCreated != M+2 || c.Reuses != 2*M-2 {
		t.Errorf("counters %+v, want %d registrations, %d anonymous created, %d reuses", c, M, M+2, 2*M-2)
	}
	addr, item := nested(t, r, ms[0], "address"), nested(t, r, ms[0], "items")
	details := map[*modelreg.Model]bool{}
	for m, mm := range ms {
		if a := nested(t, r, mm, "address"); a != addr {
			t.Errorf("model %d: address model %p, want %p", m, a, addr)
		}
		if a := nested(t, r, mm, "items"); a != item {
			t.Errorf("model %d: item model %p, want %p", m, a, item)
		}
		d := nested(t, r, mm, "detail")
		if details[d] {
			t.Errorf("model %d: detail shared with another model", m)
		}
		details[d] = true
		if !d.Anonymous() || d.Name() != "" || d.Tenant() != "t1" || d.Definition() != nil {
			t.Errorf("detail model: anonymous %v name %q tenant %q", d.Anonymous(), d.Name(), d.Tenant())
		}
	}
	// The compiled tree shares the interned objects.
	p, _ := ms[3].Object().Property("address")
	if p.Type.Object != addr.Object() {
		t.Error("address property does not point to the interned object")
	}
	g := r.Stats().Gauges
	if g.Tenants != 1 || g.TenantModels != M || g.TenantAnonymous != M+2 || g.GlobalModels != 0 {
		t.Errorf("gauges %+v", g)
	}
}

func TestFindByStructureRecipe(t *testing.T) {
	r := modelreg.New()
	const M = 10
	ms := map[string][]*modelreg.Model{}
	for _, tn := range []string{"a", "b"} {
		ms[tn] = defineTenant(t, r, tn, M)
	}
	q := queries(t, M)
	for _, tn := range []string{"a", "b"} {
		for k, query := range q {
			var want *modelreg.Model
			switch {
			case k < M:
				want = nested(t, r, ms[tn][0], "address")
			case k < 2*M:
				want = nested(t, r, ms[tn][k-M], "detail")
			default:
				want = nested(t, r, ms[tn][0], "items")
			}
			got, ok := r.FindByStructure(tctx(tn), query)
			if !ok || got != want {
				t.Errorf("tenant %s Q[%d]: got %v, want %v", tn, k, got, want)
			}
		}
	}
	// Without a tenant: no tenant model is ever found.
	for k, query := range q {
		if m, ok := r.FindByStructure(bg, query); ok {
			t.Errorf("tenantless Q[%d] found %s of tenant %q", k, m.ID(), m.Tenant())
		}
	}
	miss := props(t, `{"zz_nomatch_a": "string", "zz_nomatch_b": "number"}`)
	if m, ok := r.FindByStructure(tctx("a"), miss); ok {
		t.Errorf("miss query found %s", m.ID())
	}
}

func TestIsolation(t *testing.T) {
	r := modelreg.New()
	a := mustDefine(t, r, tctx("a"), `{"name": "Customer", "properties": {"addr": {"street": "string"}}}`)
	mustDefine(t, r, tctx("b"), `{"name": "Other", "properties": {"x": "string"}}`)
	g := mustDefine(t, r, bg, `{"name": "Shared", "properties": {"loc": {"lat": "number"}}}`)
	street := props(t, `{"street": "string"}`)
	lat := props(t, `{"lat": "number"}`)

	// Tenant b sees nothing of a.
	if _, ok := r.FindByName(tctx("b"), "Customer"); ok {
		t.Error("tenant b found tenant a's model by name")
	}
	if _, ok := r.FindByStructure(tctx("b"), street); ok {
		t.Error("tenant b found tenant a's anonymous model by structure")
	}
	// Tenantless code sees nothing of a.
	if _, ok := r.FindByName(bg, "Customer"); ok {
		t.Error("tenantless lookup found tenant a's model")
	}
	if _, ok := r.FindByStructure(bg, street); ok {
		t.Error("tenantless structure lookup found tenant a's model")
	}
	// a sees its own model and the global named model...
	if m, ok := r.FindByName(tctx("a"), "Customer"); !ok || m != a {
		t.Error("tenant a cannot find its model")
	}
	if m, ok := r.FindByName(tctx("a"), "Shared"); !ok || m != g {
		t.Error("tenant a cannot find the global named model")
	}
	// ... but not the global anonymous model.
	if m, ok := r.FindByStructure(tctx("a"), lat); ok {
		t.Errorf("tenant a found global anonymous model %s", m.ID())
	}
	if m, ok := r.FindByStructure(bg, lat); !ok || !m.Anonymous() || m.Tenant() != "" {
		t.Error("tenantless structure lookup does not find the global anonymous model")
	}
	// Global code sees only global models.
	if m, ok := r.FindByName(bg, "Shared"); !ok || m != g {
		t.Error("global lookup does not find the global model")
	}
	// Anonymous models have no findable name, whatever their display id.
	for _, ctx := range []string{"", "a", "b"} {
		c := bg
		if ctx != "" {
			c = tctx(ctx)
		}
		for _, anon := range append(a.Nested(), g.Nested()...) {
			for _, name := range []string{anon.ID(), anon.Name()} {
				if _, ok := r.FindByName(c, name); ok {
					t.Errorf("context %q found anonymous model by name %q", ctx, name)
				}
			}
		}
	}
	// Models lists what FindByName can return.
	names := func(ms []*modelreg.Model) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name())
		}
		return out
	}
	if got := names(r.Models(tctx("a"))); !slices.Equal(got, []string{"Customer", "Shared"}) {
		t.Errorf("Models(a) = %v", got)
	}
	if got := names(r.Models(bg)); !slices.Equal(got, []string{"Shared"}) {
		t.Errorf("Models(global) = %v", got)
	}
	if got := names(r.Models(tctx("nobody"))); !slices.Equal(got, []string{"Shared"}) {
		t.Errorf("Models(nobody) = %v", got)
	}
}

func TestTenantDoesNotReuseGlobalAnonymous(t *testing.T) {
	r := modelreg.New()
	g := mustDefine(t, r, bg, `{"name": "ProbeGlobal", "properties": {"z": {"probe_k": "string"}}}`)
	m := mustDefine(t, r, tctx("probe_global"), `{"name": "ProbeTenant", "properties": {"z": {"probe_k": "string"}}}`)
	gz, tz := nested(t, r, g, "z"), nested(t, r, m, "z")
	if gz == tz || tz.Tenant() != "probe_global" || gz.Tenant() != "" {
		t.Errorf("tenant z = %p (tenant %q), global z = %p", tz, tz.Tenant(), gz)
	}
	if r.Stats().Counters.Reuses != 0 {
		t.Error("a reuse was counted across scopes")
	}
}

func TestShadowingGlobalName(t *testing.T) {
	r := modelreg.New()
	g := mustDefine(t, r, bg, `{"name": "User", "properties": {"a": "string"}}`)
	u := mustDefine(t, r, tctx("t"), `{"name": "User", "properties": {"b": "string"}}`)
	if m, _ := r.FindByName(tctx("t"), "User"); m != u {
		t.Error("tenant model does not shadow the global one")
	}
	if m, _ := r.FindByName(tctx("u"), "User"); m != g {
		t.Error("other tenant does not see the global model")
	}
	if m, _ := r.FindByName(bg, "User"); m != g {
		t.Error("global code does not see the global model")
	}
	if ms := r.Models(tctx("t")); len(ms) != 1 || ms[0] != u {
		t.Errorf("Models(t) = %v", ms)
	}
}

func TestDedupForms(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("forms")
	a := mustDefine(t, r, ctx, `{"name": "A", "properties": {"o": {"x": "string", "y": {"type": "Number", "required": false}}}}`)
	b := mustDefine(t, r, ctx, `{"name": "B", "properties": {"o": {"type": {"y": "number", "x": {"type": "STRING"}}}}}`)
	c := mustDefine(t, r, ctx, `{"name": "C", "properties": {"list": [{"y": "number", "x": "string"}], "deep": [[{"x": "String", "y": "number"}]]}}`)
	want := nested(t, r, a, "o")
	for _, got := range []*modelreg.Model{nested(t, r, b, "o"), nested(t, r, c, "list"), nested(t, r, c, "deep")} {
		if got != want {
			t.Errorf("equal structure got %s, want %s", got.Canonical(), want.Canonical())
		}
	}
	// Options and types distinguish shapes.
	distinct := []string{
		`{"x": "string", "y": "string"}`,
		`{"x": {"type": "string", "required": true}, "y": "number"}`,
		`{"x": {"type": "string", "default": "a"}, "y": "number"}`,
		`{"x": {"type": "string", "pattern": "^a"}, "y": "number"}`,
		`{"x": {"type": "string", "id": true}, "y": "number"}`,
		`{"x": ["string"], "y": "number"}`,
		`{"x": "Address", "y": "number"}`,
		`{"x": {"z": "string"}, "y": "number"}`,
		`{"x": "string"}`,
	}
	seen := map[*modelreg.Model]string{want: "base"}
	for i, d := range distinct {
		m := mustDefine(t, r, ctx, fmt.Sprintf(`{"name": "D%d", "properties": {"o": %s}}`, i, d))
		o := nested(t, r, m, "o")
		if prev, dup := seen[o]; dup {
			t.Errorf("%s resolved to the model of %s", d, prev)
		}
		seen[o] = d
	}
}

func TestDeepNesting(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("deep")
	build := func(leaf string, depth int) string {
		s := `{"leaf": "` + leaf + `"}`
		for i := range depth {
			s = fmt.Sprintf(`{"l%d": %s}`, i, s)
		}
		return s
	}
	a := mustDefine(t, r, ctx, `{"name": "A", "properties": {"p": `+build("string", 20)+`}}`)
	st, _ := r.TenantStats("deep")
	if st.Anonymous != 21 {
		t.Errorf("anonymous = %d, want 21", st.Anonymous)
	}
	// Same structure, same chain; a different leaf makes every level new.
	b := mustDefine(t, r, ctx, `{"name": "B", "properties": {"p": `+build("string", 20)+`}}`)
	if nested(t, r, a, "p") != nested(t, r, b, "p") {
		t.Error("identical deep structure not reused")
	}
	mustDefine(t, r, ctx, `{"name": "C", "properties": {"p": `+build("number", 20)+`}}`)
	st, _ = r.TenantStats("deep")
	if st.Anonymous != 42 {
		t.Errorf("anonymous = %d, want 42", st.Anonymous)
	}
	// An inner level alone is found by structure.
	if _, ok := r.FindByStructure(ctx, props(t, build("number", 5))); !ok {
		t.Error("inner level not found by structure")
	}
}

func TestNestedNeverResolvesToNamed(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("n")
	named := mustDefine(t, r, ctx, `{"name": "Address", "properties": {"street": "string"}}`)
	m := mustDefine(t, r, ctx, `{"name": "User", "properties": {"addr": {"street": "string"}}}`)
	a := nested(t, r, m, "addr")
	if a == named || !a.Anonymous() {
		t.Error("nested object resolved to a named model")
	}
	// Structure lookup: anonymous first.
	if got, _ := r.FindByStructure(ctx, props(t, `{"street": "string"}`)); got != a {
		t.Errorf("FindByStructure = %s, want the anonymous model", got.ID())
	}
	// Removing the anonymous model's only user leaves the named model.
	if ok, err := r.RemoveModel(ctx, "User"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got, _ := r.FindByStructure(ctx, props(t, `{"street": "string"}`)); got != named {
		t.Errorf("after removal FindByStructure = %v, want the named model", got)
	}
}

func TestCollisionNeverReturnsWrongModel(t *testing.T) {
	// Every structure has the same index key.
	collide := func([]byte) uint64 { return 42 }
	r := modelreg.New(modelreg.WithHash(collide))
	ctx := tctx("c")
	a := mustDefine(t, r, ctx, `{"name": "A", "properties": {"o": {"x": "string"}}}`)
	b := mustDefine(t, r, ctx, `{"name": "B", "properties": {"o": {"x": "number"}}}`)
	ao, bo := nested(t, r, a, "o"), nested(t, r, b, "o")
	if ao == bo {
		t.Fatal("colliding structures share a model")
	}
	for _, tc := range []struct {
		q    string
		want *modelreg.Model
	}{{`{"x": "string"}`, ao}, {`{"x": "number"}`, bo}} {
		if got, ok := r.FindByStructure(ctx, props(t, tc.q)); !ok || got != tc.want {
			t.Errorf("FindByStructure(%s) = %v", tc.q, got)
		}
	}
	if got, ok := r.FindByStructure(ctx, props(t, `{"x": "boolean"}`)); ok {
		t.Errorf("colliding miss returned %s", got.Canonical())
	}
	// Reuse still confirms canonical bytes.
	c := mustDefine(t, r, ctx, `{"name": "C", "properties": {"o": {"x": "number"}, "p": {"x": "string"}}}`)
	if nested(t, r, c, "o") != bo || nested(t, r, c, "p") != ao {
		t.Error("reuse under collision picked the wrong model")
	}
	// Named models collide with each other too: both coexist.
	if got, _ := r.FindByStructure(ctx, props(t, `{"o": {"x": "string"}}`)); got != a {
		t.Errorf("named lookup under collision = %v", got)
	}
	// Releasing one of a colliding chain keeps the other.
	if _, err := r.RemoveModel(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RemoveModel(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.FindByStructure(ctx, props(t, `{"x": "string"}`)); ok {
		t.Error("released colliding model still found")
	}
	if got, _ := r.FindByStructure(ctx, props(t, `{"x": "number"}`)); got != bo {
		t.Error("colliding neighbour lost")
	}
	if got, _ := r.FindByName(ctx, "B"); got != b {
		t.Error("B lost")
	}
}

func TestCleanupReport(t *testing.T) {
	r := modelreg.New()
	const B = 100
	defineTenant(t, r, "big", B)
	defineTenant(t, r, "other", 3)
	rep, err := r.CleanupTenant(bg, "big")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Tenant != "big" || rep.Reason != modelreg.ReasonExplicit ||
		rep.ModelsRemoved != 2*B+2 || rep.AnonymousRemoved != B+2 ||
		rep.MappingsRemoved != 2*B+(B+2)+1 || len(rep.CleanedModels) != B {
		t.Errorf("report %+v", rep)
	}
	slices.Sort(rep.CleanedModels)
	if len(slices.Compact(rep.CleanedModels)) != B || !slices.Contains(rep.CleanedModels, "big_Model42") {
		t.Errorf("cleaned models %v", rep.CleanedModels)
	}
	if rep.Duration <= 0 {
		t.Error("no duration")
	}
	// Idempotent: a second cleanup is a zero report.
	rep2, err := r.CleanupTenant(bg, "big")
	if err != nil || rep2.Tenant != "" || rep2.ModelsRemoved != 0 || rep2.CleanedModels != nil {
		t.Errorf("second cleanup: %+v, %v", rep2, err)
	}
	// Unknown tenant: zero report.
	if rep, err := r.CleanupTenant(bg, "never"); err != nil || rep.Tenant != "" {
		t.Errorf("unknown tenant: %+v, %v", rep, err)
	}
	g := r.Stats().Gauges
	if g.Tenants != 1 || g.TenantModels != 3 || g.TenantAnonymous != 5 {
		t.Errorf("gauges after cleanup %+v", g)
	}
	if c := r.Stats().Counters; c.Cleanups != 1 {
		t.Errorf("cleanups counter = %d", c.Cleanups)
	}
}

func TestCleanupErrors(t *testing.T) {
	r := modelreg.New()
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"", modelreg.ErrInvalidTenant},
		{"global", modelreg.ErrGlobalScope},
		{"a b", modelreg.ErrInvalidTenant},
		{"-a", modelreg.ErrInvalidTenant},
		{string(make([]byte, 129)), modelreg.ErrInvalidTenant},
		{"é", modelreg.ErrInvalidTenant},
	} {
		_, err := r.CleanupTenant(bg, tc.id)
		var te *modelreg.TenantIDError
		if !errors.Is(err, tc.want) || !errors.As(err, &te) {
			t.Errorf("CleanupTenant(%q) = %v, want %v", tc.id, err, tc.want)
		}
		if _, err := r.DefineJSON(tctx(tc.id), []byte(`{"name": "X", "properties": {}}`)); !errors.Is(err, tc.want) {
			t.Errorf("Define in %q = %v, want %v", tc.id, err, tc.want)
		}
	}
	if r.Stats().Gauges.Tenants != 0 {
		t.Error("an invalid id created a tenant")
	}
	for _, id := range []string{"a", "A.b-c_d", "0", string(make([]byte, 0)) + "x123456789"} {
		if err := modelreg.ValidTenantID(id); err != nil {
			t.Errorf("ValidTenantID(%q) = %v", id, err)
		}
	}
}

func TestNothingFindableAfterCleanup(t *testing.T) {
	r := modelreg.New()
	const M = 10
	ms := defineTenant(t, r, "gone", M)
	defineTenant(t, r, "stay", M)
	q := queries(t, M)
	var anon []*modelreg.Model
	for _, m := range ms {
		anon = append(anon, m.Nested()...)
	}
	if _, err := r.CleanupTenant(bg, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"gone", tctx("gone")}, {"stay", tctx("stay")}, {"global", bg}, {"other", tctx("x")}} {
		for _, m := range ms {
			if got, ok := r.FindByName(c.ctx, m.Name()); ok && got.Tenant() == "gone" {
				t.Errorf("%s: %s findable by name", c.name, m.Name())
			}
			if _, ok := r.Resolver(c.ctx)(m.Name()); ok && c.name != "stay" {
				t.Errorf("%s: %s resolvable", c.name, m.Name())
			}
		}
		for _, a := range anon {
			if _, ok := r.FindByName(c.ctx, a.ID()); ok {
				t.Errorf("%s: anonymous %s findable by name", c.name, a.ID())
			}
		}
		for k, query := range q {
			if got, ok := r.FindByStructure(c.ctx, query); ok && got.Tenant() == "gone" {
				t.Errorf("%s: Q[%d] found a model of the cleaned tenant", c.name, k)
			}
		}
		for _, m := range r.Models(c.ctx) {
			if m.Tenant() == "gone" {
				t.Errorf("%s: Models lists %s", c.name, m.Name())
			}
		}
	}
	if _, ok := r.TenantStats("gone"); ok {
		t.Error("lookups re-created the cleaned tenant")
	}
	for _, ts := range r.Tenants() {
		if ts.Tenant == "gone" {
			t.Error("Tenants lists the cleaned tenant")
		}
	}
}

func TestLookupsNeverCreateTenants(t *testing.T) {
	r := modelreg.New()
	mustDefine(t, r, bg, `{"name": "G", "properties": {"a": {"x": "string"}}}`)
	ctx := tctx("ghost")
	r.FindByName(ctx, "G")
	r.FindByStructure(ctx, props(t, `{"x": "string"}`))
	r.Models(ctx)
	r.Resolver(ctx)("G")
	r.TenantStats("ghost")
	r.RemoveModel(ctx, "G")
	r.CleanupIdle(bg, 1)
	if n := r.Stats().Gauges.Tenants; n != 0 {
		t.Errorf("%d tenants after lookups", n)
	}
	if c := r.Stats().Counters.TenantsCreated; c != 0 {
		t.Errorf("TenantsCreated = %d", c)
	}
}

func TestMutualReferences(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("refs")
	// A references B before B exists.
	a := mustDefine(t, r, ctx, `{"name": "A", "properties": {"b": "B", "bs": ["B"], "o": {"deep": "B"}}}`)
	if !slices.Equal(a.Refs(), []string{"B"}) {
		t.Errorf("refs %v", a.Refs())
	}
	resolve := r.Resolver(ctx)
	if _, ok := resolve("B"); ok {
		t.Fatal("B resolved before it exists")
	}
	b := mustDefine(t, r, ctx, `{"name": "B", "properties": {"a": "A", "g": "Glob"}}`)
	if o, ok := resolve("B"); !ok || o != b.Object() {
		t.Error("B not resolved once defined")
	}
	if o, ok := resolve("A"); !ok || o != a.Object() {
		t.Error("A not resolved")
	}
	// A global model is resolved from the tenant, until the tenant shadows it.
	g := mustDefine(t, r, bg, `{"name": "Glob", "properties": {"x": "string"}}`)
	if o, ok := resolve("Glob"); !ok || o != g.Object() {
		t.Error("global model not resolved from the tenant")
	}
	tg := mustDefine(t, r, ctx, `{"name": "Glob", "properties": {"y": "string"}}`)
	if o, _ := resolve("Glob"); o != tg.Object() {
		t.Error("tenant model does not shadow the global one")
	}
	// Another tenant does not see this tenant's models.
	if _, ok := r.Resolver(tctx("other"))("A"); ok {
		t.Error("another tenant resolved A")
	}
	// Replacing B is followed.
	b2 := mustDefine(t, r, ctx, `{"name": "B", "properties": {"a": "A", "z": "number"}}`)
	if o, _ := resolve("B"); o != b2.Object() {
		t.Error("replacement not followed")
	}
}

func TestInvalidDefinitions(t *testing.T) {
	r := modelreg.New()
	ctx := tctx("bad")
	if _, err := r.DefineJSON(ctx, []byte(`{"name": "A", "properties": {"x": "zipcode"}}`)); !errors.Is(err, definition.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	var de *definition.Error
	if _, err := r.DefineJSON(ctx, []byte(`{"name": "A", "properties": {"a": {"b": 1}}}`)); !errors.As(err, &de) || de.Path == "" {
		t.Errorf("positioned error: %v", err)
	}
	cyc := &definition.Object{}
	cyc.Properties = []definition.Property{{Name: "self", Type: definition.Type{Kind: definition.KindNested, Object: cyc}}}
	str := definition.Type{Kind: definition.KindString}
	obj := func(ps ...definition.Property) definition.Object { return definition.Object{Properties: ps} }
	nested := func(o definition.Object) definition.Type {
		return definition.Type{Kind: definition.KindNested, Object: &o}
	}
	for _, tt := range []struct {
		name, path string
		d          *definition.Definition
	}{
		{"nil", "", nil},
		{"no name", "", &definition.Definition{}},
		{"unsorted", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "b", Type: str}, definition.Property{Name: "a", Type: str})}},
		{"duplicate", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "a", Type: str}, definition.Property{Name: "a", Type: str})}},
		{"empty name", "properties.o", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "o", Type: nested(obj(definition.Property{Type: str}))})}},
		{"nil obj", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "a", Type: definition.Type{Kind: definition.KindNested}})}},
		{"nil elem", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "a", Type: definition.Type{Kind: definition.KindArray}})}},
		{"bad kind", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "a", Type: definition.Type{Kind: 200}})}},
		{"bad elem kind", "properties.o.x[]", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "o", Type: nested(obj(
			definition.Property{Name: "a", Type: str},
			definition.Property{Name: "x", Type: definition.Type{Kind: definition.KindArray, Elem: &definition.Type{Kind: 200}}}))})}},
		{"empty ref", "properties.a", &definition.Definition{Name: "A", Object: obj(definition.Property{Name: "a", Type: definition.Type{Kind: definition.KindRef}})}},
		{"bad strictness", "properties", &definition.Definition{Name: "A", Object: definition.Object{Strict: 9}}},
		{"cycle", "", &definition.Definition{Name: "A", Object: *cyc}},
	} {
		_, err := r.Define(ctx, tt.d)
		var de *modelreg.DefinitionError
		if !errors.Is(err, modelreg.ErrInvalidDefinition) || !errors.As(err, &de) {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.name != "cycle" && de.Path != tt.path {
			t.Errorf("%s: path %q, want %q (%v)", tt.name, de.Path, tt.path, err)
		}
	}
	if _, ok := r.FindByStructure(ctx, cyc); ok {
		t.Error("cyclic query found something")
	}
	if _, ok := r.TenantStats("bad"); ok {
		t.Error("refused definitions created the tenant")
	}
}

// DefineJSON keeps nothing of its input: overwriting the buffer after the
// call changes nothing in the model, its nested models or its settings.
func TestDefineJSONKeepsNothingOfInput(t *testing.T) {
	const src = `{"name": "Order", "strict": "filter", "relations": {"owner": {"type": "belongsTo", "model": "User"}},
		"properties": {"id": {"type": "string", "id": true, "required": true}, "note": {"type": "string", "default": "none", "pattern": "^[a-z]+$", "description": "free text"},
		"tags": ["string"], "owner": "User", "lines": [{"sku": "string", "qty": {"type": "number", "default": 1}}], "addr": {"street": "string", "geo": "geopoint"}}}`
	r := modelreg.New()
	buf := []byte(src)
	m, err := r.DefineJSON(tctx("t"), buf)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		b, err := json.Marshal(m.Definition())
		if err != nil {
			t.Fatal(err)
		}
		s := string(b) + string(m.Canonical())
		for _, n := range m.Nested() {
			s += string(n.Canonical())
		}
		return s
	}
	before := snapshot()
	for i := range buf {
		buf[i] = 'x'
	}
	// Parse and define something else through the same pooled scratch.
	mustDefine(t, r, tctx("t"), `{"name": "Other", "properties": {"zz": {"yy": "date"}, "ww": [["number"]]}}`)
	if after := snapshot(); after != before {
		t.Errorf("the model changed with its input buffer:\nbefore %s\nafter  %s", before, after)
	}
	want, err := definition.Parse([]byte(src), definition.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Canonical(), want.Canonical()) {
		t.Errorf("canonical form %s, want %s", m.Canonical(), want.Canonical())
	}
}

// TestFindByStructureHonoursShadowing checks that a tenant does not find by
// structure a global named model that its own model of the same name
// shadows (FindByName and Models do not show it either), and that the
// next global candidate is found instead.
func TestFindByStructureHonoursShadowing(t *testing.T) {
	r := modelreg.New()
	ga := mustDefine(t, r, bg, `{"name": "A", "properties": {"email": "string"}}`)
	gb := mustDefine(t, r, bg, `{"name": "B", "properties": {"email": "string"}}`)
	q := props(t, `{"email": "string"}`)
	other, acme := tctx("other"), tctx("acme")
	mustDefine(t, r, other, `{"name": "Unrelated", "properties": {"x": "number"}}`)
	if m, _ := r.FindByStructure(other, q); m != ga {
		t.Fatalf("in a tenant that shadows nothing: %v, want global A", m)
	}
	own := mustDefine(t, r, acme, `{"name": "A", "properties": {"email": "string", "vip": "boolean"}}`)
	if m, _ := r.FindByName(acme, "A"); m != own {
		t.Fatalf("FindByName(A) in acme = %v, want its own", m)
	}
	if m, _ := r.FindByStructure(acme, q); m != gb {
		t.Errorf("acme shadows A: FindByStructure = %v (global A: %v), want global B", m, m == ga)
	}
	mustDefine(t, r, acme, `{"name": "B", "properties": {"other": "string"}}`)
	if m, ok := r.FindByStructure(acme, q); ok {
		t.Errorf("acme shadows A and B: FindByStructure = %s of %q, want none", m.Name(), m.Tenant())
	}
	if m, _ := r.FindByStructure(bg, q); m != ga {
		t.Errorf("without a tenant: %v, want global A", m)
	}
	if m, _ := r.FindByStructure(other, q); m != ga {
		t.Errorf("in another tenant: %v, want global A", m)
	}
}
