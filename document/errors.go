package document

import (
	"errors"
	"strconv"
	"strings"
)

// Code is the stable, machine-readable reason for a Violation. Codes are
// part of the API: they never change meaning, and new ones may be added.
//
// A Code is also an error, so each code doubles as a sentinel:
// errors.Is(err, document.CodeRequired) reports whether a *ValidationError
// holds at least one violation with that code.
type Code string

// The violation codes. COERCION.md in this directory describes when each
// one is reported.
const (
	// CodeSyntax: the input is not valid JSON (including invalid UTF-8,
	// lone UTF-16 surrogates in \u escapes and trailing data). Fatal:
	// validation stops at the first syntax error.
	CodeSyntax Code = "syntax"
	// CodeDuplicateKey: an object has the same key twice.
	CodeDuplicateKey Code = "duplicate_key"
	// CodeType: the value has a JSON type the property does not accept and
	// that no coercion rule converts.
	CodeType Code = "type"
	// CodeRequired: a required property is absent or null.
	CodeRequired Code = "required"
	// CodeUnknownProperty: a strict model (or a geopoint) has a property it
	// does not declare.
	CodeUnknownProperty Code = "unknown_property"
	// CodePattern: a string does not match the property's pattern.
	CodePattern Code = "pattern"
	// CodeNumberRange: a number is not a finite float64 (NaN, ±Inf, or a
	// literal whose magnitude overflows float64).
	CodeNumberRange Code = "number_range"
	// CodeDateFormat: a date is neither an RFC 3339 string nor an integer
	// count of milliseconds since the Unix epoch, or it lies outside the
	// years 0000-9999.
	CodeDateFormat Code = "date_format"
	// CodeBufferFormat: a buffer is not valid base64.
	CodeBufferFormat Code = "buffer_format"
	// CodeGeoPointFormat: a geopoint string is not "lat,lng".
	CodeGeoPointFormat Code = "geopoint_format"
	// CodeGeoPointRange: a latitude is outside [-90, 90] or a longitude
	// outside [-180, 180].
	CodeGeoPointRange Code = "geopoint_range"
	// CodeUnresolvedRef: a property refers to a model that the resolver
	// does not know.
	CodeUnresolvedRef Code = "unresolved_ref"
	// CodeInvalidDefault: the model's default value for an absent property
	// does not itself validate. This is a fault of the model, reported at
	// the property's path.
	CodeInvalidDefault Code = "invalid_default"
	// CodeInvalidModel: a referenced model cannot be compiled (invalid
	// type or pattern). The root model's faults are reported by New.
	CodeInvalidModel Code = "invalid_model"
	// CodeTooLarge: the input, or the output grown by defaults, is
	// larger than Limits.MaxBytes. Fatal.
	CodeTooLarge Code = "too_large"
	// CodeTooDeep: arrays and objects nest deeper than Limits.MaxDepth.
	// Fatal.
	CodeTooDeep Code = "too_deep"
	// CodeTooManyItems: an array has more than Limits.MaxItems elements.
	// Fatal.
	CodeTooManyItems Code = "too_many_items"
	// CodeUnsupportedValue: a decoded value (ValidateValue) has a Go type
	// that is not a JSON value.
	CodeUnsupportedValue Code = "unsupported_value"
)

// Error returns the code itself.
func (c Code) Error() string { return string(c) }

// ErrInvalid matches every *ValidationError with errors.Is.
var ErrInvalid = errors.New("document: invalid document")

// Violation is one reason a document is invalid.
type Violation struct {
	// Path is a JSON Pointer (RFC 6901) to the offending value, or to the
	// object that lacks a required property, followed by that property's
	// name. The root is "".
	Path string `json:"path"`
	// Code is the stable reason.
	Code Code `json:"code"`
	// Message is a human-readable explanation in English.
	Message string `json:"message"`
}

// String returns "path: code: message".
func (v Violation) String() string {
	p := v.Path
	if p == "" {
		p = "/"
	}
	return p + ": " + string(v.Code) + ": " + v.Message
}

// ValidationError is the error returned for an invalid document. It lists
// every violation found, in document order, up to Limits.MaxViolations.
type ValidationError struct {
	Violations []Violation
	// Truncated reports that more violations were found than were kept.
	Truncated bool
}

// Error summarises the first few violations.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("document: ")
	n := len(e.Violations)
	if n == 1 {
		b.WriteString(e.Violations[0].String())
		return b.String()
	}
	b.WriteString(strconv.Itoa(n))
	if e.Truncated {
		b.WriteString("+")
	}
	b.WriteString(" violations")
	for i, v := range e.Violations {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		b.WriteString("; ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid or the Code of one of the
// violations.
func (e *ValidationError) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	c, ok := target.(Code)
	if !ok {
		return false
	}
	for _, v := range e.Violations {
		if v.Code == c {
			return true
		}
	}
	return false
}

// ModelError is returned by New and Schema for a model that cannot be
// compiled or exported: an invalid type, an invalid pattern, or (Schema
// only) a reference that the resolver does not know. It unwraps to
// CodeInvalidModel or CodeUnresolvedRef.
type ModelError struct {
	// Path is a JSON Pointer to the property in the model's properties,
	// e.g. "/address/street" (array elements add no segment).
	Path string
	// Code is CodeInvalidModel or CodeUnresolvedRef.
	Code Code
	// Msg explains the fault.
	Msg string
}

// Error returns "document: model: path: msg".
func (e *ModelError) Error() string {
	p := e.Path
	if p == "" {
		p = "/"
	}
	return "document: model: " + p + ": " + e.Msg
}

// Unwrap returns the code.
func (e *ModelError) Unwrap() error { return e.Code }

// appendPointerToken appends one RFC 6901 reference token, escaping "~" as
// "~0" and "/" as "~1".
func appendPointerToken(dst []byte, tok string) []byte {
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; c {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
