package document

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/definition"
)

// Resolver returns the structure of the named model, or false if there is
// no such model. The registry's Registry.Resolver(ctx) is one: it looks in
// the tenant, then in the global scope. A Resolver must be safe for
// concurrent use if the Validator is used concurrently.
type Resolver = func(name string) (*definition.Object, bool)

// Limits bound the work and memory of one validation. A zero field means
// the default.
type Limits struct {
	// MaxBytes is the largest raw document accepted (default 4 MiB, at
	// most 2 GiB - 1), and the largest output: defaults cannot grow a
	// document beyond it. For ValidateValue it bounds only the bytes
	// that defaults add. It also bounds the paths and messages of the
	// violations reported (to 64 KiB if it is less): beyond it, the
	// report is truncated.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays (default 64,
	// at most 10,000; the document itself is depth 1).
	MaxDepth int
	// MaxItems is the longest array (default 10000).
	MaxItems int
	// MaxViolations is the number of violations reported before
	// validation stops (default 100); ValidationError.Truncated then
	// reports that there may be more.
	MaxViolations int
}

// Default limits.
const (
	DefaultMaxBytes      = 4 << 20
	DefaultMaxDepth      = 64
	DefaultMaxItems      = 10000
	DefaultMaxViolations = 100

	maxMaxDepth = 10000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	l.MaxBytes = min(l.MaxBytes, math.MaxInt32)
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	// ValidateValue recurses: a cyclic value must stop well before the
	// goroutine's stack does.
	l.MaxDepth = min(l.MaxDepth, maxMaxDepth)
	if l.MaxItems <= 0 {
		l.MaxItems = DefaultMaxItems
	}
	if l.MaxViolations <= 0 {
		l.MaxViolations = DefaultMaxViolations
	}
	return l
}

// Option configures a Validator.
type Option func(*Validator)

// WithLimits sets the limits; zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(v *Validator) { v.lim = l.withDefaults() }
}

// WithClock sets the clock used for the "$now" default of date
// properties (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(v *Validator) {
		if now != nil {
			v.now = now
		}
	}
}

// errNotMade is the error of a Validator not made by New.
func errNotMade() error {
	return &ModelError{Code: CodeInvalidModel, Msg: "the Validator was not made by New"}
}

// maxRefPlans bounds the cache of compiled referenced models. Referenced
// models are resolved at every validation (they can be replaced), so the
// cache is keyed by the immutable *definition.Object; when it is full it
// is emptied, so a Validator never holds more than this many replaced
// models alive.
const maxRefPlans = 64

// Validator validates and coerces documents against one model. It is
// immutable after New and safe for concurrent use; create it once per
// model and reuse it: New compiles patterns and lookup tables. A
// Validator not made by New (the zero value, or nil) validates nothing:
// its methods return a *ModelError (CodeInvalidModel).
type Validator struct {
	root    *objPlan
	resolve Resolver
	lim     Limits
	now     func() time.Time

	mu   sync.Mutex                                      // serialises refs updates
	refs atomic.Pointer[map[*definition.Object]*objPlan] // copy on write
	// pool holds idle *scanner values. It is a separate allocation and
	// a pooled scanner does not point back to the Validator, so that the
	// runtime's list of pools in use, which keeps a used pool for one
	// more collection, does not keep the Validator (and the models its
	// plans point to) reachable.
	pool *sync.Pool
}

// New compiles a validator for documents of the model whose structure is
// obj. resolve looks up referenced models (KindRef) by name at validation
// time; it may be nil when the model has no references (every reference is
// then unresolved). New fails with a *ModelError if obj or one of its
// nested objects has an invalid type or pattern; referenced models are
// checked when a document uses them.
func New(obj *definition.Object, resolve Resolver, opts ...Option) (*Validator, error) {
	v := &Validator{resolve: resolve, lim: Limits{}.withDefaults(), now: time.Now, pool: new(sync.Pool)}
	for _, o := range opts {
		o(v)
	}
	root, err := compileObject(obj)
	if err != nil {
		return nil, err
	}
	v.root = root
	return v, nil
}

// refPlan returns the plan of a referenced model's structure, compiling
// and caching it on first use.
func (v *Validator) refPlan(o *definition.Object) *objPlan {
	if o == v.root.obj {
		return v.root
	}
	if m := v.refs.Load(); m != nil {
		if p, ok := (*m)[o]; ok {
			return p
		}
	}
	p, err := compileObject(o)
	if err != nil {
		p = &objPlan{obj: o, err: err}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.refs.Load()
	var m map[*definition.Object]*objPlan
	if old == nil || len(*old) >= maxRefPlans {
		m = make(map[*definition.Object]*objPlan, 4)
	} else {
		if q, ok := (*old)[o]; ok { // compiled concurrently
			return q
		}
		m = make(map[*definition.Object]*objPlan, len(*old)+1)
		for k, q := range *old {
			m[k] = q
		}
	}
	m[o] = p
	v.refs.Store(&m)
	return p
}

func (v *Validator) getScanner() *scanner {
	if s, ok := v.pool.Get().(*scanner); ok {
		s.v = v
		return s
	}
	return &scanner{v: v}
}

func (v *Validator) putScanner(s *scanner) {
	s.reset()
	s.v = nil
	v.pool.Put(s)
}
