// Package document validates and coerces JSON documents against model
// structures, and exports models as JSON Schema.
//
// A Validator is compiled once per model structure (*definition.Object)
// and is safe for concurrent use:
//
//	v, err := document.New(model.Object(), registry.Resolver(ctx))
//	out, err := v.Validate(body) // raw JSON in, coerced compact JSON out
//	var ve *document.ValidationError
//	if errors.As(err, &ve) {
//		for _, x := range ve.Violations {
//			fmt.Println(x.Path, x.Code, x.Message) // "/items/3/qty" "type" "expected number, got boolean"
//		}
//	}
//
// Validate reads the raw bytes in a single pass that checks the JSON
// syntax, validates, and writes the output; ValidateValue applies the same
// rules to values decoded by encoding/json. References to other models
// (definition.KindRef) are resolved at validation time through the
// Resolver, so a replaced model takes effect at once; a missing model is a
// violation (CodeUnresolvedRef). Schema and NamedSchema export a model as
// a JSON Schema draft 2020-12 document.
//
// # Coercion rules
//
// COERCION.md in this directory is the reference; in short:
//
//   - The document is one JSON object (RFC 8259), UTF-8, without duplicate
//     keys. Numbers must fit a float64's range; their text is kept, so
//     integers are never rounded.
//   - The output is compact JSON in the input's member order. Values that
//     need no coercion are copied byte for byte; absent properties with a
//     default are added at the end of their object.
//   - null is kept for any property that is not required; required means
//     present and not null. Defaults apply to absent properties only, and
//     are validated and coerced like document values ("$now" on a date is
//     the Validator's clock).
//   - string: strings only. number: numbers, or a string holding exactly
//     a JSON number literal ("12" -> 12). boolean: true/false, the strings
//     "true"/"false" or the numbers 0/1. date: an RFC 3339 date-time or full-date
//     string, or integer epoch milliseconds; output is an RFC 3339 UTC
//     string with 3, 6 or 9 fraction digits. buffer: standard or URL-safe
//     base64, padded or not; output is standard padded base64. object: any
//     JSON object. any: any value. geopoint: {"lat","lng"} or "lat,lng",
//     in range; output {"lat":..,"lng":..}. Arrays never wrap a single
//     value.
//   - Strict models reject unknown properties, open models keep them,
//     "filter" models drop them.
//   - Nothing is ever truncated or rounded: a value that cannot be
//     represented exactly is a violation.
//
// Every violation is reported (up to Limits.MaxViolations) with a JSON
// Pointer, a stable Code and a message. Limits on size, depth and array
// length stop validation with a typed violation; a document never causes
// a panic or unbounded memory use.
package document
