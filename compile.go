package modelreg

import (
	"encoding/json"
	"regexp"
	"strconv"
	"unsafe"

	"github.com/modelreg/modelreg/definition"
)

// maxCompileDepth bounds the nesting depth of any definition, whatever the
// policy, so that a definition built in Go with a cycle is refused rather
// than followed forever (documented on WithLimits and
// ErrInvalidDefinition).
const maxCompileDepth = 256

// pending is a nested object met while compiling a definition, in
// post-order (children before their parent).
type pending struct {
	src        *definition.Object // the object in the definition
	start, end int                // canonical bytes in compiler.arena
	key        uint64             // structure index key (hash of the canonical bytes)
	parent     int32              // index of the parent; -1: the named model; -2: not yet known
	firstChild int32              // -1: none; children are linked in property order
	next       int32              // next sibling, -1: none
	model      *Model
	reused     bool
	// private: the object, or one nested in it, gives a property extra
	// options, which the named model keeps in its own copy of the
	// object (see compiler.build).
	private bool
}

// compiler compiles one definition. The expensive, lock-free part
// (checking the definition, canonicalizing and hashing every nested
// object) is done by compile; intern and build then resolve the nested
// objects against a locked scope, copying only what becomes a new model.
// The definition itself is never modified.
type compiler struct {
	r        *Registry
	pend     []pending
	arena    []byte            // the model's canonical bytes
	spans    []definition.Span // where each pending object's canonical bytes lie in arena
	nodes    int
	depth    int // deepest level seen (1 = the model itself)
	maxDepth int // quota, <= 0: none
	tooDeep  bool
	topStart int
	topEnd   int
	topKey   uint64
	topKids  int32 // first top-level child, -1: none
	// extra: the bytes of the properties' extra options, at every level
	// (see defBytes).
	extra int64
	// privApprox: the approximate bytes of the named model's own copies
	// of nested objects (see build).
	privApprox int64
	// scratch holds the definition DefineJSON parses (see
	// definition.ParseScratch).
	scratch definition.Scratch
	// ownsTypes: the array element Types of the definition were made for
	// this compilation alone (DefineJSON's parse), so build may point
	// them to interned objects rather than copy them. Its names,
	// defaults and patterns are then known to be valid too.
	ownsTypes bool
}

// getCompiler returns a compiler from the registry's pool (see
// Registry.compilers): its scratch slices are reused from one definition
// to the next.
func (r *Registry) getCompiler() *compiler {
	c, _ := r.compilers.Get().(*compiler)
	if c == nil {
		c = new(compiler)
	}
	c.r = r
	return c
}

func (r *Registry) putCompiler(c *compiler) {
	// Cleared even when c is dropped: a model defined with DefineJSON
	// may keep its parse's element Types, which can point into the
	// scratch storage, and so keep that storage reachable after c is
	// gone (TestDroppedCompilerKeepsNoModels).
	clear(c.pend[:cap(c.pend)]) // drop pointers to Objects and Models
	c.scratch.Reset()
	if cap(c.arena) > 256<<10 || cap(c.pend) > 4096 || cap(c.spans) > 4096 {
		return
	}
	*c = compiler{pend: c.pend[:0], arena: c.arena[:0], spans: c.spans[:0], scratch: c.scratch}
	r.compilers.Put(c)
}

func defErr(path []byte, msg string) error {
	return &DefinitionError{Path: string(path), Msg: msg}
}

