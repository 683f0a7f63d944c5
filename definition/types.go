// Package definition parses LoopBack-style JSON model definitions, and
// computes their canonical form and structural fingerprint.
//
// A Definition is what a user writes. Parse turns JSON into a Definition;
// the structure of a definition (its properties and the options that change
// their meaning) is an Object. Two Objects are the same structure exactly
// when their canonical forms (see CANONICAL.md in this directory) are equal
// byte for byte; Fingerprint is a strong, versioned hash of those bytes.
//
// Values of the types in this package are immutable once parsed: callers
// must not modify them, and may share them between goroutines. The
// Objects, Properties and Types of one parsed definition share a few
// allocations, so keeping any part of it keeps all of it.
//
// # The definition language
//
// A definition is a JSON object. "name" is the model name; "properties"
// maps property names to declarations; "strict" is the strictness; every
// other key (base, relations, acls, mixins, options, hidden, validations,
// ...) is kept verbatim in Definition.Settings and does not change the
// structure. Property order never matters.
//
// A property declaration is one of:
//
//	"string"                      a type name (shorthand)
//	["string"], [{...}], []       an array type: exactly one element type; [] is an array of any
//	{"type": T, "required": true, "id": true, "default": V, "pattern": "re", ...}
//	                              the long form; T is a type name, an array type, or an
//	                              object, which is always a nested object literal
//	{"street": "string", ...}     a nested object literal: an anonymous object type
//	null or false                 (top-level properties of a definition only) LoopBack's way
//	                              to remove a property inherited from the base model: the name
//	                              goes to Definition.Removed and is not part of the structure
//
// An object in property position is a long form when it has a "type" key
// (wherever the key is), or when it is not empty and every key is a known
// property option (required, default, defaultFn, id, pattern, index,
// unique, description, doc, title, comments, generated, length, precision,
// scale, dataType, dataLength, dataPrecision, dataScale, nullable, json,
// hidden, protected, enum, validators, format, columnName, updateOnly,
// deprecated, useDefaultIdType, mysql, postgresql, mongodb, oracle, mssql,
// db2, sqlite3) and not every value is a built-in type name; a long form
// without "type" has type any, so {"defaultFn": "now"} and
// {"required": true} are properties of type any. Every other object,
// including {}, is a nested object literal: {"title": "string",
// "description": "string"} is one, as LoopBack reads every object without
// "type". To declare a nested object that has a property called "type",
// or whose properties are all named like options and not all declared
// with a built-in type name, write {"type": {...}}. An array element is
// a type name, an array type, a nested object literal, or {"type": T}
// (element types take no options).
//
// Type names are case-insensitive. The built-in names and their aliases:
// string (text), number, boolean (bool), date, buffer (binary), object,
// any (*, json), geopoint, and array (an array of any). Any other type
// name is a reference to another model (KindRef) when it is a valid model
// name that starts with an upper-case ASCII letter ("Address",
// "OrderEntry"); otherwise it is refused with ErrUnknownType, so a typo such
// as "zipcode" or "strng" is an error, never a silent reference.
// References are not resolved here.
//
// Options that are part of the structure: "required" (true/false, null
// means false), "id" (true/false, or a LoopBack id position number: a
// number whose value as a double is not zero means true, so 1e-400 means
// false and 1e400 is refused as out of range; null means false), "default"
// (any JSON value, stored normalized in canonical JSON; null means no
// default) and "pattern" (an RE2 regular expression, checked with
// regexp.Compile; "" or null means none). Every other option is kept verbatim in Property.Extra
// and is not part of the structure.
//
// "strict" is true, "throw" or "validate" (StrictReject), false
// (StrictOpen) or "filter" (StrictFilter); absent means StrictOpen. As in
// LoopBack 3, "options": {"strict": ...} is honoured too and wins over a
// top-level "strict". Nested anonymous objects are always StrictOpen.
//
// Model names and property names are 1 to Limits.MaxNameLen (model) or
// Limits.MaxPropertyNameLen (property) bytes of ASCII letters, digits,
// '_' and '-', and do not start with a digit or '-'. Model names are
// case-sensitive.
//
// The parser refuses, with an *Error: malformed JSON (including invalid
// UTF-8, lone surrogate escapes and data after the value), duplicate keys in
// any object it interprets (the definition, properties maps, declarations,
// default values; opaque settings and extra options are kept as written),
// unknown types, invalid names, documents nesting objects and arrays deeper
// than Limits.MaxDepth anywhere (settings included), documents longer than
// Limits.MaxBytes (checked before decoding) and objects with more than
// Limits.MaxProperties properties. It never panics.
//
// # Legacy shapes
//
// Parse takes exactly one definition with a name; a file without "name" is
// refused with ErrInvalidName at path "name", and the message says when the
// file looks like a bare properties map (parse it with ParseProperties) or
// a LoopBack 1.x multi-model models.json (parse it with ParseAll). ParseAll
// also accepts a JSON array of definitions.
package definition

