// Package jsonstr decodes JSON string escapes. It is shared by the two
// hand-written JSON scanners of modelreg (package definition, which reads
// model definitions, and package document, which reads documents): each
// validates a string while scanning it, then decodes it here.
package jsonstr

import "unicode/utf8"

// Hex4 reads the 4 hex digits at d[i:] and reports whether there were 4
// valid ones.
func Hex4(d []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Unescape appends the decoded content of raw, the inside of a JSON string
// (without its quotes), to dst. raw must already have been validated: every
// backslash starts a valid escape and every \u surrogate escape is part of a
// high-low pair (both scanners reject anything else before decoding).
func Unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := Hex4(raw, i+2)
			if r >= 0xD800 && r < 0xDC00 {
				lo, _ := Hex4(raw, i+8)
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}
