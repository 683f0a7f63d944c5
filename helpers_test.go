package modelreg_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

func tctx(id string) context.Context { return modelreg.WithTenant(bg, id) }

var addressFields = []string{"street", "city", "zip", "country"}

// recipeJSON returns the definition of model m of tenant t (WORKLOAD.md §2).
func recipeJSON(t string, m int) []byte {
	var addr []string
	for i := range 4 {
		addr = append(addr, fmt.Sprintf("%q: %q", addressFields[(m+i)%4], "string"))
	}
	return fmt.Appendf(nil, `{"name": %q, "properties": {
		"name": "string", "qty": "number", "active": "boolean", "createdAt": "date",
		"address": {%s},
		"detail": {"m%d_key": "string", "m%d_val": "number"},
		"items": [{"sku": "string", "qty": "number", "price": "number"}]}}`,
		fmt.Sprintf("%s_Model%d", t, m), strings.Join(addr, ", "), m, m)
}

// queries returns Q[0..2M] of WORKLOAD.md §4.2.
func queries(tb testing.TB, m int) []*definition.Object {
	tb.Helper()
	var q []*definition.Object
	for k := range m {
		var addr []string
		for i := range 4 {
			addr = append(addr, fmt.Sprintf("%q: %q", addressFields[(k+i)%4], "string"))
		}
		q = append(q, props(tb, "{"+strings.Join(addr, ", ")+"}"))
	}
	for k := range m {
		q = append(q, props(tb, fmt.Sprintf(`{"m%d_key": "string", "m%d_val": "number"}`, k, k)))
	}
	return append(q, props(tb, `{"sku": "string", "qty": "number", "price": "number"}`))
}

func props(tb testing.TB, s string) *definition.Object {
	tb.Helper()
	o, err := definition.ParseProperties([]byte(s), definition.Limits{})
	if err != nil {
		tb.Fatalf("ParseProperties(%s): %v", s, err)
	}
	return o
}

func mustDefine(tb testing.TB, r *modelreg.Registry, ctx context.Context, js string) *modelreg.Model {
	tb.Helper()
	m, err := r.DefineJSON(ctx, []byte(js))
	if err != nil {
		tb.Fatalf("DefineJSON(%s): %v", js, err)
	}
	return m
}

// defineTenant defines models 0..k-1 of the recipe in tenant t.
func defineTenant(tb testing.TB, r *modelreg.Registry, t string, k int) []*modelreg.Model {
	tb.Helper()
	ctx := tctx(t)
	out := make([]*modelreg.Model, k)
	for m := range k {
		mm, err := r.DefineJSON(ctx, recipeJSON(t, m))
		if err != nil {
			tb.Fatal(err)
		}
		out[m] = mm
	}
	return out
}

// nested returns the anonymous model of property p of named model m.
func nested(tb testing.TB, r *modelreg.Registry, m *modelreg.Model, p string) *modelreg.Model {
	tb.Helper()
	prop, ok := m.Object().Property(p)
	if !ok {
		tb.Fatalf("%s has no property %s", m.Name(), p)
	}
	t := &prop.Type
	for t.Kind == definition.KindArray {
		t = t.Elem
	}
	if t.Kind != definition.KindNested {
		tb.Fatalf("%s.%s is not nested", m.Name(), p)
	}
	for _, a := range m.Nested() {
		if a.Object() == t.Object {
			return a
		}
	}
	// A nested object with extra options is the named model's own copy,
	// with the structure of its anonymous model.
	for _, a := range m.Nested() {
		if bytes.Equal(a.Canonical(), t.Object.Canonical()) {
			return a
		}
	}
	tb.Fatalf("%s.%s: no anonymous model with its object", m.Name(), p)
	return nil
}
