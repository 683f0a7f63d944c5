package document_test

import (
	"errors"
	"testing"

	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/document"
)

// TestCyclicStructureRefused: a structure built in Go with a cycle (here an
// array that is its own element) is refused with a *ModelError by New and
// Schema, directly or through a reference, instead of being followed until
// the stack overflows.
func TestCyclicStructureRefused(t *testing.T) {
	loop := &definition.Type{Kind: definition.KindArray}
	loop.Elem = loop
	cyclic := &definition.Object{Properties: []definition.Property{{Name: "a", Type: *loop}}}
	viaRef := &definition.Object{Properties: []definition.Property{{Name: "r", Type: definition.Type{Kind: definition.KindRef, Ref: "Loop"}}}}
	resolve := func(name string) (*definition.Object, bool) { return cyclic, name == "Loop" }

	var me *document.ModelError
	if _, err := document.New(cyclic, nil); !errors.As(err, &me) {
		t.Errorf("New: %v, want a *ModelError", err)
	}
	if _, err := document.Schema(cyclic, nil); !errors.As(err, &me) {
		t.Errorf("Schema: %v, want a *ModelError", err)
	}
	if _, err := document.Schema(viaRef, resolve); !errors.As(err, &me) {
		t.Errorf("Schema through a reference: %v, want a *ModelError", err)
	}
	v, err := document.New(viaRef, resolve)
	if err != nil {
		t.Fatal(err) // references are checked when a document uses them
	}
	if _, err := v.Validate([]byte(`{"r": {"a": [[1]]}}`)); err == nil {
		t.Error("a document using the cyclic reference validated")
	}
}
