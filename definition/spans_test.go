package definition

import (
	"bytes"
	"testing"
)

// nestedPostOrder lists the nested objects of o in post-order, siblings
// in property order.
func nestedPostOrder(o *Object, out []*Object) []*Object {
	for i := range o.Properties {
		t := &o.Properties[i].Type
		for t.Kind == KindArray {
			t = t.Elem
		}
		if t.Kind == KindNested {
			out = nestedPostOrder(t.Object, out)
			out = append(out, t.Object)
		}
	}
	return out
}

func TestAppendCanonicalSpans(t *testing.T) {
	for _, src := range []string{
		`{"name": "A", "properties": {"x": "string"}}`,
		`{"name": "A", "strict": true, "properties": {"b": {"c": {"d": "number"}, "e": ["string"]}, "a": [[{"z": "date", "y": {"q": "any"}}]], "f": {"type": {"g": "boolean"}, "required": true}}}`,
	} {
		def, err := Parse([]byte(src), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("xyz")
		got, spans := def.Object.AppendCanonicalSpans(append([]byte(nil), prefix...), nil)
		if want := append(append([]byte(nil), prefix...), def.Object.Canonical()...); !bytes.Equal(got, want) {
			t.Fatalf("%s: AppendCanonicalSpans = %s, want %s", src, got, want)
		}
		objs := nestedPostOrder(&def.Object, nil)
		if len(spans) != len(objs) {
			t.Fatalf("%s: %d spans, want %d", src, len(spans), len(objs))
		}
		for i, o := range objs {
			if s := got[spans[i].Start:spans[i].End]; !bytes.Equal(s, o.Canonical()) {
				t.Errorf("%s: span %d = %s, want %s", src, i, s, o.Canonical())
			}
		}
	}
}
