package document

import (
	"encoding/base64"
	"math"
	"strconv"
)

// numberLit returns the length of the JSON number literal (RFC 8259
// grammar) at the start of b, or 0 if b does not start with one. check
// reports that the literal may overflow float64 (it has an exponent or
// more than 308 integer digits) and must be range-checked.
func numberLit(b []byte) (n int, check bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		s := i
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		check = i-s > 308
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, false
		}
		check = true
	}
	return i, check
}

// isNumberLit reports whether all of b is one JSON number literal.
func isNumberLit(b []byte) (ok, check bool) {
	n, check := numberLit(b)
	return n > 0 && n == len(b), check
}

// finite reports whether a valid number literal is a finite float64
// (its magnitude does not overflow).
func finite(lit []byte) bool {
	f, _ := strconv.ParseFloat(string(lit), 64)
	return !math.IsInf(f, 0)
}

// Results of literalInt.
const (
	intOK = iota
	intFraction
	intTooBig
)

// decimal is a valid JSON number literal taken apart: its value is
// ±digits[lo:hi] × 10^exp, where the digits are the integer digits then
// the fraction digits, without leading or trailing zeros (lo == hi for
// zero).
type decimal struct {
	lit                         []byte
	neg                         bool
	intStart, intEnd, fracStart int
	lo, hi, exp                 int
}

func (d *decimal) digit(k int) byte {
	if n := d.intEnd - d.intStart; k >= n {
		return d.lit[d.fracStart+k-n]
	}
	return d.lit[d.intStart+k]
}

// parseDecimal takes a valid JSON number literal apart. Exponents are
// clamped to ±1e8, beyond any value that matters here.
func parseDecimal(lit []byte) decimal {
	d := decimal{lit: lit}
	i := 0
	if lit[0] == '-' {
		d.neg = true
		i++
	}
	d.intStart = i
	for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
		i++
	}
	d.intEnd, d.fracStart = i, i
	fracEnd := i
	if i < len(lit) && lit[i] == '.' {
		i++
		d.fracStart = i
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
		}
		fracEnd = i
	}
	e := 0
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		eneg := false
		if lit[i] == '+' || lit[i] == '-' {
			eneg = lit[i] == '-'
			i++
		}
		for ; i < len(lit); i++ {
			if e < 1e8 {
				e = e*10 + int(lit[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	d.hi = d.intEnd - d.intStart + fracEnd - d.fracStart
	d.exp = e - (fracEnd - d.fracStart)
	for d.lo < d.hi && d.digit(d.lo) == '0' {
		d.lo++
	}
	for d.lo < d.hi && d.digit(d.hi-1) == '0' {
		d.hi--
		d.exp++
	}
	return d
}

// intPart returns the integer part of |value|, or false if it has 19
// digits or more.
func (d *decimal) intPart() (int64, bool) {
	n := d.hi - d.lo + d.exp // integer digits
	if n > 18 {
		return 0, false
	}
	var v int64
	for k := 0; k < n; k++ {
		v *= 10
		if d.lo+k < d.hi {
			v += int64(d.digit(d.lo+k) - '0')
		}
	}
	return v, true
}

// literalInt returns the exact integer value of a valid JSON number
// literal such as 1600000000000, -5, 1.6e12 or 12.000. It reports
// intFraction if the value is not an integer and intTooBig if its
// magnitude is 1e18 or more.
func literalInt(lit []byte) (int64, int) {
	d := parseDecimal(lit)
	if d.lo == d.hi {
		return 0, intOK
	}
	if d.exp < 0 {
		return 0, intFraction
	}
	v, ok := d.intPart()
	if !ok {
		return 0, intTooBig
	}
	if d.neg {
		v = -v
	}
	return v, intOK
}

// Dates are handled as seconds and nanoseconds since the Unix epoch, UTC,
// within the years 0000 to 9999 so that they format as RFC 3339.
const (
	minDateSec = -62167219200 // 0000-01-01T00:00:00Z
	maxDateSec = 253402300799 // 9999-12-31T23:59:59Z
)

// daysFromCivil returns the days since 1970-01-01 of a proleptic
// Gregorian date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digitsAt(b []byte, i, n int) (int64, bool) {
	if i+n > len(b) {
		return 0, false
	}
	var v int64
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// parseDate parses an RFC 3339 date-time ("2024-05-01T12:30:00.5+02:00",
// "T" or "t", "Z" or "z") or a full-date ("2024-05-01", midnight UTC). The
// fraction may have 1 to 9 digits. msg explains a failure.
func parseDate(b []byte) (sec, nsec int64, msg string) {
	const bad = "not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)) or date (YYYY-MM-DD)"
	y, ok1 := digitsAt(b, 0, 4)
	mo, ok2 := digitsAt(b, 5, 2)
	d, ok3 := digitsAt(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' {
		return 0, 0, bad
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, 0, "invalid month or day"
	}
	sec = daysFromCivil(y, mo, d) * 86400
	if len(b) == 10 {
		return sec, 0, ""
	}
	h, ok1 := digitsAt(b, 11, 2)
	mi, ok2 := digitsAt(b, 14, 2)
	s, ok3 := digitsAt(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return 0, 0, bad
	}
	if h > 23 || mi > 59 || s > 59 {
		return 0, 0, "invalid time of day (leap seconds are not supported)"
	}
	sec += h*3600 + mi*60 + s
	i := 19
	if i < len(b) && b[i] == '.' {
		i++
		st := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		n := i - st
		if n == 0 {
			return 0, 0, bad
		}
		if n > 9 {
			return 0, 0, "more than nanosecond precision"
		}
		f, _ := digitsAt(b, st, n)
		for range 9 - n {
			f *= 10
		}
		nsec = f
	}
	if i >= len(b) {
		return 0, 0, "missing time zone offset"
	}
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		oh, ok1 := digitsAt(b, i+1, 2)
		om, ok2 := digitsAt(b, i+4, 2)
		if !ok1 || !ok2 || b[i+3] != ':' || oh > 23 || om > 59 {
			return 0, 0, bad
		}
		off := oh*3600 + om*60
		if b[i] == '+' {
			off = -off
		}
		sec += off
		i += 6
	default:
		return 0, 0, bad
	}
	if i != len(b) {
		return 0, 0, bad
	}
	if sec < minDateSec || sec > maxDateSec {
		return 0, 0, "outside the years 0000-9999"
	}
	return sec, nsec, ""
}

// millisDate converts milliseconds since the epoch.
func millisDate(ms int64) (sec, nsec int64, ok bool) {
	sec = ms / 1000
	r := ms % 1000
	if r < 0 {
		sec--
		r += 1000
	}
	return sec, r * 1e6, sec >= minDateSec && sec <= maxDateSec
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendDate formats a date as RFC 3339 in UTC with 3, 6 or 9 fraction
// digits, the fewest that are exact: 2024-05-01T10:30:00.000Z.
func appendDate(dst []byte, sec, nsec int64) []byte {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		days--
		rem += 86400
	}
	y, m, d := civilFromDays(days)
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, rem/3600)
	dst = append(dst, ':')
	dst = append2(dst, rem/60%60)
	dst = append(dst, ':')
	dst = append2(dst, rem%60)
	dst = append(dst, '.')
	n, div := 9, int64(1)
	switch {
	case nsec%1e6 == 0:
		n, div = 3, 1e6
	case nsec%1e3 == 0:
		n, div = 6, 1e3
	}
	f := nsec / div
	var buf [9]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + f%10)
		f /= 10
	}
	dst = append(dst, buf[:n]...)
	return append(dst, 'Z')
}

