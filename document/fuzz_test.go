package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/modelreg/modelreg/definition"
)

// knownCodes are the documented codes; a violation never has another.
var knownCodes = map[Code]bool{
	CodeSyntax: true, CodeDuplicateKey: true, CodeType: true, CodeRequired: true,
	CodeUnknownProperty: true, CodePattern: true, CodeNumberRange: true, CodeDateFormat: true,
	CodeBufferFormat: true, CodeGeoPointFormat: true, CodeGeoPointRange: true,
	CodeUnresolvedRef: true, CodeInvalidDefault: true, CodeInvalidModel: true,
	CodeTooLarge: true, CodeTooDeep: true, CodeTooManyItems: true, CodeUnsupportedValue: true,
}

// checkResult checks the invariants of one validation: a rejected
// document has well-formed violations; an accepted one gives compact,
// valid JSON that re-validates to the same bytes (idempotence), and the
// decoded-value path agrees.
func checkResult(t tb, v *Validator, doc, out []byte, err error) {
	t.Helper()
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || len(ve.Violations) == 0 {
			t.Fatalf("Validate(%q): bad error %#v", doc, err)
		}
		if out != nil {
			t.Fatalf("Validate(%q): output with an error", doc)
		}
		for _, vi := range ve.Violations {
			if !knownCodes[vi.Code] || vi.Message == "" || (vi.Path != "" && vi.Path[0] != '/') {
				t.Fatalf("Validate(%q): bad violation %+v", doc, vi)
			}
		}
		checkValuePath(t, v, doc, nil, err)
		return
	}
	if !json.Valid(out) {
		t.Fatalf("Validate(%q) = %q: not valid JSON", doc, out)
	}
	var compact bytes.Buffer
	if e := json.Compact(&compact, out); e != nil || !bytes.Equal(compact.Bytes(), out) {
		t.Fatalf("Validate(%q) = %q: not compact", doc, out)
	}
	again, err := v.Validate(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("not idempotent: Validate(%q) = %q; Validate(that) = %q, %v", doc, out, again, err)
	}
	checkValuePath(t, v, doc, out, nil)
}

// fuzzModels are the models that references in fuzzed definitions can
// resolve to (the fuzzed model itself is added as "Self").
func fuzzModels(t testing.TB) models {
	return parseModels(t, userDef,
		`{"name": "Address", "strict": true, "properties": {"street": "string", "zip": {"type": "string", "pattern": "^[0-9]+$"}, "loc": "geopoint"}}`)
}

func FuzzValidate(f *testing.F) {
	seeds := []struct{ def, doc string }{
		{orderDef, `{"id":"o1","email":"a@b.c","total":"12.5","paid":"true","createdAt":1714559400000,"blob":"aGk","loc":"1,2","tags":["a"],"address":{"city":"P"},"items":[{"sku":"a"}],"owner":{"name":"ann","x":1}}`},
		{orderDef, `{"id":"x","status":null,"meta":{"a":[1,{"b":null}]},"extra":[true,false,-0.5e3]}`},
		{benchDef, string(benchDoc())},
		{`{"name": "T", "strict": "filter", "properties": {"d": {"type": "date", "default": "$now"}, "n": {"type": "number", "default": "7"}, "s": "Self", "a": "Address"}}`, `{"x": 1, "s": {"s": {}}, "a": {"street": "x", "loc": {"lng": 2, "lat": "1"}}}`},
		{`{"name": "T", "properties": {"g": ["geopoint"], "b": ["buffer"], "d": [["date"]]}}`, ` { "g" : [ "1,2" , { "lat" : 0 , "lng" : 0 } ] , "b" : [ "-_8" ] , "d" : [ [ "2024-01-01" , 0 ] ] } `},
		{`{"name": "T", "strict": true, "properties": {"a/b": "string", "~": "any"}}`, `{"a/b":"\u0041","~":{"\ud83d\ude00":1},"c":2}`},
		{orderDef, `{"id":"x","status":"s","total":1e400,"createdAt":"2024-05-01T10:30:00.1234567891Z","blob":"QR==","loc":{"lat":91,"lng":0,"alt":1}}`},
		{orderDef, `{"id":"x","id":"y","tags":[null,1],"items":[{"sku":1,"sku":2}]}`},
		{orderDef, "{\"id\":\"\xff\"}"},
		{orderDef, `[`},
	}
	for _, s := range seeds {
		f.Add([]byte(s.def), []byte(s.doc))
	}
	base := fuzzModels(f)
	fixed := []*definition.Object{typesObj, parseModels(f, orderDef)["Order"], parseModels(f, benchDef)["Order"], recObj}
	f.Fuzz(func(t *testing.T, def, doc []byte) {
		// A definition that does not parse selects a fixed model, so that
		// every input exercises the document.
		var o *definition.Object
		if d, err := definition.Parse(def, definition.Limits{}); err == nil {
			o = &d.Object
		} else {
			o = fixed[len(def)%len(fixed)]
		}
		m := models{"Self": o, "User": testModels["User"], "Rec": recObj}
		for k, o := range base {
			m[k] = o
		}
		v, err := New(o, m.resolve, WithClock(fixedClock), WithLimits(Limits{MaxDepth: 20, MaxItems: 100, MaxViolations: 20}))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		out, err := v.Validate(doc)
		checkResult(t, v, doc, out, err)
	})
}

