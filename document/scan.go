package document

import (
	"github.com/modelreg/modelreg/internal/jsonstr"

	"encoding/base64"
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/modelreg/modelreg/definition"
)

// This file is the raw-JSON path: a single-pass recursive-descent scanner
// that checks JSON syntax, validates against the plan and writes the
// coerced document in the same pass.
//
// The output is the input with edits: whitespace cut, coerced values
// replaced, filtered members cut, defaults inserted. The scanner keeps a
// mark, the start of the input not yet copied; an edit copies the input
// from the mark to the edit, writes the replacement (if any) and moves
// the mark past the edited input. So a compact document that needs no
// coercion is copied with a single append at the end.

// seg is one step of the JSON Pointer to the current value, kept
// pointer-free so that pushing it is cheap. a >= 0 is the offset in the
// input of a key's opening quote; a == segIdx is the array index b;
// a == segName is the name s.names[b]. Pointers are only built when a
// violation is reported.
type seg struct{ a, b int32 }

const (
	segIdx  = -1
	segName = -2
)

func (s *scanner) pushKey(off int) { s.path = append(s.path, seg{int32(off), 0}) }

func (s *scanner) pushName(name string) {
	s.names = append(s.names, name)
	s.path = append(s.path, seg{segName, int32(len(s.names) - 1)})
}

func (s *scanner) pushIdx() { s.path = append(s.path, seg{segIdx, 0}) }

func (s *scanner) setIdx(n int) { s.path[len(s.path)-1].b = int32(n) }

func (s *scanner) pop() {
	if s.path[len(s.path)-1].a == segName {
		s.names = s.names[:len(s.names)-1]
	}
	s.path = s.path[:len(s.path)-1]
}

type refEntry struct {
	name string
	p    *objPlan // nil: unresolved
}

// scanner holds the state of one validation. Scanners are pooled per
// Validator; reset drops every reference to the input and output.
type scanner struct {
	v   *Validator
	lim Limits

	data  []byte
	pos   int
	mark  int // data[mark:pos] is yet to be copied to out
	out   []byte
	base  int // len(out) before the document
	depth int
	// skipping > 0 while scanning a value whose output does not matter
	// (dropped, or replaced as a whole): no edits are made in it.
	skipping int

	path      []seg
	names     []string // names in the path (see seg)
	viols     []Violation
	violBytes int // bytes of the paths and messages of viols
	truncated bool
	stop      bool // a fatal violation, or too many violations

	values int // values of a decoded document walked so far (see count)

	inDefault int    // >0 while validating a model's default value
	defMsg    string // the first problem found in that default

	refs    []refEntry // resolutions made during this validation
	keys    [][]byte   // keys of the open objects, for duplicate detection
	bits    []uint64   // "seen" bitsets of the open objects
	scratch []byte     // unescaped strings
	b64     []byte     // decoded buffers

	nowSet  bool
	nowSec  int64
	nowNsec int64
}

const maxPooledBuf = 64 << 10

func (s *scanner) reset() {
	s.data, s.out, s.pos, s.mark, s.base, s.depth, s.skipping = nil, nil, 0, 0, 0, 0, 0
	s.path = s.path[:0]
	clear(s.names[:cap(s.names)])
	s.names = s.names[:0]
	s.viols, s.violBytes, s.truncated, s.stop = nil, 0, false, false
	s.values = 0
	s.inDefault, s.defMsg = 0, ""
	clear(s.refs[:cap(s.refs)])
	s.refs = s.refs[:0]
	clear(s.keys[:cap(s.keys)])
	s.keys = s.keys[:0]
	s.bits = s.bits[:0]
	if cap(s.scratch) > maxPooledBuf {
		s.scratch = nil
	}
	if cap(s.b64) > maxPooledBuf {
		s.b64 = nil
	}
	s.nowSet = false
}

