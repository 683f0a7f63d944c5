package document

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"regexp"
	"strconv"

	"github.com/modelreg/modelreg/definition"
)

// objPlan is the precomputed form of one *definition.Object: property
// lookup, compiled patterns and the list of properties to check when an
// object ends. Plans are immutable once built and shared by all
// validations.
type objPlan struct {
	obj    *definition.Object
	strict definition.Strictness
	props  []propPlan // in the Object's order: sorted by name
	// end lists the indexes of the properties that are required or have a
	// default: the ones to look at when a property is absent.
	end []int
	// words is the number of uint64 words in the "seen" bitset.
	words int
	// table maps property names to indexes (see buildTable), hashed with
	// seed (see keyHash).
	table []uint32
	mask  uint32
	seed  uint64
	// err is set (and the rest empty) for a referenced model that cannot
	// be compiled; validation reports it as CodeInvalidModel.
	err *ModelError
}

type propPlan struct {
	name     string
	w0, wl   uint64 // keyWords(name)
	t        *typePlan
	required bool
	// def is the default value as compact JSON, nil for none.
	def []byte
	// now marks a date default of "$now": the validation's clock time.
	now bool
}

// typePlan is a property's or an element's type.
type typePlan struct {
	kind definition.Kind
	elem *typePlan // KindArray
	obj  *objPlan  // KindNested
	ref  string    // KindRef
	re   *regexp.Regexp
}

// compiler builds plans. nested memoises anonymous Objects by pointer, so
// a structure shared by several properties is compiled once, and regexps
// memoises patterns.
type compiler struct {
	nested  map[*definition.Object]*objPlan
	regexps map[string]*regexp.Regexp
}

func newCompiler() *compiler {
	return &compiler{nested: map[*definition.Object]*objPlan{}, regexps: map[string]*regexp.Regexp{}}
}

// compileObject compiles the plan of the structure o, after checkTree.
func compileObject(o *definition.Object) (*objPlan, *ModelError) {
	if err := checkTree(o); err != nil {
		return nil, err
	}
	return newCompiler().object(o, nil)
}

// maxTreeDepth bounds how deeply objects and arrays nest in a structure
// given to New or Schema, and maxTreeNodes how many types it has when
// shared parts are counted each time they are met. A structure built in
// Go with a cycle (an array that is its own element, an object that
// contains itself) is thus refused rather than followed forever; Parse
// and the registry never build one.
const (
	maxTreeDepth = 256
	maxTreeNodes = 1 << 20
)

// checkTree returns a *ModelError if o nests deeper than maxTreeDepth or
// has more than maxTreeNodes types.
func checkTree(o *definition.Object) *ModelError {
	nodes := 0
	var object func(o *definition.Object, depth int) bool
	var typ func(t *definition.Type, depth int) bool
	object = func(o *definition.Object, depth int) bool {
		if o == nil {
			return true // reported by the walk that follows
		}
		for i := range o.Properties {
			if !typ(&o.Properties[i].Type, depth) {
				return false
			}
		}
		return true
	}
	typ = func(t *definition.Type, depth int) bool {
		if nodes++; nodes > maxTreeNodes || depth > maxTreeDepth {
			return false
		}
		switch t.Kind {
		case definition.KindArray:
			return t.Elem == nil || typ(t.Elem, depth+1)
		case definition.KindNested:
			return object(t.Object, depth+1)
		}
		return true
	}
	if !object(o, 1) {
		return &ModelError{Code: CodeInvalidModel, Msg: "structure nested deeper than " + strconv.Itoa(maxTreeDepth) +
			" levels or larger than " + strconv.Itoa(maxTreeNodes) + " types (a cycle?)"}
	}
	return nil
}

func (c *compiler) object(o *definition.Object, path []byte) (*objPlan, *ModelError) {
	if o == nil {
		return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "nil object"}
	}
	if p, ok := c.nested[o]; ok {
		if p == nil {
			return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "object contains itself"}
		}
		return p, nil
	}
	c.nested[o] = nil // in progress: detects a cycle of pointers
	p := &objPlan{obj: o, strict: o.Strict, props: make([]propPlan, len(o.Properties))}
	if o.Strict > definition.StrictFilter {
		return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "invalid strictness"}
	}
	for i := range o.Properties {
		prop := &o.Properties[i]
		if i > 0 && o.Properties[i-1].Name >= prop.Name {
			return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "properties are not sorted and unique"}
		}
		ppath := appendPointerToken(append(path, '/'), prop.Name)
		var re *regexp.Regexp
		if prop.Pattern != "" {
			re = c.regexps[prop.Pattern]
			if re == nil {
				var err error
				re, err = regexp.Compile(prop.Pattern)
				if err != nil {
					return nil, &ModelError{Path: string(ppath), Code: CodeInvalidModel, Msg: "invalid pattern: " + err.Error()}
				}
				c.regexps[prop.Pattern] = re
			}
		}
		t, err := c.typ(&prop.Type, re, ppath)
		if err != nil {
			return nil, err
		}
		pp := propPlan{name: prop.Name, t: t, required: prop.Required}
		if len(prop.Default) > 0 {
			pp.def = prop.Default
			pp.now = prop.Type.Kind == definition.KindDate && string(prop.Default) == `"$now"`
		}
		p.props[i] = pp
		if pp.required || pp.def != nil {
			p.end = append(p.end, i)
		}
	}
	p.words = (len(p.props) + 63) / 64
	p.buildTable()
	c.nested[o] = p
	return p, nil
}

