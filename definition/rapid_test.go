package definition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// Property-based tests: random structures are generated, written as JSON
// in random (but equivalent) forms, with object keys in random order at
// every depth, and parsed back.

type gen struct{ t *rapid.T }

func (g gen) intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(g.t, label) }
func (g gen) bool(label string) bool       { return rapid.Bool().Draw(g.t, label) }
func pick[E any](g gen, s []E, label string) E {
	return rapid.SampledFrom(s).Draw(g.t, label)
}

// Names include the traps: option names and "type".
var (
	propNames = []string{"a", "b", "street", "zip", "type", "properties", "required", "default", "id",
		"pattern", "description", "length", "index", "_x", "a-b", "A1", "items", "name"}
	refNames   = []string{"Address", "OrderEntry", "X", "User_2", "Customer-Type", "Price"}
	patterns   = []string{"^a$", `\d+`, `"quoted"`, "tab\t", `[\\]`, "é+", "^(a|b)*$"}
	strSamples = []string{"", "a", "$now", "héllo", "quote\" backslash\\ slash/", "ctl\x00\x01\x1f\x7f",
		"nl\n\r\t", "😀", "\u2028\u2029", "<&>", "\u00e9\u0301"}
	numSamples = []float64{0, 1, -1, 1.5, -1.5, 0.1, 1e21, 1e20, 1e-7, 1e-6, 123456789, 1.7976931348623157e308,
		5e-324, 2.5e-300, -3e-7, 100, 0.000123}
)

// builtinSpellings lists the ways to write each built-in kind.
var builtinSpellings = map[Kind][]string{
	KindString:   {"string", "String", "STRING", "text", "Text"},
	KindNumber:   {"number", "Number", "NUMBER"},
	KindBoolean:  {"boolean", "Boolean", "bool", "Bool"},
	KindDate:     {"date", "Date"},
	KindBuffer:   {"buffer", "Buffer", "binary"},
	KindObject:   {"object", "Object"},
	KindAny:      {"any", "Any", "*", "json", "JSON"},
	KindGeoPoint: {"geopoint", "GeoPoint", "GEOPOINT"},
}

// genValue generates a JSON value (as decoded by encoding/json: nil,
// bool, float64, string, []any, map[string]any).
func genValue(g gen, depth int, allowNull bool) any {
	n := 5
	if depth > 0 {
		n = 7
	}
	switch g.intn(n, "value kind") {
	case 0:
		if allowNull {
			return nil
		}
		return true
	case 1:
		return g.bool("bool")
	case 2:
		return pick(g, numSamples, "number")
	case 3, 4:
		return pick(g, strSamples, "string")
	case 5:
		a := []any{}
		for range g.intn(3, "array len") {
			a = append(a, genValue(g, depth-1, true))
		}
		return a
	default:
		m := map[string]any{}
		for range g.intn(3, "object len") {
			m[pick(g, strSamples, "key")] = genValue(g, depth-1, true)
		}
		return m
	}
}

