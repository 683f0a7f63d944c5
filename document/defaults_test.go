package document

import (
	"errors"
	"fmt"
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