func (c *compiler) typ(t *definition.Type, re *regexp.Regexp, path []byte) (*typePlan, *ModelError) {
	tp := &typePlan{kind: t.Kind}
	switch t.Kind {
	case definition.KindString:
		tp.re = re
	case definition.KindNumber, definition.KindBoolean, definition.KindDate, definition.KindBuffer,
		definition.KindObject, definition.KindAny, definition.KindGeoPoint:
	case definition.KindArray:
		if t.Elem == nil {
			return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "array without element type"}
		}
		e, err := c.typ(t.Elem, re, path)
		if err != nil {
			return nil, err
		}
		tp.elem = e
	case definition.KindRef:
		if t.Ref == "" {
			return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "reference without a name"}
		}
		tp.ref = t.Ref
	case definition.KindNested:
		o, err := c.object(t.Object, path)
		if err != nil {
			return nil, err
		}
		tp.obj = o
	default:
		return nil, &ModelError{Path: string(path), Code: CodeInvalidModel, Msg: "invalid type kind"}
	}
	return tp, nil
}

// keyWords returns the first and the last 8 bytes of a key, zero-padded
// when it is shorter. Together with the length they identify keys of up
// to 16 bytes, and they hash every key. It reads up to cap(b), never
// beyond.
func keyWords(b []byte) (w0, wl uint64) {
	switch n := len(b); {
	case n >= 8:
		return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case cap(b) >= 8:
		w0 = binary.LittleEndian.Uint64(b[:8]) & (1<<(8*n) - 1)
	default:
		for i := n - 1; i >= 0; i-- {
			w0 = w0<<8 | uint64(b[i])
		}
	}
	return w0, w0
}

// keyHash hashes key, whose keyWords are w0 and wl, with p's seed: a key
// of up to 16 bytes by its words and length, which identify it, a longer
// one by every byte. The seed is random for each plan, and every byte
// counts, so that the names of a model cannot be chosen (for a key of
// more than 16 bytes, merely by sharing both ends and the length) to pile
// up in one probe run and make every lookup scan it.
func (p *objPlan) keyHash(key []byte, w0, wl uint64) uint32 {
	n := len(key)
	hi, lo := bits.Mul64(w0^p.seed, wl^uint64(n)^0x9E3779B97F4A7C15)
	h := hi ^ lo
	for i := 8; i < n-8; i += 8 { // the middle words of a long key
		hi, lo = bits.Mul64(h^binary.LittleEndian.Uint64(key[i:]), 0xC2B2AE3D27D4EB4F)
		h = hi ^ lo
	}
	return uint32(h ^ h>>32)
}

// buildTable fills p.table, an open-addressing (linear probing) hash
// table of property indexes + 1 (0 is empty), at most half full.
func (p *objPlan) buildTable() {
	n := 4
	for n < 2*len(p.props) {
		n *= 2
	}
	p.table = make([]uint32, n)
	p.mask = uint32(n - 1)
	p.seed = rand.Uint64()
	for i := range p.props {
		pp := &p.props[i]
		pp.w0, pp.wl = keyWords([]byte(pp.name))
		h := p.keyHash([]byte(pp.name), pp.w0, pp.wl) & p.mask
		for p.table[h] != 0 {
			h = (h + 1) & p.mask
		}
		p.table[h] = uint32(i + 1)
	}
}

// lookup returns the index of the property named key, or -1.
func (p *objPlan) lookup(key []byte) int {
	w0, wl := keyWords(key)
	return p.lookupWords(key, w0, wl)
}

// lookupWords is lookup given keyWords(key).
func (p *objPlan) lookupWords(key []byte, w0, wl uint64) int {
	h := p.keyHash(key, w0, wl) & p.mask
	for {
		i := int(p.table[h]) - 1
		if i < 0 {
			return -1
		}
		pp := &p.props[i]
		if pp.w0 == w0 && pp.wl == wl && len(pp.name) == len(key) && (len(key) <= 16 || pp.name == string(key)) {
			return i
		}
		h = (h + 1) & p.mask
	}
}

// kindName is the name of a kind in messages.
func kindName(k definition.Kind) string {
	switch k {
	case definition.KindString:
		return "string"
	case definition.KindNumber:
		return "number"
	case definition.KindBoolean:
		return "boolean"
	case definition.KindDate:
		return "date"
	case definition.KindBuffer:
		return "buffer"
	case definition.KindObject:
		return "object"
	case definition.KindAny:
		return "any"
	case definition.KindGeoPoint:
		return "geopoint"
	case definition.KindArray:
		return "array"
	case definition.KindRef, definition.KindNested:
		return "object"
	}
	return "invalid"
}
