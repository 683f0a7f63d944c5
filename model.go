package modelreg

import (
	"bytes"
	"math"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/modelreg/modelreg/definition"
)

// A Model is a compiled, immutable model: named (defined by a
// definition) or anonymous (a nested object structure, interned in one
// scope). A Model belongs to exactly one scope and stays valid, unchanged,
// for as long as the caller holds it, even after it is replaced, removed
// or its tenant cleaned up; the registry then simply no longer returns it.
//
// The Object tree of a compiled model shares the Objects of its
// anonymous models: a nested property's Type.Object is the Object of the
// anonymous model the nested structure resolved to. An anonymous model is
// a structure shared by every model that has it, so it keeps no extra
// options (Property.Extra: description, index, ...), which are not part
// of a structure; a named model whose nested objects give properties
// extra options has its own copies of those objects instead, with the
// same structure and its own options, so that its Definition writes back
// as it was defined. References to other
// models are KindRef types holding a name; resolve them at use time with
// Registry.Resolver. The returned values must not be modified.
type Model struct {
	name      string // "" for anonymous models
	tenant    string // "" for the global scope
	def       *definition.Definition
	obj       *definition.Object
	canonical string                                 // anonymous models only (see Canonical)
	key       uint64                                 // structure index key
	fp        atomic.Pointer[definition.Fingerprint] // computed on first use
	nested    []*Model                               // anonymous models used directly, in order of first use
	defBytes  int64                                  // bytes counted against Policy.MaxBytes (named only)
	// approx is the approximate heap footprint, at most MaxInt32. It is
	// 32 bits, beside refcnt, so that a named model of seven properties
	// and its definition fit the allocator's 1 KiB size class.
	approx int32

	// Scope-owned state, guarded by the owning scope's mutex.
	refcnt int32  // anonymous: number of live models using it directly
	nextFP *Model // next model in the same fingerprint chain
}

// namedModel allocates a named model and its compiled definition together.
type namedModel struct {
	Model
	def       definition.Definition
	nestedBuf [inlineNested]*Model // Model.nested when it fits
}

// inlineNested is how many nested models a model holds without a
// separate allocation.
const inlineNested = 3

// anonModel allocates an anonymous model and its compiled object together.
type anonModel struct {
	Model
	obj       definition.Object
	nestedBuf [inlineNested]*Model // Model.nested when it fits
}

// Name returns the model's name, or "" for an anonymous model.
func (m *Model) Name() string { return m.name }

// ID returns a display id: the name of a named model, and for an
// anonymous model "anonymous:" followed by the first 16 hex digits of its
// fingerprint's hash. An anonymous id is stable (the same structure always
// has the same id) but it is not a name: FindByName never returns an
// anonymous model, and no valid model name contains ':'.
func (m *Model) ID() string {
	if m.name != "" {
		return m.name
	}
	const hexd = "0123456789abcdef"
	var b [len("anonymous:") + 16]byte
	n := copy(b[:], "anonymous:")
	fp := m.Fingerprint()
	for _, c := range fp.Sum[:8] {
		b[n], b[n+1] = hexd[c>>4], hexd[c&15]
		n += 2
	}
	return string(b[:])
}

// Anonymous reports whether the model is an anonymous nested structure.
func (m *Model) Anonymous() bool { return m.def == nil }

// Tenant returns the id of the tenant the model belongs to, or "" for the
// global scope.
func (m *Model) Tenant() string { return m.tenant }

// Object returns the model's compiled structure.
func (m *Model) Object() *definition.Object { return m.obj }

// Definition returns the compiled definition of a named model (its
// Object is the compiled structure, its Settings those of the definition),
// or nil for an anonymous model.
func (m *Model) Definition() *definition.Definition { return m.def }

