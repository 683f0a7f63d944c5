package definition

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// CanonicalVersion is the version of the canonical form written by
// AppendCanonical and hashed by Sum. Any change to the canonical bytes of
// any structure requires a new version (see CANONICAL.md).
const CanonicalVersion = 1

// Property returns the property called name. It does a binary search and
// does not allocate.
func (o *Object) Property(name string) (*Property, bool) {
	i, found := slices.BinarySearchFunc(o.Properties, name, func(p Property, name string) int {
		return strings.Compare(p.Name, name)
	})
	if !found {
		return nil, false
	}
	return &o.Properties[i], true
}

// Depth returns how deeply the structure nests: 1 for an object whose
// properties are all scalars or references, plus one level for every
// nested object and every array on the deepest path (so {"tags":
// ["string"]} has depth 2 and {"orders": [{"sku": "string"}]} depth 3).
// The Object must be valid as Parse builds it: a structure built in Go
// with a cycle has no depth.
func (o *Object) Depth() int {
	d := 0
	for i := range o.Properties {
		d = max(d, o.Properties[i].Type.depth())
	}
	return 1 + d
}

func (t *Type) depth() int {
	switch t.Kind {
	case KindArray:
		if t.Elem == nil {
			return 1
		}
		return 1 + t.Elem.depth()
	case KindNested:
		if t.Object == nil {
			return 1
		}
		return t.Object.Depth()
	}
	return 0
}

// Canonical returns the canonical form v1 of the structure (CANONICAL.md).
func (o *Object) Canonical() []byte {
	return o.AppendCanonical(make([]byte, 0, 256))
}

// AppendCanonical appends the canonical form v1 of the structure
// (CANONICAL.md) to dst and returns the extended slice. Two structures are
// equal exactly when their canonical forms are equal. The Object must be
// valid as Parse builds it (properties sorted by name, names unique).
func (o *Object) AppendCanonical(dst []byte) []byte {
	return o.appendCanonical(dst, nil)
}

// IsCanonicalValue reports whether v is one JSON value in the canonical
// form of CANONICAL.md ("Default values"): exactly what Parse stores in a
// Property's Default. The canonical form of a structure includes defaults
// verbatim, so a structure built in Go is only valid with such defaults.
// A top-level null is not one: Parse stores no default for "default": null
// (nulls inside an object or array are kept).
func IsCanonicalValue(v []byte) bool {
	if string(v) == "null" {
		return false
	}
	nodes, err := scan(v, 1<<12, nil)
	if err != nil {
		return false
	}
	out, bad, _ := appendCanonicalValue(make([]byte, 0, len(v)), v, nodes, 0)
	return bad < 0 && string(out) == string(v)
}

// A Span is the range dst[Start:End] of the bytes appended by
// AppendCanonicalSpans.
type Span struct{ Start, End int }

// AppendCanonicalSpans appends the canonical form of the structure to dst,
// exactly as AppendCanonical does, and appends to spans where the canonical
// form of every nested object (KindNested, in arrays too) lies in the
// result: in post-order (an object after the objects nested in it), and
// siblings in property order. A nested object's canonical form is thus
// known without walking it again.
func (o *Object) AppendCanonicalSpans(dst []byte, spans []Span) ([]byte, []Span) {
	dst = o.appendCanonical(dst, &spans)
	return dst, spans
}

// appendCanonical appends the canonical form, recording the spans of
// nested objects in *spans unless spans is nil.
func (o *Object) appendCanonical(dst []byte, spans *[]Span) []byte {
	dst = append(dst, `{"properties":{`...)
	for i := range o.Properties {
		p := &o.Properties[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p.Name)
		dst = append(dst, ':', '{')
		if len(p.Default) > 0 {
			dst = append(dst, `"default":`...)
			dst = append(dst, p.Default...)
			dst = append(dst, ',')
		}
		if p.ID {
			dst = append(dst, `"id":true,`...)
		}
		if p.Pattern != "" {
			dst = append(dst, `"pattern":`...)
			dst = appendString(dst, p.Pattern)
			dst = append(dst, ',')
		}
		if p.Required {
			dst = append(dst, `"required":true,`...)
		}
		dst = append(dst, `"type":`...)
		dst = p.Type.appendCanonical(dst, spans)
		dst = append(dst, '}')
	}
	dst = append(dst, `},"strict":`...)
	switch o.Strict {
	case StrictOpen:
		dst = append(dst, "false"...)
	case StrictReject:
		dst = append(dst, "true"...)
	case StrictFilter:
		dst = append(dst, `"filter"`...)
	default:
		dst = append(dst, "null"...) // not a valid Object
	}
	return append(dst, '}')
}

// builtinName returns the canonical name of a built-in kind, or "".
func builtinName(k Kind) string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindBoolean:
		return "boolean"
	case KindDate:
		return "date"
	case KindBuffer:
		return "buffer"
	case KindObject:
		return "object"
	case KindAny:
		return "any"
	case KindGeoPoint:
		return "geopoint"
	}
	return ""
}

