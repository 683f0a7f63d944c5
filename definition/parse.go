package definition

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Parse parses one model definition: a JSON object with a "name", a
// "properties" map and any other settings. It never panics; every error is
// an *Error (see the package documentation for the language it accepts).
func Parse(data []byte, lim Limits) (*Definition, error) {
	p := getParser()
	defer p.release()
	if err := p.init(data, lim); err != nil {
		return nil, err
	}
	d, perr := p.definition(0, "")
	if perr != nil {
		return nil, perr
	}
	return d, nil
}

// ParseNamed parses one model definition as Parse does, except that a
// definition without a "name" of its own is named name, which must be a
// valid model name (see ValidModelName). One with a "name" keeps it: a
// caller that takes the name from elsewhere (a URL, a database row)
// compares the two. Sizes and positions in errors are those of data.
func ParseNamed(data []byte, name string, lim Limits) (*Definition, error) {
	if !ValidModelName(name, lim) {
		return nil, &Error{Path: "name", Offset: -1, Err: ErrInvalidName, Msg: "invalid model name " + strconv.Quote(name)}
	}
	p := getParser()
	defer p.release()
	if err := p.init(data, lim); err != nil {
		return nil, err
	}
	d, perr := p.definition(0, name)
	if perr != nil {
		return nil, perr
	}
	return d, nil
}

// Scratch is storage that ParseScratch reuses from one call to the next.
// The zero Scratch is ready to use. A Scratch must not be used by two
// goroutines at once.
type Scratch struct {
	def   Definition
	props []Property
	objs  []Object
	// Used lengths of props and objs: what Reset clears.
	nProps, nObjs int
}

// maxScratch is the largest storage (in properties or objects) a Scratch
// keeps after Reset.
const maxScratch = 1024

// ParseScratch parses data exactly as Parse does, but stores the returned
// Definition, its Properties and its nested Objects in s: they are valid
// only until the next call with s or s.Reset, and the caller must copy
// what it keeps of them. Everything they refer to (names, defaults,
// patterns, settings, extra options, Removed, array element Types) is
// allocated as by Parse and stays valid. It is for callers that compile
// a definition into their own structures, such as a registry.
func ParseScratch(data []byte, lim Limits, s *Scratch) (*Definition, error) {
	if s == nil {
		s = new(Scratch) // as Parse, then
	}
	s.Reset()
	p := getParser()
	defer p.release()
	p.scratch = s
	if err := p.init(data, lim); err != nil {
		return nil, err
	}
	d, perr := p.definition(0, "")
	if perr != nil {
		return nil, perr
	}
	return d, nil
}

// Reset drops every reference s holds into the last parsed definition,
// and storage grown unusually large.
func (s *Scratch) Reset() {
	clear(s.props[:s.nProps])
	clear(s.objs[:s.nObjs])
	s.nProps, s.nObjs = 0, 0
	s.def = Definition{}
	if cap(s.props) > maxScratch {
		s.props = nil
	}
	if cap(s.objs) > maxScratch {
		s.objs = nil
	}
}

// ParseAll parses a file that holds one or several model definitions:
//
//   - a single definition (an object with a "name" or "properties" key):
//     one Definition, exactly as Parse;
//   - a JSON array of definitions: one Definition per element, in order
//     (error paths start with "[i]");
//   - a legacy multi-model map, as in LoopBack 1.x models.json:
//     {"Name": {"properties": {...}, "options": {...}, ...}, ...}. It is
//     recognized when every value is an object without a "type" key and
//     with at least one of the keys properties, options, dataSource, base,
//     public, relations or acls. Each entry is a definition whose name is
//     its key unless it has a "name" of its own; definitions are returned in
//     file order, and error paths start with the entry's key.
//
// A model may be defined only once in a file: a duplicate key of the map
// (compared decoded), or a second definition of a name, is refused with an
// *Error wrapping ErrInvalid.
//
// Anything else (a bare properties map, a scalar) is refused with an
// *Error wrapping ErrInvalidName (no model name) or ErrInvalid.
func ParseAll(data []byte, lim Limits) ([]*Definition, error) {
	p := getParser()
	defer p.release()
	if err := p.init(data, lim); err != nil {
		return nil, err
	}
	top := p.nodes[0]
	switch {
	case top.kind == nArray:
		var out []*Definition
		seen := map[string]bool{}
		for e, idx := 1, 0; e < int(top.skip); e, idx = int(p.nodes[e].skip), idx+1 {
			p.path = append(p.path, seg{n: int32(idx), kind: segIndex})
			d, perr := p.definition(e, "")
			if perr == nil && seen[d.Name] {
				perr = p.errAt(e, ErrInvalid, "a second definition of model "+strconv.Quote(d.Name))
			}
			if perr != nil {
				return nil, perr
			}
			seen[d.Name] = true
			p.path = p.path[:len(p.path)-1]
			out = append(out, d)
		}
		return out, nil
	case top.kind == nObject && !p.hasKey(0, "name") && !p.hasKey(0, "properties") && p.looksMultiModel(0):
		var out []*Definition
		keys, names := map[string]bool{}, map[string]bool{}
		for k := 1; k < int(top.skip); k = int(p.nodes[k+1].skip) {
			key := string(p.key(k))
			p.path = append(p.path, seg{n: int32(k), kind: segKey})
			if keys[key] {
				return nil, p.errAt(k, ErrInvalid, "duplicate key")
			}
			keys[key] = true
			// An entry is named by its key unless it has a name of its own.
			d, perr := p.definition(k+1, key)
			if perr == nil && names[d.Name] {
				perr = p.errAt(k+1, ErrInvalid, "a second definition of model "+strconv.Quote(d.Name))
			}
			if perr != nil {
				return nil, perr
			}
			names[d.Name] = true
			p.path = p.path[:len(p.path)-1]
			out = append(out, d)
		}
		return out, nil
	}
	d, perr := p.definition(0, "")
	if perr != nil {
		return nil, perr
	}
	return []*Definition{d}, nil
}

