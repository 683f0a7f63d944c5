package document

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/modelreg/modelreg/definition"
)

// This file is the decoded-value path: the same rules as the raw-JSON
// path, applied to the values that encoding/json produces.

// ValidateValue checks a decoded document against the model and returns
// the coerced document. doc is what encoding/json decodes into an any:
// map[string]any, []any, string, bool, nil, float64 or json.Number; Go
// integers (int, int8 ... uint64), float32 and []byte (a buffer) are
// accepted too. Any other Go type is a violation (CodeUnsupportedValue).
//
// The result is a new value that shares no map or slice with doc. Numbers
// keep their Go type and value; a number coerced from a string becomes a
// json.Number, a date a string, a buffer a standard base64 string, a
// geopoint a map[string]any with "lat" and "lng". Violations are those
// of Validate on the JSON encoding of doc, except that a decoded document
// cannot have syntax errors or duplicate keys, and has no size: MaxBytes
// bounds the number of its values instead (CodeTooLarge: each takes a
// byte at least in JSON; a map or slice used in several places counts
// each time), and the order of violations may differ; map members are checked in key
// order, so when a fatal violation (CodeTooDeep, CodeTooManyItems) or
// Limits.MaxViolations stops validation, the violations found before it
// may not be those Validate finds. A cyclic doc is reported as
// CodeTooDeep.
func (v *Validator) ValidateValue(doc any) (any, error) {
	if v == nil || v.root == nil {
		return nil, errNotMade()
	}
	s := v.getScanner()
	s.lim = v.lim
	var out any
	if m, ok := jsonNil(doc).(map[string]any); ok {
		out = s.objectVal(v.root, m)
	} else {
		s.skipVal(doc)
		if !s.stop {
			s.violate(CodeType, "expected object, got "+valueType(doc))
		}
	}
	var err error
	if len(s.viols) > 0 {
		err = &ValidationError{Violations: s.viols, Truncated: s.truncated}
		out = nil
	}
	v.putScanner(s)
	return out, err
}

// count records that a map or slice of n members or elements is walked:
// itself and its n values. A decoded document counted over
// Limits.MaxBytes is refused (CodeTooLarge), as Validate would refuse its
// JSON encoding, which is larger: each value takes a byte at least, and a
// map or slice, counted twice (as a value of its parent and here), two
// for its brackets. So a value that uses one map or slice in several
// places, walked as the tree it encodes as, cannot make the work grow
// without bound.
func (s *scanner) count(n int) bool {
	s.values += 1 + n
	if s.values > s.lim.MaxBytes {
		s.fatal(CodeTooLarge, "the document has more than "+strconv.Itoa(s.lim.MaxBytes)+" values: its JSON encoding is larger than the limit of as many bytes")
		return false
	}
	return true
}

// jsonNil returns nil for a nil map, slice or byte slice, which
// encoding/json encodes as null, and x otherwise: ValidateValue treats a
// value as Validate treats its JSON encoding.
func jsonNil(x any) any {
	switch n := x.(type) {
	case map[string]any:
		if n == nil {
			return nil
		}
	case []any:
		if n == nil {
			return nil
		}
	case []byte:
		if n == nil {
			return nil
		}
	}
	return x
}

// valueType names the JSON type of a decoded value.
func valueType(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case float64, float32, json.Number, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "number"
	}
	return fmt.Sprintf("%T", x)
}

// goNumber classifies a decoded number. It returns ok=false for a value
// that is not a number, and fails (with a violation recorded) for NaN,
// ±Inf and an invalid or overflowing json.Number.
func (s *scanner) goNumber(x any) (isNum, valid bool) {
	switch n := x.(type) {
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			s.violate(CodeNumberRange, "number is NaN or infinite")
			return true, false
		}
	case float32:
		if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
			s.violate(CodeNumberRange, "number is NaN or infinite")
			return true, false
		}
	case json.Number:
		ok, check := isNumberLit([]byte(n))
		if !ok {
			s.violate(CodeUnsupportedValue, "json.Number "+strconv.Quote(string(n))+" is not a JSON number")
			return true, false
		}
		if check && !finite([]byte(n)) {
			s.violate(CodeNumberRange, "number overflows float64")
			return true, false
		}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
	default:
		return false, false
	}
	return true, true
}

// floatOf returns a valid number's value as a float64 (for range checks).
func floatOf(x any) float64 {
	switch n := x.(type) {
	case float64:
		return n
	case float32:
		return float64(n)
	case json.Number:
		f, _ := strconv.ParseFloat(string(n), 64)
		return f
	case int:
		return float64(n)
	case int8:
		return float64(n)
	case int16:
		return float64(n)
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	case uint:
		return float64(n)
	case uint8:
		return float64(n)
	case uint16:
		return float64(n)
	case uint32:
		return float64(n)
	case uint64:
		return float64(n)
	}
	return math.NaN()
}

