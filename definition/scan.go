package definition

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/modelreg/modelreg/internal/jsonstr"
)

// The parser works in two passes. The scanner first checks that the input
// is well-formed JSON within the depth limit and records every value as a
// node of a flat pre-order tree (no allocation per value); the interpreter
// (parse.go) then walks that tree with full look-ahead, which is what the
// property forms need (an object is a long form exactly when it has a
// "type" key, wherever that key is).

// Node kinds.
const (
	nObject uint8 = iota + 1
	nArray
	nString
	nNumber
	nTrue
	nFalse
	nNull
)

// node is one JSON value. The nodes of a document are stored in pre-order:
// an object's node is followed by its members (key node, then value subtree),
// an array's node by its elements.
type node struct {
	start, end int32 // the value is data[start:end] (strings include quotes)
	skip       int32 // index of the first node after this node's subtree
	kind       uint8
	esc        bool  // string containing backslash escapes
	form       uint8 // for an object in property or element position: formLong or formNested, once known
	builtin    uint8 // for a type name: its built-in Kind, or notBuiltin, once known (0: not yet)
}

// notBuiltin is node.builtin for a string that is not a built-in type name.
const notBuiltin = 0xff

// Forms of an object in property position (see isLongForm) or as an
// array's element type (see isTypedElem).
const (
	formLong   uint8 = 1
	formNested uint8 = 2
)

// scan checks that data is one well-formed JSON value (with optional
// surrounding whitespace) nesting no deeper than maxDepth, and returns its
// node tree, stored in nodes[:0] (grown if need be).
//
// It is a state machine without recursion, one label per state: value (a
// value starts at i, after optional whitespace), member (a member of the
// open object starts at i: its key, ':' and value) and next (a value ended
// at i: a ',' or the end of the open object or array follows). While an
// object or array is open, its node's skip field holds the index of the
// enclosing open object or array (-1 for none); it is set to its final
// value when the container closes.
func scan(data []byte, maxDepth int, nodes []node) ([]node, *Error) {
	d := data
	nodes = nodes[:0]
	i := 0
	top, depth := -1, 0 // innermost open object or array (-1: none), and how many are open
	var c byte
	var end int
	var esc bool
	var err *Error

value:
	if cap(nodes)-len(nodes) < 2 {
		nodes = growNodes(nodes)
	}
	if i >= len(d) {
		return nil, syntaxAt(d, i, "unexpected end of input")
	}
	switch c = d[i]; c {
	case ' ', '\t', '\n', '\r':
		i = skipWS(d, i)
		goto value
	case '"':
		if end = skipPlain(d, i+1); end < len(d) && d[end] == '"' {
			nodes = appendNode(nodes, i, end+1, nString, false)
			i = end + 1
			goto next
		}
		start := i
		if i, esc, err = scanString(d, i); err != nil {
			return nil, err
		}
		nodes = appendNode(nodes, start, i, nString, esc)
		goto next
	case '{', '[':
		if depth >= maxDepth {
			return nil, newError(d, "", i, ErrTooDeep,
				"objects and arrays nested deeper than "+strconv.Itoa(maxDepth), true)
		}
		kind, closer := nObject, byte('}')
		if c == '[' {
			kind, closer = nArray, ']'
		}
		start := i
		i = skipWS(d, i+1)
		if i < len(d) && d[i] == closer {
			i++
			nodes = appendNode(nodes, start, i, kind, false)
			goto next
		}
		// Open: the first member or element follows.
		nodes = appendNode(nodes, start, 0, kind, false)
		nodes[len(nodes)-1].skip = int32(top)
		top = len(nodes) - 1
		depth++
		if kind == nArray {
			goto value
		}
		goto member
	case 't', 'f', 'n':
		lit, kind := "true", nTrue
		if c == 'f' {
			lit, kind = "false", nFalse
		} else if c == 'n' {
			lit, kind = "null", nNull
		}
		if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
			return nil, syntaxAt(d, i, describe(d, i)+", expecting a JSON value")
		}
		nodes = appendNode(nodes, i, i+len(lit), kind, false)
		i += len(lit)
		goto next
	default:
		if c != '-' && (c < '0' || c > '9') {
			return nil, syntaxAt(d, i, describe(d, i)+", expecting a JSON value")
		}
		var msg string
		if end, msg = scanNumber(d, i); msg != "" {
			return nil, syntaxAt(d, end, msg)
		}
		nodes = appendNode(nodes, i, end, nNumber, false)
		i = end
		goto next
	}

