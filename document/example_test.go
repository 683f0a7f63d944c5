package document_test

import (
	"errors"
	"fmt"

	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/document"
)

func ExampleValidator_Validate() {
	def, err := definition.Parse([]byte(`{"name": "Order", "strict": true, "properties": {
		"id": {"type": "string", "required": true},
		"qty": {"type": "number", "default": 1},
		"paid": "boolean",
		"at": "date"
	}}`), definition.Limits{})
	if err != nil {
		panic(err)
	}
	v, err := document.New(&def.Object, nil)
	if err != nil {
		panic(err)
	}

	out, err := v.Validate([]byte(`{"id": "o1", "paid": "true", "at": 1714559400000}`))
	fmt.Println(string(out), err)

	_, err = v.Validate([]byte(`{"qty": "many", "color": "red"}`))
	var ve *document.ValidationError
	if errors.As(err, &ve) {
		for _, x := range ve.Violations {
			fmt.Println(x.Path, x.Code, x.Message)
		}
	}
	fmt.Println(errors.Is(err, document.CodeRequired))
	// Output:
	// {"id":"o1","paid":true,"at":"2024-05-01T10:30:00.000Z","qty":1} <nil>
	// /qty type expected number, got a string that is not a JSON number
	// /color unknown_property unknown property
	// /id required required property is missing
	// true
}

func ExampleNamedSchema() {
	models := map[string]*definition.Object{}
	for _, src := range []string{
		`{"name": "User", "properties": {"name": {"type": "string", "required": true}, "boss": "User"}}`,
	} {
		def, err := definition.Parse([]byte(src), definition.Limits{})
		if err != nil {
			panic(err)
		}
		models[def.Name] = &def.Object
	}
	resolve := func(name string) (*definition.Object, bool) {
		o, ok := models[name]
		return o, ok
	}
	schema, err := document.NamedSchema("User", resolve)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(schema))
	// Output:
	// {"$defs":{"User":{"properties":{"boss":{"anyOf":[{"$ref":"#/$defs/User"},{"type":"null"}]},"name":{"type":"string"}},"required":["name"],"type":"object"}},"$ref":"#/$defs/User","$schema":"https://json-schema.org/draft/2020-12/schema","title":"User"}
}
