package document

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"weak"

	"github.com/modelreg/modelreg/definition"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestReplacedRefsReleased: references are resolved at every validation,
// so a model that is replaced takes effect at once, and the cache of
// compiled referenced models never keeps more than maxRefPlans replaced
// models alive.
func TestReplacedRefsReleased(t *testing.T) {
	var current *definition.Object
	resolve := func(name string) (*definition.Object, bool) { return current, current != nil }
	v := mustNew(t, object(definition.StrictOpen, prop("r", tRef("R"))), models{})
	v.resolve = resolve

	current = object(definition.StrictReject, prop("a", tString))
	first := weak.Make(current)
	if _, err := v.Validate([]byte(`{"r":{"a":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	// The model is replaced: the new structure applies at once.
	current = object(definition.StrictReject, prop("b", tString))
	if _, err := v.Validate([]byte(`{"r":{"a":"x"}}`)); !errors.Is(err, CodeUnknownProperty) {
		t.Fatalf("replaced model not applied: %v", err)
	}
	for range 2 * maxRefPlans {
		current = object(definition.StrictReject, prop("b", tString))
		if _, err := v.Validate([]byte(`{"r":{"b":"x"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(*v.refs.Load()); n > maxRefPlans {
		t.Errorf("%d cached plans", n)
	}
	runtime.GC()
	runtime.GC()
	if first.Value() != nil {
		t.Error("a replaced referenced model is still reachable")
	}
	// A deleted model is a violation, not a panic.
	current = nil
	if _, err := v.Validate([]byte(`{"r":{"b":"x"}}`)); !errors.Is(err, CodeUnresolvedRef) {
		t.Errorf("deleted model: %v", err)
	}
}

// TestInputReleased: the pooled validation state keeps no reference to
// the input or the output.
func TestInputReleased(t *testing.T) {
	v := mustNew(t, typesObj, testModels)
	in := []byte(`{"o":{"k":"v","l":[1]},"s":"x","owner":{"name":"n"}}`)
	out, err := v.Validate(in)
	if err != nil {
		t.Fatal(err)
	}
	win, wout := weak.Make(&in[0]), weak.Make(&out[0])
	in, out = nil, nil
	_, _ = in, out
	// Hold the recycled scanner (the one that validated in), so that the
	// collections emptying the pool cannot hide a reference it keeps.
	held := v.getScanner()
	defer v.putScanner(held)
	runtime.GC()
	runtime.GC()
	runtime.KeepAlive(held)
	if win.Value() != nil || wout.Value() != nil {
		t.Error("the input or the output is still reachable after Validate")
	}
}

// TestValidatorReleased: a Validator that was used, with its compiled
// plans and the structure they point to, is collected by the first
// collection after the last reference to it is dropped. (The pool of
// validation state is registered with the runtime while in use; it must
// not lead back to the Validator.)
func TestValidatorReleased(t *testing.T) {
	obj := object(definition.StrictOpen, prop("s", tString), prop("o", tNested(object(definition.StrictOpen, prop("k", tString)))))
	v := mustNew(t, obj, testModels)
	for _, doc := range []string{`{"s":"x","o":{"k":"v"}}`, `{"s":1}`} {
		_, _ = v.Validate([]byte(doc))
		_, _ = v.ValidateValue(map[string]any{"s": "x"})
	}
	wv, wobj := weak.Make(v), weak.Make(obj)
	v, obj = nil, nil
	_, _ = v, obj
	runtime.GC()
	if wv.Value() != nil || wobj.Value() != nil {
		t.Error("a dropped Validator (or its model's structure) is still reachable after a collection")
	}
}

// TestConcurrent uses one Validator from several goroutines (run with
// -race), with references compiled on the fly.
func TestConcurrent(t *testing.T) {
	m := parseModels(t, orderDef, userDef)
	v := mustNew(t, m["Order"], m)
	doc := []byte(`{"id":"x","total":"1","owner":{"name":"a","manager":{"name":"b"}}}`)
	want, err := v.Validate(doc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				got, err := v.Validate(doc)
				if err != nil || string(got) != string(want) {
					t.Errorf("concurrent Validate = %s, %v", got, err)
					return
				}
				if _, err := v.ValidateValue(map[string]any{"id": "x", "owner": map[string]any{}}); !errors.Is(err, CodeRequired) {
					t.Errorf("concurrent ValidateValue: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestValidateValueGoTypes covers the Go types that only ValidateValue
// sees.
func TestValidateValueGoTypes(t *testing.T) {
	v := mustNew(t, typesObj, testModels)
	type strct struct{}
	cases := []struct {
		in   map[string]any
		want map[string]any // nil: want violations
		viol []string
	}{
		{in: map[string]any{"n": 3, "d": int64(0), "b": 1, "buf": []byte("hi"), "a": []any{uint8(7), float32(1.5), []byte{1}}},
			want: map[string]any{"n": 3, "d": "1970-01-01T00:00:00.000Z", "b": true, "buf": "aGk=", "a": []any{uint8(7), float32(1.5), "AQ=="}}},
		{in: map[string]any{"n": json.Number("12"), "g": map[string]any{"lat": 1, "lng": json.Number("2")}, "nn": []any{[]any{1.5}}},
			want: map[string]any{"n": json.Number("12"), "g": map[string]any{"lat": 1, "lng": json.Number("2")}, "nn": []any{[]any{1.5}}}},
		{in: map[string]any{"n": "7", "g": "1,2"}, want: map[string]any{"n": json.Number("7"), "g": map[string]any{"lat": json.Number("1"), "lng": json.Number("2")}}},
		{in: map[string]any{"n": math.NaN()}, viol: []string{"/n number_range"}},
		{in: map[string]any{"n": math.Inf(-1)}, viol: []string{"/n number_range"}},
		{in: map[string]any{"a": float32(math.Inf(1))}, viol: []string{"/a number_range"}},
		{in: map[string]any{"n": json.Number("x1")}, viol: []string{"/n unsupported_value"}},
		{in: map[string]any{"a": strct{}}, viol: []string{"/a unsupported_value"}},
		{in: map[string]any{"s": "\xff"}, viol: []string{"/s unsupported_value"}},
		{in: map[string]any{"o": map[string]any{"\xff": 1}}, viol: []string{"/o/\xff unsupported_value"}},
		{in: map[string]any{"d": 1.5}, viol: []string{"/d date_format"}},
		{in: map[string]any{"d": uint64(math.MaxUint64)}, viol: []string{"/d date_format"}},
		{in: map[string]any{"d": math.NaN()}, viol: []string{"/d number_range"}},
		{in: map[string]any{"b": 2}, viol: []string{"/b type"}},
		{in: map[string]any{"g": map[string]any{"lat": 91, "lng": 0}}, viol: []string{"/g/lat geopoint_range"}},
		{in: map[string]any{"s": []byte("x")}, viol: []string{"/s type"}},
	}
	for _, c := range cases {
		got, err := v.ValidateValue(c.in)
		if c.viol != nil {
			if g := violations(err); !reflect.DeepEqual(g, c.viol) {
				t.Errorf("ValidateValue(%v) = %q, want %q", c.in, g, c.viol)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ValidateValue(%v) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	// The result shares nothing with the input.
	in := map[string]any{"o": map[string]any{"k": []any{1}}}
	got, err := v.ValidateValue(in)
	if err != nil {
		t.Fatal(err)
	}
	got.(map[string]any)["o"].(map[string]any)["k"].([]any)[0] = 2
	if in["o"].(map[string]any)["k"].([]any)[0] != 1 {
		t.Error("the result shares a slice with the input")
	}
	if _, err := v.ValidateValue([]any{}); !errors.Is(err, CodeType) {
		t.Errorf("top-level array: %v", err)
	}
}