import "encoding/json"

// Kind is the kind of a property's type.
type Kind uint8

// The kinds of type a property can have. The scalar kinds and KindObject,
// KindAny and KindGeoPoint are built in; KindArray has an element type;
// KindRef names another model; KindNested is an anonymous object type
// written inline (an object literal or {"type": {...}}).
const (
	KindInvalid  Kind = iota
	KindString        // "string"
	KindNumber        // "number"
	KindBoolean       // "boolean" (also "bool")
	KindDate          // "date"
	KindBuffer        // "buffer"
	KindObject        // "object": any JSON object, not checked further
	KindAny           // "any" or "*"
	KindGeoPoint      // "geopoint"
	KindArray         // an array; Type.Elem is the element type
	KindRef           // a reference to a named model; Type.Ref is its name
	KindNested        // an anonymous object type; Type.Object is its structure
)

// Type is the type of a property.
type Type struct {
	Kind Kind
	// Elem is the element type of an array. It is never nil for KindArray
	// (an untyped array has an element of KindAny).
	Elem *Type
	// Ref is the referenced model's name for KindRef, as written (model
	// names are case-sensitive).
	Ref string
	// Object is the structure of an anonymous object type for KindNested.
	Object *Object
}

// Strictness is a model's policy for properties that it does not declare.
type Strictness uint8

// Strictness values. LoopBack's "throw" and "validate" mean StrictReject.
const (
	StrictOpen   Strictness = iota // false: unknown properties are kept
	StrictReject                   // true: unknown properties are an error
	StrictFilter                   // "filter": unknown properties are dropped
)

// Property is one declared property of an Object.
type Property struct {
	Name string
	Type Type
	// Required reports whether the property must be present (and not null).
	Required bool
	// ID reports whether the property is (part of) the model's id.
	ID bool
	// Default is the default value as compact JSON with object keys
	// sorted, or nil when the property has no default.
	Default json.RawMessage
	// Pattern is a regular expression (RE2 syntax) that a string value
	// must match, or "" for none.
	Pattern string
	// Extra holds the property's other options (description, index,
	// database column settings, ...). They are kept so that a definition
	// can be written back, but they are not part of the structure.
	Extra map[string]json.RawMessage
}

// Object is a structure: a set of properties and a strictness.
// Properties are sorted by Name (byte order) and names are unique.
type Object struct {
	Strict     Strictness
	Properties []Property
}

// Definition is a parsed model definition.
type Definition struct {
	// Name is the model's name.
	Name string
	// Object is the model's structure. Its Strict field comes from the
	// definition's "strict" setting.
	Object
	// Settings holds every other top-level key of the definition
	// (base, relations, acls, mixins, options, hidden, ...), kept verbatim
	// (as compact JSON).
	Settings map[string]json.RawMessage
	// Removed lists, sorted, the properties declared null or false: in
	// LoopBack this removes a property inherited from the base model. They
	// are kept so that the definition can be written back, but they are not
	// part of the structure (nor is the base model).
	Removed []string
}
