package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// propCanon parses {"p": decl} with ParseProperties and returns the
// canonical form of property p (the part between "p": and the end).
func propCanon(t *testing.T, decl string) string {
	t.Helper()
	o, err := ParseProperties([]byte(`{"p":`+decl+`}`), Limits{})
	if err != nil {
		t.Fatalf("ParseProperties(%s): %v", decl, err)
	}
	c := string(o.Canonical())
	const prefix, suffix = `{"properties":{"p":`, `},"strict":false}`
	if !strings.HasPrefix(c, prefix) || !strings.HasSuffix(c, suffix) {
		t.Fatalf("unexpected canonical %s", c)
	}
	return c[len(prefix) : len(c)-len(suffix)]
}

func TestPropertyForms(t *testing.T) {
	nestedStreet := `{"type":{"properties":{"street":{"type":"string"}},"strict":false}}`
	itemSku := `{"type":[{"properties":{"sku":{"type":"string"}},"strict":false}]}`
	tests := []struct {
		want  string
		forms []string
	}{
		{`{"type":"string"}`, []string{`"string"`, `"String"`, `"STRING"`, `"sTrInG"`, `"text"`, `"Text"`,
			`{"type":"string"}`, `{"type":"String","required":false}`, `{"required":false,"type":"string"}`,
			`{"type":"string","description":"x","index":true}`, `{"type":"string","default":null}`,
			`{"type":"string","pattern":""}`, `{"type":"string","id":false}`, `{"type":"string","id":0}`,
			`{"type":"string","required":null,"id":null,"pattern":null}`, `"str\u0069ng"`}},
		{`{"type":"number"}`, []string{`"number"`, `"Number"`, `{"type":"NUMBER"}`}},
		{`{"type":"boolean"}`, []string{`"boolean"`, `"Boolean"`, `"bool"`, `"Bool"`, `{"type":"bool"}`}},
		{`{"type":"date"}`, []string{`"date"`, `"Date"`, `{"type":"DATE"}`}},
		{`{"type":"buffer"}`, []string{`"buffer"`, `"Buffer"`, `"binary"`, `"Binary"`}},
		{`{"type":"object"}`, []string{`"object"`, `"Object"`, `{"type":"object"}`}},
		{`{"type":"any"}`, []string{`"any"`, `"Any"`, `"*"`, `"json"`, `"JSON"`, `{"type":"*"}`,
			`{"defaultFn":"now"}`, `{"index":1}`, `{"description":"no type","required":false}`}},
		{`{"type":"geopoint"}`, []string{`"geopoint"`, `"GeoPoint"`, `"GEOPOINT"`}},
		{`{"required":true,"type":"any"}`, []string{`{"required":true}`, `{"type":"any","required":true}`}},
		{`{"required":true,"type":"string"}`, []string{`{"type":"string","required":true}`,
			`{"required":true,"type":"String"}`, `{"type":"string","required":true,"description":"d"}`}},
		{`{"type":["string"]}`, []string{`["string"]`, `["String"]`, `{"type":["string"]}`,
			`[{"type":"string"}]`, `{"type":[{"type":"String"}]}`}},
		{`{"type":["any"]}`, []string{`[]`, `"array"`, `"Array"`, `["any"]`, `["*"]`, `{"type":"array"}`,
			`{"type":[]}`, `{"type":["json"]}`}},
		{`{"type":[["string"]]}`, []string{`[["string"]]`, `{"type":[["string"]]}`, `[{"type":["string"]}]`}},
		{`{"type":[["any"]]}`, []string{`["array"]`, `[[]]`}},
		{nestedStreet, []string{`{"street":"string"}`, `{"type":{"street":"string"}}`,
			`{"type":{"street":{"type":"String"}}}`, `{"street":{"type":"string","required":false}}`}},
		{`{"type":{"properties":{},"strict":false}}`, []string{`{}`, `{"type":{}}`}},
		{itemSku, []string{`[{"sku":"string"}]`, `{"type":[{"sku":"string"}]}`, `[{"type":{"sku":"string"}}]`,
			`{"type":[{"type":{"sku":"String"}}]}`}},
		{`{"type":{"ref":"Address"}}`, []string{`"Address"`, `{"type":"Address"}`, `{"type":"Address","required":false}`}},
		{`{"type":[{"ref":"OrderEntry"}]}`, []string{`["OrderEntry"]`, `{"type":["OrderEntry"]}`, `[{"type":"OrderEntry"}]`}},
		// A nested object with a property called "type" needs {"type": {...}}.
		{`{"type":{"properties":{"type":{"type":"string"}},"strict":false}}`, []string{`{"type":{"type":"string"}}`,
			`{"type":{"type":{"type":"string"}}}`}},
		// ... and an object literal with a "type" key is a long form.
		{`{"type":"string"}`, []string{`{"type":"string","street":"string"}`}},
		// Keys that are all option names make a long form, unless every
		// value is a built-in type name: then it is a nested object, as
		// LoopBack reads every object without "type".
		{`{"type":{"properties":{"description":{"type":"string"},"title":{"type":"string"}},"strict":false}}`,
			[]string{`{"title":"string","description":"String"}`, `{"type":{"title":"string","description":"string"}}`}},
		{`{"type":{"properties":{"format":{"type":"date"}},"strict":false}}`, []string{`{"format":"date"}`, `{"format":"\u0064ate"}`}},
		{`{"type":"any"}`, []string{`{"description":"Name"}`}},
		{`{"required":true,"type":"any"}`, []string{`{"description":"string","required":true}`}},
		// Options.
		{`{"id":true,"type":"number"}`, []string{`{"type":"number","id":true}`, `{"id":1,"type":"number"}`, `{"id":2,"type":"Number"}`}},
		{`{"pattern":"^[a-z]+\\d$","type":"string"}`, []string{`{"type":"string","pattern":"^[a-z]+\\d$"}`}},
		{`{"default":1,"type":"number"}`, []string{`{"type":"number","default":1}`, `{"type":"number","default":1.0}`,
			`{"type":"number","default":1e0}`, `{"type":"number","default":10E-1}`, `{"type":"number","default":0.1e1}`}},
		{`{"default":0,"type":"number"}`, []string{`{"type":"number","default":-0}`, `{"type":"number","default":0.0e5}`}},
		{`{"default":100000000000000000000,"type":"number"}`, []string{`{"type":"number","default":1e20}`}},
		{`{"default":1e+21,"type":"number"}`, []string{`{"type":"number","default":1e21}`, `{"type":"number","default":1000000000000000000000}`}},
		{`{"default":1e-7,"type":"number"}`, []string{`{"type":"number","default":0.0000001}`, `{"type":"number","default":1E-07}`}},
		{`{"default":0.000001,"type":"number"}`, []string{`{"type":"number","default":1e-6}`}},
		{`{"default":-1.5,"type":"number"}`, []string{`{"type":"number","default":-15e-1}`}},
		{`{"default":"é\u000a\"\\/<","type":"string"}`, []string{`{"type":"string","default":"\u00e9\n\"\\\/\u003c"}`,
			`{"type":"string","default":"é\u000A\"\\/<"}`}},
		{`{"default":"😀","type":"string"}`, []string{`{"type":"string","default":"\ud83d\ude00"}`, `{"type":"string","default":"😀"}`}},
		{`{"default":{"a":[true,false,null,"x",{}],"b":{"c":1,"d":[]}},"type":"object"}`, []string{
			`{"type":"object","default":{"b":{"d":[],"c":1.0},"a":[true,false,null,"x",{}]}}`,
			`{"default": { "a" : [ true , false , null , "x" , { } ] , "b" : { "c" : 1 , "d" : [ ] } } , "type" : "object"}`}},
		{`{"default":"$now","type":"date"}`, []string{`{"type":"date","default":"$now"}`}},
		{`{"default":false,"type":"boolean"}`, []string{`{"type":"boolean","default":false}`}},
		{`{"default":[],"type":["any"]}`, []string{`{"type":"array","default":[]}`}},
		{`{"default":"a","id":true,"pattern":"a","required":true,"type":"string"}`, []string{
			`{"pattern":"a","required":true,"id":true,"default":"a","type":"string"}`}},
	}
	for _, tt := range tests {
		for _, form := range tt.forms {
			if got := propCanon(t, form); got != tt.want {
				t.Errorf("%s:\n got %s\nwant %s", form, got, tt.want)
			}
		}
	}
}

