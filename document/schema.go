package document

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/definition"
)

// JSON Schema export. The schema describes the coerced (output) form of a
// document: every document that Validate returns is valid against it, and
// a document valid against it is accepted by Validate unchanged (up to
// whitespace and geopoint key order), with the exceptions listed in
// COERCION.md ("JSON Schema"). Coercible inputs ("12" for a number,
// epoch milliseconds for a date, ...) are therefore not valid against the
// schema.

// SchemaDialect is the "$schema" of exported schemas.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// Patterns of the output forms of dates and buffers.
const (
	// datePattern matches appendDate's output: UTC, "Z", and 3, 6 or 9
	// fraction digits, the fewest that are exact.
	datePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]\.[0-9]{3}(?:` + nonZero3 + `|[0-9]{3}` + nonZero3 + `)?Z$`
	nonZero3    = `(?:[0-9]{2}[1-9]|[0-9][1-9][0-9]|[1-9][0-9]{2})`
	// base64Pattern matches canonical standard padded base64: the unused
	// bits of the last character are zero.
	base64Pattern = `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$`
)

// Schema exports the structure obj as a JSON Schema (draft 2020-12)
// document. Nested anonymous objects become "$defs" entries keyed by their
// fingerprint ("v1:<hex>"); referenced models are resolved through resolve,
// transitively, and become "$defs" entries keyed by name (reference cycles
// are fine). An unresolved reference or an invalid type fails with a
// *ModelError.
func Schema(obj *definition.Object, resolve Resolver) ([]byte, error) {
	if err := checkTree(obj); err != nil {
		return nil, err
	}
	e := &exporter{resolve: resolve, defs: map[string]any{}}
	root, err := e.object(obj, "")
	if err != nil {
		return nil, err
	}
	root["$schema"] = SchemaDialect
	if len(e.defs) > 0 {
		root["$defs"] = e.defs
	}
	return marshal(root)
}

// NamedSchema exports the model called name, resolved through resolve, as
// Schema does; the model itself is "$defs"[name] and the document is a
// "$ref" to it.
func NamedSchema(name string, resolve Resolver) ([]byte, error) {
	e := &exporter{resolve: resolve, defs: map[string]any{}}
	ref, err := e.ref(name, "")
	if err != nil {
		return nil, err
	}
	ref["$schema"] = SchemaDialect
	ref["title"] = name
	ref["$defs"] = e.defs
	return marshal(ref)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

type exporter struct {
	resolve Resolver
	defs    map[string]any                // name or fingerprint -> schema (nil while in progress)
	keys    map[*definition.Object]string // nested object -> its key in defs
}

// defRef returns {"$ref": "#/$defs/<key>"}, the key escaped as a JSON
// Pointer token and percent-encoded for a URI fragment.
func defRef(key string) map[string]any {
	tok := appendPointerToken(nil, key)
	var b strings.Builder
	b.WriteString("#/$defs/")
	for _, c := range tok {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
		}
	}
	return map[string]any{"$ref": b.String()}
}

func (e *exporter) ref(name, path string) (map[string]any, error) {
	if _, ok := e.defs[name]; !ok {
		var o *definition.Object
		if e.resolve != nil {
			o, _ = e.resolve(name)
		}
		if o == nil {
			return nil, &ModelError{Path: path, Code: CodeUnresolvedRef, Msg: "model " + strconv.Quote(name) + " is not defined"}
		}
		if err := checkTree(o); err != nil {
			return nil, err
		}
		e.defs[name] = nil // in progress: a cycle refers to it
		s, err := e.object(o, "")
		if err != nil {
			return nil, err
		}
		e.defs[name] = s
	}
	return defRef(name), nil
}

func (e *exporter) nested(o *definition.Object, path string) (map[string]any, error) {
	if o == nil {
		return nil, &ModelError{Path: path, Code: CodeInvalidModel, Msg: "nested type without an object"}
	}
	if key, ok := e.keys[o]; ok {
		return defRef(key), nil
	}
	// Objects of one structure share a definition, but for their
	// descriptions, which the structure leaves out: one described
	// otherwise gets its own, its key followed by "-2", "-3", ...
	s, err := e.object(o, path)
	if err != nil {
		return nil, err
	}
	base := o.Fingerprint().String()
	key := base
	for n := 2; ; n++ {
		old, ok := e.defs[key]
		if !ok {
			e.defs[key] = s
			break
		}
		if reflect.DeepEqual(old, s) {
			break
		}
		key = base + "-" + strconv.Itoa(n)
	}
	if e.keys == nil {
		e.keys = map[*definition.Object]string{}
	}
	e.keys[o] = key
	return defRef(key), nil
}

func (e *exporter) object(o *definition.Object, path string) (map[string]any, error) {
	if o == nil {
		return nil, &ModelError{Path: path, Code: CodeInvalidModel, Msg: "nil object"}
	}
	props := make(map[string]any, len(o.Properties))
	required := []string{}
	for i := range o.Properties {
		p := &o.Properties[i]
		ppath := string(appendPointerToken([]byte(path+"/"), p.Name))
		s, err := e.typ(&p.Type, p.Pattern, ppath)
		if err != nil {
			return nil, err
		}
		if !p.Required {
			s = nullable(s)
		}
		if len(p.Default) > 0 && string(p.Default) != `"$now"` {
			s["default"] = json.RawMessage(p.Default)
		}
		if d, ok := p.Extra["description"]; ok && len(d) > 0 && d[0] == '"' {
			s["description"] = d
		}
		props[p.Name] = s
		if p.Required || len(p.Default) > 0 {
			required = append(required, p.Name)
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	if o.Strict != definition.StrictOpen {
		// StrictFilter too: unknown properties are dropped, so the
		// output form has none.
		s["additionalProperties"] = false
	}
	return s, nil
}

// nullable lets s accept null too.
func nullable(s map[string]any) map[string]any {
	if len(s) == 0 {
		return s // any
	}
	if t, ok := s["type"].(string); ok {
		s["type"] = []string{t, "null"}
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func (e *exporter) typ(t *definition.Type, pattern, path string) (map[string]any, error) {
	switch t.Kind {
	case definition.KindString:
		s := map[string]any{"type": "string"}
		if pattern != "" {
			s["pattern"] = pattern
		}
		return s, nil
	case definition.KindNumber:
		return map[string]any{"type": "number"}, nil
	case definition.KindBoolean:
		return map[string]any{"type": "boolean"}, nil
	case definition.KindDate:
		return map[string]any{"type": "string", "format": "date-time", "pattern": datePattern}, nil
	case definition.KindBuffer:
		return map[string]any{"type": "string", "contentEncoding": "base64", "pattern": base64Pattern}, nil
	case definition.KindObject:
		return map[string]any{"type": "object"}, nil
	case definition.KindAny:
		return map[string]any{}, nil
	case definition.KindGeoPoint:
		coord := func(limit int) map[string]any {
			return map[string]any{"type": "number", "minimum": -limit, "maximum": limit}
		}
		return map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"lat": coord(90), "lng": coord(180)},
			"required":             []string{"lat", "lng"},
			"additionalProperties": false,
		}, nil
	case definition.KindArray:
		if t.Elem == nil {
			return nil, &ModelError{Path: path, Code: CodeInvalidModel, Msg: "array without element type"}
		}
		items, err := e.typ(t.Elem, pattern, path)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case definition.KindRef:
		return e.ref(t.Ref, path)
	case definition.KindNested:
		return e.nested(t.Object, path)
	}
	return nil, &ModelError{Path: path, Code: CodeInvalidModel, Msg: "invalid type kind"}
}
