package document

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/definition"
	"pgregory.net/rapid"
)

// Generators of models and of documents for them. Documents are drawn
// valid (but in any of the input forms that the coercion rules accept)
// and then, for some tests, mutated.

var propNames = []string{"a", "b", "id", "type", "length", "a/b", "t~x", "é", "sp ace", `q"t`, "zz"}

const patternLetters = "^[a-z]*$"

// the fixed model that references ("Rec") resolve to; it refers to itself.
var recObj = object(definition.StrictFilter,
	prop("name", tString, required), prop("next", tRef("Rec")), prop("tags", tArray(tString)))

func drawType(t *rapid.T, depth int, label string) definition.Type {
	kinds := []definition.Kind{definition.KindString, definition.KindNumber, definition.KindBoolean,
		definition.KindDate, definition.KindBuffer, definition.KindObject, definition.KindAny,
		definition.KindGeoPoint}
	if depth < 3 {
		kinds = append(kinds, definition.KindArray, definition.KindNested, definition.KindRef)
	}
	switch k := rapid.SampledFrom(kinds).Draw(t, label); k {
	case definition.KindArray:
		e := drawType(t, depth+1, label+"[]")
		return definition.Type{Kind: k, Elem: &e}
	case definition.KindNested:
		return definition.Type{Kind: k, Object: drawObject(t, depth+1, label+".")}
	case definition.KindRef:
		return definition.Type{Kind: k, Ref: "Rec"}
	default:
		return definition.Type{Kind: k}
	}
}

func isStringish(t definition.Type) bool {
	for t.Kind == definition.KindArray {
		t = *t.Elem
	}
	return t.Kind == definition.KindString
}

func drawObject(t *rapid.T, depth int, label string) *definition.Object {
	names := rapid.Permutation(propNames).Draw(t, label+"names")
	n := rapid.IntRange(0, 5).Draw(t, label+"n")
	strict := rapid.SampledFrom([]definition.Strictness{definition.StrictOpen, definition.StrictReject, definition.StrictFilter}).Draw(t, label+"strict")
	var props []definition.Property
	for _, name := range names[:n] {
		p := definition.Property{Name: name, Type: drawType(t, depth, label+name)}
		p.Required = rapid.IntRange(0, 3).Draw(t, label+name+"?req") == 0
		if isStringish(p.Type) && rapid.Bool().Draw(t, label+name+"?pat") {
			p.Pattern = patternLetters
		}
		if rapid.IntRange(0, 4).Draw(t, label+name+"?def") == 0 {
			if p.Type.Kind == definition.KindDate && rapid.Bool().Draw(t, label+name+"?now") {
				p.Default = json.RawMessage(`"$now"`)
			} else {
				p.Default = json.RawMessage(drawValue(t, &p.Type, p.Pattern != "", depth+1, label+name+"=", false))
			}
		}
		props = append(props, p)
	}
	return object(strict, props...)
}

// drawString returns the JSON text of a string, with escapes.
func drawString(t *rapid.T, letters bool, label string) string {
	pieces := []string{"a", "z", "abc"}
	if !letters {
		pieces = append(pieces, "é", `\n`, `\u00e9`, `\ud83d\ude00`, `\/`, `\"`, "1", " ", "~", "/")
	} else {
		pieces = append(pieces, `\u0061`)
	}
	n := rapid.IntRange(0, 4).Draw(t, label+"len")
	var b strings.Builder
	b.WriteByte('"')
	for i := range n {
		b.WriteString(rapid.SampledFrom(pieces).Draw(t, label+strconv.Itoa(i)))
	}
	b.WriteByte('"')
	return b.String()
}

func drawNumber(t *rapid.T, label string) string {
	switch rapid.IntRange(0, 3).Draw(t, label+"form") {
	case 0:
		return strconv.Itoa(rapid.IntRange(-1e6, 1e6).Draw(t, label+"int"))
	case 1:
		f := rapid.Float64Range(-1e300, 1e300).Draw(t, label+"float")
		return strconv.FormatFloat(f, 'g', -1, 64)
	case 2:
		return rapid.SampledFrom([]string{"0", "-0", "1.50", "1e3", "-2.5E-3", "123456789012345678901234567890", "9007199254740993"}).Draw(t, label+"lit")
	}
	return strconv.FormatInt(rapid.Int64().Draw(t, label+"i64"), 10)
}