// intOf returns a valid number's exact integer value, as literalInt.
func intOf(x any) (int64, int) {
	switch n := x.(type) {
	case json.Number:
		return literalInt([]byte(n))
	case float64, float32:
		f := floatOf(n)
		if f != math.Trunc(f) {
			return 0, intFraction
		}
		if math.Abs(f) >= 1e18 {
			return 0, intTooBig
		}
		return int64(f), intOK
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, intTooBig
		}
		return int64(n), intOK
	case uint64:
		if n > math.MaxInt64 {
			return 0, intTooBig
		}
		return int64(n), intOK
	case int:
		return int64(n), intOK
	case int8:
		return int64(n), intOK
	case int16:
		return int64(n), intOK
	case int32:
		return int64(n), intOK
	case int64:
		return n, intOK
	case uint8:
		return int64(n), intOK
	case uint16:
		return int64(n), intOK
	case uint32:
		return int64(n), intOK
	}
	return 0, intFraction
}

func (s *scanner) checkString(x string) bool {
	if !utf8.ValidString(x) {
		s.violate(CodeUnsupportedValue, "string is not valid UTF-8")
		return false
	}
	return true
}

// anyVal checks and deep-copies any decoded JSON value.
func (s *scanner) anyVal(x any) any {
	x = jsonNil(x)
	switch n := x.(type) {
	case nil, bool:
		return x
	case string:
		s.checkString(n)
		return x
	case map[string]any:
		if !s.count(len(n)) || !s.enter() {
			return nil
		}
		out := make(map[string]any, len(n))
		for _, k := range sortedKeys(n) {
			s.pushName(k)
			if s.checkString(k) {
				out[k] = s.anyVal(n[k])
			}
			s.pop()
			if s.stop {
				return nil
			}
		}
		s.depth--
		return out
	case []any:
		return s.arrayVal(nil, n)
	case []byte:
		return base64.StdEncoding.EncodeToString(n)
	}
	if isNum, _ := s.goNumber(x); !isNum {
		s.violate(CodeUnsupportedValue, "unsupported Go type "+fmt.Sprintf("%T", x))
	}
	return x
}