// The accepted base64 alphabets, most common first. Strict: the unused
// bits of the last character must be zero, so decoding is one-to-one.
var (
	b64Std    = base64.StdEncoding.Strict()
	b64Others = [...]*base64.Encoding{
		base64.URLEncoding.Strict(),
		base64.RawStdEncoding.Strict(),
		base64.RawURLEncoding.Strict(),
	}
)

// decodeBase64 decodes src (standard or URL-safe alphabet, padded or not;
// CR and LF are ignored) into dst, which it grows. canonical reports that
// src is already standard padded base64 without line breaks.
func decodeBase64(dst, src []byte) (out []byte, canonical, ok bool) {
	need := base64.StdEncoding.DecodedLen(len(src)) + 3
	if cap(dst) < need {
		dst = make([]byte, need)
	}
	dst = dst[:need]
	if n, err := b64Std.Decode(dst, src); err == nil {
		return dst[:n], base64.StdEncoding.EncodedLen(n) == len(src), true
	}
	for _, enc := range b64Others {
		if n, err := enc.Decode(dst, src); err == nil {
			return dst[:n], false, true
		}
	}
	return dst[:0], false, false
}

// splitGeo splits "lat,lng" (spaces allowed around each number) into two
// number literals.
func splitGeo(b []byte) (lat, lng []byte, ok bool) {
	c := -1
	for i, x := range b {
		if x == ',' {
			if c >= 0 {
				return nil, nil, false
			}
			c = i
		}
	}
	if c < 0 {
		return nil, nil, false
	}
	lat, lng = trimSpaces(b[:c]), trimSpaces(b[c+1:])
	ok1, _ := isNumberLit(lat)
	ok2, _ := isNumberLit(lng)
	return lat, lng, ok1 && ok2
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// geoInRange checks exactly that a number literal is a latitude (limit
// 90) or longitude (limit 180): rounding to float64 never moves a value
// across the limit.
func geoInRange(lit []byte, limit float64) bool {
	f, _ := strconv.ParseFloat(string(lit), 64)
	switch a := math.Abs(f); {
	case a < limit:
		return true
	case a > limit:
		return false
	}
	// |f| == limit: the literal may be a hair beyond it. Its integer
	// part is limit or limit-1; with a fraction it is beyond limit if the
	// integer part is limit.
	d := parseDecimal(lit)
	ip, _ := d.intPart()
	return ip < int64(limit) || (ip == int64(limit) && d.exp >= 0)
}
