package jsonstr

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestUnescape(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{``, ``},
		{`plain`, `plain`},
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\b\f\n\r\t`, "\b\f\n\r\t"},
		{`\u00e9t\u00C9`, "étÉ"},
		{`\ud83d\ude00!`, "😀!"},
		{`x\u0000y`, "x\x00y"},
		{`é and \u20ac`, "é and €"},
	} {
		if got := string(Unescape([]byte("prefix:"), []byte(tc.raw))); got != "prefix:"+tc.want {
			t.Errorf("Unescape(%q) = %q, want %q", tc.raw, got, "prefix:"+tc.want)
		}
	}
}

func TestHex4(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i    int
		want rune
		ok   bool
	}{
		{"00e9", 0, 0xe9, true},
		{"xFFFF", 1, 0xffff, true},
		{"abcD", 0, 0xabcd, true},
		{"12g4", 0, 0, false},
		{"123", 0, 0, false},
		{"1234", 1, 0, false},
		{"1234", -1, 0, false},
	} {
		if r, ok := Hex4([]byte(tc.in), tc.i); r != tc.want || ok != tc.ok {
			t.Errorf("Hex4(%q, %d) = %#x, %v; want %#x, %v", tc.in, tc.i, r, ok, tc.want, tc.ok)
		}
	}
}

// FuzzUnescape checks Unescape against encoding/json on every string that
// encoding/json accepts without lone surrogates (which both scanners reject
// before decoding).
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`"a\nb"`, `"\ud83d\ude00"`, `"\u00e9\/\\"`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || json.Unmarshal([]byte(s), &want) != nil || !utf8.ValidString(s) {
			return
		}
		if hasLoneSurrogate(s) {
			return
		}
		if got := string(Unescape(nil, []byte(s[1:len(s)-1]))); got != want {
			t.Fatalf("Unescape(%s) = %q, encoding/json gives %q", s, got, want)
		}
	})
}

// hasLoneSurrogate reports whether the JSON string literal s has a \u
// surrogate escape that is not a high-low pair.
func hasLoneSurrogate(s string) bool {
	b := []byte(s)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++
			continue
		}
		r, _ := Hex4(b, i+2)
		if r >= 0xDC00 && r < 0xE000 {
			return true
		}
		if r >= 0xD800 && r < 0xDC00 {
			lo, ok := Hex4(b, i+8)
			if !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xDC00 || lo >= 0xE000 {
				return true
			}
			i += 6
		}
		i += 5
	}
	return false
}
