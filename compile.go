package modelreg

import (
	"strconv"
	"sync"

	"github.com/modelreg/modelreg/definition"
)

// maxCompileDepth bounds the nesting depth of any definition, whatever the
// policy, so that a definition built in Go with a cycle is refused rather
// than followed forever.
const maxCompileDepth = 256

// pending is a nested object met while compiling a definition, in
// post-order (children before their parent).
type pending struct {
	obj        *definition.Object // fresh copy, its nested types re-pointed when interned
	slot       *definition.Type   // the type, in the parent's copy, that points to obj
	start, end int                // canonical bytes in compiler.arena
	fp         definition.Fingerprint
	parent     int32 // index of the parent; -1: the named model; -2: not yet known
	firstChild int32 // -1: none
	next       int32 // next sibling, -1: none
	model      *Model
	reused     bool
}

// compiler compiles one definition. The expensive, lock-free part
// (copying, validating, canonicalizing and hashing every nested object) is
// done by compile; intern then resolves the nested objects against a
// locked scope.
type compiler struct {
	r        *Registry
	pend     []pending
	arena    []byte
	nodes    int
	depth    int // deepest level seen (1 = the model itself)
	maxDepth int // quota, <= 0: none
	tooDeep  bool
	top      definition.Definition
	topStart int
	topEnd   int
	topFP    definition.Fingerprint
	topKids  int32 // first top-level child, -1: none
}

var compilerPool = sync.Pool{New: func() any { return new(compiler) }}

func (r *Registry) getCompiler(maxDepth int) *compiler {
	c := compilerPool.Get().(*compiler)
	c.r = r
	c.maxDepth = maxDepth
	return c
}

func (r *Registry) putCompiler(c *compiler) {
	if cap(c.arena) > 256<<10 || cap(c.pend) > 4096 {
		return
	}
	clear(c.pend[:cap(c.pend)]) // drop pointers to Objects and Models
	*c = compiler{pend: c.pend[:0], arena: c.arena[:0]}
	compilerPool.Put(c)
}

func defErr(path []byte, msg string) error {
	return &DefinitionError{Path: string(path), Msg: msg}
}

// compile copies and checks def, and computes the canonical form and
// fingerprint of the model and of every nested object.
func (c *compiler) compile(def *definition.Definition) error {
	if def.Name == "" {
		return defErr(nil, "empty model name")
	}
	c.top = definition.Definition{Name: def.Name, Settings: def.Settings, Removed: def.Removed}
	path := make([]byte, 0, 64)
	path = append(path, "properties"...)
	if err := c.object(&c.top.Object, &def.Object, 1, path); err != nil {
		return err
	}
	c.topKids = c.adopt(0, -1)
	for i := range c.pend {
		p := &c.pend[i]
		p.start = len(c.arena)
		c.arena = appendCanonical(c.arena, p.obj)
		p.end = len(c.arena)
		p.fp = c.r.sum(c.arena[p.start:p.end])
	}
	c.topStart = len(c.arena)
	c.arena = appendCanonical(c.arena, &c.top.Object)
	c.topEnd = len(c.arena)
	c.topFP = c.r.sum(c.arena[c.topStart:c.topEnd])
	return nil
}

// adopt makes the pending objects in pend[from:] whose parent is not yet
// known children of parent, and returns the first of them (-1: none).
func (c *compiler) adopt(from int, parent int32) int32 {
	first := int32(-1)
	for i := len(c.pend) - 1; i >= from; i-- {
		if c.pend[i].parent == -2 {
			c.pend[i].parent = parent
			c.pend[i].next = first
			first = int32(i)
		}
	}
	return first
}

