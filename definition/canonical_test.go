package definition

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestShapesDiffer(t *testing.T) {
	// Every pair of these properties maps is a different structure.
	shapes := []string{
		`{"street":"string"}`,
		`{"street":"number"}`,
		`{"street":"Street"}`,
		`{"street":{"type":"string","required":true}}`,
		`{"street":{"type":"string","id":true}}`,
		`{"street":{"type":"string","default":"x"}}`,
		`{"street":{"type":"string","default":"y"}}`,
		`{"street":{"type":"string","default":1}}`,
		`{"street":{"type":"string","default":"1"}}`,
		`{"street":{"type":"string","pattern":"x"}}`,
		`{"street":{"type":"string","pattern":"y"}}`,
		`{"street":["string"]}`,
		`{"street":[["string"]]}`,
		`{"street":["number"]}`,
		`{"street":{"name":"string"}}`,
		`{"street":{"name":"number"}}`,
		`{"street":{"name":{"type":"string","required":true}}}`,
		`{"street":[{"name":"string"}]}`,
		`{"street":{}}`,
		`{"street":"object"}`,
		`{"street":"any"}`,
		`{"street":[]}`,
		`{"street":"Address"}`,
		`{"street":["Address"]}`,
		`{"street":{"address":"Address"}}`,
		`{"streets":"string"}`,
		`{"street":"string","city":"string"}`,
		`{}`,
		`{"a":{"b":{"c":"string"}}}`,
		`{"a":{"b":{"c":"number"}}}`,
		`{"a":{"b":{"d":"string"}}}`,
		`{"a":{"b":[{"c":"string"}]}}`,
		`{"a":[{"b":{"c":"string"}}]}`,
		`{"a":{"b":"string","c":"string"}}`,
		`{"a":{"b":"string"},"c":"string"}`,
	}
	seen := map[string]string{}
	fps := map[Fingerprint]string{}
	for _, s := range shapes {
		o, err := ParseProperties([]byte(s), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		c := string(o.Canonical())
		if prev, ok := seen[c]; ok {
			t.Errorf("%s and %s have the same canonical form %s", prev, s, c)
		}
		seen[c] = s
		fp := o.Fingerprint()
		if prev, ok := fps[fp]; ok {
			t.Errorf("%s and %s have the same fingerprint", prev, s)
		}
		fps[fp] = s
		if fp != Sum([]byte(c)) {
			t.Errorf("%s: Fingerprint() != Sum(Canonical())", s)
		}
	}
}

func TestKeyOrderEveryDepth(t *testing.T) {
	forms := []string{
		`{"name":"A","strict":true,"properties":{"a":{"x":"string","y":{"p":"number","q":[{"m":"date","n":{"type":"string","required":true,"default":{"k":1,"j":[{"b":2,"a":1}]}}}]}},"b":"string"}}`,
		`{"properties":{"b":"string","a":{"y":{"q":[{"n":{"default":{"j":[{"a":1,"b":2}],"k":1},"required":true,"type":"string"},"m":"date"}],"p":"number"},"x":"string"}},"strict":true,"name":"A"}`,
		`{"strict":"throw","name":"A","properties":{"a":{"type":{"y":{"type":{"q":{"type":[{"type":{"n":{"required":true,"default":{"k":1.0,"j":[{"a":1e0,"b":2}]},"type":"String"},"m":{"type":"Date"}}}]},"p":"Number"}},"x":{"type":"string"}}},"b":{"type":"string"}}}`,
	}
	var want []byte
	for i, f := range forms {
		d, err := Parse([]byte(f), Limits{})
		if err != nil {
			t.Fatalf("form %d: %v", i, err)
		}
		if i == 0 {
			want = d.Canonical()
		} else if got := d.Canonical(); !bytes.Equal(got, want) {
			t.Errorf("form %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestFingerprintText(t *testing.T) {
	f := Sum([]byte(`{"properties":{},"strict":false}`))
	s := f.String()
	if !strings.HasPrefix(s, "v1:") || len(s) != 67 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q", s)
	}
	g, err := ParseFingerprint(s)
	if err != nil || g != f {
		t.Fatalf("ParseFingerprint(%q) = %v, %v", s, g, err)
	}
	b, err := json.Marshal(map[string]Fingerprint{"fp": f})
	if err != nil || string(b) != `{"fp":"`+s+`"}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var m map[string]Fingerprint
	if err := json.Unmarshal(b, &m); err != nil || m["fp"] != f {
		t.Fatalf("json round trip = %v, %v", m, err)
	}
	if f.IsZero() || !(Fingerprint{}).IsZero() {
		t.Error("IsZero")
	}
	if got := (Fingerprint{}).String(); got != "v0:"+strings.Repeat("0", 64) || got != zeroFingerprintText {
		t.Errorf("zero String() = %q", got)
	}
	// A value holding no fingerprint yet is written and read back.
	b, err = json.Marshal(map[string]Fingerprint{"fp": {}})
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	if err := json.Unmarshal(b, &m); err != nil || !m["fp"].IsZero() {
		t.Errorf("zero Fingerprint's json round trip (%s) = %v, %v", b, m, err)
	}
	if _, err := ParseFingerprint(zeroFingerprintText); err == nil {
		t.Error("ParseFingerprint accepts the zero Fingerprint")
	}
	for _, bad := range []string{"", "v1:", "v2:" + s[3:], "V1:" + s[3:], "v1:" + strings.ToUpper(s[3:]),
		s + "0", s[:66], "v1:" + strings.Repeat("g", 64), "v1-" + s[3:], " " + s} {
		_, err := ParseFingerprint(bad)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseFingerprint(%q) = %v, want *Error wrapping ErrInvalid", bad, err)
		}
		var fp Fingerprint
		if fp.UnmarshalText([]byte(bad)) == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

func TestCanonicalAppend(t *testing.T) {
	d, err := Parse(benchModel, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Canonical()
	buf := append([]byte("prefix"), 'x')
	got := d.AppendCanonical(buf)
	if string(got[:7]) != "prefixx" || !bytes.Equal(got[7:], c) {
		t.Errorf("AppendCanonical does not append")
	}
	if n := testing.AllocsPerRun(100, func() { c = d.AppendCanonical(c[:0]) }); n != 0 {
		t.Errorf("AppendCanonical allocates %v times with enough capacity", n)
	}
	// The Kind and Strictness names.
	for k, want := range map[Kind]string{KindInvalid: "invalid", KindString: "string", KindGeoPoint: "geopoint",
		KindArray: "array", KindRef: "ref", KindNested: "nested", Kind(99): "invalid"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q", k, k.String())
		}
	}
	for s, want := range map[Strictness]string{StrictOpen: "false", StrictReject: "true", StrictFilter: "filter", 9: "invalid"} {
		if s.String() != want {
			t.Errorf("Strictness(%d).String() = %q", s, s.String())
		}
	}
}

func TestMarshalShortestForm(t *testing.T) {
	in := `{"name":"A","strict":"filter","properties":{"b":{"type":"String"},"a":{"required":true},` +
		`"c":{"type":{"type":"string"}},"d":[{"type":{"type":"number"}}],"e":{"type":{"required":"string"}},` +
		`"f":{"type":"array"},"g":{"x":"Ref"},"h":{"type":"string","description":"d"},"i":null}, "base":"B"}`
	d, err := Parse([]byte(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := d.MarshalJSON()
	want := `{"name":"A","properties":{"a":{"type":"any","required":true},"b":"string","c":{"type":{"type":"string"}},` +
		`"d":[{"type":{"type":"number"}}],"e":{"type":{"required":"string"}},"f":["any"],"g":{"x":"Ref"},` +
		`"h":{"type":"string","description":"d"},"i":null},"strict":"filter","base":"B"}`
	if string(m) != want {
		t.Errorf("MarshalJSON\n got %s\nwant %s", m, want)
	}
	o, _ := ParseProperties([]byte(`{"z":"number","a":{"b":"string"}}`), Limits{})
	m, _ = o.MarshalJSON()
	if string(m) != `{"a":{"b":"string"},"z":"number"}` {
		t.Errorf("Object.MarshalJSON = %s", m)
	}
	// Marshal never nests deeper than the input: a definition at the depth
	// limit still parses after a round trip.
	deep := `{"name":"A","properties":{"p":` + strings.Repeat(`{"a":`, 29) + `"string"` + strings.Repeat("}", 29) + `}}`
	d, err = Parse([]byte(deep), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ = d.MarshalJSON()
	if _, err := Parse(m, Limits{}); err != nil {
		t.Errorf("Parse(MarshalJSON()) of a definition at the depth limit: %v", err)
	}
}
