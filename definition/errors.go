package definition

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by the parsing functions of this
// package is an *Error whose Unwrap method returns one of these, so callers
// can test the class of a failure with errors.Is.
var (
	// ErrSyntax: the input is not well-formed JSON (or has trailing data,
	// invalid UTF-8, a lone surrogate escape, ...).
	ErrSyntax = errors.New("malformed JSON")
	// ErrUnknownType: a type name is neither built in nor a model reference.
	ErrUnknownType = errors.New("unknown type")
	// ErrInvalidName: a model or property name is missing, empty, too long
	// or outside the documented charset.
	ErrInvalidName = errors.New("invalid name")
	// ErrTooDeep: the JSON nests objects and arrays deeper than
	// Limits.MaxDepth.
	ErrTooDeep = errors.New("nesting too deep")
	// ErrTooLarge: the input is larger than Limits.MaxBytes, or an object
	// has more than Limits.MaxProperties properties.
	ErrTooLarge = errors.New("definition too large")
	// ErrInvalid: well-formed JSON that is not a valid definition (wrong
	// value kinds, duplicate keys, bad options, invalid pattern, ...).
	ErrInvalid = errors.New("invalid definition")
)

// Error describes why a definition was refused.
//
// Path names the offending element: "name", "strict", "properties.address.zip",
// "properties.orders[].sku" ("[]" is an array's element type). A path
// segment that is not a plain identifier is written as a quoted JSON string
// in brackets: properties["tags:"]. Path is empty for errors that concern
// the document as a whole (most syntax errors).
//
// Offset is the byte offset in the input of the offending token, or -1 when
// the error has no position (e.g. from ParseTypeName or ParseFingerprint).
// Line and Column (1-based, the column counted in bytes) are the same
// position, or 0 when Offset is -1.
type Error struct {
	Path   string
	Offset int64
	Line   int
	Column int
	// Err is one of the sentinel errors ErrSyntax, ErrUnknownType,
	// ErrInvalidName, ErrTooDeep, ErrTooLarge or ErrInvalid.
	Err error
	// Msg is a human-readable description, without the path.
	Msg string
}

// Error returns "path: msg", or just msg when Path is empty. Syntax errors
// carry their line and column in msg.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Unwrap returns the sentinel error (ErrSyntax, ErrInvalid, ...).
func (e *Error) Unwrap() error { return e.Err }

// newError builds an *Error positioned at byte offset off of data (off < 0:
// no position). Syntax-like errors get "at line L, column C" appended.
func newError(data []byte, path string, off int, sentinel error, msg string, withPos bool) *Error {
	e := &Error{Path: path, Offset: int64(off), Err: sentinel, Msg: msg}
	if off >= 0 && off <= len(data) {
		e.Line, e.Column = lineCol(data, off)
		if withPos {
			e.Msg = msg + " at line " + strconv.Itoa(e.Line) + ", column " + strconv.Itoa(e.Column) +
				" (byte " + strconv.Itoa(off) + ")"
		}
	} else {
		e.Offset = -1
	}
	return e
}

// lineCol converts a byte offset into a 1-based line and byte column.
func lineCol(data []byte, off int) (line, col int) {
	line, lineStart := 1, 0
	for i := 0; i < off && i < len(data); i++ {
		if data[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	return line, off - lineStart + 1
}
