package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/definition"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// parseModels parses model definitions (JSON) into a resolver.
func parseModels(t testing.TB, defs ...string) models {
	t.Helper()
	m := models{}
	for _, d := range defs {
		def, err := definition.Parse([]byte(d), definition.Limits{})
		if err != nil {
			t.Fatalf("parse %s: %v", d, err)
		}
		m[def.Name] = &def.Object
	}
	return m
}

const (
	orderDef = `{"name": "Order", "strict": true, "properties": {
		"id": {"type": "string", "required": true},
		"email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
		"status": {"type": "string", "default": "open"},
		"total": "number",
		"paid": "boolean",
		"createdAt": "date",
		"blob": "buffer",
		"meta": "object",
		"extra": "any",
		"loc": "geopoint",
		"tags": ["string"],
		"address": {"street": "string", "city": {"type": "string", "required": true}},
		"items": [{"sku": "string", "qty": "number"}],
		"owner": "User"
	}}`
	userDef = `{"name": "User", "strict": "filter", "properties": {
		"name": {"type": "string", "required": true},
		"manager": "User",
		"nick": {"type": "string", "pattern": "^[a-z]+$"}
	}}`
)

// compileSchema compiles an exported schema with jsonschema/v6, asserting
// formats (date-time).
func compileSchema(t tb, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("exported schema is not JSON: %v\n%s", err, schema)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem://model.json", doc); err != nil {
		t.Fatalf("%v", err)
	}
	sch, err := c.Compile("mem://model.json")
	if err != nil {
		t.Fatalf("compile exported schema: %v\n%s", err, schema)
	}
	return sch
}

func schemaAccepts(t tb, sch *jsonschema.Schema, doc []byte) bool {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return false
	}
	return sch.Validate(inst) == nil
}

func sameJSON(t tb, a, b []byte) bool {
	return reflect.DeepEqual(decodeNumber(t, a), decodeNumber(t, b))
}

// Agreement classes between modelreg and the exported schema.
const (
	bothAccept = "both accept"         // modelreg returns the input unchanged
	bothReject = "both reject"         // invalid for both
	coerced    = "modelreg coerces"    // modelreg changes the input; the schema rejects the input and accepts the output
	schemaOnly = "only schema accepts" // a documented difference (COERCION.md)
)

// agreement validates doc with both and returns the class, failing the
// test if the two disagree in a way the design does not allow.
func agreement(t tb, v *Validator, sch *jsonschema.Schema, doc []byte) string {
	t.Helper()
	out, err := v.Validate(doc)
	in := schemaAccepts(t, sch, doc)
	switch {
	case err != nil && !in:
		return bothReject
	case err != nil:
		return schemaOnly
	}
	if !schemaAccepts(t, sch, out) {
		t.Fatalf("the schema rejects modelreg's output %s (input %s)", out, doc)
	}
	if sameJSON(t, doc, out) {
		if !in {
			t.Fatalf("modelreg accepts %s unchanged but the schema rejects it", doc)
		}
		return bothAccept
	}
	if in {
		t.Fatalf("the schema accepts %s but modelreg changes it to %s", doc, out)
	}
	return coerced
}