// skipVal checks a decoded value that is dropped or already wrong, as
// skipValue checks its JSON encoding (COERCION.md §1): only that it is a
// JSON value (strings valid UTF-8, numbers numbers) within the depth and
// item limits, not what it means (no number range). It produces nothing.
func (s *scanner) skipVal(x any) {
	switch n := jsonNil(x).(type) {
	case nil, bool, []byte:
	case string:
		s.checkString(n)
	case json.Number:
		if ok, _ := isNumberLit([]byte(n)); !ok {
			s.violate(CodeUnsupportedValue, "json.Number "+strconv.Quote(string(n))+" is not a JSON number")
		}
	case map[string]any:
		if !s.count(len(n)) || !s.enter() {
			return
		}
		for _, k := range sortedKeys(n) {
			s.pushName(k)
			if s.checkString(k) {
				s.skipVal(n[k])
			}
			s.pop()
			if s.stop {
				return
			}
		}
		s.depth--
	case []any:
		if !s.count(len(n)) || !s.enter() {
			return
		}
		if len(n) > s.lim.MaxItems {
			s.depth--
			s.fatal(CodeTooManyItems, "array has more than "+strconv.Itoa(s.lim.MaxItems)+" items")
			return
		}
		s.pushIdx()
		for i, e := range n {
			s.setIdx(i)
			s.skipVal(e)
			if s.stop {
				return
			}
		}
		s.pop()
		s.depth--
	default:
		if isNum, _ := s.goNumber(x); !isNum {
			s.violate(CodeUnsupportedValue, "unsupported Go type "+fmt.Sprintf("%T", x))
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// arrayVal validates an array; elem nil means untyped (any).
func (s *scanner) arrayVal(elem *typePlan, a []any) any {
	if !s.count(len(a)) || !s.enter() {
		return nil
	}
	if len(a) > s.lim.MaxItems {
		s.depth--
		s.fatal(CodeTooManyItems, "array has more than "+strconv.Itoa(s.lim.MaxItems)+" items")
		return nil
	}
	out := make([]any, len(a))
	s.pushIdx()
	for i, x := range a {
		s.setIdx(i)
		x = jsonNil(x)
		switch {
		case elem == nil:
			out[i] = s.anyVal(x)
		case x == nil && elem.kind != definition.KindAny:
			s.violate(CodeType, "expected "+kindName(elem.kind)+", got null")
		default:
			out[i] = s.val(elem, x)
		}
		if s.stop {
			return nil
		}
	}
	s.pop()
	s.depth--
	return out
}

func (s *scanner) objectVal(p *objPlan, m map[string]any) any {
	if !s.count(len(m)) || !s.enter() {
		return nil
	}
	out := make(map[string]any, len(m)+len(p.end))
	declared := 0
	for i := range p.props {
		pp := &p.props[i]
		x, present := m[pp.name]
		x = jsonNil(x)
		s.pushName(pp.name)
		switch {
		case present && x == nil:
			if pp.required {
				s.violate(CodeRequired, "required property is null")
			}
			out[pp.name] = nil
		case present:
			out[pp.name] = s.val(pp.t, x)
		case pp.def != nil:
			out[pp.name] = s.defaultVal(pp)
		case pp.required:
			s.violate(CodeRequired, "required property is missing")
		}
		if present {
			declared++
		}
		s.pop()
		if s.stop {
			return nil
		}
	}
	if declared < len(m) {
		// Some keys are not declared properties.
		for _, k := range sortedKeys(m) {
			if p.lookup([]byte(k)) >= 0 {
				continue
			}
			s.pushName(k)
			if s.checkString(k) {
				switch p.strict {
				case definition.StrictOpen:
					out[k] = s.anyVal(m[k])
				case definition.StrictReject:
					s.violate(CodeUnknownProperty, "unknown property")
					s.skipVal(m[k])
				default: // StrictFilter: dropped
					s.skipVal(m[k])
				}
			}
			s.pop()
			if s.stop {
				return nil
			}
		}
	}
	s.depth--
	return out
}

// defaultVal returns the decoded, coerced default of an absent property.
func (s *scanner) defaultVal(pp *propPlan) any {
	out, data, pos, mark := s.out, s.data, s.pos, s.mark
	s.out, s.mark = nil, 0
	s.applyDefault(pp)
	buf := s.out
	s.out, s.data, s.pos, s.mark = out, data, pos, mark
	s.base -= len(buf) // the bytes of defaults count against MaxBytes
	if -s.base > s.lim.MaxBytes {
		s.fatal(CodeTooLarge, "the defaults add more than the limit of "+strconv.Itoa(s.lim.MaxBytes)+" bytes")
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(buf))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return nil // the default was invalid: already reported
	}
	return x
}

// stringArg returns x as a string if it is one (checked for UTF-8).
func (s *scanner) stringArg(x any) (string, bool) {
	str, ok := x.(string)
	if ok && !s.checkString(str) {
		return "", false
	}
	return str, ok
}

// val validates and coerces a non-null decoded value of type t.
func (s *scanner) val(t *typePlan, x any) any {
	x = jsonNil(x)
	if x == nil && t.kind != definition.KindAny {
		s.violate(CodeType, "expected "+kindName(t.kind)+", got null")
		return nil
	}
	mismatch := func() any {
		s.skipVal(x)
		if !s.stop {
			s.violate(CodeType, "expected "+kindName(t.kind)+", got "+valueType(x))
		}
		return nil
	}
	switch t.kind {
	case definition.KindAny:
		return s.anyVal(x)
	case definition.KindObject:
		if _, ok := x.(map[string]any); !ok {
			return mismatch()
		}
		return s.anyVal(x)
	case definition.KindString:
		str, ok := x.(string)
		if !ok {
			return mismatch()
		}
		if s.checkString(str) && t.re != nil && !t.re.MatchString(str) {
			s.violate(CodePattern, "does not match the pattern "+strconv.Quote(t.re.String()))
		}
		return str
	case definition.KindNumber:
		if str, ok := x.(string); ok {
			ok, check := isNumberLit([]byte(str))
			switch {
			case !ok:
				s.violate(CodeType, "expected number, got a string that is not a JSON number")
			case check && !finite([]byte(str)):
				s.violate(CodeNumberRange, "number overflows float64")
			}
			return json.Number(str)
		}
		if isNum, _ := s.goNumber(x); !isNum {
			return mismatch()
		}
		return x
	case definition.KindBoolean:
		switch b := x.(type) {
		case bool:
			return b
		case string:
			switch b {
			case "true":
				return true
			case "false":
				return false
			}
			s.violate(CodeType, `expected boolean, got a string other than "true" or "false"`)
			return nil
		}
		isNum, valid := s.goNumber(x)
		if !isNum {
			return mismatch()
		}
		if !valid {
			return nil
		}
		switch v, r := intOf(x); {
		case r == intOK && v == 0:
			return false
		case r == intOK && v == 1:
			return true
		}
		s.violate(CodeType, "expected boolean, got a number other than 0 or 1")
		return nil
	case definition.KindDate:
		if str, ok := s.stringArg(x); ok {
			sec, nsec, msg := parseDate([]byte(str))
			if msg != "" {
				s.violate(CodeDateFormat, msg)
				return nil
			}
			return string(appendDate(nil, sec, nsec))
		}
		var ms int64
		var r int
		if jn, ok := x.(json.Number); ok {
			if lit, _ := isNumberLit([]byte(jn)); !lit {
				s.violate(CodeUnsupportedValue, "json.Number "+strconv.Quote(string(jn))+" is not a JSON number")
				return nil
			}
			ms, r = literalInt([]byte(jn))
		} else {
			isNum, valid := s.goNumber(x)
			if !isNum {
				return mismatch()
			}
			if !valid {
				return nil
			}
			ms, r = intOf(x)
		}
		if r == intFraction {
			s.violate(CodeDateFormat, "epoch milliseconds must be an integer")
			return nil
		}
		sec, nsec, ok := millisDate(ms)
		if r == intTooBig || !ok {
			s.violate(CodeDateFormat, "outside the years 0000-9999")
			return nil
		}
		return string(appendDate(nil, sec, nsec))
	case definition.KindBuffer:
		if b, ok := x.([]byte); ok {
			return base64.StdEncoding.EncodeToString(b)
		}
		str, ok := x.(string)
		if !ok {
			return mismatch()
		}
		dec, canonical, ok := decodeBase64(nil, []byte(str))
		switch {
		case !ok:
			s.violate(CodeBufferFormat, "not valid base64")
			return nil
		case canonical:
			return str
		}
		return base64.StdEncoding.EncodeToString(dec)
	case definition.KindGeoPoint:
		switch g := x.(type) {
		case map[string]any:
			return s.geoVal(g)
		case string:
			lat, lng, ok := splitGeo([]byte(g))
			if !ok {
				s.violate(CodeGeoPointFormat, `expected a geopoint object or a "lat,lng" string`)
				return nil
			}
			if !geoInRange(lat, 90) || !geoInRange(lng, 180) {
				s.violate(CodeGeoPointRange, "latitude must be between -90 and 90 and longitude between -180 and 180")
				return nil
			}
			return map[string]any{"lat": json.Number(lat), "lng": json.Number(lng)}
		}
		return mismatch()
	case definition.KindArray:
		a, ok := x.([]any)
		if !ok {
			return mismatch()
		}
		return s.arrayVal(t.elem, a)
	case definition.KindNested:
		m, ok := x.(map[string]any)
		if !ok {
			return mismatch()
		}
		return s.objectVal(t.obj, m)
	case definition.KindRef:
		p := s.resolve(t.ref)
		switch {
		case p == nil:
			s.violate(CodeUnresolvedRef, "model "+strconv.Quote(t.ref)+" is not defined")
			s.skipVal(x)
			return nil
		case p.err != nil:
			s.violate(CodeInvalidModel, "model "+strconv.Quote(t.ref)+" is invalid: "+p.err.Error())
			s.skipVal(x)
			return nil
		}
		m, ok := x.(map[string]any)
		if !ok {
			return mismatch()
		}
		return s.objectVal(p, m)
	}
	return nil
}

func (s *scanner) geoVal(g map[string]any) any {
	if !s.enter() {
		return nil
	}
	out := make(map[string]any, 2)
	for i, name := range [2]string{"lat", "lng"} {
		limit := [2]float64{90, 180}[i]
		x, present := g[name]
		x = jsonNil(x)
		if !present {
			s.violateIn(name, CodeRequired, "required property is missing")
			continue
		}
		s.pushName(name)
		if x == nil {
			s.violate(CodeRequired, "required property is null")
		} else {
			ok := true
			switch n := x.(type) {
			case string:
				if lit, _ := isNumberLit([]byte(n)); !lit {
					s.violate(CodeType, "expected number, got a string that is not a JSON number")
					ok = false
				}
				x = json.Number(n)
			case json.Number:
				if lit, _ := isNumberLit([]byte(n)); !lit {
					s.violate(CodeUnsupportedValue, "json.Number "+strconv.Quote(string(n))+" is not a JSON number")
					ok = false
				}
			default:
				isNum, valid := s.goNumber(x)
				if !isNum {
					s.violate(CodeType, "expected number, got "+valueType(x))
				}
				ok = isNum && valid
			}
			if ok && !geoValueInRange(x, limit) {
				s.violate(CodeGeoPointRange, "must be between -"+strconv.Itoa(int(limit))+" and "+strconv.Itoa(int(limit)))
			}
			out[name] = x
		}
		s.pop()
	}
	for _, k := range sortedKeys(g) {
		if k != "lat" && k != "lng" {
			s.violateIn(k, CodeUnknownProperty, "a geopoint has only the properties lat and lng")
		}
	}
	s.depth--
	return out
}

// geoValueInRange is geoInRange for a valid decoded number.
func geoValueInRange(x any, limit float64) bool {
	if n, ok := x.(json.Number); ok {
		return geoInRange([]byte(n), limit)
	}
	f := floatOf(x)
	return f >= -limit && f <= limit
}
