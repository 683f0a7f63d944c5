package definition_test

import (
	"errors"
	"fmt"

	"github.com/modelreg/modelreg/definition"
)

func ExampleParse() {
	d, err := definition.Parse([]byte(`{
		"name": "Customer",
		"strict": true,
		"properties": {
			"email": {"type": "String", "required": true},
			"address": {"zip": "string", "street": "string"},
			"tags": ["string"],
			"owner": "User"
		},
		"relations": {"orders": {"type": "hasMany", "model": "Order"}}
	}`), definition.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Name, len(d.Properties), string(d.Settings["relations"]))
	fmt.Println(string(d.Canonical()))
	fmt.Println(d.Fingerprint())

	_, err = definition.Parse([]byte(`{"name":"A","properties":{"address":{"zip":"zipcode"}}}`), definition.Limits{})
	fmt.Println(err, errors.Is(err, definition.ErrUnknownType))
	// Output:
	// Customer 4 {"orders":{"type":"hasMany","model":"Order"}}
	// {"properties":{"address":{"type":{"properties":{"street":{"type":"string"},"zip":{"type":"string"}},"strict":false}},"email":{"required":true,"type":"string"},"owner":{"type":{"ref":"User"}},"tags":{"type":["string"]}},"strict":true}
	// v1:209b8e72181de059896eae33c28e47b863d2e11800c3452e5a0c53f70f306edc
	// properties.address.zip: unknown type "zipcode" true
}
