package modelreg_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// TestDefineJSONKeepsNoScratch checks that a model defined by DefineJSON
// (which parses into reused storage) is unchanged by later definitions:
// its compiled structure still has its own canonical form and equals a
// fresh parse of its JSON.
func TestDefineJSONKeepsNoScratch(t *testing.T) {
	r := modelreg.New()
	type kept struct {
		m     *modelreg.Model
		js    []byte
		canon []byte
	}
	var all []kept
	for i := range 50 {
		ctx := tctx("t" + strconv.Itoa(i%3))
		js := recipeJSON("t", i)
		m, err := r.DefineJSON(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, kept{m, js, append([]byte(nil), m.Canonical()...)})
	}
	for _, k := range all {
		d, err := definition.Parse(k.js, definition.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.m.Object().Canonical(); !bytes.Equal(got, k.canon) || !bytes.Equal(got, d.Canonical()) {
			t.Fatalf("model %s changed:\n%s\nwant %s", k.m.Name(), got, d.Canonical())
		}
		if k.m.Definition().Name != d.Name || len(k.m.Object().Properties) != len(d.Properties) {
			t.Fatalf("model %s: definition changed", k.m.Name())
		}
		for i, p := range k.m.Object().Properties {
			if p.Name != d.Properties[i].Name || p.Required != d.Properties[i].Required {
				t.Fatalf("model %s: property %d changed: %+v", k.m.Name(), i, p)
			}
		}
	}
}