// refCanonical is a reference implementation of the canonical JSON of a
// default value (CANONICAL.md), written independently of the package's.
func refCanonical(v any) []byte {
	switch v := v.(type) {
	case nil:
		return []byte("null")
	case bool:
		return []byte(strconv.FormatBool(v))
	case float64:
		if v == 0 {
			return []byte("0")
		}
		b, _ := json.Marshal(v) // encoding/json formats floats like ECMAScript
		return b
	case string:
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		return []byte(b.String())
	case []any:
		parts := [][]byte{}
		for _, e := range v {
			parts = append(parts, refCanonical(e))
		}
		return append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := [][]byte{}
		for _, k := range keys {
			parts = append(parts, append(append(refCanonical(k), ':'), refCanonical(v[k])...))
		}
		return append(append([]byte("{"), bytes.Join(parts, []byte(","))...), '}')
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

// genObject generates a valid structure. Nested objects are open unless
// anyStrict is set (for tests of the canonical form alone).
func genObject(g gen, depth int, strict Strictness, anyStrict bool) *Object {
	o := &Object{Strict: strict}
	n := g.intn(5, "properties")
	seen := map[string]bool{}
	for range n {
		name := pick(g, propNames, "name")
		if seen[name] {
			continue
		}
		seen[name] = true
		p := Property{Name: name, Type: genType(g, depth, anyStrict)}
		if g.intn(3, "options?") == 0 {
			p.Required = g.bool("required")
			p.ID = g.bool("id")
			if g.bool("has pattern") {
				p.Pattern = pick(g, patterns, "pattern")
			}
			if g.bool("has default") {
				p.Default = refCanonical(genValue(g, 2, false))
			}
		}
		o.Properties = append(o.Properties, p)
	}
	slices.SortFunc(o.Properties, func(a, b Property) int { return strings.Compare(a.Name, b.Name) })
	return o
}

func genType(g gen, depth int, anyStrict bool) Type {
	n := 9
	if depth > 0 {
		n = 12
	}
	switch k := g.intn(n, "type"); {
	case k < 8:
		return Type{Kind: Kind(k + 1)}
	case k == 8:
		return Type{Kind: KindRef, Ref: pick(g, refNames, "ref")}
	case k < 11:
		elem := genType(g, depth-1, anyStrict)
		return Type{Kind: KindArray, Elem: &elem}
	default:
		strict := StrictOpen
		if anyStrict {
			strict = Strictness(g.intn(3, "strict"))
		}
		return Type{Kind: KindNested, Object: genObject(g, depth-1, strict, anyStrict)}
	}
}

// writer renders structures as JSON in random equivalent forms.
type writer struct {
	g gen
	b []byte
}

func (w *writer) ws() {
	if w.g.intn(4, "ws") == 0 {
		w.b = append(w.b, pick(w.g, []string{" ", "\n", "\t ", "\r\n  "}, "ws kind")...)
	}
}

func (w *writer) str(s string) {
	w.b = append(w.b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			w.b = append(w.b, '\\', byte(r))
		case r == '/' && w.g.bool("escape slash"):
			w.b = append(w.b, `\/`...)
		case r < 0x20 || w.g.intn(4, "escape") == 0:
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				w.b = fmt.Appendf(w.b, `\u%04X\u%04x`, r1, r2)
			} else if r == '\n' && w.g.bool("short") {
				w.b = append(w.b, `\n`...)
			} else {
				w.b = fmt.Appendf(w.b, `\u%04x`, r)
			}
		default:
			w.b = utf8.AppendRune(w.b, r)
		}
	}
	w.b = append(w.b, '"')
}

func (w *writer) number(f float64) {
	forms := []string{
		strconv.FormatFloat(f, 'g', -1, 64),
		strconv.FormatFloat(f, 'e', -1, 64),
		strings.ToUpper(strconv.FormatFloat(f, 'e', -1, 64)),
	}
	if math.Abs(f) < 1e25 && (f == 0 || math.Abs(f) > 1e-25) {
		forms = append(forms, strconv.FormatFloat(f, 'f', -1, 64))
	}
	if f == 0 {
		forms = append(forms, "-0", "0.000", "0e10", "-0.0E-3")
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		forms = append(forms, strconv.FormatFloat(f, 'f', 1, 64))
	}
	w.b = append(w.b, pick(w.g, forms, "number form")...)
}