// Validate checks data, a JSON document, against the model and returns the
// coerced document as compact JSON (see COERCION.md). On failure it
// returns a nil slice and a *ValidationError listing the violations.
func (v *Validator) Validate(data []byte) ([]byte, error) {
	if v == nil || v.root == nil {
		return nil, errNotMade()
	}
	if len(data) > v.lim.MaxBytes {
		return nil, tooLarge(len(data), v.lim.MaxBytes)
	}
	out, err := v.AppendValidate(make([]byte, 0, len(data)+64), data)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendValidate is Validate appending the coerced document to dst, which
// must not overlap data. On failure dst is returned unchanged.
func (v *Validator) AppendValidate(dst, data []byte) ([]byte, error) {
	if v == nil || v.root == nil {
		return dst, errNotMade()
	}
	if len(data) > v.lim.MaxBytes {
		return dst, tooLarge(len(data), v.lim.MaxBytes)
	}
	s := v.getScanner()
	s.lim = v.lim
	s.data, s.out, s.base = data, dst, len(dst)
	s.ws()
	switch {
	case s.pos >= len(data):
		s.syntax("empty document")
	case data[s.pos] == '{':
		s.object(v.root)
	default:
		msg := "expected object, got " + jsonType(data[s.pos])
		s.skipValue()
		if !s.stop {
			s.violate(CodeType, msg)
		}
	}
	if !s.stop {
		s.ws()
		if s.pos < len(data) {
			s.syntax("unexpected data after the document")
		}
	}
	out := dst
	var err error
	if len(s.viols) > 0 {
		err = &ValidationError{Violations: s.viols, Truncated: s.truncated}
	} else {
		s.flush(s.pos)
		if len(s.out)-s.base > s.lim.MaxBytes {
			err = tooLarge(len(s.out)-s.base, s.lim.MaxBytes)
		} else {
			out = s.out
		}
	}
	v.putScanner(s)
	return out, err
}

// checkOutput stops validation when the output, grown by defaults, is
// larger than MaxBytes: the output of an accepted document must be
// accepted in turn, and a small document must not make a huge one.
func (s *scanner) checkOutput() {
	if len(s.out)-s.base+s.pos-s.mark > s.lim.MaxBytes {
		s.fatal(CodeTooLarge, "the document with its defaults is larger than the limit of "+strconv.Itoa(s.lim.MaxBytes)+" bytes")
	}
}

func tooLarge(n, limit int) error {
	return &ValidationError{Violations: []Violation{{
		Code:    CodeTooLarge,
		Message: "document is " + strconv.Itoa(n) + " bytes, more than the limit of " + strconv.Itoa(limit),
	}}}
}

// ---- violations ----

func (s *scanner) pointer() string {
	var buf [128]byte
	b := buf[:0]
	for _, sg := range s.path {
		b = append(b, '/')
		switch {
		case sg.a == segIdx:
			b = strconv.AppendInt(b, int64(sg.b), 10)
		case sg.a == segName:
			b = appendPointerToken(b, s.names[sg.b])
		default:
			// A key that str accepted: find its closing quote.
			d := s.data
			i := int(sg.a) + 1
			for i < len(d) && d[i] != '"' {
				if d[i] == '\\' {
					i++
				}
				i++
			}
			b = appendPointerToken(b, string(jsonstr.Unescape(nil, d[sg.a+1:min(i, len(d))])))
		}
	}
	return string(b)
}

// violate records a violation at the current path.
func (s *scanner) violate(code Code, msg string) {
	if s.stop {
		return
	}
	if s.inDefault > 0 {
		// A default is valid or it is not: its first problem settles it,
		// and validating the rest of it (defaults within defaults of a
		// recursive model grow as a tree) would only cost time.
		s.defMsg = string(code) + ": " + msg
		s.stop = true
		return
	}
	if len(s.viols) >= s.lim.MaxViolations {
		s.truncated, s.stop = true, true
		return
	}
	// Each violation holds its whole path: long keys on the way to many
	// violations would make the report far larger than the document. The
	// paths and messages together are bounded by MaxBytes, as the output
	// (or 64 KiB, for a small MaxBytes).
	p := s.pointer()
	n := len(p) + len(msg)
	if len(s.viols) > 0 && s.violBytes+n > max(s.lim.MaxBytes, 64<<10) {
		s.truncated, s.stop = true, true
		return
	}
	s.violBytes += n
	s.viols = append(s.viols, Violation{Path: p, Code: code, Message: msg})
}

// violateIn records a violation at the property name of the current
// object (a missing property).
func (s *scanner) violateIn(name string, code Code, msg string) {
	s.pushName(name)
	s.violate(code, msg)
	s.pop()
}

// fatal records a violation after which scanning cannot go on.
func (s *scanner) fatal(code Code, msg string) {
	s.violate(code, msg)
	s.stop = true
}

func (s *scanner) syntax(msg string) {
	s.fatal(CodeSyntax, msg+" at offset "+strconv.Itoa(s.pos))
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > s.lim.MaxDepth {
		s.fatal(CodeTooDeep, "nesting is deeper than the limit of "+strconv.Itoa(s.lim.MaxDepth))
		return false
	}
	return true
}

// jsonType names the JSON type of the value starting with c.
func jsonType(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// ---- output edits ----

// flush copies the input from the mark to to.
func (s *scanner) flush(to int) {
	s.out = append(s.out, s.data[s.mark:to]...)
	s.mark = to
}

// replace replaces the input [from, to) with b in the output.
func (s *scanner) replace(from, to int, b []byte) {
	s.out = append(s.out, s.data[s.mark:from]...)
	s.out = append(s.out, b...)
	s.mark = to
}

// ---- lexing ----

// ws skips whitespace, and cuts it from the output.
func (s *scanner) ws() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return
	}
	s.wsSlow()
}