// ParseProperties parses a bare properties map, {"street": "string", ...},
// with the same property forms as the "properties" of a definition. The
// result has strictness StrictOpen. A null or false property is an error
// here (it only means "remove an inherited property" in a Definition).
// Error paths start directly with the property name ("address.zip").
func ParseProperties(data []byte, lim Limits) (*Object, error) {
	p := getParser()
	defer p.release()
	if err := p.init(data, lim); err != nil {
		return nil, err
	}
	if p.nodes[0].kind != nObject {
		return nil, p.errAt(0, ErrInvalid, "a properties map must be a JSON object, not "+kindName(p.nodes[0].kind))
	}
	p.reserve(0, 0)
	o := p.newObject()
	if perr := p.props(0, o, nil); perr != nil {
		return nil, perr
	}
	return o, nil
}

// ParseTypeName parses a type name as written in a definition: a built-in
// type in any letter case ("String", "number", "*", "bool", ...), "array"
// (an array of any), or a model reference (a valid model name of at most
// DefaultMaxNameLen bytes starting with an upper-case ASCII letter, that is
// not a built-in name). Anything else is an *Error wrapping ErrUnknownType.
func ParseTypeName(s string) (Type, error) {
	var t Type
	if k, ok := builtinKind(s); ok {
		t.Kind = k
		if k == KindArray {
			t.Elem = &Type{Kind: KindAny}
		}
		return t, nil
	}
	if isRefName(s, DefaultMaxNameLen) {
		return Type{Kind: KindRef, Ref: s}, nil
	}
	return t, &Error{Offset: -1, Err: ErrUnknownType, Msg: "unknown type " + strconv.Quote(s)}
}

// ValidModelName reports whether name is a valid model name under lim:
// 1 to lim.MaxNameLen bytes, an ASCII letter or '_' followed by ASCII
// letters, digits, '_' or '-'.
func ValidModelName(name string, lim Limits) bool {
	maxLen := lim.MaxNameLen
	if maxLen <= 0 {
		maxLen = DefaultMaxNameLen
	}
	return validName(name, maxLen)
}

// ValidPropertyName reports whether name is a valid property name under
// lim: the charset of model names, 1 to lim.MaxPropertyNameLen bytes.
func ValidPropertyName(name string, lim Limits) bool {
	maxLen := lim.MaxPropertyNameLen
	if maxLen <= 0 {
		maxLen = DefaultMaxPropertyNameLen
	}
	return validName(name, maxLen)
}

func validName[S ~string | ~[]byte](s S, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen || nameByte[s[0]] != 1 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if nameByte[s[i]] == 0 {
			return false
		}
	}
	return true
}

// nameByte[c] is 1 for the bytes that may start a name (ASCII letters and
// '_'), 2 for those that may only follow (ASCII digits and '-'), 0 for the
// others.
const nameByte = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x02\x02\x02\x02\x02\x02\x02\x02\x02\x02\x00\x00\x00\x00\x00\x00" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// ValidRefName reports whether name is a model reference as a definition
// parsed under lim writes it: a valid model name starting with an
// upper-case ASCII letter that is not a built-in type name in any case
// ("String" is the string type).
func ValidRefName(name string, lim Limits) bool {
	if _, builtin := builtinKind(name); builtin {
		return false
	}
	maxLen := lim.MaxNameLen
	if maxLen <= 0 {
		maxLen = DefaultMaxNameLen
	}
	return isRefName(name, maxLen)
}

// isRefName reports whether s names another model: a valid model name
// whose first byte is an upper-case ASCII letter. (Built-in names are
// checked before.)
func isRefName[S ~string | ~[]byte](s S, maxLen int) bool {
	return len(s) > 0 && s[0] >= 'A' && s[0] <= 'Z' && validName(s, maxLen)
}