func (w *writer) value(v any) {
	w.ws()
	switch v := v.(type) {
	case nil:
		w.b = append(w.b, "null"...)
	case bool:
		w.b = strconv.AppendBool(w.b, v)
	case float64:
		w.number(v)
	case string:
		w.str(v)
	case []any:
		w.b = append(w.b, '[')
		for i, e := range v {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.value(e)
		}
		w.ws()
		w.b = append(w.b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		keys = rapid.Permutation(keys).Draw(w.g.t, "value keys")
		w.b = append(w.b, '{')
		for i, k := range keys {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.ws()
			w.str(k)
			w.ws()
			w.b = append(w.b, ':')
			w.value(v[k])
		}
		w.ws()
		w.b = append(w.b, '}')
	}
	w.ws()
}

// members writes an object whose members are written by fns, in random
// order.
func (w *writer) members(keys []string, fns []func()) {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	idx = rapid.Permutation(idx).Draw(w.g.t, "key order")
	w.ws()
	w.b = append(w.b, '{')
	for i, j := range idx {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.ws()
		w.str(keys[j])
		w.ws()
		w.b = append(w.b, ':')
		w.ws()
		fns[j]()
		w.ws()
	}
	w.b = append(w.b, '}')
	w.ws()
}

func (w *writer) props(o *Object, extra map[string]string) {
	keys := []string{}
	fns := []func(){}
	for i := range o.Properties {
		p := &o.Properties[i]
		keys = append(keys, p.Name)
		fns = append(fns, func() { w.decl(p) })
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		keys = append(keys, k)
		fns = append(fns, func() { w.b = append(w.b, extra[k]...) })
	}
	w.members(keys, fns)
}

func (w *writer) decl(p *Property) {
	hasOpts := p.Required || p.ID || p.Default != nil || p.Pattern != ""
	if !hasOpts && w.g.bool("short form") && w.short(&p.Type) {
		return
	}
	keys := []string{}
	fns := []func(){}
	add := func(k string, fn func()) { keys = append(keys, k); fns = append(fns, fn) }
	if p.Required {
		add("required", func() { w.b = append(w.b, "true"...) })
	} else if w.g.bool("write required false") {
		add("required", func() { w.b = append(w.b, pick(w.g, []string{"false", "null"}, "not required")...) })
	}
	if p.ID {
		add("id", func() { w.b = append(w.b, pick(w.g, []string{"true", "1", "2"}, "id")...) })
	} else if w.g.bool("write id false") {
		add("id", func() { w.b = append(w.b, pick(w.g, []string{"false", "0", "null"}, "not id")...) })
	}
	if p.Default != nil {
		var v any
		if err := json.Unmarshal(p.Default, &v); err != nil {
			panic(err)
		}
		add("default", func() { w.value(v) })
	} else if w.g.bool("write default null") {
		add("default", func() { w.b = append(w.b, "null"...) })
	}
	if p.Pattern != "" {
		add("pattern", func() { w.str(p.Pattern) })
	}
	if w.g.bool("extra option") {
		add("description", func() { w.str("some text") })
	}
	// "type" may be left out for any when the other keys are all options.
	if p.Type.Kind != KindAny || len(keys) == 0 || w.g.bool("write type any") {
		add("type", func() { w.typeExpr(&p.Type) })
	}
	w.members(keys, fns)
}

// short writes t as the whole declaration of a property without options,
// if that form exists.
func (w *writer) short(t *Type) bool {
	switch t.Kind {
	case KindNested:
		if !literalOK(t.Object, posProperty) {
			return false
		}
		w.props(t.Object, nil)
	case KindArray:
		w.array(t)
	default:
		w.typeExpr(t)
	}
	return true
}

func (w *writer) array(t *Type) {
	if t.Elem.Kind == KindAny && w.g.bool("any array") {
		w.b = append(w.b, pick(w.g, []string{`[]`, `"array"`, `"Array"`, `[ ]`}, "any array form")...)
		return
	}
	w.b = append(w.b, '[')
	w.ws()
	w.elem(t.Elem)
	w.ws()
	w.b = append(w.b, ']')
}

// typeExpr writes t as the value of a "type" key.
func (w *writer) typeExpr(t *Type) {
	switch t.Kind {
	case KindNested:
		w.props(t.Object, nil)
	case KindArray:
		w.array(t)
	case KindRef:
		w.str(t.Ref)
	default:
		w.str(pick(w.g, builtinSpellings[t.Kind], "spelling"))
	}
}

func (w *writer) elem(t *Type) {
	if t.Kind == KindNested && literalOK(t.Object, posElem) && w.g.bool("elem literal") {
		w.props(t.Object, nil)
		return
	}
	if t.Kind != KindNested && w.g.bool("elem plain") {
		w.typeExpr(t)
		return
	}
	w.members([]string{"type"}, []func(){func() { w.typeExpr(t) }})
}

// withDefaultsNormalized returns the expected canonical bytes of o.
func expectedCanonical(o *Object) []byte { return o.Canonical() }

func TestRapidKeyOrderAndForms(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g := gen{rt}
		strict := Strictness(g.intn(3, "strict"))
		o := genObject(g, 3, strict, false)
		want := expectedCanonical(o)

		// Two independent renderings of the same definition.
		for round := range 2 {
			w := &writer{g: g}
			strictJSON := map[Strictness][]string{
				StrictOpen:   {"false"},
				StrictReject: {"true", `"throw"`, `"validate"`},
				StrictFilter: {`"filter"`},
			}[strict]
			extra := map[string]string{
				"name": `"Model"`,
				"base": `"PersistedModel"`,
			}
			if strict != StrictOpen || g.bool("write strict false") {
				extra["strict"] = pick(g, strictJSON, "strict form")
			}
			keys, fns := []string{"properties"}, []func(){func() { w.props(o, nil) }}
			for _, k := range slices.Sorted(maps.Keys(extra)) {
				keys = append(keys, k)
				fns = append(fns, func() { w.b = append(w.b, extra[k]...) })
			}
			w.members(keys, fns)
			d, err := Parse(w.b, Limits{})
			if err != nil {
				rt.Fatalf("round %d: Parse(%s): %v", round, w.b, err)
			}
			if got := d.Canonical(); !bytes.Equal(got, want) {
				rt.Fatalf("round %d: canonical of\n%s\n got %s\nwant %s", round, w.b, got, want)
			}
			// Round trip.
			m, err := json.Marshal(d)
			if err != nil {
				rt.Fatal(err)
			}
			d2, err := Parse(m, Limits{})
			if err != nil {
				rt.Fatalf("Parse(Marshal): %v\n%s", err, m)
			}
			if !reflect.DeepEqual(d, d2) {
				rt.Fatalf("round trip changed the definition:\n%s\n%s", w.b, m)
			}
			// The properties map alone, through ParseProperties.
			if strict == StrictOpen {
				w2 := &writer{g: g}
				w2.props(o, nil)
				o2, err := ParseProperties(w2.b, Limits{})
				if err != nil {
					rt.Fatalf("ParseProperties(%s): %v", w2.b, err)
				}
				if got := o2.Canonical(); !bytes.Equal(got, want) {
					rt.Fatalf("ParseProperties canonical of\n%s\n got %s\nwant %s", w2.b, got, want)
				}
				m, _ := json.Marshal(o2)
				o3, err := ParseProperties(m, Limits{})
				if err != nil || !bytes.Equal(o3.Canonical(), want) {
					rt.Fatalf("Object round trip: %v\n%s", err, m)
				}
			}
		}
	})
}

