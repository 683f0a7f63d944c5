package document

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/definition"
)

// TestRecursiveDefaultsStop checks defaults that expand without end or
// without measure: a model whose properties default to {} of the model
// itself (each expansion adds two more), and a chain of models each of
// whose two properties defaults to {} of the next (2^k objects). Each
// fails at its first problem (too deep; the output limit), with a short
// message, long before the tree is walked: validating the rest of a default once
// it has failed used to walk all 2^MaxDepth of them, wrapping the message
// once more at each.
func TestRecursiveDefaultsStop(t *testing.T) {
	self := object(definition.StrictOpen,
		prop("x", tRef("T"), def(`{}`)),
		prop("y", tRef("T"), def(`{}`)))
	chain := models{}
	const k = 40
	for i := range k {
		next := fmt.Sprint("C", i+1)
		if i == k-1 {
			chain[fmt.Sprint("C", i)] = object(definition.StrictOpen, prop("leaf", tk(definition.KindString), def(`"`+strings.Repeat("x", 1000)+`"`)))
			continue
		}
		chain[fmt.Sprint("C", i)] = object(definition.StrictOpen,
			prop("a", tRef(next), def(`{}`)),
			prop("b", tRef(next), def(`{}`)))
	}
	tests := []struct {
		name   string
		root   *definition.Object
		models models
		lim    Limits
		cause  Code // the problem the default fails with
	}{
		{"self, depth 12", self, models{"T": self}, Limits{MaxDepth: 12}, CodeTooDeep},
		{"self, default depth", self, models{"T": self}, Limits{}, CodeTooDeep},
		{"chain of 40", chain["C0"], chain, Limits{MaxBytes: 1 << 20}, CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.root, tt.models, WithLimits(tt.lim))
			for _, doc := range []string{`{}`, `{"x": {}, "a": {}}`} {
				_, err := v.Validate([]byte(doc))
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate(%s) = %v, want a *ValidationError", doc, err)
				}
				for _, x := range ve.Violations {
					switch {
					case x.Code == tt.cause: // the output limit, reported as such
					case x.Code != CodeInvalidDefault:
						t.Errorf("Validate(%s): violation %s %s, want %s or %s", doc, x.Code, x.Path, CodeInvalidDefault, tt.cause)
					case !strings.Contains(x.Message, string(tt.cause)+": "):
						t.Errorf("Validate(%s): %q does not name %s", doc, x.Message, tt.cause)
					}
					if n := strings.Count(x.Message, string(CodeInvalidDefault)); n > 0 || len(x.Message) > 300 {
						t.Errorf("Validate(%s): a %d-byte message wrapping %d defaults: %.200q", doc, len(x.Message), n, x.Message)
					}
				}
				if len(ve.Violations) == 0 || len(ve.Violations) > 3 {
					t.Errorf("Validate(%s): %d violations, want at most one per absent property with a default", doc, len(ve.Violations))
				}
			}
			if _, err := v.ValidateValue(map[string]any{}); err == nil {
				t.Error("ValidateValue({}) accepted the default")
			}
		})
	}
}

// TestValueTypedNils checks that ValidateValue treats a nil map, slice or
// byte slice as Validate treats its JSON encoding, null: a required
// property holding one is missing its value, an optional one stays null.
func TestValueTypedNils(t *testing.T) {
	o := object(definition.StrictReject,
		prop("tags", tArray(tk(definition.KindString)), required),
		prop("addr", tNested(object(definition.StrictOpen)), required),
		prop("opt", tArray(tk(definition.KindString))),
		prop("blob", tk(definition.KindAny)),
		prop("list", tArray(tk(definition.KindAny))))
	v := mustNew(t, o, nil)
	doc := map[string]any{"tags": []any(nil), "addr": map[string]any(nil), "opt": []any(nil),
		"blob": []byte(nil), "list": []any{map[string]any(nil)}}
	enc, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, rawErr := v.Validate(enc)
	_, valErr := v.ValidateValue(doc)
	if got, want := violations(valErr), violations(rawErr); !slices.Equal(got, want) || len(want) != 2 {
		t.Errorf("ValidateValue: %v; Validate of %s: %v (want the two required properties)", got, enc, want)
	}
	doc["tags"], doc["addr"] = []any{}, map[string]any{}
	out, err := v.ValidateValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if string(b) != `{"addr":{},"blob":null,"list":[null],"opt":null,"tags":[]}` {
		t.Errorf("ValidateValue = %s, want the nils as null", b)
	}
	if _, err := v.ValidateValue(map[string]any(nil)); len(violations(err)) != 1 {
		t.Errorf("ValidateValue(nil map) = %v, want a type violation as for null", err)
	}
}