func TestParseTypeName(t *testing.T) {
	tests := []struct {
		in   string
		kind Kind
		ref  string
	}{
		{"string", KindString, ""}, {"String", KindString, ""}, {"TEXT", KindString, ""},
		{"number", KindNumber, ""}, {"Number", KindNumber, ""},
		{"boolean", KindBoolean, ""}, {"bool", KindBoolean, ""},
		{"date", KindDate, ""}, {"Date", KindDate, ""},
		{"buffer", KindBuffer, ""}, {"binary", KindBuffer, ""},
		{"object", KindObject, ""}, {"Object", KindObject, ""},
		{"any", KindAny, ""}, {"*", KindAny, ""}, {"json", KindAny, ""},
		{"geopoint", KindGeoPoint, ""}, {"GeoPoint", KindGeoPoint, ""},
		{"array", KindArray, ""}, {"Array", KindArray, ""},
		{"Address", KindRef, "Address"}, {"OrderEntry", KindRef, "OrderEntry"}, {"X", KindRef, "X"},
		{"Order_Entry-2", KindRef, "Order_Entry-2"},
	}
	for _, tt := range tests {
		got, err := ParseTypeName(tt.in)
		if err != nil || got.Kind != tt.kind || got.Ref != tt.ref {
			t.Errorf("ParseTypeName(%q) = %+v, %v; want kind %v ref %q", tt.in, got, err, tt.kind, tt.ref)
		}
		if tt.kind == KindArray && (got.Elem == nil || got.Elem.Kind != KindAny) {
			t.Errorf("ParseTypeName(%q): element %+v, want any", tt.in, got.Elem)
		}
	}
	for _, in := range []string{"", "zipcode", "now", "address", "strings", "Foo Bar", "Foo.Bar", "1Abc",
		"_Abc", "$now", "Ünïcode", "String ", " string", strings.Repeat("A", DefaultMaxNameLen+1)} {
		_, err := ParseTypeName(in)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrUnknownType) || e.Offset != -1 {
			t.Errorf("ParseTypeName(%q) error = %v, want *Error wrapping ErrUnknownType", in, err)
		}
	}
}

type errCase struct {
	name     string
	props    bool // ParseProperties instead of Parse
	in       string
	lim      Limits
	path     string
	sentinel error
	msg      string // substring of Error(), if set
	off      int    // expected Offset, -2 to skip
}