func drawAny(t *rapid.T, depth int, label string) string {
	max := 5
	if depth > 3 {
		max = 3
	}
	switch rapid.IntRange(0, max).Draw(t, label+"any") {
	case 0:
		return "null"
	case 1:
		return rapid.SampledFrom([]string{"true", "false"}).Draw(t, label+"b")
	case 2:
		return drawNumber(t, label)
	case 3:
		return drawString(t, false, label)
	case 4:
		n := rapid.IntRange(0, 3).Draw(t, label+"n")
		var items []string
		for i := range n {
			items = append(items, drawAny(t, depth+1, label+strconv.Itoa(i)))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	keys := rapid.Permutation([]string{"k", "l", `m\u006e`, "o/p"}).Draw(t, label+"keys")
	n := rapid.IntRange(0, 3).Draw(t, label+"n")
	var members []string
	for _, k := range keys[:n] {
		members = append(members, `"`+k+`":`+drawAny(t, depth+1, label+k))
	}
	return "{" + strings.Join(members, ",") + "}"
}

// drawValue returns the JSON text of a valid value of type ty, in any
// accepted input form. letters restricts strings to the pattern.
func drawValue(t *rapid.T, ty *definition.Type, letters bool, depth int, label string, canNull bool) string {
	if canNull && rapid.IntRange(0, 5).Draw(t, label+"?null") == 0 {
		return "null"
	}
	switch ty.Kind {
	case definition.KindString:
		return drawString(t, letters, label)
	case definition.KindNumber:
		n := drawNumber(t, label)
		if rapid.IntRange(0, 3).Draw(t, label+"?str") == 0 {
			return `"` + n + `"`
		}
		return n
	case definition.KindBoolean:
		return rapid.SampledFrom([]string{"true", "false", `"true"`, `"false"`, "0", "1", "1.0"}).Draw(t, label)
	case definition.KindDate:
		ms := rapid.Int64Range(-62167219200000, 253402300799999).Draw(t, label+"ms")
		tm := time.UnixMilli(ms).UTC()
		switch rapid.IntRange(0, 4).Draw(t, label+"form") {
		case 0:
			return strconv.FormatInt(ms, 10)
		case 1:
			return `"` + tm.Format("2006-01-02") + `"`
		case 2:
			ns := rapid.IntRange(0, 999999).Draw(t, label+"ns")
			return `"` + tm.Add(time.Duration(ns)).Format(time.RFC3339Nano) + `"`
		case 3:
			if tm.Year() < 2 || tm.Year() > 9998 {
				return strconv.FormatInt(ms, 10)
			}
			zone := time.FixedZone("", rapid.IntRange(-14*60, 14*60).Draw(t, label+"zone")*60)
			return `"` + tm.In(zone).Format("2006-01-02T15:04:05.999999999Z07:00") + `"`
		}
		return `"` + tm.Format("2006-01-02T15:04:05.000Z") + `"`
	case definition.KindBuffer:
		b := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, label+"bytes")
		enc := rapid.SampledFrom([]*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}).Draw(t, label+"enc")
		return strconv.Quote(enc.EncodeToString(b))
	case definition.KindObject:
		if v := drawAny(t, depth, label); strings.HasPrefix(v, "{") {
			return v
		}
		return `{"k":[]}`
	case definition.KindAny:
		if v := drawAny(t, depth, label); canNull || v != "null" {
			return v
		}
		return "0" // a required property cannot be null
	case definition.KindGeoPoint:
		lat := strconv.FormatFloat(rapid.Float64Range(-90, 90).Draw(t, label+"lat"), 'g', -1, 64)
		lng := strconv.FormatFloat(rapid.Float64Range(-180, 180).Draw(t, label+"lng"), 'g', -1, 64)
		switch rapid.IntRange(0, 3).Draw(t, label+"form") {
		case 0:
			return `"` + lat + ", " + lng + `"`
		case 1:
			return `{"lng":` + lng + `,"lat":"` + lat + `"}`
		}
		return `{"lat":` + lat + `,"lng":` + lng + `}`
	case definition.KindArray:
		n := rapid.IntRange(0, 3).Draw(t, label+"n")
		var items []string
		for i := range n {
			items = append(items, drawValue(t, ty.Elem, letters, depth+1, label+strconv.Itoa(i), ty.Elem.Kind == definition.KindAny))
		}
		return "[" + strings.Join(items, ",") + "]"
	case definition.KindNested:
		return drawDoc(t, ty.Object, depth+1, label)
	case definition.KindRef:
		if depth > 4 {
			return `{"name":"end"}`
		}
		return drawDoc(t, recObj, depth+1, label)
	}
	panic("unreachable")
}

// drawDoc returns a valid document for o, with random key order,
// whitespace and (unless strict) unknown properties.
func drawDoc(t *rapid.T, o *definition.Object, depth int, label string) string {
	var members []string
	for i := range o.Properties {
		p := &o.Properties[i]
		if !p.Required && rapid.IntRange(0, 3).Draw(t, label+p.Name+"?absent") == 0 {
			continue
		}
		members = append(members, string(appendQuoted(nil, p.Name))+":"+drawValue(t, &p.Type, p.Pattern != "", depth, label+p.Name, !p.Required))
	}
	if o.Strict != definition.StrictReject && rapid.IntRange(0, 3).Draw(t, label+"?extra") == 0 {
		members = append(members, `"zz_extra":`+drawAny(t, depth, label+"extra"))
	}
	members = rapid.Permutation(members).Draw(t, label+"order")
	sep := rapid.SampledFrom([]string{",", " , ", ",\n  "}).Draw(t, label+"sep")
	return "{" + strings.Join(members, sep) + "}"
}