// builtinKind maps a built-in type name, in any letter case, to its kind.
// "array" maps to KindArray (an array of any).
func builtinKind[S ~string | ~[]byte](s S) (Kind, bool) {
	if len(s) == 0 || len(s) > 8 {
		return KindInvalid, false
	}
	if len(s) == 1 {
		if s[0] == '*' {
			return KindAny, true
		}
		return KindInvalid, false
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	return builtinWord(w, len(s))
}

// builtinWord is builtinKind for a name of 2 to 8 bytes given as the
// little-endian word w (bytes past n are ignored).
//
// Every byte of a built-in name of two bytes or more is a lower-case ASCII
// letter c, and b|0x20 == c exactly when b is c in either case: setting
// bit 0x20 in each byte of w, then comparing words, compares the names
// case-insensitively.
func builtinWord(w uint64, n int) (Kind, bool) {
	const lower = 0x2020202020202020
	if n < 8 {
		w &= 1<<(8*n) - 1
	}
	w |= lower >> (64 - 8*n)
	switch w {
	case 's' | 't'<<8 | 'r'<<16 | 'i'<<24 | 'n'<<32 | 'g'<<40, // string
		't' | 'e'<<8 | 'x'<<16 | 't'<<24: // text
		return KindString, true
	case 'n' | 'u'<<8 | 'm'<<16 | 'b'<<24 | 'e'<<32 | 'r'<<40: // number
		return KindNumber, true
	case 'b' | 'o'<<8 | 'o'<<16 | 'l'<<24 | 'e'<<32 | 'a'<<40 | 'n'<<48, // boolean
		'b' | 'o'<<8 | 'o'<<16 | 'l'<<24: // bool
		return KindBoolean, true
	case 'd' | 'a'<<8 | 't'<<16 | 'e'<<24: // date
		return KindDate, true
	case 'b' | 'u'<<8 | 'f'<<16 | 'f'<<24 | 'e'<<32 | 'r'<<40, // buffer
		'b' | 'i'<<8 | 'n'<<16 | 'a'<<24 | 'r'<<32 | 'y'<<40: // binary
		return KindBuffer, true
	case 'o' | 'b'<<8 | 'j'<<16 | 'e'<<24 | 'c'<<32 | 't'<<40: // object
		return KindObject, true
	case 'a' | 'n'<<8 | 'y'<<16, // any
		'j' | 's'<<8 | 'o'<<16 | 'n'<<24: // json
		return KindAny, true
	case 'g' | 'e'<<8 | 'o'<<16 | 'p'<<24 | 'o'<<32 | 'i'<<40 | 'n'<<48 | 't'<<56: // geopoint
		return KindGeoPoint, true
	case 'a' | 'r'<<8 | 'r'<<16 | 'a'<<24 | 'y'<<32: // array
		return KindArray, true
	}
	return KindInvalid, false
}

// isPropertyOption reports whether key is a known LoopBack property option.
// An object without a "type" key whose keys are all options is a long-form
// declaration of type any rather than a nested object literal, unless all
// its values are built-in type names (see isLongForm).
func isPropertyOption(key []byte) bool {
	switch string(key) {
	case "required", "default", "defaultFn", "id", "pattern",
		"index", "unique", "description", "doc", "title", "comments",
		"generated", "length", "precision", "scale", "dataType",
		"dataLength", "dataPrecision", "dataScale", "nullable", "json",
		"hidden", "protected", "enum", "validators", "format",
		"columnName", "updateOnly", "deprecated", "useDefaultIdType",
		"mysql", "postgresql", "mongodb", "oracle", "mssql", "db2", "sqlite3":
		return true
	}
	return false
}

// Path segment kinds.
const (
	segKey   = iota // the name of key node n
	segLit          // the literal name number n (litProperties, ...)
	segElem         // an array's element type, "[]"
	segIndex        // an element of a top-level array, "[n]"
)

// Literal path names.
const (
	litProperties = iota
	litOptions
)

// seg is one segment of the path of the element being interpreted. It
// holds no pointer, so that pushing segments is cheap.
type seg struct {
	n    int32
	kind uint8
}

// parser interprets a scanned document.
type parser struct {
	data  []byte
	nodes []node
	lim   Limits
	path  []seg
	buf   []byte // scratch for decoded strings

	arena []byte // storage of names (see name)

	// Storage reserved for the Properties, nested Objects and array
	// element Types of the definition being parsed (see reserve).
	propArena []Property
	objArena  []Object
	typeArena []Type

	// scratch, if not nil, holds the Definition, Properties and Objects
	// (see ParseScratch).
	scratch *Scratch
}

// census counts what interpreting a properties map will allocate.
type census struct{ props, objects, types, names int }

// reserve allocates, in one exactly sized block each, the Properties,
// nested Objects, element Types and names that interpreting the properties
// map at node i (none if i < 0) needs, plus nameBytes more bytes of names,
// so that parsing a definition costs a handful of allocations and the
// result holds no spare room. (The allocators fall back to the heap if
// the count is short, which can only happen for input that is refused
// anyway.)
func (p *parser) reserve(i int, nameBytes int) {
	c := census{names: nameBytes}
	if i >= 0 {
		p.censusProps(i, &c)
	}
	p.propArena, p.objArena, p.typeArena, p.arena = nil, nil, nil, nil
	if c.names > 0 {
		p.arena = make([]byte, 0, c.names)
	}
	if s := p.scratch; s != nil {
		// Storage used by an earlier call was cleared by Reset.
		if c.props > 0 {
			if s.nProps+c.props > cap(s.props) {
				clear(s.props[:s.nProps])
				s.props, s.nProps = make([]Property, max(c.props, 2*cap(s.props))), 0
			}
			s.props = s.props[:cap(s.props)]
			p.propArena = s.props[s.nProps : s.nProps+c.props]
			s.nProps += c.props
		}
		if c.objects > 0 {
			if s.nObjs+c.objects > cap(s.objs) {
				clear(s.objs[:s.nObjs])
				s.objs, s.nObjs = make([]Object, max(c.objects, 2*cap(s.objs))), 0
			}
			s.objs = s.objs[:cap(s.objs)]
			p.objArena = s.objs[s.nObjs : s.nObjs+c.objects]
			s.nObjs += c.objects
		}
	} else {
		if c.props > 0 {
			p.propArena = make([]Property, c.props)
		}
		if c.objects > 0 {
			p.objArena = make([]Object, c.objects)
		}
	}
	if c.types > 0 {
		p.typeArena = make([]Type, c.types)
	}
}

// allocProps returns n zero Properties (storage reserved by reserve is
// fresh or cleared by Scratch.Reset).
func (p *parser) allocProps(n int) []Property {
	if len(p.propArena) >= n {
		s := p.propArena[:n:n]
		p.propArena = p.propArena[n:]
		return s
	}
	return make([]Property, n)
}

func (p *parser) newObject() *Object {
	if len(p.objArena) > 0 {
		o := &p.objArena[0]
		p.objArena = p.objArena[1:]
		return o
	}
	return new(Object)
}

func (p *parser) newType() *Type {
	if len(p.typeArena) > 0 {
		t := &p.typeArena[0]
		p.typeArena = p.typeArena[1:]
		return t
	}
	return new(Type)
}

// isLongForm reports whether object node v, in property position, is a
// long-form declaration: it has a "type" key, or it is non-empty, all its
// keys are property options and not all its values are built-in type
// names ({"title": "string", "description": "string"} is a nested object,
// as LoopBack reads it). Otherwise it is a nested object literal.
func (p *parser) isLongForm(v int) bool {
	n := &p.nodes[v]
	if n.form != 0 {
		return n.form == formLong
	}
	hasType, allOptions, allTypeNames, count := false, true, true, 0
	for k := v + 1; k < int(n.skip); k = int(p.nodes[k+1].skip) {
		key, plain := p.keyRaw(k)
		if !plain {
			key = p.unquoteKey(k)
		}
		if string(key) == "type" {
			hasType = true
			break
		}
		if allOptions && !isPropertyOption(key) {
			allOptions = false
		}
		if allOptions && allTypeNames {
			// After the key: p.key may reuse the buffer key is in.
			allTypeNames = false
			if p.nodes[k+1].kind == nString {
				_, allTypeNames = builtinKind(p.key(k + 1))
			}
		}
		count++
	}
	long := hasType || (count > 0 && allOptions && !allTypeNames)
	n.form = formNested
	if long {
		n.form = formLong
	}
	return long
}

// isTypedElem reports whether object node e, an array's element type, is
// {"type": T} rather than a nested object literal. Like isLongForm, it
// records the answer in the node's form.
func (p *parser) isTypedElem(e int) bool {
	n := &p.nodes[e]
	if n.form == 0 {
		n.form = formNested
		if p.hasKey(e, "type") {
			n.form = formLong
		}
	}
	return n.form == formLong
}

// The census functions mirror props, decl, typeExpr, arrayType and
// elemExpr without checking anything. They record in the nodes what the
// interpretation looks up again: the form of the objects (isLongForm,
// isTypedElem) and the built-in kind of the type names (censusName).

func (p *parser) censusProps(i int, c *census) {
	nodes, data := p.nodes, p.data
	for k, end := i+1, int(nodes[i].skip); k < end; k = int(nodes[k+1].skip) {
		c.props++
		c.names += int(nodes[k].end-nodes[k].start) - 2
		switch v := k + 1; nodes[v].kind {
		case nString:
			// Fast path: a built-in type name other than "array", read
			// as one word (see censusName).
			n := &nodes[v]
			if l := int(n.end-n.start) - 2; !n.esc && l >= 2 && l <= 8 && int(n.start)+9 <= len(data) {
				if kind, ok := builtinWord(binary.LittleEndian.Uint64(data[n.start+1:]), l); ok && kind != KindArray {
					n.builtin = uint8(kind)
					continue
				}
			}
			p.censusName(v, c)
		case nArray:
			p.censusArray(v, c)
		case nObject:
			if !p.isLongForm(v) {
				c.objects++
				p.censusProps(v, c)
				continue
			}
			p.censusTypeKey(v, c)
		}
	}
}

// censusTypeKey counts the value of the first "type" key of object v.
func (p *parser) censusTypeKey(v int, c *census) {
	for k := v + 1; k < int(p.nodes[v].skip); k = int(p.nodes[k+1].skip) {
		key, plain := p.keyRaw(k)
		if !plain {
			key = p.unquoteKey(k)
		}
		if string(key) == "type" {
			p.censusTypeExpr(k+1, c)
			return
		}
	}
}

// censusName counts type name v and records its built-in kind in its
// node (see typeName).
func (p *parser) censusName(v int, c *census) {
	n := &p.nodes[v]
	var k Kind
	var ok bool
	if l := int(n.end-n.start) - 2; !n.esc && l >= 2 && l <= 8 && int(n.start)+9 <= len(p.data) {
		// Read the name as one word (bytes past it are ignored).
		k, ok = builtinWord(binary.LittleEndian.Uint64(p.data[n.start+1:]), l)
	} else {
		k, ok = builtinKind(p.key(v))
	}
	switch {
	case !ok:
		n.builtin = notBuiltin
		c.names += len(p.key(v)) // a reference
	case k == KindArray:
		n.builtin = uint8(k)
		c.types++
	default:
		n.builtin = uint8(k)
	}
}

// scalarBuiltin returns the kind recorded in node n by censusName, if it
// is a built-in type name other than "array".
func scalarBuiltin(n *node) (Kind, bool) {
	k := Kind(n.builtin) // KindInvalid if not recorded, notBuiltin if not built in
	return k, k-KindString <= KindGeoPoint-KindString
}

func (p *parser) censusTypeExpr(v int, c *census) {
	switch p.nodes[v].kind {
	case nString:
		p.censusName(v, c)
	case nArray:
		p.censusArray(v, c)
	case nObject:
		c.objects++
		p.censusProps(v, c)
	}
}

func (p *parser) censusArray(v int, c *census) {
	c.types++
	if e := v + 1; e < int(p.nodes[v].skip) {
		switch p.nodes[e].kind {
		case nString:
			p.censusName(e, c)
		case nArray:
			p.censusArray(e, c)
		case nObject:
			if p.isTypedElem(e) {
				p.censusTypeKey(e, c)
				return
			}
			c.objects++
			p.censusProps(e, c)
		}
	}
}

// init checks the size of data and scans it.
func (p *parser) init(data []byte, lim Limits) *Error {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes || len(data) > 1<<31-1 {
		off := min(lim.MaxBytes, 1<<31-1)
		e := &Error{Offset: int64(off), Err: ErrTooLarge,
			Msg: "definition is " + strconv.Itoa(len(data)) + " bytes, more than the limit of " +
				strconv.Itoa(lim.MaxBytes)}
		e.Line, e.Column = lineCol(data, off)
		return e
	}
	nodes := p.nodes[:0]
	if want := len(data)/8 + 8; cap(nodes) < want {
		nodes = make([]node, 0, want)
	}
	nodes, err := scan(data, lim.MaxDepth, nodes)
	if err != nil {
		return err
	}
	p.data, p.nodes, p.lim = data, nodes, lim
	p.path = p.path[:0]
	return nil
}

// Largest scratch buffers a released parser keeps for reuse; bigger ones
// (from unusually large documents) are left to the garbage collector.
const (
	maxPooledNodes = 4096
	maxPooledBuf   = 64 << 10
)

// parserPool recycles the parser's scratch state (the node tree, the path
// and the string buffer) between calls. It is a cache only: a parser taken
// from it is indistinguishable from a new one.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

func getParser() *parser { return parserPool.Get().(*parser) }

// release returns p to the pool. It drops every reference into the
// parsed result and into the caller's data, so a pooled parser keeps
// neither alive.
func (p *parser) release() {
	nodes, path, buf := p.nodes[:0], p.path[:0], p.buf[:0]
	if cap(nodes) > maxPooledNodes {
		nodes = nil
	}
	if cap(buf) > maxPooledBuf {
		buf = nil
	}
	*p = parser{nodes: nodes, path: path, buf: buf}
	parserPool.Put(p)
}

// name returns b as a string stored in the parser's name arena: names are
// packed into a few shared allocations instead of one each.
func (p *parser) name(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(p.arena)-len(p.arena) < len(b) {
		p.arena = make([]byte, 0, max(len(b), 32))
	}
	start := len(p.arena)
	p.arena = append(p.arena, b...)
	// The bytes of the arena are never written again once appended, so
	// they can back an immutable string.
	return unsafe.String(&p.arena[start], len(b))
}

func (p *parser) pathString() string {
	var b strings.Builder
	for i, s := range p.path {
		switch s.kind {
		case segElem:
			b.WriteString("[]")
		case segIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(int(s.n)))
			b.WriteByte(']')
		case segLit:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString([...]string{litProperties: "properties", litOptions: "options"}[s.n])
		default:
			appendPathName(&b, string(p.key(int(s.n))), i == 0)
		}
	}
	return b.String()
}