func TestSchemaAgreement(t *testing.T) {
	m := parseModels(t, orderDef, userDef)
	schema, err := NamedSchema("Order", m.resolve)
	if err != nil {
		t.Fatal(err)
	}
	sch := compileSchema(t, schema)
	v := mustNew(t, m["Order"], m)

	full := `{"id":"o1","email":"a@b.c","status":"paid","total":12.5,"paid":true,"createdAt":"2024-05-01T10:30:00.000Z",
		"blob":"aGk=","meta":{"k":[1]},"extra":[null],"loc":{"lat":1.5,"lng":-2},"tags":["a"],
		"address":{"city":"Paris","x":1},"items":[{"sku":"a","qty":1},{"qty":2,"more":true}],
		"owner":{"name":"ann","manager":{"name":"bob","manager":null},"nick":"ann"}}`
	cases := []struct {
		class string
		doc   string
	}{
		{bothAccept, full},
		{bothAccept, `{"id":"x","status":"open"}`},
		{bothAccept, `{"id":"x","status":null,"email":null,"total":null,"owner":null,"address":null,"items":null,"loc":null,"blob":null,"createdAt":null}`},
		{bothAccept, `{"id":"\u0041","status":"open","tags":[],"items":[],"meta":{},"extra":{"a":[1,"b"]}}`},
		{bothAccept, `{"id":"x","status":"s","total":123456789012345678901234567890,"createdAt":"2024-05-01T10:30:00.123456Z"}`},
		{bothAccept, `{"id":"x","status":"s","createdAt":"2024-05-01T10:30:00.000000001Z","blob":"","loc":{"lat":-90,"lng":180}}`},
		{bothAccept, `{"id":"x","status":"s","loc":{"lng":180,"lat":90}}`},

		{bothReject, `{}`},
		{bothReject, `{"id":null,"status":"s"}`},
		{bothReject, `{"id":"x","status":"s","unknown":1}`},
		{bothReject, `{"id":1,"status":"s"}`},
		{bothReject, `{"id":"x","status":"s","email":"nope"}`},
		{bothReject, `{"id":"x","status":"s","total":"twelve"}`},
		{bothReject, `{"id":"x","status":"s","paid":"yes"}`},
		{bothReject, `{"id":"x","status":"s","createdAt":"2023-02-29T00:00:00.000Z"}`},
		{bothReject, `{"id":"x","status":"s","createdAt":"2024-05-01T24:00:00.000Z"}`},
		{bothReject, `{"id":"x","status":"s","createdAt":true}`},
		{bothReject, `{"id":"x","status":"s","blob":"QR=="}`},
		{bothReject, `{"id":"x","status":"s","blob":"***"}`},
		{bothReject, `{"id":"x","status":"s","meta":[1]}`},
		{bothReject, `{"id":"x","status":"s","loc":{"lat":91,"lng":0}}`},
		{bothReject, `{"id":"x","status":"s","loc":{"lat":90.0000000000000000001,"lng":0}}`},
		{bothReject, `{"id":"x","status":"s","loc":{"lat":1}}`},
		{bothReject, `{"id":"x","status":"s","loc":{"lat":1,"lng":2,"z":3}}`},
		{bothReject, `{"id":"x","status":"s","tags":"a"}`},
		{bothReject, `{"id":"x","status":"s","tags":[null]}`},
		{bothReject, `{"id":"x","status":"s","address":{"street":"s"}}`},
		{bothReject, `{"id":"x","status":"s","items":[{"sku":1}]}`},
		{bothReject, `{"id":"x","status":"s","owner":{}}`},
		{bothReject, `{"id":"x","status":"s","owner":{"name":"a","manager":{"name":2}}}`},
		{bothReject, `{"id":"x","status":"s","owner":{"name":"a","nick":"A"}}`},
		{bothReject, `[]`},

		{coerced, `{"id":"x"}`}, // default applied
		{coerced, `{"id":"x","status":"s","total":"12"}`},
		{coerced, `{"id":"x","status":"s","paid":"false"}`},
		{coerced, `{"id":"x","status":"s","paid":1}`},
		{coerced, `{"id":"x","status":"s","createdAt":1714559400000}`},
		{coerced, `{"id":"x","status":"s","createdAt":"2024-05-01T12:30:00+02:00"}`},
		{coerced, `{"id":"x","status":"s","createdAt":"2024-05-01"}`},
		{coerced, `{"id":"x","status":"s","createdAt":"2024-05-01T10:30:00.120000Z"}`},
		{coerced, `{"id":"x","status":"s","blob":"aGk"}`},
		{coerced, `{"id":"x","status":"s","blob":"-_8="}`},
		{coerced, `{"id":"x","status":"s","loc":"1.5,-2"}`},
		{coerced, `{"id":"x","status":"s","loc":{"lat":"1","lng":2}}`},
		{coerced, `{"id":"x","status":"s","owner":{"name":"a","extra":1}}`}, // filtered

		// Documented differences: the schema cannot express these.
		{schemaOnly, `{"id":"x","status":"s","total":1e400}`},
		{schemaOnly, `{"id":"x","status":"s","extra":{"a":1,"a":2}}`},
		{schemaOnly, `{"id":"x","status":"s","owner":{"name":"a","name":"b"}}`},
	}
	for _, c := range cases {
		if got := agreement(t, v, sch, []byte(c.doc)); got != c.class {
			t.Errorf("%s: got %q, want %q", c.doc, got, c.class)
		}
	}
}

