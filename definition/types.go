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
// must not modify them, and may share them between goroutines.
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
