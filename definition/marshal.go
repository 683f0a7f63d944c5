package definition

import (
	"encoding/json"
	"slices"
)

// MarshalJSON writes the definition in a normalized form:
//
//	{"name":N,"properties":{...},"strict":S, <settings in key order>}
//
// Properties are written in name order. A property without options is
// written in its shortest form: the canonical type name ("string"), the
// model name of a reference, [T] for an array, and an object literal for a
// nested object (or {"type":{...}} when a literal would be read as a long
// form, i.e. when it has a property called "type" or only properties named
// like options). A property with options is written in long form:
// {"type":T,"required":true,"id":true,"default":D,"pattern":P, <extra
// options in key order>}. Removed properties are written as null.
//
// Parse accepts the result and gives back the same structure (same
// canonical bytes), name, settings, options and removals. The result nests
// no deeper than any input that parses to the same definition, so it
// parses under the same Limits.MaxDepth. It may be longer than the input:
// type names are written in their canonical spelling ("bool" as
// "boolean", [] as ["any"]), defaults in their canonical form, and
// "strict" always; allow for that under Limits.MaxBytes.
func (d *Definition) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"name":`...)
	b = appendString(b, d.Name)
	if len(d.Properties) > 0 || len(d.Removed) > 0 {
		// Not written empty: it would nest one level deeper than
		// {"name":"A"}, which gives the same definition.
		b = append(b, `,"properties":`...)
		b = appendPropsJSON(b, &d.Object, d.Removed)
	}
	b = append(b, `,"strict":`...)
	switch d.Strict {
	case StrictReject:
		b = append(b, "true"...)
	case StrictFilter:
		b = append(b, `"filter"`...)
	default:
		b = append(b, "false"...)
	}
	keys := make([]string, 0, len(d.Settings))
	for k := range d.Settings {
		switch k {
		case "name", "properties", "strict":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = appendRaw(b, d.Settings[k])
	}
	return append(b, '}'), nil
}

// MarshalJSON writes the structure as a properties map in the normalized
// long form of Definition.MarshalJSON. ParseProperties accepts it; the
// strictness of o itself is not written (ParseProperties gives StrictOpen).
func (o *Object) MarshalJSON() ([]byte, error) {
	return appendPropsJSON(make([]byte, 0, 256), o, nil), nil
}

func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendPropsJSON writes a properties map, with removed names as null.
func appendPropsJSON(b []byte, o *Object, removed []string) []byte {
	b = append(b, '{')
	i, j, n := 0, 0, 0
	for i < len(o.Properties) || j < len(removed) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		if j < len(removed) && (i >= len(o.Properties) || removed[j] < o.Properties[i].Name) {
			b = appendString(b, removed[j])
			b = append(b, ":null"...)
			j++
			continue
		}
		p := &o.Properties[i]
		i++
		b = appendString(b, p.Name)
		b = append(b, ':')
		b = appendPropertyJSON(b, p)
	}
	return append(b, '}')
}

// hasOptions reports whether p has any option besides its type.
func hasOptions(p *Property) bool {
	if p.Required || p.ID || len(p.Default) > 0 || p.Pattern != "" {
		return true
	}
	for k := range p.Extra {
		if !isStructuralKey(k) {
			return true
		}
	}
	return false
}

func isStructuralKey(k string) bool {
	switch k {
	case "type", "required", "id", "default", "pattern":
		return true
	}
	return false
}

func appendPropertyJSON(b []byte, p *Property) []byte {
	if !hasOptions(p) {
		return appendTypeJSON(b, &p.Type, posProperty)
	}
	b = append(b, `{"type":`...)
	b = appendTypeJSON(b, &p.Type, posType)
	if p.Required {
		b = append(b, `,"required":true`...)
	}
	if p.ID {
		b = append(b, `,"id":true`...)
	}
	if len(p.Default) > 0 {
		b = append(b, `,"default":`...)
		b = append(b, p.Default...)
	}
	if p.Pattern != "" {
		b = append(b, `,"pattern":`...)
		b = appendString(b, p.Pattern)
	}
	if len(p.Extra) > 0 {
		keys := make([]string, 0, len(p.Extra))
		for k := range p.Extra {
			if !isStructuralKey(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = appendRaw(b, p.Extra[k])
		}
	}
	return append(b, '}')
}

// Positions of a type in a definition.
const (
	posProperty = iota // the value of a property
	posType            // the value of a "type" key
	posElem            // the element of an array type
)

// appendTypeJSON writes a type for the given position.
func appendTypeJSON(b []byte, t *Type, pos int) []byte {
	switch t.Kind {
	case KindArray:
		b = append(b, '[')
		if t.Elem == nil {
			b = append(b, `"any"`...)
		} else {
			b = appendTypeJSON(b, t.Elem, posElem)
		}
		return append(b, ']')
	case KindRef:
		return appendString(b, t.Ref)
	case KindNested:
		o := t.Object
		if o == nil {
			o = &Object{}
		}
		if pos == posType || literalOK(o, pos) {
			return appendPropsJSON(b, o, nil)
		}
		b = append(b, `{"type":`...)
		b = appendPropsJSON(b, o, nil)
		return append(b, '}')
	}
	if name := builtinName(t.Kind); name != "" {
		b = append(b, '"')
		b = append(b, name...)
		return append(b, '"')
	}
	return append(b, `"any"`...)
}

// literalOK reports whether o written as an object literal at pos (a
// property value or an array element) reads back as a nested object.
func literalOK(o *Object, pos int) bool {
	if _, found := o.Property("type"); found {
		return false
	}
	if pos == posElem || len(o.Properties) == 0 {
		return true
	}
	for i := range o.Properties {
		if !isPropertyOption([]byte(o.Properties[i].Name)) {
			return true
		}
	}
	return false
}