func TestSchemaShape(t *testing.T) {
	m := parseModels(t, orderDef, userDef)
	schema, err := NamedSchema("Order", m.resolve)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema string                     `json:"$schema"`
		Ref    string                     `json:"$ref"`
		Defs   map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != SchemaDialect || doc.Ref != "#/$defs/Order" {
		t.Errorf("$schema %q, $ref %q", doc.Schema, doc.Ref)
	}
	order := m["Order"]
	addr, _ := order.Property("address")
	items, _ := order.Property("items")
	for _, key := range []string{"Order", "User", addr.Type.Object.Fingerprint().String(), items.Type.Elem.Object.Fingerprint().String()} {
		if _, ok := doc.Defs[key]; !ok {
			t.Errorf("$defs has no %q: %s", key, schema)
		}
	}
	if len(doc.Defs) != 4 {
		t.Errorf("%d $defs, want 4", len(doc.Defs))
	}
	// Deterministic.
	again, _ := NamedSchema("Order", m.resolve)
	if !bytes.Equal(schema, again) {
		t.Error("two exports differ")
	}
	// Schema of the structure: the root is the object itself.
	s2, err := Schema(m["User"], m.resolve)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s2), `"additionalProperties":false`) || !strings.Contains(string(s2), `"User":{`) {
		t.Errorf("Schema(User) = %s", s2)
	}
	compileSchema(t, s2)
}

func TestSchemaErrors(t *testing.T) {
	m := parseModels(t, orderDef)
	_, err := NamedSchema("Order", m.resolve) // User is missing
	var me *ModelError
	if !errors.As(err, &me) || !errors.Is(err, CodeUnresolvedRef) || me.Path != "/owner" {
		t.Errorf("unresolved ref: %v", err)
	}
	if _, err := NamedSchema("Nobody", m.resolve); !errors.Is(err, CodeUnresolvedRef) {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := NamedSchema("Order", nil); !errors.Is(err, CodeUnresolvedRef) {
		t.Errorf("nil resolver: %v", err)
	}
	bad := object(definition.StrictOpen, prop("a", definition.Type{Kind: definition.KindArray}))
	if _, err := Schema(bad, nil); !errors.Is(err, CodeInvalidModel) {
		t.Errorf("invalid model: %v", err)
	}
	// Names that need escaping in a JSON Pointer and a URI fragment.
	odd := models{"a/b~c d": object(definition.StrictOpen, prop("x", tString))}
	s, err := Schema(object(definition.StrictReject, prop("r", tRef("a/b~c d"))), odd.resolve)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s), `"$ref":"#/$defs/a~1b~0c%20d"`) {
		t.Errorf("escaped ref: %s", s)
	}
	sch := compileSchema(t, s)
	if !schemaAccepts(t, sch, []byte(`{"r":{"x":"y"}}`)) || schemaAccepts(t, sch, []byte(`{"r":{"x":1}}`)) {
		t.Error("escaped $ref does not resolve")
	}
}

// TestSchemaNestedDescriptions: nested objects of one structure share a
// definition in $defs, unless they are described differently, as two
// models reusing one anonymous model are: each then keeps its own
// descriptions, under the fingerprint followed by "-2".
func TestSchemaNestedDescriptions(t *testing.T) {
	o, err := definition.ParseProperties([]byte(`{
		"a": {"x": {"type": "string", "description": "one"}},
		"b": {"x": {"type": "string", "description": "two"}},
		"c": {"x": {"type": "string", "description": "one"}}}`), definition.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := Schema(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs       map[string]map[string]any `json:"$defs"`
		Properties map[string]struct {
			AnyOf []map[string]string `json:"anyOf"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(js, &s); err != nil {
		t.Fatal(err)
	}
	desc := func(prop string) string {
		ref := s.Properties[prop].AnyOf[0]["$ref"]
		def := s.Defs[strings.TrimPrefix(ref, "#/$defs/")]
		x, _ := def["properties"].(map[string]any)["x"].(map[string]any)
		d, _ := x["description"].(string)
		return d
	}
	if got := [3]string{desc("a"), desc("b"), desc("c")}; got != [3]string{"one", "two", "one"} {
		t.Errorf("descriptions of a, b, c: %q, want one, two, one\n%s", got, js)
	}
	if len(s.Defs) != 2 {
		t.Errorf("%d definitions in $defs, want 2\n%s", len(s.Defs), js)
	}
	compileSchema(t, js)
}