member:
	if cap(nodes)-len(nodes) < 2 {
		nodes = growNodes(nodes)
	}
	if i < len(d) && d[i] != '"' {
		i = skipWS(d, i)
	}
	if i >= len(d) || d[i] != '"' {
		return nil, syntaxAt(d, i, describe(d, i)+", expecting a string (object key)")
	}
	if end = skipPlain(d, i+1); end < len(d) && d[end] == '"' {
		nodes = appendNode(nodes, i, end+1, nString, false)
		i = end + 1
	} else {
		start := i
		if i, esc, err = scanString(d, i); err != nil {
			return nil, err
		}
		nodes = appendNode(nodes, start, i, nString, esc)
	}
	if i < len(d) && d[i] != ':' {
		i = skipWS(d, i)
	}
	if i >= len(d) || d[i] != ':' {
		return nil, syntaxAt(d, i, describe(d, i)+", expecting ':'")
	}
	i++
	// Fast path: a plain string value right after the ':', and a ','
	// right after it (top is an object).
	if i < len(d) && d[i] == '"' {
		if end = skipPlain(d, i+1); end < len(d) && d[end] == '"' {
			nodes = appendNode(nodes, i, end+1, nString, false)
			i = end + 1
			if i < len(d) && d[i] == ',' {
				i++
				goto member
			}
			goto next
		}
	}
	goto value

next:
	if top < 0 {
		if i = skipWS(d, i); i < len(d) {
			return nil, syntaxAt(d, i, "unexpected data after the top-level value")
		}
		return nodes, nil
	}
	if i < len(d) {
		switch d[i] {
		case ',':
			i++
			if nodes[top].kind == nObject {
				goto member
			}
			goto value
		case '}', ']':
			t := &nodes[top]
			if (d[i] == '}') != (t.kind == nObject) {
				break
			}
			i++
			top = int(t.skip)
			t.end, t.skip = int32(i), int32(len(nodes))
			depth--
			goto next
		case ' ', '\t', '\n', '\r':
			i = skipWS(d, i)
			goto next
		}
	}
	if nodes[top].kind == nObject {
		return nil, syntaxAt(d, i, describe(d, i)+", expecting ',' or '}'")
	}
	return nil, syntaxAt(d, i, describe(d, i)+", expecting ',' or ']'")
}

// appendNode appends the node of a value at data[start:end] (end is set
// later for an open object or array), with no following nodes yet. The
// caller has made room for it.
func appendNode(nodes []node, start, end int, kind uint8, esc bool) []node {
	n := len(nodes)
	nodes = nodes[:n+1]
	// The node is filled in place (a pooled node array holds stale
	// nodes): building it as a composite literal and copying it costs a
	// store-forwarding stall.
	nd := &nodes[n]
	nd.start, nd.end, nd.skip = int32(start), int32(end), int32(n+1)
	nd.kind, nd.esc, nd.form, nd.builtin = kind, esc, 0, 0
	return nodes
}

// growNodes returns nodes with room for at least two more (a key and its
// value: the states value and member make sure of that room before
// appending). Growing is rare; kept out of line, it does not crowd the
// scanner's loop.
//
//go:noinline
func growNodes(nodes []node) []node {
	return slices.Grow(nodes, 2)
}

// syntaxAt returns a syntax error at byte offset i of data.
func syntaxAt(data []byte, i int, msg string) *Error {
	return newError(data, "", i, ErrSyntax, msg, true)
}

