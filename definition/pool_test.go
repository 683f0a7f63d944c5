package definition

import (
	"bytes"
	"runtime"
	"testing"
	"weak"
)

// TestParseResultNotRetained checks that the parser's recycled scratch
// state keeps no reference to a parsed definition: once the caller drops
// it, its properties, names and nested objects can be collected.
func TestParseResultNotRetained(t *testing.T) {
	d, err := Parse(benchModel, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wd := weak.Make(d)
	wp := weak.Make(&d.Properties[0])
	nested, ok := d.Property("address")
	if !ok || nested.Type.Object == nil {
		t.Fatal("no nested address object")
	}
	wo := weak.Make(nested.Type.Object)
	d, nested = nil, nil
	_, _ = d, nested
	// Hold the recycled parser (most likely the one that parsed d) so
	// that emptying the pool during GC cannot hide a reference it keeps.
	held := getParser()
	defer held.release()
	for range 5 {
		runtime.GC()
	}
	runtime.KeepAlive(held)
	if wd.Value() != nil || wp.Value() != nil || wo.Value() != nil {
		t.Fatal("a parsed definition is still reachable after the caller dropped it")
	}
}

// TestParseReuseIndependent checks that parses sharing recycled scratch
// state do not affect each other's results, including after a failed
// parse and a parse of a larger document.
func TestParseReuseIndependent(t *testing.T) {
	first, err := Parse(benchModel, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := first.MarshalJSON()
	big := []byte(`{"name":"Big","properties":{` +
		`"a":{"type":"string","required":true,"default":"x","pattern":"^x"},` +
		`"b":[{"c":["Ref"],"d":{"e":"number"}}],"z":null},"strict":"filter","base":"Model"}`)
	inputs := [][]byte{
		[]byte(`{"name":"Bad","properties":{"x":"strng"}}`),
		big,
		[]byte(`{"name":`),
		[]byte(`{"zip":"string","country":"string"}`),
		benchModel,
	}
	for range 3 {
		for _, in := range inputs {
			_, _ = Parse(in, Limits{})
			_, _ = ParseProperties(in, Limits{})
			_, _ = ParseAll(in, Limits{})
		}
	}
	got, _ := first.MarshalJSON()
	if !bytes.Equal(got, want) {
		t.Fatalf("an earlier result changed after later parses:\n got %s\nwant %s", got, want)
	}
	again, err := Parse(benchModel, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := again.Canonical(), first.Canonical(); !bytes.Equal(a, b) {
		t.Fatalf("canonical forms differ across reuse:\n%s\n%s", a, b)
	}
}