// TestValueTypedNilsInGeoPoint checks typed nils as a geopoint's latitude
// and longitude: their JSON encoding is null, which is a missing value.
func TestValueTypedNilsInGeoPoint(t *testing.T) {
	v := mustNew(t, object(definition.StrictOpen, prop("g", tGeo)), nil)
	for _, g := range []map[string]any{
		{"lat": []any(nil), "lng": 1},
		{"lat": 1, "lng": map[string]any(nil)},
		{"lat": []byte(nil), "lng": []any(nil)},
	} {
		doc := map[string]any{"g": g}
		enc, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, rawErr := v.Validate(enc)
		_, valErr := v.ValidateValue(doc)
		if got, want := violations(valErr), violations(rawErr); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("ValidateValue: %q; Validate of %s: %q", got, enc, want)
		}
	}
}

// TestViolationPathsBounded checks that the paths and messages of the
// violations are bounded by MaxBytes: each violation holds its whole
// path, so long keys on the way to many violations made a report of 100
// times the document's size.
func TestViolationPathsBounded(t *testing.T) {
	v := mustNew(t, object(definition.StrictOpen, prop("o", tk(definition.KindObject))), nil)
	key := strings.Repeat("k", 15000)
	var doc strings.Builder
	doc.WriteString(`{"o":`)
	for range 60 {
		doc.WriteString(`{"` + key + `":`)
	}
	doc.WriteString("[" + strings.TrimSuffix(strings.Repeat("1e400,", 100), ",") + "]")
	doc.WriteString(strings.Repeat("}", 61))
	_, err := v.Validate([]byte(doc.String()))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	total := 0
	for _, x := range ve.Violations {
		total += len(x.Path) + len(x.Message)
		if x.Code != CodeNumberRange {
			t.Errorf("violation %s, want %s", x.Code, CodeNumberRange)
		}
	}
	if limit := DefaultMaxBytes; total > limit || !ve.Truncated || len(ve.Violations) < 2 {
		t.Errorf("a %d-byte document: %d violations (truncated %v) holding %d bytes; want several, truncated, at most %d bytes",
			doc.Len(), len(ve.Violations), ve.Truncated, total, limit)
	}
}

// TestCyclicValueDeepLimit checks that a cyclic Go value under a huge
// MaxDepth is reported as too deep, not a stack overflow: MaxDepth is
// capped for ValidateValue's recursion.
func TestCyclicValueDeepLimit(t *testing.T) {
	v, err := New(&definition.Object{}, nil, WithLimits(Limits{MaxDepth: 1 << 30}))
	if err != nil {
		t.Fatal(err)
	}
	cyc := map[string]any{}
	cyc["x"] = cyc
	if _, err := v.ValidateValue(cyc); !errors.Is(err, CodeTooDeep) {
		t.Errorf("ValidateValue(cyclic) = %v, want %s", err, CodeTooDeep)
	}
}

// TestValueSharedSubtrees: a decoded value may use one map or slice in
// several places (not a cycle); it is validated as the tree it encodes
// as, so its size is bounded as the JSON encoding's is: a value of more
// values than MaxBytes is too_large, as Validate finds its encoding, and
// the walk stops there instead of growing with the tree.
func TestValueSharedSubtrees(t *testing.T) {
	o := object(definition.StrictOpen, prop("data", tk(definition.KindAny)))
	// Two references to the level below at each of 60 levels: a tree of
	// 2^61 values, in 61 slices.
	var x any = 1.0
	for range 60 {
		x = []any{x, x}
	}
	v := mustNew(t, o, nil, WithLimits(Limits{MaxDepth: 100}))
	if _, err := v.ValidateValue(map[string]any{"data": x}); !hasCode(err, CodeTooLarge) {
		t.Errorf("a tree of 2^61 values: %v, want too_large", err)
	}
	// At a small limit, the value path refuses no value whose JSON
	// encoding the JSON path accepts, and refuses one of more values
	// than the limit.
	v = mustNew(t, o, nil, WithLimits(Limits{MaxBytes: 100}))
	for _, n := range []int{10, 40, 60, 120} {
		list := make([]any, n)
		for i := range list {
			list[i] = float64(i % 10)
		}
		doc := map[string]any{"data": list}
		enc, _ := json.Marshal(doc)
		_, rawErr := v.Validate(enc)
		_, valErr := v.ValidateValue(doc)
		if hasCode(valErr, CodeTooLarge) && !hasCode(rawErr, CodeTooLarge) {
			t.Errorf("%d items (%d bytes of JSON): ValidateValue %v, but Validate %v", n, len(enc), valErr, rawErr)
		}
		if n == 120 && !hasCode(valErr, CodeTooLarge) {
			t.Errorf("%d items (%d bytes of JSON) under a 100-byte limit: ValidateValue %v, want too_large", n, len(enc), valErr)
		}
	}
}

func hasCode(err error, code Code) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, v := range ve.Violations {
		if v.Code == code {
			return true
		}
	}
	return false
}