func (s *scanner) wsSlow() {
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
			continue
		}
		break
	}
	if s.pos > start && s.skipping == 0 {
		s.out = append(s.out, s.data[s.mark:start]...)
		s.mark = s.pos
	}
}

// plain8 reports whether the 8 bytes at d[i:] are all plain string
// bytes: no byte < 0x20, '"', '\\' or >= 0x80 (bit tricks from "Bit
// Twiddling Hacks": haszero and hasless).
func plain8(d []byte, i int) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := binary.LittleEndian.Uint64(d[i:])
	q, b := x^(lo*'"'), x^(lo*'\\')
	return ((x-lo*0x20)&^x|(q-lo)&^q|(b-lo)&^b|x)&hi == 0
}

// plainByte marks the bytes that a string can contain as they are: not
// '"', '\\', a control character or a non-ASCII byte.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func plain(c byte) bool { return plainByte[c] }

// str scans the string at s.pos (which is '"'). [start, end) is its
// content between the quotes; esc reports escapes in it. The content is
// checked: valid escapes, no lone surrogates, valid UTF-8, no control
// characters.
func (s *scanner) str() (start, end int, esc, ok bool) {
	d := s.data
	i := s.pos + 1
	start = i
	for {
		for i+8 <= len(d) && plain8(d, i) {
			i += 8
		}
		for i < len(d) && plain(d[i]) {
			i++
		}
		if i >= len(d) {
			s.pos = i
			s.syntax("unterminated string")
			return
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return start, i, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				s.pos = i
				s.syntax("unterminated string")
				return
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := jsonstr.Hex4(d, i+2)
				if !ok {
					s.pos = i
					s.syntax(`invalid \u escape`)
					return 0, 0, false, false
				}
				if r >= 0xD800 && r < 0xE000 {
					if r < 0xDC00 && i+12 <= len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
						if r2, ok := jsonstr.Hex4(d, i+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
							i += 12
							continue
						}
					}
					s.pos = i
					s.syntax("lone UTF-16 surrogate in string")
					return 0, 0, false, false
				}
				i += 6
			default:
				s.pos = i
				s.syntax("invalid escape in string")
				return 0, 0, false, false
			}
		case c < 0x20:
			s.pos = i
			s.syntax("control character in string")
			return 0, 0, false, false
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				s.pos = i
				s.syntax("invalid UTF-8 in string")
				return 0, 0, false, false
			}
			i += size
		}
	}
}

// content returns the decoded content of the string [start, end): the
// input itself if it has no escapes, else s.scratch.
func (s *scanner) content(start, end int, esc bool) []byte {
	if !esc {
		return s.data[start:end]
	}
	s.scratch = jsonstr.Unescape(s.scratch[:0], s.data[start:end])
	return s.scratch
}

// lit checks the literal true, false or null.
func (s *scanner) lit(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		s.syntax("invalid literal")
		return false
	}
	s.pos += len(word)
	return true
}

// number checks the number at s.pos and returns it.
func (s *scanner) number() []byte {
	n, check := numberLit(s.data[s.pos:])
	if n == 0 {
		s.syntax("invalid number")
		return nil
	}
	lit := s.data[s.pos : s.pos+n]
	s.pos += n
	if check && s.skipping == 0 && !finite(lit) {
		s.violate(CodeNumberRange, "number overflows float64")
	}
	return lit
}

// ---- untyped values: any, object, unknown properties ----

// skipValue checks a value that is dropped or already wrong: only its
// syntax and the limits, no duplicate keys or number ranges inside.
func (s *scanner) skipValue() {
	s.skipping++
	s.anyValue()
	s.skipping--
}

