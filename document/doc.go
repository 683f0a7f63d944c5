// Package document validates and coerces JSON documents against model
// structures (*definition.Object), and exports models as JSON Schema.
//
// Placeholder: the full description is written below.
package document