// object fills dst with a copy of src, checking the invariants of package
// definition, and records the nested objects.
func (c *compiler) object(dst, src *definition.Object, depth int, path []byte) error {
	if src == nil {
		return defErr(path, "nested type without an object")
	}
	if depth > maxCompileDepth {
		return defErr(path, "nesting deeper than "+strconv.Itoa(maxCompileDepth))
	}
	if err := c.level(depth); err != nil {
		return err
	}
	if src.Strict > definition.StrictFilter {
		return defErr(path, "invalid strictness "+strconv.Itoa(int(src.Strict)))
	}
	dst.Strict = src.Strict
	if len(src.Properties) > 0 {
		dst.Properties = make([]definition.Property, len(src.Properties))
		copy(dst.Properties, src.Properties)
	}
	c.nodes += len(src.Properties)
	if c.nodes > c.r.maxNodes {
		return defErr(nil, "more than "+strconv.Itoa(c.r.maxNodes)+" properties in all")
	}
	for i := range dst.Properties {
		p := &dst.Properties[i]
		ppath := append(append(path, '.'), p.Name...)
		if p.Name == "" {
			return defErr(path, "empty property name")
		}
		if i > 0 && dst.Properties[i-1].Name >= p.Name {
			return defErr(ppath, "properties not sorted by name or duplicated")
		}
		if err := c.typ(&p.Type, depth, ppath); err != nil {
			return err
		}
	}
	return nil
}

// level records that the structure reaches nesting level depth.
func (c *compiler) level(depth int) error {
	if c.maxDepth > 0 && depth > c.maxDepth {
		c.tooDeep = true
		c.depth = depth
		return ErrQuota
	}
	c.depth = max(c.depth, depth)
	return nil
}

// typ checks t (a copy, in the parent's copy, at nesting level depth) and
// records its nested objects.
func (c *compiler) typ(t *definition.Type, depth int, path []byte) error {
	switch t.Kind {
	case definition.KindString, definition.KindNumber, definition.KindBoolean,
		definition.KindDate, definition.KindBuffer, definition.KindObject,
		definition.KindAny, definition.KindGeoPoint:
		return nil
	case definition.KindRef:
		if t.Ref == "" {
			return defErr(path, "reference without a model name")
		}
		return nil
	case definition.KindArray:
		if t.Elem == nil {
			return defErr(path, "array without an element type")
		}
		if err := c.level(depth + 1); err != nil {
			return err
		}
		e := new(definition.Type)
		*e = *t.Elem
		t.Elem = e
		return c.typ(e, depth+1, append(path, "[]"...))
	case definition.KindNested:
		from := len(c.pend)
		child := new(definition.Object)
		if err := c.object(child, t.Object, depth+1, path); err != nil {
			return err
		}
		t.Object = child
		kids := c.adopt(from, int32(len(c.pend)))
		c.pend = append(c.pend, pending{obj: child, slot: t, parent: -2, firstChild: kids, next: -1})
		return nil
	}
	return defErr(path, "invalid type kind "+strconv.Itoa(int(t.Kind)))
}

// kids returns the models of the children starting at first, without
// duplicates, in order.
func (c *compiler) kids(first int32) []*Model {
	n := 0
	for k := first; k >= 0; k = c.pend[k].next {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]*Model, 0, n)
outer:
	for k := first; k >= 0; k = c.pend[k].next {
		m := c.pend[k].model
		for _, x := range out {
			if x == m {
				continue outer
			}
		}
		out = append(out, m)
	}
	return out[:len(out):len(out)]
}

// intern resolves every nested object against s, creating the missing
// anonymous models, and returns the number of reuses and the models
// created. The caller holds s.mu for writing. It cannot fail.
func (c *compiler) intern(s *scope, created *[]*Model) (reuses int) {
	for i := range c.pend {
		p := &c.pend[i]
		canon := c.arena[p.start:p.end]
		m := s.findAnon(p.fp, canon)
		if m != nil {
			reuses++
			p.reused = true
		} else {
			m = &Model{
				tenant:    s.id,
				obj:       p.obj,
				canonical: append([]byte(nil), canon...),
				fp:        p.fp,
				nested:    c.kids(p.firstChild),
			}
			m.approx = approxModelBytes(m)
			s.addAnon(m)
			if created != nil {
				*created = append(*created, m)
			}
		}
		p.model = m
		// Point the parent's copy at the interned structure. If the
		// parent is itself reused, the copy is dropped anyway.
		p.slot.Object = m.obj
	}
	return reuses
}

// defBytes returns the bytes def counts against Policy.MaxBytes.
func defBytes(canonLen int, def *definition.Definition) int64 {
	n := int64(canonLen)
	for k, v := range def.Settings {
		n += int64(len(k) + len(v))
	}
	return n
}