// anyValue checks any JSON value (copied, without whitespace).
func (s *scanner) anyValue() {
	if s.pos >= len(s.data) {
		s.syntax("unexpected end of input")
		return
	}
	switch c := s.data[s.pos]; c {
	case '"':
		s.str()
	case '{':
		s.anyObject()
	case '[':
		s.anyArray()
	case 't':
		s.lit("true")
	case 'f':
		s.lit("false")
	case 'n':
		s.lit("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			s.number()
		} else {
			s.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
		}
	}
}

// keySet detects duplicate keys among the keys of one object that are not
// declared properties: a linear scan of s.keys for small objects, a map
// beyond.
type keySet struct {
	start int
	m     map[string]struct{}
}

const maxLinearKeys = 32

func (s *scanner) dupKey(ks *keySet, key []byte, esc bool) bool {
	if ks.m != nil {
		if _, ok := ks.m[string(key)]; ok {
			return true
		}
		ks.m[string(key)] = struct{}{}
		return false
	}
	for _, k := range s.keys[ks.start:] {
		if string(k) == string(key) {
			return true
		}
	}
	if len(s.keys)-ks.start >= maxLinearKeys {
		ks.m = make(map[string]struct{}, 2*maxLinearKeys)
		for _, k := range s.keys[ks.start:] {
			ks.m[string(k)] = struct{}{}
		}
		ks.m[string(key)] = struct{}{}
		clear(s.keys[ks.start:])
		s.keys = s.keys[:ks.start]
		return false
	}
	if esc {
		key = append([]byte(nil), key...)
	}
	s.keys = append(s.keys, key)
	return false
}

// key scans an object key and the colon after it. It returns the
// decoded key (in s.scratch if esc) and its keyWords.
func (s *scanner) key() (key []byte, esc bool, w0, wl uint64, ok bool) {
	d := s.data
	i := s.pos
	if i >= len(d) || d[i] != '"' {
		s.syntax("expected a string key")
		return
	}
	// Fast path: a plain key.
	j := i + 1
	for j+8 <= len(d) && plain8(d, j) {
		j += 8
	}
	for j < len(d) && plainByte[d[j]] {
		j++
	}
	if j < len(d) && d[j] == '"' {
		key = d[i+1 : j : len(d)] // keyWords may read up to len(d)
		s.pos = j + 1
	} else {
		st, en, e, ok := s.str()
		if !ok {
			return nil, false, 0, 0, false
		}
		key, esc = s.content(st, en, e), e
	}
	w0, wl = keyWords(key)
	if s.pos < len(d) && d[s.pos] == ':' {
		s.pos++
	} else {
		s.ws()
		if s.pos >= len(d) || d[s.pos] != ':' {
			s.syntax("expected ':'")
			return nil, false, 0, 0, false
		}
		s.pos++
	}
	s.ws()
	return key, esc, w0, wl, true
}

// next consumes the ',' or the closing byte after a member or element.
// It returns true after ',' and false after the closer (or on error).
func (s *scanner) next(closer byte) bool {
	s.ws()
	if s.pos >= len(s.data) {
		s.syntax("unexpected end of input")
		return false
	}
	c := s.data[s.pos]
	if c == ',' {
		s.pos++
		s.ws()
		return true
	}
	if c == closer {
		s.pos++
		return false
	}
	s.syntax("unexpected character " + strconv.QuoteRune(rune(c)))
	return false
}

