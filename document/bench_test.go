package document

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The benchmark model: 20 properties, two nested objects (billing and
// shipping addresses) and an array of objects (items).
const benchDef = `{"name": "Order", "strict": true, "properties": {
	"id": {"type": "string", "required": true},
	"customer": {"type": "string", "required": true},
	"email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
	"status": {"type": "string", "default": "open"},
	"total": "number",
	"currency": "string",
	"paid": "boolean",
	"createdAt": "date",
	"updatedAt": "date",
	"notes": "string",
	"tags": ["string"],
	"priority": "number",
	"channel": "string",
	"coupon": "string",
	"weight": "number",
	"gift": "boolean",
	"locale": "string",
	"billing": {"street": "string", "city": "string", "zip": "string", "country": "string"},
	"shipping": {"street": "string", "city": "string", "zip": "string", "country": "string"},
	"items": [{"sku": {"type": "string", "required": true}, "name": "string", "qty": "number", "price": "number"}]
}}`

// benchDoc is a valid document that needs no coercion, so that both
// validators check the same thing.
func benchDoc() []byte {
	var items []string
	for i := range 10 {
		items = append(items, fmt.Sprintf(`{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d.99}`, i, i, i+1, 10+i))
	}
	return []byte(`{"id":"ord_1234567890","customer":"cus_0987654321","email":"ann@example.com","status":"paid",` +
		`"total":199.9,"currency":"EUR","paid":true,"createdAt":"2024-05-01T10:30:00.000Z",` +
		`"updatedAt":"2024-05-02T08:00:00.000Z","notes":"Leave at the door, please.","tags":["gift","express"],` +
		`"priority":2,"channel":"web","coupon":"SPRING24","weight":1.25,"gift":false,"locale":"fr-FR",` +
		`"billing":{"street":"1 rue de Rivoli","city":"Paris","zip":"75001","country":"FR"},` +
		`"shipping":{"street":"2 avenue Foch","city":"Lyon","zip":"69006","country":"FR"},` +
		`"items":[` + strings.Join(items, ",") + `]}`)
}

// BenchmarkValidate compares modelreg and jsonschema/v6 on the same valid
// document, both starting from the raw JSON bytes:
//   - modelreg: Validator.AppendValidate from bytes to the coerced output
//     bytes (into a reused buffer: scan, validate, coerce and write in one
//     pass); the Validator is compiled once, outside the loop.
//   - jsonschema: jsonschema.UnmarshalJSON (its JSON decoding, into any
//     with json.Number) then Schema.Validate against the exported schema,
//     compiled once, outside the loop. It produces no output document.
//
// The sub-benchmark modelreg-alloc is Validate, which allocates the
// output slice each time.
func BenchmarkValidate(b *testing.B) {
	m := parseModels(b, benchDef)
	doc := benchDoc()
	v := mustNew(b, m["Order"], m)
	want, err := v.Validate(doc)
	if err != nil {
		b.Fatal(err)
	}
	schema, err := NamedSchema("Order", m.resolve)
	if err != nil {
		b.Fatal(err)
	}
	sch := compileSchema(b, schema)
	if !schemaAccepts(b, sch, doc) || !bytes.Equal(want, doc) {
		b.Fatal("the benchmark document is not valid for both unchanged")
	}
	b.Run("modelreg", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		buf := make([]byte, 0, 2*len(doc))
		for b.Loop() {
			var err error
			buf, err = v.AppendValidate(buf[:0], doc)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("modelreg-alloc", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := v.Validate(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonschema", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
			if err != nil {
				b.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValidateValue measures the decoded-value path on the same
// document (already decoded; the output is a new decoded value).
func BenchmarkValidateValue(b *testing.B) {
	m := parseModels(b, benchDef)
	doc := benchDoc()
	v := mustNew(b, m["Order"], m)
	x := decodeNumber(b, doc)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.ValidateValue(x); err != nil {
			b.Fatal(err)
		}
	}
}