// compile checks def and computes the canonical form and fingerprint of
// the model and of every nested object.
func (c *compiler) compile(def *definition.Definition) error {
	if def.Name == "" {
		return defErr(nil, "empty model name")
	}
	if !c.ownsTypes && !definition.ValidModelName(def.Name, c.r.limits) {
		return defErr(nil, "invalid model name "+strconv.Quote(def.Name))
	}
	if !c.ownsTypes {
		if err := checkKept(def, c.r.limits); err != nil {
			return err
		}
	}
	path := make([]byte, 0, 64)
	path = append(path, "properties"...)
	if err := c.object(&def.Object, 1, path); err != nil {
		return err
	}
	c.topKids = c.adopt(0, -1)
	// One walk writes the model's canonical form; a nested object's
	// canonical form is a part of it (its parent's includes it verbatim),
	// and the walk says where. The checking walk above recorded the
	// nested objects in the same order (post-order, properties in order).
	c.arena, c.spans = def.Object.AppendCanonicalSpans(c.arena[:0], c.spans[:0])
	if len(c.spans) != len(c.pend) {
		return defErr(nil, "nested objects changed while compiling")
	}
	for i := range c.pend {
		p := &c.pend[i]
		sp := c.spans[i]
		p.start, p.end = sp.Start, sp.End
		p.key = c.r.hash(c.arena[p.start:p.end])
	}
	c.topStart = 0
	c.topEnd = len(c.arena)
	c.topKey = c.r.hash(c.arena)
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

// object checks the invariants of package definition on o (at nesting
// level depth) and records its nested objects.
func (c *compiler) object(o *definition.Object, depth int, path []byte) error {
	if o == nil {
		return defErr(path, "nested type without an object")
	}
	if depth > maxCompileDepth {
		return defErr(path, "nesting deeper than "+strconv.Itoa(maxCompileDepth))
	}
	if err := c.level(depth); err != nil {
		return err
	}
	if o.Strict > definition.StrictFilter {
		return defErr(path, "invalid strictness "+strconv.Itoa(int(o.Strict)))
	}
	if depth > 1 && o.Strict != definition.StrictOpen {
		// The language has no way to write it: the definition's JSON
		// (Definition.MarshalJSON) would spell another structure.
		return defErr(path, "a nested object cannot be strict")
	}
	c.nodes += len(o.Properties)
	if c.nodes > c.r.maxNodes {
		return defErr(nil, "more than "+strconv.Itoa(c.r.maxNodes)+" properties in all")
	}
	for i := range o.Properties {
		p := &o.Properties[i]
		if p.Name == "" {
			return defErr(path, "empty property name")
		}
		if i > 0 && o.Properties[i-1].Name >= p.Name {
			return defErr(append(append(path, '.'), p.Name...), "properties not sorted by name or duplicated")
		}
		if !c.ownsTypes {
			if err := checkProperty(p, c.r.limits, path); err != nil {
				return err
			}
		}
		if len(p.Extra) > 0 {
			c.extra += extraBytes(p.Extra)
		}
		if scalarKind(p.Type.Kind) {
			continue // the common case: nothing to check, no path to build
		}
		if err := c.typ(&p.Type, depth, append(append(path, '.'), p.Name...)); err != nil {
			return err
		}
	}
	return nil
}

// checkKept checks what a definition keeps besides its structure, as
// Parse makes it, so that the model's Definition writes back (MarshalJSON)
// as the same definition: Removed sorted, unique, valid property names,
// none of them a property; the "options" setting's strict agreeing with
// the definition's. (MarshalJSON leaves out settings and extra options
// under the keys Parse reads into fields.) The values of settings and
// extra options are not read: they are the caller's JSON (see
// Registry.Define), and checking them would cost every definition a scan
// of them, twice for a CheckDefine followed by Define.
func checkKept(def *definition.Definition, lim definition.Limits) error {
	if raw, ok := def.Settings["options"]; ok {
		if err := checkOptionsStrict(raw, def.Object.Strict); err != nil {
			return err
		}
	}
	props := def.Properties
	for i, name := range def.Removed {
		path := []byte("removed." + name)
		switch {
		case !definition.ValidPropertyName(name, lim):
			return defErr([]byte("removed"), "invalid property name "+strconv.Quote(name))
		case i > 0 && def.Removed[i-1] >= name:
			return defErr(path, "removed properties not sorted by name or duplicated")
		}
		for len(props) > 0 && props[0].Name < name {
			props = props[1:]
		}
		if len(props) > 0 && props[0].Name == name {
			return defErr(path, "both a property and removed")
		}
	}
	return nil
}

// checkOptionsStrict checks that a definition's "options" setting (raw)
// does not hold a "strict" other than the definition's strictness: Parse
// takes options.strict over strict, so the definition's JSON would spell
// another structure. Parse guarantees it; a definition built in Go may
// break it.
func checkOptionsStrict(raw json.RawMessage, strict definition.Strictness) error {
	var opts map[string]json.RawMessage
	if json.Unmarshal(raw, &opts) != nil {
		return nil // not an object: Parse ignores it too
	}
	v, ok := opts["strict"]
	if !ok {
		return nil
	}
	var x any // decoded, as Parse reads it: "\u0066ilter" is "filter"
	_ = json.Unmarshal(v, &x)
	var want definition.Strictness
	switch x {
	case true, "throw", "validate":
		want = definition.StrictReject
	case false:
		want = definition.StrictOpen
	case "filter":
		want = definition.StrictFilter
	default:
		return defErr([]byte("options.strict"), "strict must be true, false, \"throw\", \"validate\" or \"filter\"")
	}
	if want != strict {
		return defErr([]byte("options.strict"), "is "+want.String()+", but the definition's strictness is "+strict.String())
	}
	return nil
}

// checkProperty checks what Parse guarantees of a property and a
// definition built in Go may break: a valid name, a default in canonical
// form (the canonical form includes it verbatim: any other bytes could
// spell another structure's form), a pattern that compiles.
func checkProperty(p *definition.Property, lim definition.Limits, path []byte) error {
	if !definition.ValidPropertyName(p.Name, lim) {
		return defErr(path, "invalid property name "+strconv.Quote(p.Name))
	}
	if len(p.Default) > 0 && !definition.IsCanonicalValue(p.Default) {
		return defErr(append(append(path, '.'), p.Name...), "default is not a JSON value in canonical form")
	}
	if p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			return defErr(append(append(path, '.'), p.Name...), "invalid pattern: "+err.Error())
		}
	}
	return nil
}