// appendPathName writes a path segment for name: ".name", or ["name"]
// (JSON-quoted) for names outside the name charset.
func appendPathName(b *strings.Builder, name string, first bool) {
	if validName(name, 1<<30) {
		if !first {
			b.WriteByte('.')
		}
		b.WriteString(name)
		return
	}
	b.WriteByte('[')
	b.Write(appendString(nil, name))
	b.WriteByte(']')
}

// errAt returns an error at node i (no position if i < 0) with the current
// path.
func (p *parser) errAt(i int, sentinel error, msg string) *Error {
	off := -1
	if i >= 0 {
		off = int(p.nodes[i].start)
	}
	return newError(p.data, p.pathString(), off, sentinel, msg, false)
}

// errIn is errAt with name appended to the path.
func (p *parser) errIn(name string, i int, sentinel error, msg string) *Error {
	var b strings.Builder
	path := p.pathString()
	b.WriteString(path)
	appendPathName(&b, name, path == "")
	off := -1
	if i >= 0 {
		off = int(p.nodes[i].start)
	}
	return newError(p.data, b.String(), off, sentinel, msg, false)
}

// key returns the decoded bytes of string node k. The result is only valid
// until the next call (it may use the scratch buffer).
func (p *parser) key(k int) []byte {
	n := &p.nodes[k]
	if !n.esc {
		return p.data[n.start+1 : n.end-1]
	}
	return p.unquoteKey(k)
}