// FuzzSchemaAgreement checks the exported JSON Schema against modelreg on
// fuzzed models and documents (see agreement), outside the documented
// differences: duplicate keys, numbers beyond float64, invalid UTF-8 or
// lone surrogates (which encoding/json accepts with a replacement), and
// limits.
func FuzzSchemaAgreement(f *testing.F) {
	f.Add([]byte(orderDef), []byte(`{"id":"x","status":"s","loc":{"lat":1,"lng":2},"owner":{"name":"a"}}`))
	f.Add([]byte(orderDef), []byte(`{"id":"x","total":"1"}`))
	f.Add([]byte(`{"name": "T", "strict": true, "properties": {"d": ["date"], "b": {"type": "buffer", "required": true}}}`), []byte(`{"d":["2024-01-01T00:00:00.000Z"],"b":"aGk="}`))
	f.Add([]byte(`{"name": "T", "properties": {"s": {"type": "string", "pattern": "^a+$"}, "a": "Address"}}`), []byte(`{"s":"aa","a":{"zip":"1"}}`))
	base := fuzzModels(f)
	fixed := []*definition.Object{typesObj, parseModels(f, orderDef)["Order"], parseModels(f, benchDef)["Order"], recObj}
	f.Fuzz(func(t *testing.T, def, doc []byte) {
		var o *definition.Object
		if d, err := definition.Parse(def, definition.Limits{}); err == nil {
			o = &d.Object
		} else {
			o = fixed[len(def)%len(fixed)]
		}
		m := models{"Self": o, "User": testModels["User"], "Rec": recObj, "Ghost": recObj}
		for k, o := range base {
			m[k] = o
		}
		v, err := New(o, m.resolve)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		out, verr := v.Validate(doc)
		for _, c := range []Code{CodeDuplicateKey, CodeNumberRange, CodeSyntax, CodeTooDeep, CodeTooLarge, CodeTooManyItems, CodeUnresolvedRef, CodeInvalidDefault} {
			if errors.Is(verr, c) {
				return
			}
		}
		if verr == nil && !json.Valid(doc) {
			t.Fatalf("accepted invalid JSON %q as %q", doc, out)
		}
		schema, err := Schema(o, m.resolve)
		if errors.Is(err, CodeUnresolvedRef) {
			return
		}
		if err != nil {
			t.Fatalf("Schema: %v", err)
		}
		if agreement(t, v, compileSchema(t, schema), doc) == schemaOnly {
			t.Fatalf("the schema accepts %q, modelreg rejects it: %v\n%s", doc, verr, schema)
		}
	})
}
