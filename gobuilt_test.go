package modelreg_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

// Definitions and queries built in Go, rather than parsed, are checked for
// what Parse guarantees: the registry never loops on a cycle, and never
// takes bytes that would make one structure's canonical form spell
// another's.

// nestedWith returns a definition called name with one nested object
// {a: number} whose property a is p (name and type set here).
func nestedWith(name string, p definition.Property) *definition.Definition {
	p.Name, p.Type = "a", definition.Type{Kind: definition.KindNumber}
	in := &definition.Object{Properties: []definition.Property{p}}
	return &definition.Definition{Name: name, Object: definition.Object{Properties: []definition.Property{
		{Name: "n", Type: definition.Type{Kind: definition.KindNested, Object: in}}}}}
}

// strictNested returns a definition with one nested object of strictness s.
func strictNested(s definition.Strictness) *definition.Definition {
	in := &definition.Object{Strict: s, Properties: []definition.Property{{Name: "x", Type: definition.Type{Kind: definition.KindString}}}}
	return &definition.Definition{Name: "M", Object: definition.Object{Properties: []definition.Property{
		{Name: "o", Type: definition.Type{Kind: definition.KindNested, Object: in}}}}}
}

func TestGoBuiltDefinitionsAreChecked(t *testing.T) {
	loop := &definition.Type{Kind: definition.KindArray}
	loop.Elem = loop
	cyclic := &definition.Definition{Name: "C", Object: definition.Object{Properties: []definition.Property{{Name: "a", Type: *loop}}}}
	for _, tc := range []struct {
		name string
		def  *definition.Definition
	}{
		{"array that is its own element", cyclic},
		{"default that is not one value", nestedWith("M", definition.Property{Default: []byte(`1,"required":true`)})},
		{"default not in canonical form", nestedWith("M", definition.Property{Default: []byte(`1.0`)})},
		// Parse stores no default for "default": null, so a null one would
		// give the structure a second canonical form and fingerprint.
		{"null default", nestedWith("M", definition.Property{Default: []byte(`null`)})},
		{"invalid pattern", nestedWith("M", definition.Property{Pattern: "["})},
		{"invalid model name", &definition.Definition{Name: "anonymous:0123"}},
		{"invalid property name", &definition.Definition{Name: "M", Object: definition.Object{Properties: []definition.Property{
			{Name: `a"b`, Type: definition.Type{Kind: definition.KindString}}}}}},
		// JSON cannot say that a nested object is strict, nor have
		// options.strict disagree with strict (Parse takes the former):
		// the definition's JSON would spell another structure.
		{"strict nested object", strictNested(definition.StrictReject)},
		{"filter nested object", strictNested(definition.StrictFilter)},
		{"options.strict against strict", &definition.Definition{Name: "M",
			Object:   definition.Object{Properties: []definition.Property{{Name: "x", Type: definition.Type{Kind: definition.KindString}}}},
			Settings: map[string]json.RawMessage{"options": json.RawMessage(`{"strict": true}`)}}},
		// What the model keeps besides its structure must write back
		// (Definition.MarshalJSON) as JSON that Parse reads as the same
		// definition.
		{"removed and declared", withKept(nil, nil, "x")},
		{"removed twice", withKept(nil, nil, "c", "c")},
		{"removed not sorted", withKept(nil, nil, "z", "c")},
		{"removed invalid name", withKept(nil, nil, `a b"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := modelreg.New()
			if _, err := r.Define(bg, tc.def); !errors.Is(err, modelreg.ErrInvalidDefinition) {
				t.Errorf("Define: %v, want ErrInvalidDefinition", err)
			}
			if err := r.CheckDefine(bg, tc.def); !errors.Is(err, modelreg.ErrInvalidDefinition) {
				t.Errorf("CheckDefine: %v, want ErrInvalidDefinition", err)
			}
			if _, ok := r.FindByStructure(bg, &tc.def.Object); ok {
				t.Error("FindByStructure found a model in an empty registry")
			}
		})
	}
}

// TestForgedDefaultFindsNothing: a query whose default, pasted into its
// canonical form, would spell another structure's form finds nothing.
func TestForgedDefaultFindsNothing(t *testing.T) {
	r := modelreg.New()
	real, err := r.Define(bg, nestedWith("Real", definition.Property{Default: []byte(`1`), Required: true}))
	if err != nil {
		t.Fatal(err)
	}
	forged := nestedWith("Q", definition.Property{Default: []byte(`1,"required":true`)})
	inner := forged.Object.Properties[0].Type.Object
	if _, ok := r.FindByStructure(bg, inner); ok {
		t.Error("a forged default found a model")
	}
	// The honest query finds the real nested model.
	want := real.Object().Properties[0].Type.Object
	if m, ok := r.FindByStructure(bg, want); !ok || m.Object() != want {
		t.Errorf("honest query: %v %v", m, ok)
	}
	// A valid definition built in Go is accepted.
	if _, err := r.Define(bg, nestedWith("Valid", definition.Property{Default: []byte(`{"a":[1,"x"]}`), Pattern: "^x"})); err != nil {
		t.Errorf("valid definition: %v", err)
	}
}

// TestUnsortedQueryFindsNothing checks that a query built in Go with its
// properties out of order or duplicated, which Define refuses, finds
// nothing, as documented, and that the same query sorted finds the model.
func TestUnsortedQueryFindsNothing(t *testing.T) {
	r := modelreg.New()
	m := mustDefine(t, r, bg, `{"name": "P", "properties": {"a": "string", "b": "number"}}`)
	a := definition.Property{Name: "a", Type: definition.Type{Kind: definition.KindString}}
	b := definition.Property{Name: "b", Type: definition.Type{Kind: definition.KindNumber}}
	for _, tc := range []struct {
		name  string
		props []definition.Property
		want  *modelreg.Model
	}{
		{"sorted", []definition.Property{a, b}, m},
		{"unsorted", []definition.Property{b, a}, nil},
		{"duplicated", []definition.Property{a, a, b}, nil},
	} {
		q := &definition.Object{Properties: tc.props}
		if got, _ := r.FindByStructure(bg, q); got != tc.want {
			t.Errorf("%s: FindByStructure = %v, want %v", tc.name, got, tc.want)
		}
		_, err := r.Define(bg, &definition.Definition{Name: "Q", Object: *q})
		if (err == nil) != (tc.want != nil) {
			t.Errorf("%s: Define = %v", tc.name, err)
		}
	}
}

// TestGoBuiltReferencesAreChecked checks that Define refuses, as Parse
// does, a reference that is not a model name: one that spells a built-in
// type ("String") would be written back by MarshalJSON as that type.
func TestGoBuiltReferencesAreChecked(t *testing.T) {
	r := modelreg.New()
	for _, ref := range []string{"lower", "Bad:Name", "String", "number"} {
		def := &definition.Definition{Name: "A", Object: definition.Object{Properties: []definition.Property{
			{Name: "x", Type: definition.Type{Kind: definition.KindRef, Ref: ref}}}}}
		if _, err := r.Define(bg, def); !errors.Is(err, modelreg.ErrInvalidDefinition) {
			t.Errorf("Define with a reference to %q: %v, want ErrInvalidDefinition", ref, err)
		}
	}
	def := &definition.Definition{Name: "A", Object: definition.Object{Properties: []definition.Property{
		{Name: "x", Type: definition.Type{Kind: definition.KindRef, Ref: "Customer"}}}}}
	if _, err := r.Define(bg, def); err != nil {
		t.Errorf("Define with a reference to Customer: %v", err)
	}
	// A matching options.strict is fine.
	def.Object.Strict = definition.StrictReject
	def.Settings = map[string]json.RawMessage{"options": json.RawMessage(`{"strict": "throw", "x": 1}`)}
	if _, err := r.Define(bg, def); err != nil {
		t.Errorf("Define with options.strict as strict: %v", err)
	}
	// Parsed, escapes and all, then defined as the server does: accepted.
	parsedDef, err := definition.Parse([]byte(`{"name": "F", "strict": "filter", "options": {"strict": "\u0066ilter"}, "properties": {}}`), definition.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Define(bg, parsedDef); err != nil {
		t.Errorf("Define of a parsed definition whose options.strict has an escape: %v", err)
	}
}

// TestGoBuiltReferencesUseLimits: a reference built in Go is held to the
// registry's name limit, as a parsed one is, so that the definition's
// JSON defines it again under the same registry.
func TestGoBuiltReferencesUseLimits(t *testing.T) {
	for _, tc := range []struct {
		maxName, ref int
		ok           bool
	}{{200, 150, true}, {10, 21, false}, {10, 10, true}} {
		r := modelreg.New(modelreg.WithLimits(definition.Limits{MaxNameLen: tc.maxName}))
		ref := "R" + strings.Repeat("x", tc.ref-1)
		def := &definition.Definition{Name: "A", Object: definition.Object{Properties: []definition.Property{
			{Name: "x", Type: definition.Type{Kind: definition.KindRef, Ref: ref}}}}}
		_, err := r.Define(bg, def)
		if (err == nil) != tc.ok {
			t.Errorf("MaxNameLen %d, a reference of %d bytes: %v, want ok %v", tc.maxName, tc.ref, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		js, err := def.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.DefineJSON(bg, js); err != nil {
			t.Errorf("MaxNameLen %d: its JSON is refused: %v", tc.maxName, err)
		}
	}
}

// withKept returns a valid definition with one property x and the given
// settings, extra options of x and removed properties.
func withKept(settings, extra map[string]json.RawMessage, removed ...string) *definition.Definition {
	return &definition.Definition{Name: "M",
		Object: definition.Object{Properties: []definition.Property{
			{Name: "x", Type: definition.Type{Kind: definition.KindString}, Extra: extra}}},
		Settings: settings, Removed: removed}
}

// TestGoBuiltDefinitionKeptPartsWriteBack: a definition built in Go with
// settings, extra options and removed properties as Parse makes them is
// accepted, writes back as JSON that parses to the same definition, and
// the model does not share the caller's Removed slice (Define does not
// retain def).
func TestGoBuiltDefinitionKeptPartsWriteBack(t *testing.T) {
	removed := []string{"a", "z"}
	def := withKept(map[string]json.RawMessage{"base": json.RawMessage(`"PersistedModel"`), "relations": json.RawMessage(`{"r":{"type":"hasMany"}}`)},
		map[string]json.RawMessage{"description": json.RawMessage(`"the x"`)}, removed...)
	r := modelreg.New()
	m, err := r.Define(bg, def)
	if err != nil {
		t.Fatal(err)
	}
	removed[0] = "changed"
	js, err := json.Marshal(m.Definition())
	if err != nil {
		t.Fatal(err)
	}
	back, err := definition.Parse(js, definition.Limits{})
	if err != nil {
		t.Fatalf("%s does not parse: %v", js, err)
	}
	if got := strings.Join(back.Removed, ","); got != "a,z" {
		t.Errorf("removed written back as %q, want a,z (from %s)", got, js)
	}
	if string(back.Settings["relations"]) != `{"r":{"type":"hasMany"}}` || string(back.Properties[0].Extra["description"]) != `"the x"` {
		t.Errorf("settings or extra options not written back: %s", js)
	}
}