// decodeCanonical rebuilds a structure from its canonical form. That it
// always gives back the original proves the canonical form injective.
func decodeCanonical(t *rapid.T, c []byte) *Object {
	dec := json.NewDecoder(bytes.NewReader(c))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("canonical form is not JSON: %v\n%s", err, c)
	}
	return decodeObject(t, v)
}

func decodeObject(t *rapid.T, v map[string]any) *Object {
	o := &Object{}
	switch v["strict"] {
	case false:
		o.Strict = StrictOpen
	case true:
		o.Strict = StrictReject
	case "filter":
		o.Strict = StrictFilter
	default:
		t.Fatalf("bad strict %v", v["strict"])
	}
	props := v["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		pm := props[name].(map[string]any)
		p := Property{Name: name, Type: decodeType(t, pm["type"])}
		p.Required = pm["required"] == true
		p.ID = pm["id"] == true
		if s, ok := pm["pattern"].(string); ok {
			p.Pattern = s
		}
		if d, ok := pm["default"]; ok {
			p.Default = refCanonical(d)
		}
		o.Properties = append(o.Properties, p)
	}
	return o
}

func decodeType(t *rapid.T, v any) Type {
	switch v := v.(type) {
	case string:
		for k := KindString; k <= KindGeoPoint; k++ {
			if builtinName(k) == v {
				return Type{Kind: k}
			}
		}
	case []any:
		elem := decodeType(t, v[0])
		return Type{Kind: KindArray, Elem: &elem}
	case map[string]any:
		if r, ok := v["ref"].(string); ok {
			return Type{Kind: KindRef, Ref: r}
		}
		return Type{Kind: KindNested, Object: decodeObject(t, v)}
	}
	t.Fatalf("bad type %v", v)
	return Type{}
}

func TestRapidCanonicalInjective(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g := gen{rt}
		a := genObject(g, 3, Strictness(g.intn(3, "strict a")), true)
		b := genObject(g, 3, Strictness(g.intn(3, "strict b")), true)
		ca, cb := a.Canonical(), b.Canonical()
		if got := decodeCanonical(rt, ca); !reflect.DeepEqual(got, a) {
			rt.Fatalf("canonical form does not decode to the structure:\n%s\n%+v\n%+v", ca, a, got)
		}
		if bytes.Equal(ca, cb) != reflect.DeepEqual(a, b) {
			rt.Fatalf("canonical equality differs from structural equality:\n%s\n%s", ca, cb)
		}
		if (a.Fingerprint() == b.Fingerprint()) != bytes.Equal(ca, cb) {
			rt.Fatalf("fingerprint equality differs from canonical equality")
		}
	})
}
