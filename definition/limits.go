package definition

// Default limits, used for every Limits field that is zero (or negative).
const (
	DefaultMaxBytes           = 1 << 20 // 1 MiB of JSON
	DefaultMaxDepth           = 32      // nested JSON objects and arrays
	DefaultMaxProperties      = 1000    // properties per object
	DefaultMaxNameLen         = 128     // bytes in a model name
	DefaultMaxPropertyNameLen = 256     // bytes in a property name
)

// Limits bounds what the parser accepts. A zero (or negative) field means
// the corresponding Default constant, so Limits{} is the default.
type Limits struct {
	// MaxBytes is the largest input accepted, checked before decoding.
	MaxBytes int
	// MaxDepth is the deepest nesting of JSON objects and arrays accepted
	// anywhere in the document (the top-level object is depth 1; settings
	// and default values count too).
	MaxDepth int
	// MaxProperties is the largest number of properties in one object
	// (the definition's properties map or any nested object type).
	MaxProperties int
	// MaxNameLen is the longest model name (also model references), in bytes.
	MaxNameLen int
	// MaxPropertyNameLen is the longest property name, in bytes.
	MaxPropertyNameLen int
}

// DefaultLimits returns the default limits with every field filled in.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// withDefaults returns l with every zero or negative field replaced by its
// default.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxProperties <= 0 {
		l.MaxProperties = DefaultMaxProperties
	}
	if l.MaxNameLen <= 0 {
		l.MaxNameLen = DefaultMaxNameLen
	}
	if l.MaxPropertyNameLen <= 0 {
		l.MaxPropertyNameLen = DefaultMaxPropertyNameLen
	}
	return l
}