// empty consumes the closer of an empty object or array.
func (s *scanner) empty(closer byte) bool {
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == closer {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) anyObject() {
	if !s.enter() {
		return
	}
	s.pos++
	if !s.empty('}') {
		ks := keySet{start: len(s.keys)}
		for {
			at := s.pos
			key, esc, _, _, ok := s.key()
			if !ok {
				return
			}
			s.pushKey(at)
			if s.skipping == 0 && s.dupKey(&ks, key, esc) {
				s.violate(CodeDuplicateKey, "duplicate key")
			}
			s.anyValue()
			s.pop()
			if s.stop || !s.next('}') {
				break
			}
		}
		clear(s.keys[ks.start:])
		s.keys = s.keys[:ks.start]
		if s.stop {
			return
		}
	}
	s.depth--
}

func (s *scanner) anyArray() {
	if !s.enter() {
		return
	}
	s.pos++
	if !s.empty(']') {
		s.pushIdx()
		for n := 0; ; n++ {
			if n >= s.lim.MaxItems {
				s.pop()
				s.fatal(CodeTooManyItems, "array has more than "+strconv.Itoa(s.lim.MaxItems)+" items")
				return
			}
			s.setIdx(n)
			s.anyValue()
			if s.stop || !s.next(']') {
				break
			}
		}
		if s.stop {
			return
		}
		s.pop()
	}
	s.depth--
}

// ---- typed values ----

// object validates an object against a plan. s.data[s.pos] is '{'.
func (s *scanner) object(p *objPlan) {
	if !s.enter() {
		return
	}
	s.pos++
	bits := len(s.bits)
	for range p.words {
		s.bits = append(s.bits, 0)
	}
	members := 0 // members in the output so far
	if !s.empty('}') {
		ks := keySet{start: len(s.keys)}
		for {
			outStart := len(s.out) + s.pos - s.mark // where the member starts in the output
			at := s.pos
			key, esc, w0, wl, ok := s.key()
			if !ok {
				return
			}
			s.pushKey(at)
			keep := true
			if i := p.lookupWords(key, w0, wl); i >= 0 {
				pp := &p.props[i]
				w, b := bits+i>>6, uint64(1)<<(i&63)
				if s.bits[w]&b != 0 {
					s.violate(CodeDuplicateKey, "duplicate key")
					keep = false
				} else {
					s.bits[w] |= b
					if s.pos < len(s.data) && s.data[s.pos] == 'n' {
						s.prop(pp)
					} else {
						s.value(pp.t)
					}
				}
			} else {
				switch {
				case s.dupKey(&ks, key, esc):
					s.violate(CodeDuplicateKey, "duplicate key")
					keep = false
				case p.strict == definition.StrictOpen:
					s.anyValue()
				case p.strict == definition.StrictReject:
					s.violate(CodeUnknownProperty, "unknown property")
					keep = false
				default: // StrictFilter: dropped
					keep = false
				}
			}
			if keep {
				members++
			} else {
				// Cut the member, and the comma before it if any (the
				// byte before the member: whitespace was cut).
				s.flush(s.pos)
				if members > 0 {
					outStart--
				}
				s.out = s.out[:outStart]
				s.skipValue()
				s.mark = s.pos
			}
			s.pop()
			if s.stop {
				break
			}
			s.ws()
			if s.pos < len(s.data) && s.data[s.pos] == ',' {
				if members == 0 { // the members before were cut
					s.flush(s.pos)
					s.mark++
				}
				s.pos++
				s.ws()
				continue
			}
			if !s.next('}') {
				break
			}
		}
		clear(s.keys[ks.start:])
		s.keys = s.keys[:ks.start]
		if s.stop {
			return
		}
	}
	// Absent properties: defaults are inserted before the '}'.
	end := s.pos - 1
	for _, i := range p.end {
		if s.bits[bits+i>>6]&(1<<(i&63)) != 0 {
			continue
		}
		pp := &p.props[i]
		if pp.def == nil {
			s.violateIn(pp.name, CodeRequired, "required property is missing")
			continue
		}
		s.flush(end)
		if members > 0 {
			s.out = append(s.out, ',')
		}
		members++
		s.out = appendQuoted(s.out, pp.name)
		s.out = append(s.out, ':')
		s.pushName(pp.name)
		s.applyDefault(pp)
		s.pop()
		if s.checkOutput(); s.stop {
			return
		}
	}
	s.bits = s.bits[:bits]
	s.depth--
}

// applyDefault writes the default of an absent property, validated and
// coerced like a value in the document.
func (s *scanner) applyDefault(pp *propPlan) {
	if pp.now {
		if !s.nowSet {
			t := s.v.now()
			s.nowSec, s.nowNsec = t.Unix(), int64(t.Nanosecond()/1e6*1e6)
			s.nowSet = true
		}
		if s.nowSec < minDateSec || s.nowSec > maxDateSec {
			s.violate(CodeInvalidDefault, "the clock is outside the years 0000-9999")
			return
		}
		s.out = append(s.out, '"')
		s.out = appendDate(s.out, s.nowSec, s.nowNsec)
		s.out = append(s.out, '"')
		return
	}
	data, pos, mark, skipping := s.data, s.pos, s.mark, s.skipping
	depth, path, names, bits, keys := s.depth, len(s.path), len(s.names), len(s.bits), len(s.keys)
	s.data, s.pos, s.mark, s.skipping = pp.def, 0, 0, 0
	s.inDefault++
	s.ws()
	s.prop(pp)
	if !s.stop {
		s.ws()
		if s.pos < len(s.data) {
			s.syntax("unexpected data after the default")
		}
	}
	s.flush(s.pos)
	s.inDefault--
	s.data, s.pos, s.mark, s.skipping = data, pos, mark, skipping
	// A failure inside the default may have left its state behind.
	s.depth, s.path, s.names, s.bits = depth, s.path[:path], s.names[:names], s.bits[:bits]
	clear(s.keys[keys:])
	s.keys = s.keys[:keys]
	if s.defMsg != "" {
		if s.inDefault > 0 {
			return // within another default, which fails with this problem: s.stop stays set
		}
		msg := s.defMsg
		s.defMsg, s.stop = "", false
		s.violate(CodeInvalidDefault, "the model's default value is invalid: "+msg)
	}
}

// prop validates the value of a declared property: null is allowed
// unless the property is required.
func (s *scanner) prop(pp *propPlan) {
	if s.pos < len(s.data) && s.data[s.pos] == 'n' {
		if s.lit("null") && pp.required {
			s.violate(CodeRequired, "required property is null")
		}
		return
	}
	s.value(pp.t)
}

// elem validates an array element: null only for the type any.
func (s *scanner) elem(t *typePlan) {
	if s.pos < len(s.data) && s.data[s.pos] == 'n' && t.kind != definition.KindAny {
		if s.lit("null") {
			s.violate(CodeType, "expected "+kindName(t.kind)+", got null")
		}
		return
	}
	s.value(t)
}

// mismatch reports a value of another JSON type than t, once it is known
// to be a JSON value: a malformed one is only a syntax violation.
func (s *scanner) mismatch(t *typePlan) {
	msg := "expected " + kindName(t.kind) + ", got " + jsonType(s.data[s.pos])
	s.skipValue()
	if !s.stop {
		s.violate(CodeType, msg)
	}
}

func isNumStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// value validates (and coerces) a non-null value of type t (null is
// handled by prop and elem; here it is a type mismatch).
func (s *scanner) value(t *typePlan) {
	if s.pos >= len(s.data) {
		s.syntax("unexpected end of input")
		return
	}
	c := s.data[s.pos]
	switch t.kind {
	case definition.KindString:
		if c != '"' {
			s.mismatch(t)
			return
		}
		// Fast path: a plain string.
		d := s.data
		j := s.pos + 1
		for j+8 <= len(d) && plain8(d, j) {
			j += 8
		}
		for j < len(d) && plainByte[d[j]] {
			j++
		}
		st, en, esc, ok := s.pos+1, j, false, true
		if j < len(d) && d[j] == '"' {
			s.pos = j + 1
		} else {
			st, en, esc, ok = s.str()
		}
		if ok && t.re != nil && !t.re.Match(s.content(st, en, esc)) {
			s.violate(CodePattern, "does not match the pattern "+strconv.Quote(t.re.String()))
		}
	case definition.KindNumber:
		switch {
		case isNumStart(c):
			s.number()
		case c == '"':
			st, en, esc, ok := s.str()
			if !ok {
				return
			}
			b := s.content(st, en, esc)
			ok, check := isNumberLit(b)
			switch {
			case !ok:
				s.violate(CodeType, "expected number, got a string that is not a JSON number")
			case check && !finite(b):
				s.violate(CodeNumberRange, "number overflows float64")
			default:
				s.replace(st-1, en+1, b)
			}
		default:
			s.mismatch(t)
		}
	case definition.KindNested:
		if c != '{' {
			s.mismatch(t)
			return
		}
		s.object(t.obj)
	case definition.KindArray:
		if c != '[' {
			s.mismatch(t)
			return
		}
		s.array(t.elem)
	case definition.KindBoolean:
		switch c {
		case 't':
			s.lit("true")
		case 'f':
			s.lit("false")
		case '"':
			st, en, esc, ok := s.str()
			if !ok {
				return
			}
			switch string(s.content(st, en, esc)) {
			case "true":
				s.replace(st-1, en+1, []byte("true"))
			case "false":
				s.replace(st-1, en+1, []byte("false"))
			default:
				s.violate(CodeType, `expected boolean, got a string other than "true" or "false"`)
			}
		default:
			if !isNumStart(c) {
				s.mismatch(t)
				return
			}
			st := s.pos
			n, check := numberLit(s.data[st:])
			if n == 0 {
				s.syntax("invalid number")
				return
			}
			s.pos += n
			lit := s.data[st:s.pos]
			if check && !finite(lit) {
				s.violate(CodeNumberRange, "number overflows float64")
				return
			}
			switch v, r := literalInt(lit); {
			case r == intOK && v == 0:
				s.replace(st, s.pos, []byte("false"))
			case r == intOK && v == 1:
				s.replace(st, s.pos, []byte("true"))
			default:
				s.violate(CodeType, "expected boolean, got a number other than 0 or 1")
			}
		}
	case definition.KindDate:
		switch {
		case c == '"':
			st, en, esc, ok := s.str()
			if !ok {
				return
			}
			sec, nsec, msg := parseDate(s.content(st, en, esc))
			if msg != "" {
				s.violate(CodeDateFormat, msg)
				return
			}
			s.date(st-1, en+1, sec, nsec)
		case isNumStart(c):
			st := s.pos
			n, _ := numberLit(s.data[st:])
			if n == 0 {
				s.syntax("invalid number")
				return
			}
			s.pos += n
			ms, r := literalInt(s.data[st:s.pos])
			if r == intFraction {
				s.violate(CodeDateFormat, "epoch milliseconds must be an integer")
				return
			}
			sec, nsec, ok := millisDate(ms)
			if r == intTooBig || !ok {
				s.violate(CodeDateFormat, "outside the years 0000-9999")
				return
			}
			s.date(st, s.pos, sec, nsec)
		default:
			s.mismatch(t)
		}
	case definition.KindBuffer:
		if c != '"' {
			s.mismatch(t)
			return
		}
		st, en, esc, ok := s.str()
		if !ok {
			return
		}
		dec, canonical, ok := decodeBase64(s.b64, s.content(st, en, esc))
		s.b64 = dec
		switch {
		case !ok:
			s.violate(CodeBufferFormat, "not valid base64")
		case !canonical || esc:
			s.replace(st-1, st-1, nil)
			s.out = append(s.out, '"')
			s.out = base64.StdEncoding.AppendEncode(s.out, dec)
			s.out = append(s.out, '"')
			s.mark = en + 1
		}
	case definition.KindAny:
		s.anyValue()
	case definition.KindObject:
		if c != '{' {
			s.mismatch(t)
			return
		}
		s.anyObject()
	case definition.KindGeoPoint:
		switch c {
		case '{':
			s.geoObject()
		case '"':
			s.geoString()
		default:
			s.mismatch(t)
		}
	case definition.KindRef:
		p := s.resolve(t.ref)
		switch {
		case p == nil:
			s.violate(CodeUnresolvedRef, "model "+strconv.Quote(t.ref)+" is not defined")
			s.skipValue()
		case p.err != nil:
			s.violate(CodeInvalidModel, "model "+strconv.Quote(t.ref)+" is invalid: "+p.err.Error())
			s.skipValue()
		case c != '{':
			s.mismatch(t)
		default:
			s.object(p)
		}
	}
}

// date replaces the input [from, to) with the date, as a JSON string,
// unless it is already written so.
func (s *scanner) date(from, to int, sec, nsec int64) {
	var buf [40]byte
	b := append(buf[:0], '"')
	b = appendDate(b, sec, nsec)
	b = append(b, '"')
	if string(s.data[from:to]) != string(b) {
		s.replace(from, to, b)
	}
}

func (s *scanner) resolve(name string) *objPlan {
	for _, r := range s.refs {
		if r.name == name {
			return r.p
		}
	}
	var p *objPlan
	if s.v.resolve != nil {
		if o, ok := s.v.resolve(name); ok && o != nil {
			p = s.v.refPlan(o)
		}
	}
	s.refs = append(s.refs, refEntry{name: name, p: p})
	return p
}

func (s *scanner) array(elem *typePlan) {
	if !s.enter() {
		return
	}
	s.pos++
	if !s.empty(']') {
		s.pushIdx()
		for n := 0; ; n++ {
			if n >= s.lim.MaxItems {
				s.pop()
				s.fatal(CodeTooManyItems, "array has more than "+strconv.Itoa(s.lim.MaxItems)+" items")
				return
			}
			s.setIdx(n)
			s.elem(elem)
			if s.stop || !s.next(']') {
				break
			}
		}
		if s.stop {
			return
		}
		s.pop()
	}
	s.depth--
}

// ---- geopoint ----

// geoObject validates {"lat": ..., "lng": ...} and replaces it with its
// normal form (lat first, no whitespace, numbers).
func (s *scanner) geoObject() {
	if !s.enter() {
		return
	}
	from := s.pos
	s.skipping++ // the whole value is replaced
	s.pos++
	var lat, lng []byte
	var seen [2]bool
	if !s.empty('}') {
		others := keySet{start: len(s.keys)} // keys other than lat and lng
		for {
			at := s.pos
			key, esc, _, _, ok := s.key()
			if !ok {
				return
			}
			s.pushKey(at)
			which := -1
			switch string(key) {
			case "lat":
				which = 0
			case "lng":
				which = 1
			}
			if which < 0 {
				if s.dupKey(&others, key, esc) {
					s.violate(CodeDuplicateKey, "duplicate key")
				} else {
					s.violate(CodeUnknownProperty, "a geopoint has only the properties lat and lng")
				}
				s.anyValue()
			} else {
				if seen[which] {
					s.violate(CodeDuplicateKey, "duplicate key")
					s.anyValue()
				} else {
					seen[which] = true
					n := s.geoNumber([2]float64{90, 180}[which])
					if which == 0 {
						lat = n
					} else {
						lng = n
					}
				}
			}
			s.pop()
			if s.stop || !s.next('}') {
				break
			}
		}
		clear(s.keys[others.start:])
		s.keys = s.keys[:others.start]
		if s.stop {
			return
		}
	}
	s.skipping--
	if !seen[0] {
		s.violateIn("lat", CodeRequired, "required property is missing")
	}
	if !seen[1] {
		s.violateIn("lng", CodeRequired, "required property is missing")
	}
	s.writeGeo(from, lat, lng)
	s.depth--
}

// writeGeo replaces the input [from, s.pos) with the geopoint.
func (s *scanner) writeGeo(from int, lat, lng []byte) {
	if lat == nil || lng == nil {
		return
	}
	s.replace(from, s.pos, nil)
	s.out = append(s.out, `{"lat":`...)
	s.out = append(s.out, lat...)
	s.out = append(s.out, `,"lng":`...)
	s.out = append(s.out, lng...)
	s.out = append(s.out, '}')
}

// geoNumber validates a latitude or longitude (a number, or a string
// holding a JSON number) and returns its literal, or nil.
func (s *scanner) geoNumber(limit float64) []byte {
	if s.pos >= len(s.data) {
		s.syntax("unexpected end of input")
		return nil
	}
	var lit []byte
	switch c := s.data[s.pos]; {
	case c == 'n':
		if s.lit("null") {
			s.violate(CodeRequired, "required property is null")
		}
		return nil
	case isNumStart(c):
		n, _ := numberLit(s.data[s.pos:])
		if n == 0 {
			s.syntax("invalid number")
			return nil
		}
		lit = s.data[s.pos : s.pos+n]
		s.pos += n
	case c == '"':
		st, en, esc, ok := s.str()
		if !ok {
			return nil
		}
		lit = s.data[st:en]
		if esc {
			lit = jsonstr.Unescape(nil, lit)
		}
		if ok, _ := isNumberLit(lit); !ok {
			s.violate(CodeType, "expected number, got a string that is not a JSON number")
			return nil
		}
	default:
		s.violate(CodeType, "expected number, got "+jsonType(c))
		s.anyValue()
		return nil
	}
	if !geoInRange(lit, limit) {
		s.violate(CodeGeoPointRange, "must be between -"+strconv.Itoa(int(limit))+" and "+strconv.Itoa(int(limit)))
		return nil
	}
	return lit
}

func (s *scanner) geoString() {
	from := s.pos
	st, en, esc, ok := s.str()
	if !ok {
		return
	}
	lat, lng, ok := splitGeo(s.content(st, en, esc))
	if !ok {
		s.violate(CodeGeoPointFormat, `expected a geopoint object or a "lat,lng" string`)
		return
	}
	if !geoInRange(lat, 90) || !geoInRange(lng, 180) {
		s.violate(CodeGeoPointRange, "latitude must be between -90 and 90 and longitude between -180 and 180")
		return
	}
	s.writeGeo(from, lat, lng)
}

// appendQuoted appends s as a JSON string.
func appendQuoted(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