// keyRaw returns the bytes of string node k between its quotes, and
// whether they are its decoded bytes (it has no escapes). It inlines, where
// key does not: hot loops call unquoteKey themselves when plain is false.
func (p *parser) keyRaw(k int) (b []byte, plain bool) {
	n := &p.nodes[k]
	return p.data[n.start+1 : n.end-1], !n.esc
}

func (p *parser) unquoteKey(k int) []byte {
	n := &p.nodes[k]
	p.buf = unquote(p.buf[:0], p.data[n.start:n.end])
	return p.buf
}

func (p *parser) hasKey(obj int, key string) bool {
	for k := obj + 1; k < int(p.nodes[obj].skip); k = int(p.nodes[k+1].skip) {
		b, plain := p.keyRaw(k)
		if !plain {
			b = p.unquoteKey(k)
		}
		if string(b) == key {
			return true
		}
	}
	return false
}

// looksMultiModel reports whether object node i looks like a legacy
// multi-model map (see ParseAll).
func (p *parser) looksMultiModel(i int) bool {
	n := p.nodes[i]
	if n.skip == int32(i+1) {
		return false
	}
	for k := i + 1; k < int(n.skip); k = int(p.nodes[k+1].skip) {
		v := k + 1
		if p.nodes[v].kind != nObject || p.hasKey(v, "type") {
			return false
		}
		found := false
		for _, key := range [...]string{"properties", "options", "dataSource", "base", "public", "relations", "acls"} {
			if p.hasKey(v, key) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func kindName(k uint8) string {
	switch k {
	case nObject:
		return "an object"
	case nArray:
		return "an array"
	case nString:
		return "a string"
	case nNumber:
		return "a number"
	case nTrue:
		return "true"
	case nFalse:
		return "false"
	}
	return "null"
}

// definition interprets object node i as a model definition. defaultName
// is the name to use when the definition has none ("" = required).
func (p *parser) definition(i int, defaultName string) (*Definition, *Error) {
	n := p.nodes[i]
	if n.kind != nObject {
		return nil, p.errAt(i, ErrInvalid, "a model definition must be a JSON object, not "+kindName(n.kind))
	}
	nameNode, propsNode, strictNode, optStrictNode := -1, -1, -1, -1
	nSettings, settingsBytes := 0, 0
	for k := i + 1; k < int(n.skip); k = int(p.nodes[k+1].skip) {
		key, plain := p.keyRaw(k)
		if !plain {
			key = p.unquoteKey(k)
		}
		var slot *int
		switch string(key) {
		case "name":
			slot = &nameNode
		case "properties":
			slot = &propsNode
		case "strict":
			slot = &strictNode
		default:
			nSettings++
			settingsBytes += int(p.nodes[k+1].end - p.nodes[k+1].start)
			if string(key) == "options" && p.nodes[k+1].kind == nObject {
				o := k + 1
				for ok := o + 1; ok < int(p.nodes[o].skip); ok = int(p.nodes[ok+1].skip) {
					if string(p.key(ok)) == "strict" {
						if optStrictNode >= 0 {
							p.path = append(p.path, seg{n: litOptions, kind: segLit})
							e := p.errIn("strict", ok, ErrInvalid, "duplicate key")
							p.path = p.path[:len(p.path)-1]
							return nil, e
						}
						optStrictNode = ok + 1
					}
				}
			}
			continue
		}
		if *slot >= 0 {
			return nil, p.errIn(string(key), k, ErrInvalid, "duplicate key")
		}
		*slot = k + 1
	}

	// (Allocated only when there is no Scratch to hold it.)
	var d *Definition
	if p.scratch != nil {
		d = &p.scratch.def
		*d = Definition{}
	} else {
		d = new(Definition)
	}
	propsObj, nameBytes := -1, 0
	if propsNode >= 0 && p.nodes[propsNode].kind == nObject {
		propsObj = propsNode
	}
	if nameNode >= 0 && p.nodes[nameNode].kind == nString {
		nameBytes = int(p.nodes[nameNode].end-p.nodes[nameNode].start) - 2
	}
	p.reserve(propsObj, nameBytes)
	// name
	switch {
	case nameNode >= 0:
		if p.nodes[nameNode].kind != nString {
			return nil, p.errIn("name", nameNode, ErrInvalidName, "the model name must be a string, not "+kindName(p.nodes[nameNode].kind))
		}
		name := p.key(nameNode)
		if !validName(name, p.lim.MaxNameLen) {
			return nil, p.errIn("name", nameNode, ErrInvalidName, "invalid model name "+strconv.Quote(string(name))+
				" (want 1 to "+strconv.Itoa(p.lim.MaxNameLen)+" ASCII letters, digits, '_' or '-', not starting with a digit or '-')")
		}
		d.Name = p.name(name)
	case defaultName != "":
		if !validName(defaultName, p.lim.MaxNameLen) {
			return nil, p.errAt(i-1, ErrInvalidName, "invalid model name "+strconv.Quote(defaultName))
		}
		d.Name = defaultName
	default:
		msg := "missing model name"
		if propsNode < 0 {
			if p.looksMultiModel(i) {
				msg += ": this looks like a multi-model file (models.json); use ParseAll"
			} else {
				msg += ": this looks like a bare properties map; use ParseProperties"
			}
		}
		return nil, p.errIn("name", i, ErrInvalidName, msg)
	}

	// strictness: "options.strict" wins over "strict", as in LoopBack 3.
	if optStrictNode >= 0 {
		p.path = append(p.path, seg{n: litOptions, kind: segLit})
		s, err := p.strictness(optStrictNode)
		p.path = p.path[:len(p.path)-1]
		if err != nil {
			return nil, err
		}
		d.Strict = s
		if strictNode >= 0 {
			if _, err := p.strictness(strictNode); err != nil {
				return nil, err
			}
		}
	} else if strictNode >= 0 {
		s, err := p.strictness(strictNode)
		if err != nil {
			return nil, err
		}
		d.Strict = s
	}

	// properties
	if propsNode >= 0 {
		p.path = append(p.path, seg{n: litProperties, kind: segLit})
		if p.nodes[propsNode].kind != nObject {
			e := p.errAt(propsNode, ErrInvalid, "properties must be a JSON object, not "+kindName(p.nodes[propsNode].kind))
			p.path = p.path[:len(p.path)-1]
			return nil, e
		}
		if err := p.props(propsNode, &d.Object, &d.Removed); err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
	}

	// settings, compacted into one shared buffer
	if nSettings > 0 {
		d.Settings = make(map[string]json.RawMessage, nSettings)
		buf := make([]byte, 0, settingsBytes)
		for k := i + 1; k < int(n.skip); k = int(p.nodes[k+1].skip) {
			key := p.key(k)
			switch string(key) {
			case "name", "properties", "strict":
				continue
			}
			if _, dup := d.Settings[string(key)]; dup {
				return nil, p.errIn(string(key), k, ErrInvalid, "duplicate key")
			}
			v := p.nodes[k+1]
			start := len(buf)
			buf = appendCompact(buf, p.data[v.start:v.end])
			d.Settings[string(key)] = json.RawMessage(buf[start:len(buf):len(buf)])
		}
	}
	return d, nil
}

// strictness interprets node i as a "strict" setting. The current path is
// that of the enclosing object.
func (p *parser) strictness(i int) (Strictness, *Error) {
	n := p.nodes[i]
	switch n.kind {
	case nTrue:
		return StrictReject, nil
	case nFalse:
		return StrictOpen, nil
	case nString:
		switch string(p.key(i)) {
		case "throw", "validate":
			return StrictReject, nil
		case "filter":
			return StrictFilter, nil
		}
	}
	return 0, p.errIn("strict", i, ErrInvalid, `strict must be true, false, "throw", "validate" or "filter"`)
}

// props interprets object node i as a properties map into o. removed is
// non-nil only for a definition's top-level properties, where null and
// false declare the removal of an inherited property.
//
// Names are sorted (and checked for duplicates) before the declarations
// are interpreted, so each Property is built in its final place.
func (p *parser) props(i int, o *Object, removed *[]string) *Error {
	if p.nodes[i].skip == int32(i+1) {
		return nil
	}
	var small [16]propEnt
	ents, err := p.propNames(i, small[:0])
	if err != nil {
		return err
	}
	if j := sortNames(ents); j >= 0 {
		return p.errIn(ents[j].name, int(ents[j].key), ErrInvalid, "duplicate property name")
	}
	return p.propDecls(ents, o, removed)
}

// propEnt is a property name of a properties map being interpreted.
type propEnt struct {
	// pref is the first 8 bytes of name (see namePrefix), which order
	// most names without comparing strings.
	pref uint64
	name string
	key  int32 // the key node
}

// propNames appends to ents the names of the properties of object node i,
// in document order, checked and stored in the name arena.
func (p *parser) propNames(i int, ents []propEnt) ([]propEnt, *Error) {
	nodes, data, arena := p.nodes, p.data, p.arena
	maxProps, maxLen := p.lim.MaxProperties, p.lim.MaxPropertyNameLen
	for k, end := i+1, int(nodes[i].skip); k < end; k = int(nodes[k+1].skip) {
		if len(ents) == maxProps || len(ents) == cap(ents) {
			if len(ents) == maxProps {
				p.arena = arena
				return nil, p.tooManyProps(i)
			}
			ents = append(make([]propEnt, 0, p.countMembers(i)), ents...)
		}
		kn := &nodes[k]
		start := int(kn.start) + 1
		if kn.esc || start+8 > len(data) {
			// Escaped, or too close to the end to read a word.
			p.arena = arena
			name, pref, err := p.propNameSlow(i, k)
			if err != nil {
				return nil, err
			}
			arena = p.arena
			ents = append(ents, propEnt{pref: pref, name: name, key: int32(k)})
			continue
		}
		key := data[start : kn.end-1]
		if !validName(key, maxLen) {
			p.arena = arena
			return nil, p.badPropName(i, k, key)
		}
		// The first 8 bytes as one word: the prefix once the bytes past
		// the name are cleared, and a copy of a short name in one store.
		word := binary.BigEndian.Uint64(data[start:])
		pref := word
		if len(key) < 8 {
			pref &^= 1<<(8*(8-len(key))) - 1
		}
		if cap(arena)-len(arena) < len(key) {
			arena = make([]byte, 0, max(len(key), 32))
		}
		n := len(arena)
		if len(key) <= 8 && cap(arena)-n >= 8 {
			// The bytes stored past the name are past len(arena): the
			// next names overwrite them.
			binary.BigEndian.PutUint64(arena[n:n+8], word)
			arena = arena[:n+len(key)]
		} else {
			arena = append(arena, key...)
		}
		// The bytes of the arena are never written again once appended,
		// so they can back an immutable string.
		name := unsafe.String(&arena[n], len(key))
		ents = append(ents, propEnt{pref: pref, name: name, key: int32(k)})
	}
	p.arena = arena
	return ents, nil
}

// propNameSlow returns the name of key node k of properties map i, stored
// in the name arena, and its prefix, when it is escaped or near the end of
// the input.
func (p *parser) propNameSlow(i, k int) (string, uint64, *Error) {
	key := p.key(k)
	if !validName(key, p.lim.MaxPropertyNameLen) {
		return "", 0, p.badPropName(i, k, key)
	}
	return p.name(key), namePrefix(key), nil
}

// badPropName is the error for key node k of properties map i, whose
// decoded name key is invalid (unless the map has too many properties,
// which is reported first).
func (p *parser) badPropName(i, k int, key []byte) *Error {
	if p.countMembers(i) > p.lim.MaxProperties {
		return p.tooManyProps(i)
	}
	maxLen := p.lim.MaxPropertyNameLen
	msg := "invalid property name " + strconv.Quote(string(key)) + " (want 1 to " +
		strconv.Itoa(maxLen) + " ASCII letters, digits, '_' or '-', not starting with a digit or '-')"
	return p.errIn(string(key), k, ErrInvalidName, msg)
}

// sortNames sorts ents by name, stably, and returns the index of the
// first duplicate name (the later of two equal names), or -1.
func sortNames(ents []propEnt) int {
	sorted := true
	for a := 1; a < len(ents); a++ {
		if x, y := &ents[a], &ents[a-1]; x.pref < y.pref || x.pref == y.pref && x.name <= y.name {
			sorted = false
			break
		}
	}
	if sorted {
		return -1
	}
	if len(ents) <= 32 {
		for a := 1; a < len(ents); a++ {
			x := ents[a]
			b := a
			for ; b > 0; b-- {
				if y := &ents[b-1]; x.pref > y.pref || x.pref == y.pref && x.name >= y.name {
					break
				}
				ents[b] = ents[b-1]
			}
			ents[b] = x
		}
	} else {
		slices.SortStableFunc(ents, func(x, y propEnt) int {
			if c := cmp.Compare(x.pref, y.pref); c != 0 {
				return c
			}
			return strings.Compare(x.name, y.name)
		})
	}
	for a := 1; a < len(ents); a++ {
		if ents[a].pref == ents[a-1].pref && ents[a].name == ents[a-1].name {
			return a
		}
	}
	return -1
}

// propDecls interprets the declarations of the properties ents, sorted,
// into o (see props).
func (p *parser) propDecls(ents []propEnt, o *Object, removed *[]string) *Error {
	nodes := p.nodes
	count := len(ents)
	o.Properties = p.allocProps(count)
	// One path segment for the property being interpreted.
	p.path = append(p.path, seg{kind: segKey})
	at := len(p.path) - 1
	w := 0
	for j := range ents {
		e := &ents[j]
		prop := &o.Properties[w]
		prop.Name = e.name
		// Fast path: a built-in type name (found by censusName) other
		// than "array". (prop is zero: see allocProps.)
		if k, ok := scalarBuiltin(&nodes[e.key+1]); ok {
			prop.Type.Kind = k
			w++
			continue
		}
		p.path[at].n = e.key
		rm, err := p.decl(int(e.key)+1, prop, removed != nil)
		if err != nil {
			return err
		}
		if rm {
			*prop = Property{}
			*removed = append(*removed, e.name)
			continue
		}
		w++
	}
	p.path = p.path[:at]
	switch {
	case w == 0:
		o.Properties = nil
	case w < count:
		o.Properties = o.Properties[:w:w]
	}
	return nil
}

// countMembers returns the number of members of object node i.
func (p *parser) countMembers(i int) int {
	count := 0
	for k := i + 1; k < int(p.nodes[i].skip); k = int(p.nodes[k+1].skip) {
		count++
	}
	return count
}

// tooManyProps is the error for properties map i with more than
// MaxProperties properties.
func (p *parser) tooManyProps(i int) *Error {
	return p.errAt(i, ErrTooLarge, "more than "+strconv.Itoa(p.lim.MaxProperties)+" properties")
}

// decl interprets node v as a property declaration into prop. It reports
// removed for null and false when allowRemoval is set.
func (p *parser) decl(v int, prop *Property, allowRemoval bool) (removed bool, err *Error) {
	switch k := p.nodes[v].kind; k {
	case nString:
		return false, p.typeName(v, &prop.Type)
	case nArray:
		return false, p.arrayType(v, &prop.Type)
	case nObject:
		return false, p.objectDecl(v, prop)
	case nNull, nFalse:
		if allowRemoval {
			return true, nil
		}
		return false, p.errAt(v, ErrInvalid, kindName(k)+" is not a type (null and false only remove an inherited property, at the top level of a model definition)")
	default:
		return false, p.errAt(v, ErrInvalid, "a property is declared with a type name, an array or an object, not "+kindName(k))
	}
}

// objectDecl interprets object node v in property position: a long form
// or a nested object literal, as isLongForm decides.
func (p *parser) objectDecl(v int, prop *Property) *Error {
	if p.isLongForm(v) {
		return p.longForm(v, prop)
	}
	obj := p.newObject()
	prop.Type = Type{Kind: KindNested, Object: obj}
	return p.props(v, obj, nil)
}

// Bits for the structural options of a long form, to detect duplicates.
const (
	optType = 1 << iota
	optRequired
	optID
	optDefault
	optPattern
)

// longForm interprets object node v as a long-form declaration.
func (p *parser) longForm(v int, prop *Property) *Error {
	n := p.nodes[v]
	var seen int
	for k := v + 1; k < int(n.skip); k = int(p.nodes[k+1].skip) {
		key, plain := p.keyRaw(k)
		if !plain {
			key = p.unquoteKey(k)
		}
		val := k + 1
		vn := p.nodes[val]
		var bit int
		switch string(key) {
		case "type":
			bit = optType
		case "required":
			bit = optRequired
		case "id":
			bit = optID
		case "default":
			bit = optDefault
		case "pattern":
			bit = optPattern
		default:
			name := string(key)
			if prop.Extra == nil {
				prop.Extra = make(map[string]json.RawMessage)
			} else if _, dup := prop.Extra[name]; dup {
				return p.errAt(k, ErrInvalid, "duplicate option "+strconv.Quote(name))
			}
			prop.Extra[name] = appendCompact(make([]byte, 0, vn.end-vn.start), p.data[vn.start:vn.end])
			continue
		}
		if seen&bit != 0 {
			return p.errAt(k, ErrInvalid, "duplicate option "+strconv.Quote(string(key)))
		}
		seen |= bit
		switch bit {
		case optType:
			if err := p.typeExpr(val, &prop.Type); err != nil {
				return err
			}
		case optRequired:
			switch vn.kind {
			case nTrue:
				prop.Required = true
			case nFalse, nNull:
			default:
				return p.errAt(val, ErrInvalid, `"required" must be true or false, not `+kindName(vn.kind))
			}
		case optID:
			switch vn.kind {
			case nTrue:
				prop.ID = true
			case nFalse, nNull:
			case nNumber:
				f, err := strconv.ParseFloat(string(p.data[vn.start:vn.end]), 64)
				if err != nil {
					return p.errAt(val, ErrInvalid, `"id" number out of range`)
				}
				prop.ID = f != 0
			default:
				return p.errAt(val, ErrInvalid, `"id" must be true, false or a position number, not `+kindName(vn.kind))
			}
		case optDefault:
			if vn.kind == nNull {
				continue
			}
			out, bad, msg := appendCanonicalValue(make([]byte, 0, vn.end-vn.start), p.data, p.nodes, val)
			if bad >= 0 {
				return p.errAt(bad, ErrInvalid, `"default": `+msg)
			}
			prop.Default = json.RawMessage(out)
		case optPattern:
			switch vn.kind {
			case nNull:
				continue
			case nString:
			default:
				return p.errAt(val, ErrInvalid, `"pattern" must be a string, not `+kindName(vn.kind))
			}
			pat := string(p.key(val))
			if pat == "" {
				continue
			}
			if _, err := regexp.Compile(pat); err != nil {
				return p.errAt(val, ErrInvalid, `invalid "pattern": `+err.Error())
			}
			prop.Pattern = pat
		}
	}
	if seen&optType == 0 {
		prop.Type = Type{Kind: KindAny}
	}
	return nil
}

// typeExpr interprets node v as the value of a "type" key: a type name,
// an array type, or an object, which is always a nested object literal.
func (p *parser) typeExpr(v int, t *Type) *Error {
	switch k := p.nodes[v].kind; k {
	case nString:
		return p.typeName(v, t)
	case nArray:
		return p.arrayType(v, t)
	case nObject:
		obj := p.newObject()
		*t = Type{Kind: KindNested, Object: obj}
		return p.props(v, obj, nil)
	default:
		return p.errAt(v, ErrInvalid, `"type" must be a type name, an array or an object, not `+kindName(k))
	}
}

// arrayType interprets array node v as an array type: [] (of any) or [T].
func (p *parser) arrayType(v int, t *Type) *Error {
	n := p.nodes[v]
	elem := p.newType()
	*t = Type{Kind: KindArray, Elem: elem}
	if n.skip == int32(v+1) {
		elem.Kind = KindAny
		return nil
	}
	first := v + 1
	if second := int(p.nodes[first].skip); second < int(n.skip) {
		return p.errAt(second, ErrInvalid, "an array type has exactly one element, its element type")
	}
	p.path = append(p.path, seg{kind: segElem})
	if err := p.elemExpr(first, elem); err != nil {
		return err
	}
	p.path = p.path[:len(p.path)-1]
	return nil
}

// elemExpr interprets node e as an array's element type: a type name, an
// array type, {"type": T} (no other options), or a nested object literal.
func (p *parser) elemExpr(e int, t *Type) *Error {
	switch k := p.nodes[e].kind; k {
	case nString:
		return p.typeName(e, t)
	case nArray:
		return p.arrayType(e, t)
	case nObject:
		if !p.isTypedElem(e) {
			obj := p.newObject()
			*t = Type{Kind: KindNested, Object: obj}
			return p.props(e, obj, nil)
		}
		typeNode := -1
		for k := e + 1; k < int(p.nodes[e].skip); k = int(p.nodes[k+1].skip) {
			key, plain := p.keyRaw(k)
			if !plain {
				key = p.unquoteKey(k)
			}
			if string(key) != "type" {
				return p.errAt(k, ErrInvalid, "an array element type takes no options (found "+
					strconv.Quote(string(key))+"); put options on the array property")
			}
			if typeNode >= 0 {
				return p.errAt(k, ErrInvalid, `duplicate option "type"`)
			}
			typeNode = k + 1
		}
		return p.typeExpr(typeNode, t)
	default:
		return p.errAt(e, ErrInvalid, "an array element type is a type name, an array or an object, not "+kindName(k))
	}
}

// typeName interprets string node v as a type name.
func (p *parser) typeName(v int, t *Type) *Error {
	// Fast path: the kind found by censusName.
	if k, ok := scalarBuiltin(&p.nodes[v]); ok {
		*t = Type{Kind: k}
		return nil
	}
	s, plain := p.keyRaw(v)
	if !plain {
		s = p.unquoteKey(v)
	}
	if k, ok := builtinKind(s); ok {
		if k == KindArray {
			elem := p.newType()
			elem.Kind = KindAny
			*t = Type{Kind: KindArray, Elem: elem}
		} else {
			*t = Type{Kind: k}
		}
		return nil
	}
	if isRefName(s, p.lim.MaxNameLen) {
		*t = Type{Kind: KindRef, Ref: p.name(s)}
		return nil
	}
	if len(s) > p.lim.MaxNameLen && isRefName(s, len(s)) {
		return p.errAt(v, ErrInvalidName, "reference to a model name longer than "+strconv.Itoa(p.lim.MaxNameLen)+" bytes")
	}
	return p.errAt(v, ErrUnknownType, "unknown type "+strconv.Quote(string(s)))
}

// namePrefix returns the first 8 bytes of name as a big-endian number,
// padded with zero bytes: for names, which hold no zero byte, the order of
// the prefixes is the order of the names when they differ, and names with
// equal prefixes are equal when shorter than 8 bytes.
func namePrefix(name []byte) uint64 {
	if len(name) >= 8 {
		return binary.BigEndian.Uint64(name)
	}
	var x uint64
	for _, c := range name {
		x = x<<8 | uint64(c)
	}
	return x << (8 * (8 - len(name)))
}