// mutate replaces a random byte range of doc with a random JSON value or
// junk.
func mutate(t *rapid.T, doc string) string {
	i := rapid.IntRange(0, len(doc)).Draw(t, "mut.at")
	j := rapid.IntRange(i, min(len(doc), i+8)).Draw(t, "mut.end")
	with := rapid.SampledFrom([]string{"", "null", "1", `"x"`, "[]", "{}", ",", `"a":1,`, "\\", "\"", "1e400", `"\ud800"`, "\xff", "true"}).Draw(t, "mut.with")
	return doc[:i] + with + doc[j:]
}

// TestPropertyValidDocuments: every drawn valid document is accepted; the
// output is compact JSON, re-validates unchanged (idempotence), agrees
// with ValidateValue and is valid against the exported JSON Schema.
func TestPropertyValidDocuments(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := drawObject(t, 0, "")
		m := models{"Rec": recObj}
		v, err := New(o, m.resolve, WithClock(fixedClock))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		doc := []byte(drawDoc(t, o, 0, "doc."))
		if rapid.Bool().Draw(t, "indent") {
			var b strings.Builder
			for _, c := range string(doc) {
				b.WriteRune(c)
				if c == '{' || c == '[' {
					b.WriteString("\n\t")
				}
			}
			if json.Valid([]byte(b.String())) {
				doc = []byte(b.String())
			}
		}
		out, err := v.Validate(doc)
		if err != nil {
			t.Fatalf("Validate(%s): %v", doc, err)
		}
		checkResult(t, v, doc, out, nil)
		schema, err := Schema(o, m.resolve)
		if err != nil {
			t.Fatalf("Schema: %v", err)
		}
		if sch := compileSchema(t, schema); !schemaAccepts(t, sch, out) {
			t.Fatalf("schema rejects the output %s\n%s", out, schema)
		}
	})
}

// TestPropertyMutatedDocuments: mutated documents never panic, and when
// accepted they satisfy the same invariants.
func TestPropertyMutatedDocuments(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := drawObject(t, 0, "")
		m := models{"Rec": recObj}
		v, err := New(o, m.resolve, WithClock(fixedClock))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		doc := []byte(mutate(t, drawDoc(t, o, 0, "doc.")))
		out, err := v.Validate(doc)
		checkResult(t, v, doc, out, err)
	})
}

// TestPropertyDates: every instant in range survives epoch millis ->
// RFC 3339 -> RFC 3339 (with any offset) unchanged.
func TestPropertyDates(t *testing.T) {
	v := mustNew(t, object(definition.StrictOpen, prop("d", tDate)), nil)
	rapid.Check(t, func(t *rapid.T) {
		ms := rapid.Int64Range(-62167219200000, 253402300799999).Draw(t, "ms")
		ns := rapid.Int64Range(0, 999999).Draw(t, "ns")
		tm := time.UnixMilli(ms).UTC().Add(time.Duration(ns))
		want := tm.Format("2006-01-02T15:04:05.000000000Z")
		want = strings.TrimSuffix(strings.TrimSuffix(want[:len(want)-1], "000"), "000") + "Z"
		out, err := v.Validate([]byte(fmt.Sprintf(`{"d":%q}`, tm.Format(time.RFC3339Nano))))
		if err != nil || string(out) != `{"d":"`+want+`"}` {
			t.Fatalf("%s: got %s, %v; want %s", tm.Format(time.RFC3339Nano), out, err, want)
		}
		if ns == 0 {
			out2, err := v.Validate([]byte(fmt.Sprintf(`{"d":%d}`, ms)))
			if err != nil || !slices.Equal(out, out2) {
				t.Fatalf("millis %d: %s, %v", ms, out2, err)
			}
		}
	})
}

// TestPropertyNumbers: integers are never rounded; floats keep their text.
func TestPropertyNumbers(t *testing.T) {
	v := mustNew(t, object(definition.StrictOpen, prop("n", tNumber)), nil)
	rapid.Check(t, func(t *rapid.T) {
		var lit string
		if rapid.Bool().Draw(t, "int") {
			lit = strconv.FormatUint(rapid.Uint64Min(1).Draw(t, "u"), 10) + strings.Repeat("7", rapid.IntRange(0, 30).Draw(t, "more"))
		} else {
			f := rapid.Float64().Draw(t, "f")
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return
			}
			lit = strconv.FormatFloat(f, 'e', -1, 64)
		}
		for _, in := range []string{lit, `"` + lit + `"`} {
			out, err := v.Validate([]byte(`{"n":` + in + `}`))
			if err != nil || string(out) != `{"n":`+lit+`}` {
				t.Fatalf("%s: %s, %v", in, out, err)
			}
		}
	})
}
