package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/definition"
)

// tb is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Helpers that build Objects in Go.

func tk(k definition.Kind) definition.Type { return definition.Type{Kind: k} }

var (
	tString  = tk(definition.KindString)
	tNumber  = tk(definition.KindNumber)
	tBoolean = tk(definition.KindBoolean)
	tDate    = tk(definition.KindDate)
	tBuffer  = tk(definition.KindBuffer)
	tObject  = tk(definition.KindObject)
	tAny     = tk(definition.KindAny)
	tGeo     = tk(definition.KindGeoPoint)
)

func tArray(e definition.Type) definition.Type {
	return definition.Type{Kind: definition.KindArray, Elem: &e}
}

func tRef(name string) definition.Type {
	return definition.Type{Kind: definition.KindRef, Ref: name}
}

func tNested(o *definition.Object) definition.Type {
	return definition.Type{Kind: definition.KindNested, Object: o}
}

type propOpt func(*definition.Property)

func required(p *definition.Property) { p.Required = true }

func def(v string) propOpt { return func(p *definition.Property) { p.Default = json.RawMessage(v) } }

func pattern(re string) propOpt { return func(p *definition.Property) { p.Pattern = re } }

func prop(name string, t definition.Type, opts ...propOpt) definition.Property {
	p := definition.Property{Name: name, Type: t}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func object(strict definition.Strictness, props ...definition.Property) *definition.Object {
	slices.SortFunc(props, func(a, b definition.Property) int { return strings.Compare(a.Name, b.Name) })
	return &definition.Object{Strict: strict, Properties: props}
}

// models is a resolver over a fixed map.
type models map[string]*definition.Object

func (m models) resolve(name string) (*definition.Object, bool) {
	o, ok := m[name]
	return o, ok
}

var fixedNow = time.Date(2024, 5, 1, 10, 30, 0, 123456789, time.UTC)

func fixedClock() time.Time { return fixedNow }

func mustNew(t testing.TB, o *definition.Object, m models, opts ...Option) *Validator {
	t.Helper()
	opts = append([]Option{WithClock(fixedClock)}, opts...)
	v, err := New(o, m.resolve, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// violations returns "path code" strings, sorted.
func violations(err error) []string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []string
	for _, v := range ve.Violations {
		out = append(out, v.Path+" "+string(v.Code))
	}
	slices.Sort(out)
	return out
}

func decodeNumber(t tb, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return x
}

// checkValuePath checks that ValidateValue on the decoded input agrees
// with Validate on the raw input: same violations (as a set) or the same
// output (decoded).
func checkValuePath(t tb, v *Validator, in []byte, out []byte, err error) {
	t.Helper()
	if !json.Valid(in) {
		return
	}
	if errors.Is(err, CodeDuplicateKey) || errors.Is(err, CodeSyntax) || errors.Is(err, CodeTooLarge) {
		return // a decoded document cannot express these
	}
	if ve := (*ValidationError)(nil); errors.As(err, &ve) && ve.Truncated {
		return
	}
	vout, verr := v.ValidateValue(decodeNumber(t, in))
	if errors.Is(err, CodeTooDeep) || errors.Is(err, CodeTooManyItems) {
		// A fatal violation stops each path where it meets it: Validate
		// walks members in document order, ValidateValue in key order, so
		// the violations before the stop may differ. The decoded value
		// has the same too deep or too long part, so it fails too.
		ve := (*ValidationError)(nil)
		if !errors.Is(verr, CodeTooDeep) && !errors.Is(verr, CodeTooManyItems) && !(errors.As(verr, &ve) && ve.Truncated) {
			t.Fatalf("ValidateValue(%s) = %v, want a fatal violation as Validate's %v", in, verr, err)
		}
		return
	}
	if got, want := violations(verr), violations(err); !slices.Equal(got, want) {
		t.Fatalf("ValidateValue(%s) violations\n got %q\nwant %q", in, got, want)
	}
	if err != nil {
		if vout != nil {
			t.Fatalf("ValidateValue returned a value with an error")
		}
		return
	}
	if want := decodeNumber(t, out); !reflect.DeepEqual(vout, want) {
		t.Fatalf("ValidateValue(%s)\n got %#v\nwant %#v", in, vout, want)
	}
}
