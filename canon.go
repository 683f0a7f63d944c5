package modelreg

import "github.com/modelreg/modelreg/definition"

// appendCanonical appends the canonical form v1 of o (package definition).
func appendCanonical(dst []byte, o *definition.Object) []byte { return o.AppendCanonical(dst) }