// scalarKind reports whether k is a built-in type without parts.
func scalarKind(k definition.Kind) bool {
	switch k {
	case definition.KindString, definition.KindNumber, definition.KindBoolean,
		definition.KindDate, definition.KindBuffer, definition.KindObject,
		definition.KindAny, definition.KindGeoPoint:
		return true
	}
	return false
}

// typ checks t (a property type of an object at nesting level depth) and
// records its nested objects.
func (c *compiler) typ(t *definition.Type, depth int, path []byte) error {
	if scalarKind(t.Kind) {
		return nil
	}
	switch t.Kind {
	case definition.KindRef:
		if t.Ref == "" {
			return defErr(path, "reference without a model name")
		}
		if !c.ownsTypes {
			// As Parse reads it: a name that is not a model name, or
			// that spells a built-in type ("String"), would be written
			// back (MarshalJSON) as something else.
			if !definition.ValidRefName(t.Ref, c.r.limits) {
				return defErr(path, "reference "+strconv.Quote(t.Ref)+" is not a model name")
			}
		}
		return nil
	case definition.KindArray:
		if t.Elem == nil {
			return defErr(path, "array without an element type")
		}
		if depth+1 > maxCompileDepth {
			return defErr(path, "nesting deeper than "+strconv.Itoa(maxCompileDepth))
		}
		if err := c.level(depth + 1); err != nil {
			return err
		}
		return c.typ(t.Elem, depth+1, append(path, "[]"...))
	case definition.KindNested:
		from := len(c.pend)
		if err := c.object(t.Object, depth+1, path); err != nil {
			return err
		}
		kids := c.adopt(from, int32(len(c.pend)))
		private := false
		for i := range t.Object.Properties {
			if len(t.Object.Properties[i].Extra) > 0 {
				private = true
				break
			}
		}
		for k := kids; k >= 0 && !private; k = c.pend[k].next {
			private = c.pend[k].private
		}
		c.pend = append(c.pend, pending{src: t.Object, parent: -2, firstChild: kids, next: -1, private: private})
		return nil
	}
	return defErr(path, "invalid type kind "+strconv.Itoa(int(t.Kind)))
}