// String returns the canonical name of a built-in kind ("string", ...),
// "array", "ref", "nested", or "invalid".
func (k Kind) String() string {
	switch {
	case k >= KindString && k <= KindGeoPoint:
		return builtinName(k)
	case k == KindArray:
		return "array"
	case k == KindRef:
		return "ref"
	case k == KindNested:
		return "nested"
	}
	return "invalid"
}

// String returns the name of the strictness as written in a definition:
// "false", "true" or "filter".
func (s Strictness) String() string {
	switch s {
	case StrictOpen:
		return "false"
	case StrictReject:
		return "true"
	case StrictFilter:
		return "filter"
	}
	return "invalid"
}

func (t *Type) appendCanonical(dst []byte, spans *[]Span) []byte {
	switch t.Kind {
	case KindArray:
		dst = append(dst, '[')
		if t.Elem == nil {
			dst = append(dst, `"any"`...)
		} else {
			dst = t.Elem.appendCanonical(dst, spans)
		}
		return append(dst, ']')
	case KindRef:
		dst = append(dst, `{"ref":`...)
		dst = appendString(dst, t.Ref)
		return append(dst, '}')
	case KindNested:
		start := len(dst)
		if t.Object == nil {
			dst = append(dst, `{"properties":{},"strict":false}`...)
		} else {
			dst = t.Object.appendCanonical(dst, spans)
		}
		if spans != nil {
			*spans = append(*spans, Span{start, len(dst)})
		}
		return dst
	}
	if name := builtinName(t.Kind); name != "" {
		dst = append(dst, '"')
		dst = append(dst, name...)
		return append(dst, '"')
	}
	return append(dst, "null"...) // not a valid Type
}

// Fingerprint is a versioned strong hash of a canonical form. It is
// comparable and can be used as a map key. The zero Fingerprint (Version 0)
// is not the fingerprint of anything.
type Fingerprint struct {
	Version uint8
	Sum     [32]byte // SHA-256 of the canonical bytes
}

// Sum returns the fingerprint of canonical bytes of the current version:
// Version CanonicalVersion and the SHA-256 of canonical.
func Sum(canonical []byte) Fingerprint {
	return Fingerprint{Version: CanonicalVersion, Sum: sha256.Sum256(canonical)}
}

// Fingerprint returns Sum(o.Canonical()), with one allocation for
// structures whose canonical form is up to 1 KiB.
func (o *Object) Fingerprint() Fingerprint {
	return Sum(o.AppendCanonical(make([]byte, 0, 1024)))
}

// IsZero reports whether f is the zero Fingerprint.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// String returns "v<version>:<64 lower-case hex digits>", e.g.
// "v1:9f86d0..." ("v0:" and 64 zeros for the zero Fingerprint).
func (f Fingerprint) String() string {
	b, _ := f.AppendText(make([]byte, 0, 68))
	return string(b)
}

// AppendText appends the String form of f to b.
func (f Fingerprint) AppendText(b []byte) ([]byte, error) {
	b = append(b, 'v')
	b = appendUint(b, uint(f.Version))
	b = append(b, ':')
	return hex.AppendEncode(b, f.Sum[:]), nil
}

func appendUint(b []byte, v uint) []byte {
	if v >= 10 {
		b = appendUint(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (f Fingerprint) MarshalText() ([]byte, error) { return f.AppendText(nil) }

// UnmarshalText implements encoding.TextUnmarshaler (see ParseFingerprint).
// It also reads the zero Fingerprint's form, which MarshalText writes
// and ParseFingerprint refuses, so that a value holding no fingerprint
// yet can be written and read back.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	if string(b) == zeroFingerprintText {
		*f = Fingerprint{}
		return nil
	}
	v, err := ParseFingerprint(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// zeroFingerprintText is the String form of the zero Fingerprint.
const zeroFingerprintText = "v0:0000000000000000000000000000000000000000000000000000000000000000"

// ParseFingerprint parses the String form of a fingerprint: "v1:" and 64
// lower-case hex digits. Only versions this package knows (1) are accepted;
// an error is an *Error wrapping ErrInvalid.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	const prefix = "v1:"
	bad := func(msg string) (Fingerprint, error) {
		return Fingerprint{}, &Error{Offset: -1, Err: ErrInvalid, Msg: "invalid fingerprint: " + msg}
	}
	if !strings.HasPrefix(s, prefix) {
		return bad(`want "v1:" and 64 lower-case hex digits`)
	}
	h := s[len(prefix):]
	if len(h) != 64 {
		return bad("want 64 hex digits")
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return bad("want lower-case hex digits")
		}
	}
	if _, err := hex.Decode(f.Sum[:], []byte(h)); err != nil {
		return bad(err.Error())
	}
	f.Version = CanonicalVersion
	return f, nil
}