// skipWS returns the offset of the first byte at or after i that is not
// JSON whitespace.
func skipWS(d []byte, i int) int {
	for i < len(d) && d[i] <= ' ' && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// describe names the byte at offset i of d for error messages.
func describe(d []byte, i int) string {
	if i >= len(d) {
		return "unexpected end of input"
	}
	c := d[i]
	if c >= 0x20 && c < 0x7f {
		return "unexpected character " + strconv.QuoteRune(rune(c))
	}
	return "unexpected byte 0x" + strconv.FormatUint(uint64(c), 16)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber scans the number at d[i] (which is '-' or a digit) and
// returns its end, or the offset of the error and its message.
func scanNumber(d []byte, i int) (int, string) {
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return i, "invalid number: " + describe(d, i)
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			return i, "invalid number: expecting a digit after '.'"
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return i, "invalid number: expecting a digit in the exponent"
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i, ""
}

// scanString scans the string at d[i] (which is '"') and returns its end
// (after the closing quote) and whether it has backslash escapes. It
// rejects control characters, invalid escapes, lone surrogates and invalid
// UTF-8.
func scanString(d []byte, i int) (end int, esc bool, err *Error) {
	i++
	for {
		for i < len(d) && plainByte[d[i]] != 0 {
			i++
		}
		if i >= len(d) {
			return 0, false, syntaxAt(d, len(d), "unterminated string")
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				return 0, false, syntaxAt(d, i, "unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := jsonstr.Hex4(d, i+2)
				if !ok {
					return 0, false, syntaxAt(d, i, `invalid \u escape in string`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || len(d)-i < 6 || d[i] != '\\' || d[i+1] != 'u' {
						return 0, false, syntaxAt(d, i-6, "lone surrogate escape in string")
					}
					r2, ok := jsonstr.Hex4(d, i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return 0, false, syntaxAt(d, i-6, "lone surrogate escape in string")
					}
					i += 6
				}
			default:
				return 0, false, syntaxAt(d, i, "invalid escape in string")
			}
		case c < 0x20:
			return 0, false, syntaxAt(d, i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, syntaxAt(d, i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// skipPlain returns the offset of the first byte at or after i that does
// not stand for itself in a JSON string (see plainByte), testing 8 bytes
// at a time, or the offset of the first of the last 7 bytes or fewer,
// which it does not test.
func skipPlain(d []byte, i int) int {
	for i <= len(d)-8 {
		if m := specialBytes(binary.LittleEndian.Uint64(d[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// specialBytes returns x (8 bytes, the first in the low bits) with the
// high bit of each byte set where that byte, or an earlier one, is '"',
// '\\', a control character (below 0x20) or not ASCII, and no other bit
// set. Its lowest set bit thus marks the first byte that is not plain.
// (Each test below is exact for its first match; a borrow can only add
// false matches after a true one.)
func specialBytes(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')  // zero bytes where x has '"'
	b := x ^ (ones * '\\') // zero bytes where x has '\\'
	return ((q-ones)&^q | (b-ones)&^b | (x-ones*0x20)&^x | x) & highs
}

// plainByte[c] is 1 for the bytes that stand for themselves in a JSON
// string: printable ASCII except '"' and '\\'. (A constant string is an
// immutable lookup table.)
const plainByte = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// unquote appends the decoded contents of the (scanned, valid) string token
// tok, quotes included, to dst.
func unquote(dst, tok []byte) []byte {
	return jsonstr.Unescape(dst, tok[1:len(tok)-1])
}

// appendCompact appends the JSON text src (valid, as scanned) to dst
// without insignificant whitespace. Strings are copied as written.
func appendCompact(dst, src []byte) []byte {
	inStr := false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// appendString appends s as a JSON string in the canonical escaping of
// CANONICAL.md: '"' and '\' are escaped with a backslash, bytes below 0x20
// as \u00xx (lower-case hex), every other byte is copied unchanged.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendNumber appends the canonical form of a JSON number literal: the
// shortest text that round-trips its IEEE-754 double value, formatted as
// ECMAScript's Number.prototype.toString (RFC 8785). It fails for numbers
// that overflow a double.
func appendNumber(dst, lit []byte) ([]byte, bool) {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	if f == 0 {
		return append(dst, '0'), true
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// strconv writes e-07 / e+07; ECMAScript writes e-7 / e+7.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// member is one key/value pair of an object being canonicalized.
type member struct {
	key []byte
	val int
}

// appendCanonicalValue appends the canonical JSON of node i (see
// CANONICAL.md, "Default values"): compact, object keys sorted by their
// UTF-8 bytes, strings re-escaped canonically, numbers normalized. It
// returns the index of the duplicate key node, or -1, and whether every
// number was in range (else the index of the bad number node).
func appendCanonicalValue(dst, data []byte, nodes []node, i int) ([]byte, int, string) {
	n := nodes[i]
	switch n.kind {
	case nString:
		if !n.esc {
			return appendString(dst, data[n.start+1:n.end-1]), -1, ""
		}
		return appendString(dst, unquote(nil, data[n.start:n.end])), -1, ""
	case nNumber:
		out, ok := appendNumber(dst, data[n.start:n.end])
		if !ok {
			return dst, i, "number out of range"
		}
		return out, -1, ""
	case nTrue:
		return append(dst, "true"...), -1, ""
	case nFalse:
		return append(dst, "false"...), -1, ""
	case nNull:
		return append(dst, "null"...), -1, ""
	case nArray:
		dst = append(dst, '[')
		for k := i + 1; k < int(n.skip); k = int(nodes[k].skip) {
			if k > i+1 {
				dst = append(dst, ',')
			}
			var bad int
			var msg string
			if dst, bad, msg = appendCanonicalValue(dst, data, nodes, k); bad >= 0 {
				return dst, bad, msg
			}
		}
		return append(dst, ']'), -1, ""
	}
	// object
	var ms []member
	for k := i + 1; k < int(n.skip); k = int(nodes[k+1].skip) {
		kn := nodes[k]
		var key []byte
		if kn.esc {
			key = unquote(nil, data[kn.start:kn.end])
		} else {
			key = data[kn.start+1 : kn.end-1]
		}
		ms = append(ms, member{key: key, val: k + 1})
	}
	slices.SortStableFunc(ms, func(a, b member) int { return compareBytes(a.key, b.key) })
	dst = append(dst, '{')
	for j, m := range ms {
		if j > 0 {
			if string(ms[j-1].key) == string(m.key) {
				return dst, m.val - 1, "duplicate key " + strconv.Quote(string(m.key))
			}
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.key)
		dst = append(dst, ':')
		var bad int
		var msg string
		if dst, bad, msg = appendCanonicalValue(dst, data, nodes, m.val); bad >= 0 {
			return dst, bad, msg
		}
	}
	return append(dst, '}'), -1, ""
}

func compareBytes(a, b []byte) int {
	switch {
	case string(a) < string(b):
		return -1
	case string(a) > string(b):
		return 1
	}
	return 0
}