// kids returns the models of the children starting at first, without
// duplicates, in order, in inline when they fit.
func (c *compiler) kids(first int32, inline []*Model) []*Model {
	n := 0
	for k := first; k >= 0; k = c.pend[k].next {
		n++
	}
	if n == 0 {
		return nil
	}
	out := inline[:0:min(n, len(inline))]
	if n > len(inline) {
		out = make([]*Model, 0, n)
	}
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

// build fills dst with a copy of src whose nested types point to the
// interned objects of the children starting at kid (they are linked in
// property order, which is the order their types appear in src). props
// (len(src.Properties) long) receives the properties.
//
// named is true for the named model being defined (and its own copies of
// nested objects), false for an anonymous one.
//
// An anonymous model is a structure, shared by every model in its scope
// that has it: it keeps no extra options (description, index, ...),
// which are not part of the structure, since those of the definition
// that created it would show in every other model using it. The named
// model keeps its own: a nested object whose properties, or those of an
// object nested in it, have extra options is copied for the named model
// (the copy has the anonymous model's structure, and its nested types
// point to the anonymous models' objects where nothing below has extra
// options), so that its Definition writes back as it was defined.
//
// Only the named model may keep (and rewrite in place) the element
// Types of a parse that c owns: they are allocated together, and the
// block holds the element Types of every nested object of the definition,
// pointing to the anonymous models this definition uses. An anonymous
// model can outlive the named model that created it (a later definition
// reuses it), and keeping the block would keep the anonymous models of
// that older definition too, released or not: with each edit of a schema
// in which one version's structure comes back in the next, a chain of
// them (TestDefineJSONReleasesReplacedAnonymous).
func (c *compiler) build(dst, src *definition.Object, kid int32, props []definition.Property, named bool) {
	dst.Strict = src.Strict
	if len(src.Properties) == 0 {
		return
	}
	dst.Properties = props
	copy(dst.Properties, src.Properties)
	for i := range dst.Properties {
		if !named {
			dst.Properties[i].Extra = nil
		}
		t := &dst.Properties[i].Type
		if t.Kind != definition.KindNested && t.Kind != definition.KindArray {
			continue
		}
		for t.Kind == definition.KindArray {
			if c.ownsTypes && named {
				if innerKind(t.Elem) != definition.KindNested {
					break // an array of scalars or references: keep it
				}
				t = t.Elem // this parse's own Type: compiled in place
				continue
			}
			// The caller's Type is copied even for an array of
			// scalars: a parser allocates the Types of a definition
			// together, and keeping one would keep them all, with the
			// parsed objects they point to (see
			// TestDefineDoesNotRetainDefinition).
			elem := new(definition.Type)
			*elem = *t.Elem
			t.Elem = elem
			t = elem
		}
		if t.Kind == definition.KindNested {
			if p := &c.pend[kid]; named && p.private {
				t.Object = c.private(p)
			} else {
				t.Object = p.model.obj
			}
			kid = c.pend[kid].next
		}
	}
}

// private returns the named model's own copy of the nested object of p
// (see build), and adds its approximate size to c.privApprox.
func (c *compiler) private(p *pending) *definition.Object {
	o, props := allocModel[definition.Object](len(p.src.Properties))
	c.build(o, p.src, p.firstChild, props, true)
	n := int64(unsafe.Sizeof(*o)) + int64(len(props))*int64(unsafe.Sizeof(definition.Property{}))
	for i := range props {
		if x := props[i].Extra; len(x) > 0 {
			n += extraBytes(x) + 48*int64(len(x)) // the map entries
		}
	}
	c.privApprox += n
	return o
}

// innerKind returns the kind of t under any number of arrays.
func innerKind(t *definition.Type) definition.Kind {
	for t.Kind == definition.KindArray {
		t = t.Elem
	}
	return t.Kind
}

// intern resolves every nested object against s, creating the missing
// anonymous models, and returns the number of reuses (the pending
// objects marked reused; the others are the models created). The caller
// holds s.mu for writing. It cannot fail.
func (c *compiler) intern(s *scope) (reuses int) {
	for i := range c.pend {
		p := &c.pend[i]
		canon := c.arena[p.start:p.end]
		m := s.findAnon(p.key, canon)
		if m != nil {
			reuses++
			p.reused = true
		} else {
			am, props := allocModel[anonModel](len(p.src.Properties))
			c.build(&am.obj, p.src, p.firstChild, props, false)
			m = &am.Model
			m.tenant = s.id
			m.obj = &am.obj
			m.canonical = string(canon)
			m.key = p.key
			m.nested = c.kids(p.firstChild, am.nestedBuf[:])
			m.approx = approxModelBytes(m)
			s.addAnon(m)
		}
		p.model = m
	}
	return reuses
}

// defBytes returns the bytes def, just compiled by c, counts against
// Policy.MaxBytes: its canonical form, the canonical form of each of its
// nested objects (an anonymous model holds its own copy, so a structure
// nested d levels deep is held about d times over), its properties' extra
// options (at every level), its kept settings and its removed property
// names.
func (c *compiler) defBytes(def *definition.Definition) int64 {
	n := int64(c.topEnd-c.topStart) + c.extra
	for i := range c.pend {
		n += int64(c.pend[i].end - c.pend[i].start)
	}
	for k, v := range def.Settings {
		n += int64(len(k) + len(v))
	}
	for _, name := range def.Removed {
		n += int64(len(name))
	}
	return n
}

// extraBytes returns the size of a property's extra options: keys and
// values.
func extraBytes(extra map[string]json.RawMessage) int64 {
	var n int64
	for k, v := range extra {
		n += int64(len(k) + len(v))
	}
	return n
}
