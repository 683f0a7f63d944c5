package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Run with: go test ./definition/ -run '^$' -fuzz '^FuzzParse$' -fuzztime 10s
// (and -fuzz '^FuzzParseProperties$').

func addSeeds(f *testing.F) {
	seeds := []string{
		``, `{}`, `[]`, `null`, `{"name":"A"}`, string(benchModel),
		`{"name":"A","strict":"filter","properties":{"a":{"type":"string","required":true,"default":"x","pattern":"^x$"}}}`,
		`{"name":"A","properties":{"id":null,"x":{"type":{"type":"string"}},"y":[{"type":["Ref"]}],"z":{"defaultFn":"now"}}}`,
		`{"a":{"type":"object","default":{"b":[1.5e3,-0,"\u00e9\ud83d\ude00",null,true]}}}`,
		`[{"name":"A"},{"name":"B"}]`, `{"m":{"properties":{"a":"string"},"options":{"strict":true}}}`,
		`{"name":"A","properties":{"a":"zipcode"}}`, `{"name":"A",}`, "{\"a\":\"\xff\"}",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if files, err := filepath.Glob(filepath.Join(corpusDir, "*", "*.json")); err == nil {
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
}

// checkParseError checks that err is a well-formed *Error.
func checkParseError(t *testing.T, data []byte, err error) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	known := false
	for _, s := range []error{ErrSyntax, ErrUnknownType, ErrInvalidName, ErrTooDeep, ErrTooLarge, ErrInvalid} {
		if errors.Is(err, s) {
			known = true
		}
	}
	if !known {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if e.Offset < -1 || e.Offset > int64(len(data)) {
		t.Fatalf("error %v: offset %d out of range (input %d bytes)", err, e.Offset, len(data))
	}
	if e.Msg == "" {
		t.Fatalf("error without message")
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		// ParseNamed: Parse, with a name for a definition that has none.
		dn, nerr := ParseNamed(data, "Fuzzed", Limits{})
		d, err := Parse(data, Limits{})
		if nerr != nil {
			checkParseError(t, data, nerr)
			if err == nil {
				t.Fatalf("Parse accepts what ParseNamed refuses: %v", nerr)
			}
		}
		if err != nil {
			checkParseError(t, data, err)
			if nerr == nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ParseNamed accepts what Parse refuses (%v), not for a missing name", err)
			}
			return
		}
		if nerr == nil && (dn.Name != d.Name || !bytes.Equal(dn.Canonical(), d.Canonical())) {
			t.Fatalf("ParseNamed of a named definition differs from Parse: %q %q", dn.Name, d.Name)
		}
		c := d.Canonical()
		if !json.Valid(c) {
			t.Fatalf("canonical form is not JSON: %s", c)
		}
		if !bytes.Equal(c, d.Canonical()) {
			t.Fatal("canonical form not stable")
		}
		m, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := Parse(m, Limits{MaxBytes: 1 << 30})
		if err != nil {
			t.Fatalf("Parse(MarshalJSON()) = %v\ninput %q\nmarshaled %s", err, data, m)
		}
		if !bytes.Equal(d2.Canonical(), c) {
			t.Fatalf("round trip changed the canonical form\ninput %q\n%s\n%s", data, c, d2.Canonical())
		}
		if d2.Name != d.Name || !equalRaw(d.Settings, d2.Settings) || !equalExtras(&d.Object, &d2.Object) {
			t.Fatalf("round trip changed the definition\ninput %q\nmarshaled %s", data, m)
		}
		if m2, _ := d2.MarshalJSON(); !bytes.Equal(m, m2) {
			t.Fatalf("MarshalJSON not stable:\n%s\n%s", m, m2)
		}
		if all, err := ParseAll(data, Limits{}); err != nil || len(all) != 1 || !bytes.Equal(all[0].Canonical(), c) {
			t.Fatalf("ParseAll disagrees with Parse: %v", err)
		}
	})
}

func FuzzParseProperties(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseProperties(data, Limits{})
		if err != nil {
			checkParseError(t, data, err)
			return
		}
		c := o.Canonical()
		if !json.Valid(c) {
			t.Fatalf("canonical form is not JSON: %s", c)
		}
		m, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		o2, err := ParseProperties(m, Limits{MaxBytes: 1 << 30})
		if err != nil {
			t.Fatalf("ParseProperties(MarshalJSON()) = %v\ninput %q\nmarshaled %s", err, data, m)
		}
		if !bytes.Equal(o2.Canonical(), c) {
			t.Fatalf("round trip changed the canonical form\ninput %q\n%s\n%s", data, c, o2.Canonical())
		}
		if o.Depth() != o2.Depth() {
			t.Fatal("round trip changed the depth")
		}
		for i := range o.Properties {
			if p, ok := o.Property(o.Properties[i].Name); !ok || p != &o.Properties[i] {
				t.Fatalf("Property(%q) not found", o.Properties[i].Name)
			}
		}
	})
}

// FuzzIsCanonicalValue: IsCanonicalValue accepts exactly the defaults Parse
// writes. For any input that Parse takes as a default, the stored default
// is canonical, and it equals the input whenever the input is canonical.
//
// Run with: go test ./definition/ -run '^$' -fuzz '^FuzzIsCanonicalValue$' -fuzztime 10s
func FuzzIsCanonicalValue(f *testing.F) {
	for _, s := range []string{`1`, `1.0`, `-0`, `1e3`, `"a"`, `"\u00e9"`, `"\/"`, `[1, 2]`, `{"b":1,"a":2}`, `{"a":1,"a":2}`,
		`null`, `true`, ` 1`, `1,"required":true`, `{}`, `[]`, `"\ud800"`, "\"\xff\"", `1e400`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		canonical := IsCanonicalValue(v)
		o, err := ParseProperties(append(append([]byte(`{"a": {"type": "any", "default": `), v...), "}}"...), Limits{})
		if err != nil {
			if canonical && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("canonical %q is not a default Parse accepts: %v", v, err)
			}
			return
		}
		d := o.Properties[0].Default
		if len(d) == 0 {
			if canonical {
				t.Fatalf("canonical %q was stored as no default", v) // null is not canonical
			}
			return
		}
		if !IsCanonicalValue(d) {
			t.Fatalf("Parse stored the default %q of %q, which IsCanonicalValue refuses", d, v)
		}
		if canonical && !bytes.Equal(d, v) {
			t.Fatalf("canonical %q was stored as %q", v, d)
		}
	})
}