func checkErr(t *testing.T, tt errCase, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T), want *Error", tt.name, err, err)
	}
	if !errors.Is(err, tt.sentinel) {
		t.Errorf("%s: error %v does not wrap %v", tt.name, err, tt.sentinel)
	}
	if e.Path != tt.path {
		t.Errorf("%s: path %q, want %q (%v)", tt.name, e.Path, tt.path, err)
	}
	if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
		t.Errorf("%s: error %q does not contain %q", tt.name, err.Error(), tt.msg)
	}
	if tt.off != -2 && e.Offset != int64(tt.off) {
		t.Errorf("%s: offset %d, want %d (%v)", tt.name, e.Offset, tt.off, err)
	}
	if e.Offset >= 0 && (e.Line < 1 || e.Column < 1) {
		t.Errorf("%s: offset %d but line %d column %d", tt.name, e.Offset, e.Line, e.Column)
	}
	if e.Path != "" && !strings.HasPrefix(err.Error(), e.Path+": ") {
		t.Errorf("%s: Error() %q does not start with the path", tt.name, err.Error())
	}
}

func TestErrors(t *testing.T) {
	deepArr := `{"name":"A","properties":{"p":` + strings.Repeat("[", 31) + `"string"` + strings.Repeat("]", 31) + `}}`
	okArr := `{"name":"A","properties":{"p":` + strings.Repeat("[", 30) + `"string"` + strings.Repeat("]", 30) + `}}`
	if _, err := Parse([]byte(okArr), Limits{}); err != nil {
		t.Fatalf("depth 32: %v", err)
	}
	tests := []errCase{
		// The example of the issue.
		{name: "unknown nested", in: `{"name":"A","properties":{"address":{"street":"string","zip":"zipcode"}}}`,
			path: "properties.address.zip", sentinel: ErrUnknownType, msg: `properties.address.zip: unknown type "zipcode"`, off: 61},
		{name: "unknown long", in: `{"name":"A","properties":{"a":{"type":"zipcode"}}}`, path: "properties.a", sentinel: ErrUnknownType, off: 38},
		{name: "unknown lower-case ref", props: true, in: `{"a":"address"}`, path: "a", sentinel: ErrUnknownType, off: 5},
		{name: "unknown elem", props: true, in: `{"a":["strin"]}`, path: "a[]", sentinel: ErrUnknownType, off: 6},
		{name: "unknown in array of objects", props: true, in: `{"orders":[{"sku":"strng"}]}`, path: "orders[].sku", sentinel: ErrUnknownType, off: -2},
		{name: "unknown in type object", props: true, in: `{"a":{"type":{"b":{"type":"x"}}}}`, path: "a.b", sentinel: ErrUnknownType, off: -2},
		{name: "ref with space", props: true, in: `{"a":"Foo Bar"}`, path: "a", sentinel: ErrUnknownType, off: -2},
		{name: "null in ParseProperties", props: true, in: `{"a":null}`, path: "a", sentinel: ErrInvalid, off: 5},
		{name: "false in ParseProperties", props: true, in: `{"a":false}`, path: "a", sentinel: ErrInvalid, off: 5},
		{name: "null nested", in: `{"name":"A","properties":{"a":{"b":null}}}`, path: "properties.a.b", sentinel: ErrInvalid, off: -2},
		{name: "true property", props: true, in: `{"a":true}`, path: "a", sentinel: ErrInvalid, off: 5},
		{name: "number property", props: true, in: `{"a":1}`, path: "a", sentinel: ErrInvalid, off: 5},
		{name: "two element types", props: true, in: `{"a":["string","number"]}`, path: "a", sentinel: ErrInvalid, off: 15},
		{name: "options on element", props: true, in: `{"a":[{"type":"string","required":true}]}`, path: "a[]", sentinel: ErrInvalid, off: -2},
		{name: "type null", props: true, in: `{"a":{"type":null}}`, path: "a", sentinel: ErrInvalid, off: 13},
		{name: "type number", props: true, in: `{"a":{"type":1}}`, path: "a", sentinel: ErrInvalid, off: 13},
		{name: "element null", props: true, in: `{"a":[null]}`, path: "a[]", sentinel: ErrInvalid, off: 6},
		{name: "required not bool", props: true, in: `{"a":{"type":"string","required":"yes"}}`, path: "a", sentinel: ErrInvalid, msg: `"required"`, off: -2},
		{name: "id string", props: true, in: `{"a":{"type":"string","id":"yes"}}`, path: "a", sentinel: ErrInvalid, off: -2},
		{name: "bad pattern", props: true, in: `{"a":{"type":"string","pattern":"("}}`, path: "a", sentinel: ErrInvalid, msg: "pattern", off: 32},
		{name: "pattern not string", props: true, in: `{"a":{"type":"string","pattern":1}}`, path: "a", sentinel: ErrInvalid, off: -2},
		{name: "duplicate option", props: true, in: `{"a":{"type":"string","type":"number"}}`, path: "a", sentinel: ErrInvalid, msg: "duplicate", off: 22},
		{name: "duplicate extra option", props: true, in: `{"a":{"type":"string","doc":1,"doc":2}}`, path: "a", sentinel: ErrInvalid, msg: "duplicate", off: -2},
		{name: "duplicate property", props: true, in: `{"a":"string","b":"number","a":"number"}`, path: "a", sentinel: ErrInvalid, msg: "duplicate property", off: 27},
		{name: "duplicate nested property", in: `{"name":"A","properties":{"x":{"a":"string","a":"string"}}}`, path: "properties.x.a", sentinel: ErrInvalid, off: 44},
		{name: "duplicate removed", in: `{"name":"A","properties":{"a":null,"a":"string"}}`, path: "properties.a", sentinel: ErrInvalid, off: 35},
		{name: "duplicate key in default", props: true, in: `{"a":{"type":"object","default":{"k":1,"k":2}}}`, path: "a", sentinel: ErrInvalid, msg: `duplicate key "k"`, off: 39},
		{name: "default out of range", props: true, in: `{"a":{"type":"number","default":1e400}}`, path: "a", sentinel: ErrInvalid, msg: "out of range", off: 32},
		{name: "empty property name", props: true, in: `{"":"string"}`, path: `[""]`, sentinel: ErrInvalidName, off: 1},
		{name: "colon in name", in: `{"name":"A","properties":{"tags:":"string"}}`, path: `properties["tags:"]`, sentinel: ErrInvalidName, off: 26},
		{name: "digit first", props: true, in: `{"1a":"string"}`, path: `["1a"]`, sentinel: ErrInvalidName, off: 1},
		{name: "space in name", props: true, in: `{"a b":"string"}`, path: `["a b"]`, sentinel: ErrInvalidName, off: 1},
		{name: "non-ASCII name", props: true, in: `{"é":"string"}`, path: `["é"]`, sentinel: ErrInvalidName, off: 1},
		{name: "dot in name", props: true, in: `{"a.b":"string"}`, path: `["a.b"]`, sentinel: ErrInvalidName, off: 1},
		{name: "long property name", props: true, in: `{"` + strings.Repeat("a", 257) + `":"string"}`, path: strings.Repeat("a", 257), sentinel: ErrInvalidName, off: 1},
		{name: "long property name limit", props: true, lim: Limits{MaxPropertyNameLen: 3}, in: `{"abcd":"string"}`, path: "abcd", sentinel: ErrInvalidName, off: 1},
		{name: "missing name", in: `{"properties":{}}`, path: "name", sentinel: ErrInvalidName, msg: "missing model name", off: 0},
		{name: "bare properties map", in: ` {"title":"string"}`, path: "name", sentinel: ErrInvalidName, msg: "ParseProperties", off: 1},
		{name: "multi-model map", in: `{"a":{"properties":{}},"b":{"options":{}}}`, path: "name", sentinel: ErrInvalidName, msg: "ParseAll", off: 0},
		{name: "empty name", in: `{"name":""}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "name with dot", in: `{"name":"a.b"}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "name digit first", in: `{"name":"1a"}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "name number", in: `{"name":5}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "name too long", in: `{"name":"` + strings.Repeat("A", 129) + `"}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "name limit", lim: Limits{MaxNameLen: 3}, in: `{"name":"Abcd"}`, path: "name", sentinel: ErrInvalidName, off: 8},
		{name: "ref over name limit", lim: Limits{MaxNameLen: 3}, in: `{"name":"Abc","properties":{"a":"Abcd"}}`, path: "properties.a", sentinel: ErrInvalidName, msg: "longer than 3 bytes", off: -2},
		{name: "long ref", props: true, in: `{"a":"` + strings.Repeat("A", 129) + `"}`, path: "a", sentinel: ErrInvalidName, msg: "longer than 128 bytes", off: -2},
		{name: "long lower-case type", props: true, in: `{"a":"` + strings.Repeat("a", 129) + `"}`, path: "a", sentinel: ErrUnknownType, off: -2},
		{name: "duplicate name key", in: `{"name":"A","name":"B"}`, path: "name", sentinel: ErrInvalid, off: 12},
		{name: "duplicate setting", in: `{"name":"A","base":"X","base":"Y"}`, path: "base", sentinel: ErrInvalid, off: 23},
		{name: "duplicate options.strict", in: `{"name":"A","options":{"strict":true,"strict":false}}`, path: "options.strict", sentinel: ErrInvalid, off: -2},
		{name: "bad strict", in: `{"name":"A","strict":"yes"}`, path: "strict", sentinel: ErrInvalid, off: 21},
		{name: "strict number", in: `{"name":"A","strict":1}`, path: "strict", sentinel: ErrInvalid, off: 21},
		{name: "strict null", in: `{"name":"A","strict":null}`, path: "strict", sentinel: ErrInvalid, off: 21},
		{name: "bad options.strict", in: `{"name":"A","options":{"strict":"Throw"}}`, path: "options.strict", sentinel: ErrInvalid, off: -2},
		{name: "bad strict under good options.strict", in: `{"name":"A","strict":"x","options":{"strict":true}}`, path: "strict", sentinel: ErrInvalid, off: -2},
		{name: "properties array", in: `{"name":"A","properties":[]}`, path: "properties", sentinel: ErrInvalid, off: 25},
		{name: "properties null", in: `{"name":"A","properties":null}`, path: "properties", sentinel: ErrInvalid, off: 25},
		{name: "top-level array", in: `[]`, path: "", sentinel: ErrInvalid, off: 0},
		{name: "top-level string", in: `"A"`, path: "", sentinel: ErrInvalid, off: 0},
		{name: "props top-level array", props: true, in: `["string"]`, path: "", sentinel: ErrInvalid, off: 0},
		// Syntax.
		{name: "empty input", in: ``, sentinel: ErrSyntax, msg: "line 1, column 1", off: 0},
		{name: "only spaces", in: "  \n ", sentinel: ErrSyntax, msg: "line 2, column 2", off: 4},
		{name: "trailing comma", in: "{\"name\":\"A\",\n}", sentinel: ErrSyntax, msg: "line 2, column 1", off: 13},
		{name: "trailing data", in: `{"name":"A"} {}`, sentinel: ErrSyntax, msg: "after the top-level value", off: 13},
		{name: "trailing garbage", props: true, in: `{}x`, sentinel: ErrSyntax, off: 2},
		{name: "unterminated", in: `{"name":"A`, sentinel: ErrSyntax, off: 10},
		{name: "unclosed", in: `{"name":"A"`, sentinel: ErrSyntax, off: 11},
		{name: "control char", in: "{\"name\":\"A\x01\"}", sentinel: ErrSyntax, off: 10},
		{name: "invalid utf8", in: "{\"name\":\"A\xff\"}", sentinel: ErrSyntax, off: 10},
		{name: "lone surrogate", in: `{"name":"A\ud800"}`, sentinel: ErrSyntax, off: 10},
		{name: "lone low surrogate", in: `{"name":"A\udc00"}`, sentinel: ErrSyntax, off: 10},
		{name: "bad escape", in: `{"name":"A\x"}`, sentinel: ErrSyntax, off: 10},
		{name: "bad number", props: true, in: `{"a":{"default":01}}`, sentinel: ErrSyntax, off: 17},
		{name: "bad literal", props: true, in: `{"a":tru}`, sentinel: ErrSyntax, off: 5},
		{name: "single quotes", props: true, in: `{'a':"string"}`, sentinel: ErrSyntax, off: 1},
		{name: "BOM", props: true, in: "\xef\xbb\xbf{}", sentinel: ErrSyntax, off: 0},
		{name: "comment", props: true, in: `{"a":"string" // x` + "\n}", sentinel: ErrSyntax, off: 14},
		{name: "NaN", props: true, in: `{"a":{"default":NaN}}`, sentinel: ErrSyntax, off: 16},
		// Limits.
		{name: "too large", in: `{"name":"A","properties":{}}`, lim: Limits{MaxBytes: 10}, sentinel: ErrTooLarge, off: 10},
		{name: "too large props", props: true, in: `{"a":"string"}`, lim: Limits{MaxBytes: 13}, sentinel: ErrTooLarge, off: 13},
		{name: "too deep arrays", in: deepArr, sentinel: ErrTooDeep, off: 60},
		{name: "too deep objects", props: true, lim: Limits{MaxDepth: 3}, in: `{"a":{"b":{"c":{"d":"string"}}}}`, sentinel: ErrTooDeep, off: 15},
		{name: "too deep settings", lim: Limits{MaxDepth: 2}, in: `{"name":"A","acls":[{}]}`, sentinel: ErrTooDeep, off: 20},
		{name: "too deep default", props: true, lim: Limits{MaxDepth: 3}, in: `{"a":{"default":[[]]}}`, sentinel: ErrTooDeep, off: 17},
		{name: "too many properties", lim: Limits{MaxProperties: 2}, in: `{"name":"A","properties":{"a":"string","b":"string","c":"string"}}`,
			path: "properties", sentinel: ErrTooLarge, off: 25},
		{name: "too many nested properties", props: true, lim: Limits{MaxProperties: 2}, in: `{"x":{"a":"string","b":"string","c":"string"}}`,
			path: "x", sentinel: ErrTooLarge, off: 5},
	}
	for _, tt := range tests {
		var err error
		if tt.props {
			var o *Object
			o, err = ParseProperties([]byte(tt.in), tt.lim)
			if err == nil {
				t.Errorf("%s: ParseProperties accepted %s: %s", tt.name, tt.in, o.Canonical())
				continue
			}
		} else {
			var d *Definition
			d, err = Parse([]byte(tt.in), tt.lim)
			if err == nil {
				t.Errorf("%s: Parse accepted %s: %s", tt.name, tt.in, d.Canonical())
				continue
			}
		}
		checkErr(t, tt, err)
	}
}

func TestParseDefinition(t *testing.T) {
	in := `{
  "name": "Customer",
  "base": "PersistedModel",
  "idInjection": true,
  "options": {"validateUpsert": true},
  "strict": "validate",
  "properties": {
    "id": null,
    "email": {"type": "string", "required": true, "index": {"unique": true}, "defaut": "x"},
    "address": {"street": "string", "city": "string"},
    "tags": ["string"],
    "orders": [{"sku": "string", "qty": "number"}],
    "owner": "User",
    "legacy": false
  },
  "relations": {"orders": {"type": "hasMany", "model": "Order"}},
  "acls": [],
  "mixins": {"TimeStamp": true}
}`
	d, err := Parse([]byte(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Customer" || d.Strict != StrictReject {
		t.Errorf("name %q strict %v", d.Name, d.Strict)
	}
	if !reflect.DeepEqual(d.Removed, []string{"id", "legacy"}) {
		t.Errorf("Removed = %q", d.Removed)
	}
	wantSettings := map[string]string{
		"base": `"PersistedModel"`, "idInjection": `true`, "options": `{"validateUpsert":true}`,
		"relations": `{"orders":{"type":"hasMany","model":"Order"}}`, "acls": `[]`, "mixins": `{"TimeStamp":true}`,
	}
	if len(d.Settings) != len(wantSettings) {
		t.Errorf("settings %v", d.Settings)
	}
	for k, v := range wantSettings {
		if string(d.Settings[k]) != v {
			t.Errorf("setting %s = %s, want %s", k, d.Settings[k], v)
		}
	}
	names := []string{}
	for _, p := range d.Properties {
		names = append(names, p.Name)
	}
	if !reflect.DeepEqual(names, []string{"address", "email", "orders", "owner", "tags"}) {
		t.Errorf("properties %q", names)
	}
	email, ok := d.Property("email")
	if !ok || !email.Required || email.Type.Kind != KindString {
		t.Fatalf("email = %+v", email)
	}
	if string(email.Extra["index"]) != `{"unique":true}` || string(email.Extra["defaut"]) != `"x"` || len(email.Extra) != 2 {
		t.Errorf("email extra = %v", email.Extra)
	}
	if owner, _ := d.Property("owner"); owner.Type.Kind != KindRef || owner.Type.Ref != "User" {
		t.Errorf("owner = %+v", owner)
	}
	orders, _ := d.Property("orders")
	if orders.Type.Kind != KindArray || orders.Type.Elem.Kind != KindNested || len(orders.Type.Elem.Object.Properties) != 2 ||
		orders.Type.Elem.Object.Strict != StrictOpen {
		t.Errorf("orders = %+v", orders.Type)
	}
	if _, ok := d.Property("id"); ok {
		t.Error("removed property id is declared")
	}
	if _, ok := d.Property("zzz"); ok {
		t.Error("found zzz")
	}
	if got := d.Depth(); got != 3 {
		t.Errorf("Depth = %d, want 3", got)
	}
	want := `{"properties":{"address":{"type":{"properties":{"city":{"type":"string"},"street":{"type":"string"}},"strict":false}},` +
		`"email":{"required":true,"type":"string"},"orders":{"type":[{"properties":{"qty":{"type":"number"},"sku":{"type":"string"}},"strict":false}]},` +
		`"owner":{"type":{"ref":"User"}},"tags":{"type":["string"]}},"strict":true}`
	if got := string(d.Canonical()); got != want {
		t.Errorf("canonical\n got %s\nwant %s", got, want)
	}
	// Round trip through MarshalJSON.
	m, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse(m, Limits{})
	if err != nil {
		t.Fatalf("Parse(Marshal): %v\n%s", err, m)
	}
	if !reflect.DeepEqual(d, d2) {
		t.Errorf("round trip differs:\n%s\n%+v\n%+v", m, d, d2)
	}
}

func TestStrictness(t *testing.T) {
	tests := []struct {
		in   string
		want Strictness
	}{
		{`{"name":"A"}`, StrictOpen},
		{`{"name":"A","strict":false}`, StrictOpen},
		{`{"name":"A","strict":true}`, StrictReject},
		{`{"name":"A","strict":"throw"}`, StrictReject},
		{`{"name":"A","strict":"validate"}`, StrictReject},
		{`{"name":"A","strict":"filter"}`, StrictFilter},
		{`{"name":"A","options":{"strict":"filter"}}`, StrictFilter},
		{`{"name":"A","options":{"strict":true},"strict":false}`, StrictReject}, // options win, as in LoopBack 3
		{`{"name":"A","strict":true,"options":{"strict":false}}`, StrictOpen},
		{`{"name":"A","options":["strict"],"strict":true}`, StrictReject},
	}
	for _, tt := range tests {
		d, err := Parse([]byte(tt.in), Limits{})
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if d.Strict != tt.want {
			t.Errorf("%s: strict %v, want %v", tt.in, d.Strict, tt.want)
		}
		if _, ok := d.Settings["strict"]; ok {
			t.Errorf("%s: strict kept in settings", tt.in)
		}
	}
	// Nested objects are always open, and strictness is part of the structure.
	a, _ := Parse([]byte(`{"name":"A","strict":true,"properties":{"x":{"y":"string"}}}`), Limits{})
	b, _ := Parse([]byte(`{"name":"A","strict":false,"properties":{"x":{"y":"string"}}}`), Limits{})
	c, _ := Parse([]byte(`{"name":"A","strict":"filter","properties":{"x":{"y":"string"}}}`), Limits{})
	if a.Properties[0].Type.Object.Strict != StrictOpen {
		t.Error("nested object not open")
	}
	if string(a.Canonical()) == string(b.Canonical()) || string(a.Canonical()) == string(c.Canonical()) ||
		string(b.Canonical()) == string(c.Canonical()) {
		t.Error("strictness does not change the canonical form")
	}
}

func TestParseAll(t *testing.T) {
	tests := []struct {
		in    string
		names []string
	}{
		{`{"name":"A","properties":{"a":"string"}}`, []string{"A"}},
		{`[{"name":"A"},{"name":"B","properties":{"x":"A"}}]`, []string{"A", "B"}},
		{`[]`, nil},
		{`{"email":{"options":{"base":"Email"},"dataSource":"mail"},"user":{"properties":{"n":"string"},"public":true},` +
			`"Named":{"name":"Other","base":"X"}}`, []string{"email", "user", "Other"}},
	}
	for _, tt := range tests {
		ds, err := ParseAll([]byte(tt.in), Limits{})
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		var names []string
		for _, d := range ds {
			names = append(names, d.Name)
		}
		if !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%s: names %q, want %q", tt.in, names, tt.names)
		}
	}
	ds, _ := ParseAll([]byte(`{"user":{"properties":{"n":"string"},"options":{"strict":true,"base":"User"}}}`), Limits{})
	if len(ds) != 1 || ds[0].Strict != StrictReject || string(ds[0].Settings["options"]) != `{"strict":true,"base":"User"}` {
		t.Errorf("multi-model entry = %+v", ds[0])
	}
	errs := []errCase{
		{name: "array element", in: `[{"name":"A"},{"name":"B","properties":{"x":"y"}}]`, path: "[1].properties.x", sentinel: ErrUnknownType, off: -2},
		{name: "array of strings", in: `["A"]`, path: "[0]", sentinel: ErrInvalid, off: 1},
		{name: "multi entry", in: `{"a":{"properties":{"x":"y"}}}`, path: "a.properties.x", sentinel: ErrUnknownType, off: -2},
		{name: "multi bad key", in: `{"a b":{"properties":{}}}`, path: `["a b"]`, sentinel: ErrInvalidName, off: 1},
		{name: "bare map", in: `{"a":"string"}`, path: "name", sentinel: ErrInvalidName, msg: "ParseProperties", off: 0},
		{name: "scalar", in: `1`, path: "", sentinel: ErrInvalid, off: 0},
		{name: "syntax", in: `[`, path: "", sentinel: ErrSyntax, off: 1},
	}
	for _, tt := range errs {
		_, err := ParseAll([]byte(tt.in), Limits{})
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		checkErr(t, tt, err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	want := Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxProperties: 1000, MaxNameLen: 128, MaxPropertyNameLen: 256}
	if got := DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v", got)
	}
	if got := (Limits{MaxDepth: -1, MaxBytes: 5}).withDefaults(); got.MaxDepth != 32 || got.MaxBytes != 5 {
		t.Errorf("withDefaults = %+v", got)
	}
	props := `{"name":"A","properties":{`
	for i := range 1000 {
		if i > 0 {
			props += ","
		}
		props += `"p` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)) + `":"string"`
	}
	if _, err := Parse([]byte(props+"}}"), Limits{}); err != nil {
		t.Errorf("1000 properties: %v", err)
	}
	if _, err := Parse([]byte(props+`,"zzzz":"string"}}`), Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("1001 properties: %v", err)
	}
	big := []byte(`{"name":"A","description":"` + strings.Repeat("x", DefaultMaxBytes-40) + `"}`)
	if _, err := Parse(big, Limits{}); err != nil {
		t.Errorf("just under 1 MiB: %v", err)
	}
	big = []byte(`{"name":"A","description":"` + strings.Repeat("x", DefaultMaxBytes) + `"}`)
	if _, err := Parse(big, Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over 1 MiB: %v", err)
	}
	if !ValidModelName("Order_Entry-2", Limits{}) || ValidModelName("a.b", Limits{}) || ValidModelName("Abcd", Limits{MaxNameLen: 3}) {
		t.Error("ValidModelName")
	}
	if !ValidPropertyName("_id", Limits{}) || ValidPropertyName("-a", Limits{}) || ValidPropertyName("", Limits{}) {
		t.Error("ValidPropertyName")
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Path: "properties.a", Err: ErrInvalid, Msg: "bad"}
	if e.Error() != "properties.a: bad" || !errors.Is(e, ErrInvalid) {
		t.Errorf("Error() = %q", e.Error())
	}
	e = &Error{Err: ErrSyntax, Msg: "bad"}
	if e.Error() != "bad" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestDepth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{}`, 1},
		{`{"a":"string","b":"Ref"}`, 1},
		{`{"a":["string"]}`, 2},
		{`{"a":{"b":"string"}}`, 2},
		{`{"a":[{"b":"string"}]}`, 3},
		{`{"a":{"b":{"c":[["string"]]}},"d":"number"}`, 5},
	}
	for _, tt := range tests {
		o, err := ParseProperties([]byte(tt.in), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Depth(); got != tt.want {
			t.Errorf("Depth(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestPropertyLookupNoAlloc(t *testing.T) {
	d, err := Parse(benchModel, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Properties {
		got, ok := d.Property(p.Name)
		if !ok || got.Name != p.Name {
			t.Errorf("Property(%q) = %v, %v", p.Name, got, ok)
		}
	}
	name := "items"
	if n := testing.AllocsPerRun(100, func() { d.Property(name) }); n != 0 {
		t.Errorf("Property allocates %v times", n)
	}
}

// TestBuiltinKindCase checks builtinKind against a plain reference (ASCII
// lower-casing and a table) on every letter-case variant of the built-in
// names and on every single-byte change of them.
func TestBuiltinKindCase(t *testing.T) {
	ref := map[string]Kind{
		"string": KindString, "text": KindString, "number": KindNumber,
		"boolean": KindBoolean, "bool": KindBoolean, "date": KindDate,
		"buffer": KindBuffer, "binary": KindBuffer, "object": KindObject,
		"any": KindAny, "*": KindAny, "json": KindAny, "geopoint": KindGeoPoint,
		"array": KindArray,
	}
	lower := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	check := func(s string) {
		t.Helper()
		want, wantOK := ref[lower(s)]
		got, ok := builtinKind(s)
		if got != want || ok != wantOK {
			t.Fatalf("builtinKind(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
		if got, ok := builtinKind([]byte(s)); got != want || ok != wantOK {
			t.Fatalf("builtinKind([]byte(%q)) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
	}
	for name := range ref {
		for mask := 0; mask < 1<<len(name); mask++ {
			b := []byte(name)
			for i := range b {
				if mask&(1<<i) != 0 && b[i] >= 'a' && b[i] <= 'z' {
					b[i] -= 'a' - 'A'
				}
			}
			check(string(b))
			for i := range b {
				for c := range 256 {
					v := append([]byte(nil), b...)
					v[i] = byte(c)
					check(string(v))
				}
				check(string(b[:i]))
				check(string(b[:i]) + "\x00" + string(b[i:]))
			}
			check(string(b) + "s")
			check(string(b) + "\x00")
		}
	}
}

// TestParseAllRefusesDuplicates checks that a file defines each model at
// most once: a later definition of a name silently replaced the earlier
// one when the file was sent model by model.
func TestParseAllRefusesDuplicates(t *testing.T) {
	for _, in := range []string{
		`{"A": {"properties": {"x": "string"}}, "A": {"properties": {"x": "number"}}}`,
		`{"A": {"properties": {"x": "string"}}, "\u0041": {"properties": {"x": "number"}}}`,
		`{"A": {"properties": {"x": "string"}}, "B": {"name": "A", "properties": {"x": "number"}}}`,
		`[{"name": "A", "properties": {"x": "string"}}, {"name": "A", "properties": {"x": "number"}}]`,
	} {
		ds, err := ParseAll([]byte(in), Limits{})
		var pe *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &pe) || pe.Offset < 0 {
			t.Errorf("ParseAll(%s) = %d definitions, %v; want a positioned ErrInvalid", in, len(ds), err)
		}
	}
	for _, in := range []string{
		`{"A": {"properties": {"x": "string"}}, "B": {"properties": {"x": "number"}}}`,
		// Keys and names are different things: these are B and A.
		`{"A": {"name": "B", "properties": {"x": "string"}}, "B": {"name": "A", "properties": {"x": "number"}}}`,
	} {
		if ds, err := ParseAll([]byte(in), Limits{}); err != nil || len(ds) != 2 {
			t.Errorf("ParseAll(%s) = %d definitions, %v; want 2 distinct models", in, len(ds), err)
		}
	}
}

// TestMarshalNestsNoDeeper checks MarshalJSON's promise that its result
// parses under the MaxDepth of any input giving the same definition: an
// empty properties map was written for a definition without properties.
func TestMarshalNestsNoDeeper(t *testing.T) {
	for _, in := range []string{`{"name": "A"}`, `{"name": "A", "strict": true}`, `{"name": "A", "strict": "filter", "base": "X"}`} {
		d, err := Parse([]byte(in), Limits{MaxDepth: 1})
		if err != nil {
			t.Fatalf("Parse(%s): %v", in, err)
		}
		m, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(m, Limits{MaxDepth: 1})
		if err != nil {
			t.Errorf("MarshalJSON of %s = %s, deeper than its input: %v", in, m, err)
			continue
		}
		if !bytes.Equal(back.Canonical(), d.Canonical()) || back.Name != d.Name {
			t.Errorf("%s: round trip through %s changed the definition", in, m)
		}
	}
}

// TestParseScratchNil checks that a nil Scratch parses as Parse does.
func TestParseScratchNil(t *testing.T) {
	d, err := ParseScratch([]byte(`{"name": "A", "properties": {"x": "string"}}`), Limits{}, nil)
	if err != nil || d.Name != "A" || len(d.Properties) != 1 {
		t.Errorf("ParseScratch(nil scratch) = %+v, %v", d, err)
	}
}

// TestParseNamed: a definition without a name takes the one given, with
// sizes and positions of errors counted in the input as given; one with
// a name keeps it.
func TestParseNamed(t *testing.T) {
	d, err := ParseNamed([]byte(`{"properties": {"a": "string"}}`), "Customer", Limits{})
	if err != nil || d.Name != "Customer" {
		t.Fatalf("no name: %v, %v", d, err)
	}
	if d, err := ParseNamed([]byte(`{"name": "Other", "properties": {}}`), "Customer", Limits{}); err != nil || d.Name != "Other" {
		t.Errorf("own name: %v, %v", d, err)
	}
	if _, err := ParseNamed([]byte(`{}`), "9bad", Limits{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("invalid default name: %v, want ErrInvalidName", err)
	}
	var e *Error
	if _, err := ParseNamed([]byte(`{"properties": {"a": "string"}}}`), "Customer", Limits{}); !errors.As(err, &e) || e.Offset != 31 || e.Column != 32 {
		t.Errorf("trailing data: %v (offset %d), want it at byte 31 of the input", err, e.Offset)
	}
	exact := []byte(`{"properties": {}` + strings.Repeat(" ", 100-18) + `}`)
	if _, err := ParseNamed(exact, "Customer", Limits{MaxBytes: len(exact)}); err != nil {
		t.Errorf("a definition of exactly MaxBytes without a name: %v", err)
	}
}
