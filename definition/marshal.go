package definition

import (
	"encoding/json"
	"slices"
)

// MarshalJSON writes the definition in normalized long form:
//
//	{"name":N,"properties":{...},"strict":S, <settings in key order>}
//
// Every property is written {"type":T,...options,...extra options}, where T
// is the canonical type name, [T] for an array, the model name for a
// reference and a properties map for a nested object (array elements that
// are nested objects are written {"type":{...}}). Removed properties are
// written as null. Parse accepts the result and gives back the same
// structure (same canonical bytes), settings, options and removals.
func (d *Definition) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"name":`...)
	b = appendString(b, d.Name)
	b = append(b, `,"properties":`...)
	b = appendPropsJSON(b, &d.Object, d.Removed)
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
		b = append(b, `:{"type":`...)
		b = appendTypeJSON(b, &p.Type, false)
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
				switch k {
				case "type", "required", "id", "default", "pattern":
					continue
				}
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				b = append(b, ',')
				b = appendString(b, k)
				b = append(b, ':')
				b = appendRaw(b, p.Extra[k])
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendTypeJSON writes a type as the value of a "type" key, or as an
// array element when elem is set.
func appendTypeJSON(b []byte, t *Type, elem bool) []byte {
	switch t.Kind {
	case KindArray:
		b = append(b, '[')
		if t.Elem == nil {
			b = append(b, `"any"`...)
		} else {
			b = appendTypeJSON(b, t.Elem, true)
		}
		return append(b, ']')
	case KindRef:
		return appendString(b, t.Ref)
	case KindNested:
		o := t.Object
		if o == nil {
			o = &Object{}
		}
		if elem {
			b = append(b, `{"type":`...)
			b = appendPropsJSON(b, o, nil)
			return append(b, '}')
		}
		return appendPropsJSON(b, o, nil)
	}
	if name := builtinName(t.Kind); name != "" {
		b = append(b, '"')
		b = append(b, name...)
		return append(b, '"')
	}
	return append(b, `"any"`...)
}
