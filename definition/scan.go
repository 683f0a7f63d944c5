package definition

import (
	"github.com/modelreg/modelreg/internal/jsonstr"

	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
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
	form       uint8 // for an object in property position: formLong or formNested, once known
	builtin    uint8 // for a type name: its built-in Kind, or notBuiltin, once known (0: not yet)
}

// notBuiltin is node.builtin for a string that is not a built-in type name.
const notBuiltin = 0xff

// Forms of an object in property position.
const (
	formLong   uint8 = 1
	formNested uint8 = 2
)

// scanner checks JSON and builds the node tree.
type scanner struct {
	data     []byte
	pos      int
	nodes    []node
	maxDepth int
	err      *Error
}

// scan checks that data is one well-formed JSON value (with optional
// surrounding whitespace) nesting no deeper than maxDepth, and returns its
// node tree.
func scan(data []byte, maxDepth int, nodes []node) ([]node, *Error) {
	s := scanner{data: data, maxDepth: maxDepth, nodes: nodes}
	if !s.value(0) {
		return nil, s.err
	}
	s.ws()
	if s.pos < len(data) {
		return nil, s.syntax("unexpected data after the top-level value")
	}
	return s.nodes, nil
}

func (s *scanner) syntax(msg string) *Error {
	if s.err == nil {
		s.err = newError(s.data, "", s.pos, ErrSyntax, msg, true)
	}
	return s.err
}

func (s *scanner) fail(msg string) bool {
	s.syntax(msg)
	return false
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// describe names the byte at the current position for error messages.
func (s *scanner) describe() string {
	if s.pos >= len(s.data) {
		return "unexpected end of input"
	}
	c := s.data[s.pos]
	if c >= 0x20 && c < 0x7f {
		return "unexpected character " + strconv.QuoteRune(rune(c))
	}
	return "unexpected byte 0x" + strconv.FormatUint(uint64(c), 16)
}

// value scans one value at s.pos (after whitespace). depth is the number of
// objects and arrays enclosing it.
func (s *scanner) value(depth int) bool {
	s.ws()
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input")
	}
	c := s.data[s.pos]
	if c == '"' {
		return s.str()
	}
	idx := len(s.nodes)
	s.nodes = append(s.nodes, node{})
	s.nodes[idx].start = int32(s.pos)
	var kind uint8
	switch c {
	case '{':
		kind = nObject
		if depth+1 > s.maxDepth {
			s.err = newError(s.data, "", s.pos, ErrTooDeep,
				"objects and arrays nested deeper than "+strconv.Itoa(s.maxDepth), true)
			return false
		}
		s.pos++
		s.ws()
		if s.pos < len(s.data) && s.data[s.pos] == '}' {
			s.pos++
			break
		}
		for {
			s.ws()
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return s.fail(s.describe() + ", expecting a string (object key)")
			}
			if !s.str() {
				return false
			}
			s.ws()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return s.fail(s.describe() + ", expecting ':'")
			}
			s.pos++
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.pos < len(s.data) && s.data[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.pos < len(s.data) && s.data[s.pos] == '}' {
				s.pos++
				break
			}
			return s.fail(s.describe() + ", expecting ',' or '}'")
		}
	case '[':
		kind = nArray
		if depth+1 > s.maxDepth {
			s.err = newError(s.data, "", s.pos, ErrTooDeep,
				"objects and arrays nested deeper than "+strconv.Itoa(s.maxDepth), true)
			return false
		}
		s.pos++
		s.ws()
		if s.pos < len(s.data) && s.data[s.pos] == ']' {
			s.pos++
			break
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.pos < len(s.data) && s.data[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.pos < len(s.data) && s.data[s.pos] == ']' {
				s.pos++
				break
			}
			return s.fail(s.describe() + ", expecting ',' or ']'")
		}
	case 't':
		kind = nTrue
		if !s.literal("true") {
			return false
		}
	case 'f':
		kind = nFalse
		if !s.literal("false") {
			return false
		}
	case 'n':
		kind = nNull
		if !s.literal("null") {
			return false
		}
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			kind = nNumber
			if !s.number() {
				return false
			}
			break
		}
		return s.fail(s.describe() + ", expecting a JSON value")
	}
	n := &s.nodes[idx]
	n.kind = kind
	n.end = int32(s.pos)
	n.skip = int32(len(s.nodes))
	return true
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return s.fail(s.describe() + ", expecting a JSON value")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) number() bool {
	d := s.data
	i := s.pos
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
		s.pos = i
		return s.fail("invalid number: " + s.describe())
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return s.fail("invalid number: expecting a digit after '.'")
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
			s.pos = i
			return s.fail("invalid number: expecting a digit in the exponent")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return true
}

// str scans a string at s.pos (which is '"') and appends its node. It
// rejects control characters, invalid escapes, lone surrogates and invalid
// UTF-8.
func (s *scanner) str() bool {
	d := s.data
	start := s.pos
	esc := false
	i := start + 1
	for i < len(d) {
		// Fast path: plain ASCII.
		j := i
		for _, b := range d[i:] {
			if plainByte[b] == 0 {
				break
			}
			j++
		}
		i = j
		if i == len(d) {
			s.pos = len(d)
			return s.fail("unterminated string")
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			// The node is filled in place: building it as a composite
			// literal and copying it costs a store-forwarding stall.
			idx := len(s.nodes)
			s.nodes = append(s.nodes, node{})
			n := &s.nodes[idx]
			n.start, n.end, n.skip = int32(start), int32(i+1), int32(idx+1)
			n.kind, n.esc = nString, esc
			return true
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				s.pos = i
				return s.fail("unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := jsonstr.Hex4(d, i+2)
				if !ok {
					s.pos = i
					return s.fail(`invalid \u escape in string`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || len(d)-i < 6 || d[i] != '\\' || d[i+1] != 'u' {
						s.pos = i - 6
						return s.fail("lone surrogate escape in string")
					}
					r2, ok := jsonstr.Hex4(d, i+2)
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						s.pos = i - 6
						return s.fail("lone surrogate escape in string")
					}
					i += 6
				}
			default:
				s.pos = i
				return s.fail("invalid escape in string")
			}
		case c < 0x20:
			s.pos = i
			return s.fail("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				s.pos = i
				return s.fail("invalid UTF-8 in string")
			}
			i += size
		}
	}
	s.pos = len(d)
	return s.fail("unterminated string")
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
