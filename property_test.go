package modelreg_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// gobj is a generated structure; render writes it as JSON in a random
// form (key order, type-name case, shorthand or long form, literal or
// {"type": {...}}).
type gobj struct{ props []gprop }

type gprop struct {
	name     string
	scalar   string // a built-in type name, or "" for a nested object
	child    *gobj
	array    bool
	required bool
}

var scalars = []string{"string", "number", "boolean", "date", "any", "object"}

func genObj(depth int) *rapid.Generator[*gobj] {
	return rapid.Custom(func(t *rapid.T) *gobj {
		names := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "zz", "A1"}), 1, 5, rapid.ID[string]).Draw(t, "names")
		o := &gobj{}
		for _, n := range names {
			p := gprop{name: n, array: rapid.Bool().Draw(t, "array"), required: rapid.IntRange(0, 4).Draw(t, "req") == 0}
			if depth > 0 && rapid.IntRange(0, 2).Draw(t, "nest") == 0 {
				p.child = genObj(depth-1).Draw(t, "child")
			} else {
				p.scalar = rapid.SampledFrom(scalars).Draw(t, "scalar")
			}
			o.props = append(o.props, p)
		}
		return o
	})
}

func spell(t *rapid.T, s string) string {
	switch rapid.IntRange(0, 2).Draw(t, "case") {
	case 1:
		return strings.ToUpper(s[:1]) + s[1:]
	case 2:
		return strings.ToUpper(s)
	}
	return s
}

