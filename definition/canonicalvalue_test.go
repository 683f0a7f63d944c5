package definition

import "testing"

func TestIsCanonicalValue(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{`1`, true},
		{`1.5`, true},
		{`"a"`, true},
		{`true`, true},
		{`null`, false}, // Parse stores no default for a null one
		{`[1,"x",{"a":null}]`, true},
		{`{"a":1,"b":[2]}`, true},
		{`1.0`, false},               // numbers are normalized
		{`1e3`, false},               // ... to 1000
		{`[1, 2]`, false},            // compact
		{`{"b":1,"a":2}`, false},     // keys sorted
		{`{"a":1,"a":2}`, false},     // keys unique
		{`"\u0061"`, false},          // no needless escapes
		{` 1`, false},                // no white space around
		{`1,"required":true`, false}, // one value
		{`{"a":1},"required":true`, false},
		{``, false},
		{`1e400`, false}, // out of range
	} {
		if got := IsCanonicalValue([]byte(tc.v)); got != tc.want {
			t.Errorf("IsCanonicalValue(%s) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