// Canonical returns the canonical form v1 of the model's structure, in
// a new slice.
//
// An anonymous model keeps its canonical form: structure lookups compare
// it. A named model does not keep it, because it repeats the canonical
// forms of the model's anonymous models verbatim (it was a fifth of a
// tenant's heap): Canonical writes it from the model's Object.
func (m *Model) Canonical() []byte {
	if m.def == nil {
		return []byte(m.canonical)
	}
	return m.obj.Canonical()
}

// hasCanonical reports whether the model's canonical form is canon. A
// named model writes its form into scratch to compare it; it allocates
// only if scratch has less room than the form needs.
func (m *Model) hasCanonical(canon, scratch []byte) bool {
	if m.def == nil {
		return m.canonical == string(canon)
	}
	return bytes.Equal(m.obj.AppendCanonical(scratch[:0]), canon)
}

// Fingerprint returns the fingerprint of the model's canonical form
// (definition.Sum). It is computed on first use: the registry's own
// indexes do not need it (see the package documentation).
func (m *Model) Fingerprint() definition.Fingerprint {
	if p := m.fp.Load(); p != nil {
		return *p
	}
	var f definition.Fingerprint
	if m.def == nil {
		f = definition.Sum([]byte(m.canonical))
	} else {
		f = m.obj.Fingerprint()
	}
	m.fp.Store(&f)
	return f
}

// Nested returns the anonymous models the model uses directly (nested
// objects of its own properties, including array elements), in order of
// first use, without duplicates. The caller must not modify the slice.
func (m *Model) Nested() []*Model { return m.nested }

// Refs returns the names of the models referenced anywhere in the model's
// structure (nested objects and arrays included), sorted, without
// duplicates.
func (m *Model) Refs() []string {
	var refs []string
	seen := map[*definition.Object]bool{}
	var walkObj func(o *definition.Object)
	walkObj = func(o *definition.Object) {
		if seen[o] {
			return
		}
		seen[o] = true
		for i := range o.Properties {
			t := &o.Properties[i].Type
			for t.Kind == definition.KindArray && t.Elem != nil {
				t = t.Elem
			}
			switch t.Kind {
			case definition.KindRef:
				refs = append(refs, t.Ref)
			case definition.KindNested:
				walkObj(t.Object)
			}
		}
	}
	walkObj(m.obj)
	slices.Sort(refs)
	return slices.Compact(refs)
}

// approxModelBytes estimates the heap held by a model: the Model itself,
// its canonical bytes, its own Object (nested Objects belong to their
// anonymous models; a named model's own copies of nested objects with
// extra options are added by its compiler), its properties' extra options
// and its names. It saturates at math.MaxInt32.
func approxModelBytes(m *Model) int32 {
	n := int64(unsafe.Sizeof(Model{})) + int64(len(m.canonical)) + int64(len(m.name))
	n += int64(unsafe.Sizeof(definition.Object{}))
	n += int64(cap(m.nested)) * int64(unsafe.Sizeof(m))
	for i := range m.obj.Properties {
		p := &m.obj.Properties[i]
		n += int64(unsafe.Sizeof(*p)) + int64(len(p.Default)) + int64(len(p.Pattern))
		if len(p.Extra) > 0 {
			n += extraBytes(p.Extra) + 48*int64(len(p.Extra)) // the map entries
		}
		for t := &p.Type; t.Kind == definition.KindArray; t = t.Elem {
			n += int64(unsafe.Sizeof(*t))
		}
	}
	if m.def != nil {
		// A named model keeps its settings and removed names, not its
		// canonical form (defBytes counts nested forms as well, which
		// its anonymous models hold).
		n += int64(unsafe.Sizeof(*m.def))
		for k, v := range m.def.Settings {
			n += int64(len(k)+len(v)) + 48 // the map entry
		}
		for _, r := range m.def.Removed {
			n += int64(len(r)) + int64(unsafe.Sizeof(r))
		}
	}
	// The index entries that refer to it: name and fingerprint.
	n += 64
	return int32(min(n, math.MaxInt32))
}