func (o *gobj) render(t *rapid.T) string {
	perm := rapid.Permutation(o.props).Draw(t, "order")
	var parts []string
	for _, p := range perm {
		var typ string
		if p.child != nil {
			typ = p.child.render(t)
		} else {
			typ = fmt.Sprintf("%q", spell(t, p.scalar))
		}
		if p.array {
			typ = "[" + typ + "]"
		}
		long := p.required || rapid.Bool().Draw(t, "long")
		if long {
			opts := []string{`"type": ` + typ}
			if p.required {
				opts = append(opts, `"required": true`)
			}
			if rapid.IntRange(0, 3).Draw(t, "described") == 0 {
				// Not part of the structure, but kept with the model.
				opts = append(opts, fmt.Sprintf(`"description": %q`, strings.Repeat("d", rapid.IntRange(0, 120).Draw(t, "description"))))
			}
			if rapid.Bool().Draw(t, "swap") {
				opts[0], opts[len(opts)-1] = opts[len(opts)-1], opts[0]
			}
			typ = "{" + strings.Join(opts, ", ") + "}"
		}
		parts = append(parts, fmt.Sprintf("%q: %s", p.name, typ))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// sameTree checks that two compiled objects share every nested object,
// but for those with extra options in them, which are the named models'
// own copies of the same structure.
func sameTree(t *rapid.T, a, b *definition.Object) {
	if len(a.Properties) != len(b.Properties) {
		t.Fatalf("property counts differ")
	}
	for i := range a.Properties {
		ta, tb := &a.Properties[i].Type, &b.Properties[i].Type
		for ta.Kind == definition.KindArray && tb.Kind == definition.KindArray {
			ta, tb = ta.Elem, tb.Elem
		}
		if ta.Kind != tb.Kind {
			t.Fatalf("kinds differ")
		}
		if ta.Kind == definition.KindNested && ta.Object != tb.Object {
			if !hasExtra(ta.Object) && !hasExtra(tb.Object) {
				t.Fatalf("property %s: nested objects not shared", a.Properties[i].Name)
			}
			if !bytes.Equal(ta.Object.Canonical(), tb.Object.Canonical()) {
				t.Fatalf("property %s: nested structures differ", a.Properties[i].Name)
			}
			sameTree(t, ta.Object, tb.Object)
		}
	}
}

// hasExtra reports whether a property of o, or of an object nested in
// it, has extra options.
func hasExtra(o *definition.Object) bool {
	for i := range o.Properties {
		if len(o.Properties[i].Extra) > 0 {
			return true
		}
		tp := &o.Properties[i].Type
		for tp.Kind == definition.KindArray {
			tp = tp.Elem
		}
		if tp.Kind == definition.KindNested && hasExtra(tp.Object) {
			return true
		}
	}
	return false
}

// TestPropertyFormIndependence: two renderings of one structure compile
// to the same canonical form and share every anonymous model, at every
// depth; the tenant holds exactly one anonymous model per distinct nested
// structure.
func TestPropertyFormIndependence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := genObj(3).Draw(t, "obj")
		r := modelreg.New()
		ctx := tctx("p")
		m1, err := r.DefineJSON(ctx, []byte(`{"name": "One", "properties": `+o.render(t)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		st1, _ := r.TenantStats("p")
		m2, err := r.DefineJSON(ctx, []byte(`{"name": "Two", "properties": `+o.render(t)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m1.Canonical(), m2.Canonical()) || m1.Fingerprint() != m2.Fingerprint() {
			t.Fatalf("canonical forms differ:\n%s\n%s", m1.Canonical(), m2.Canonical())
		}
		sameTree(t, m1.Object(), m2.Object())
		for _, a := range m1.Nested() {
			found := false
			for _, b := range m2.Nested() {
				found = found || a == b
			}
			if !found {
				t.Fatalf("anonymous model %s not shared", a.ID())
			}
		}
		st2, _ := r.TenantStats("p")
		if st1.Anonymous != st2.Anonymous {
			t.Fatalf("second rendering created %d anonymous models", st2.Anonymous-st1.Anonymous)
		}
		// Every nested structure is found by structure, as itself.
		var walk func(m *modelreg.Model)
		walk = func(m *modelreg.Model) {
			for _, a := range m.Nested() {
				if got, ok := r.FindByStructure(ctx, a.Object()); !ok || got != a {
					t.Fatalf("%s not found by structure", a.ID())
				}
				walk(a)
			}
		}
		walk(m1)
	})
}

// FuzzDefineJSON: whatever the input, the registry does not panic, and an
// accepted definition is findable, structurally consistent, agrees with
// definition.Parse (canonical form, fingerprint, written-back JSON), stays
// unchanged when the registry compiles another definition, and is cleaned
// up completely.
func FuzzDefineJSON(f *testing.F) {
	f.Add([]byte(`{"name": "A", "properties": {"o": {"x": "string"}, "l": [{"y": "number"}], "r": "B"}}`))
	f.Add(recipeJSON("t", 3))
	f.Add([]byte(`{"name": "A", "strict": "filter", "properties": {"o": {"type": {"a": {"b": ["date"]}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := modelreg.New(modelreg.WithPolicy(modelreg.Policy{MaxDepth: 8}))
		ctx := tctx("f")
		m, err := r.DefineJSON(ctx, data)
		if err != nil {
			if _, ok := r.TenantStats("f"); ok {
				t.Fatal("a refused definition created the tenant")
			}
			return
		}
		if got, ok := r.FindByName(ctx, m.Name()); !ok || got != m {
			t.Fatal("not found by name")
		}
		if got, ok := r.FindByStructure(ctx, m.Object()); !ok || !bytes.Equal(got.Canonical(), m.Canonical()) {
			t.Fatal("not found by structure")
		}
		if !bytes.Equal(m.Object().Canonical(), m.Canonical()) {
			t.Fatal("compiled tree and canonical form disagree")
		}
		canon := m.Canonical()
		if m.Fingerprint() != definition.Sum(canon) {
			t.Fatal("fingerprint is not the sum of the canonical form")
		}
		d, err := definition.Parse(data, definition.Limits{})
		if err != nil {
			t.Fatalf("DefineJSON accepts what Parse refuses: %v", err)
		}
		if !bytes.Equal(d.Canonical(), canon) {
			t.Fatalf("model's canonical form differs from the parsed one:\n%s\n%s", canon, d.Canonical())
		}
		js, err := m.Definition().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := d.MarshalJSON(); !bytes.Equal(js, want) {
			t.Fatalf("model's definition writes back as\n%s\nnot as the parsed one\n%s", js, want)
		}
		// Another definition compiled by the same registry (with the same
		// pooled storage) leaves the model as it was.
		if m.Name() == "Zz_other" {
			return
		}
		if _, err := r.DefineJSON(ctx, []byte(`{"name": "Zz_other", "properties": {"o": {"x": ["string"], "y": {"z": "date"}}, "l": [{"q": "number"}]}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.DefineJSON(ctx, data); err != nil {
			t.Fatalf("defining it again: %v", err)
		}
		if again, _ := m.Definition().MarshalJSON(); !bytes.Equal(m.Canonical(), canon) || !bytes.Equal(again, js) {
			t.Fatalf("model changed after other definitions:\n%s\n%s", js, again)
		}
		if _, err := r.RemoveModel(ctx, "Zz_other"); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.FindByName(bg, m.Name()); ok {
			t.Fatal("tenant model visible without tenant")
		}
		rep, err := r.CleanupTenant(bg, "f")
		if err != nil || rep.ModelsRemoved != 1+len(allNested(m)) {
			t.Fatalf("cleanup %+v %v, %d nested", rep, err, len(allNested(m)))
		}
		if g := r.Stats().Gauges; g.Tenants != 0 || g.TenantModels != 0 || g.TenantAnonymous != 0 || g.TenantBytes != 0 {
			t.Fatalf("gauges %+v", g)
		}
	})
}

func allNested(m *modelreg.Model) map[*modelreg.Model]bool {
	out := map[*modelreg.Model]bool{}
	var walk func(m *modelreg.Model)
	walk = func(m *modelreg.Model) {
		for _, a := range m.Nested() {
			if !out[a] {
				out[a] = true
				walk(a)
			}
		}
	}
	walk(m)
	return out
}

// TestCheckDefineAgreesWithDefine: over random sequences of definitions
// (random structures and sizes, two tenants and the global scope, random
// quotas), CheckDefine returns exactly the error the Define that follows
// it returns, and never creates a tenant.
func TestCheckDefineAgreesWithDefine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pol := modelreg.Policy{
			MaxModels: rapid.IntRange(-1, 3).Draw(t, "maxModels"),
			MaxBytes:  rapid.SampledFrom([]int64{0, 150, 300, 600}).Draw(t, "maxBytes"),
			MaxDepth:  rapid.IntRange(0, 4).Draw(t, "maxDepth"),
		}
		r := modelreg.New(modelreg.WithPolicy(pol))
		tenants := []string{"", "a", "b"}
		for i := range rapid.IntRange(1, 12).Draw(t, "ops") {
			tenant := rapid.SampledFrom(tenants).Draw(t, "tenant")
			ctx := bg
			if tenant != "" {
				ctx = tctx(tenant)
			}
			name := rapid.SampledFrom([]string{"A", "B", "C", "D"}).Draw(t, "name")
			pad := strings.Repeat("x", rapid.IntRange(0, 200).Draw(t, "pad"))
			js := fmt.Sprintf(`{"name": %q, "description": %q, "properties": %s}`, name, pad, genObj(3).Draw(t, "props").render(t))
			def, err := definition.Parse([]byte(js), definition.Limits{})
			if err != nil {
				t.Fatalf("op %d: %v: %s", i, err, js)
			}
			_, existed := r.TenantStats(tenant)
			checkErr := r.CheckDefine(ctx, def)
			if _, exists := r.TenantStats(tenant); exists != existed {
				t.Fatalf("op %d: CheckDefine changed whether tenant %q exists", i, tenant)
			}
			_, defErr := r.Define(ctx, def)
			if fmt.Sprint(checkErr) != fmt.Sprint(defErr) {
				t.Fatalf("op %d (%s in %q): CheckDefine: %v; Define: %v", i, name, tenant, checkErr, defErr)
			}
		}
	})
}
