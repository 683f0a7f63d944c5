package document

import (
	"slices"
	"testing"
)

// TestValidateJSONModels runs table cases against models written as
// LoopBack JSON definitions and parsed by the definition package: the
// property forms users write (shorthand, long form, type names in any
// case, object literals, {"type": {...}}, arrays of literals, strict
// spellings).
func TestValidateJSONModels(t *testing.T) {
	m := parseModels(t,
		`{"name": "Customer", "strict": "throw", "properties": {
			"name": {"type": "String", "required": true},
			"born": "Date",
			"vip": {"type": "bool", "default": false},
			"score": {"type": "Number", "default": "0"},
			"tags": {"type": ["string"], "pattern": "^[a-z]+$"},
			"address": {"street": "string", "city": {"type": "string", "required": true}},
			"home": {"type": {"loc": "GeoPoint"}},
			"orders": [{"sku": "string", "qty": {"type": "number", "required": true}}],
			"data": "*",
			"blob": "Buffer",
			"meta": {"type": "object"},
			"friend": "Customer",
			"created": {"type": "date", "default": "$now"}
		}}`,
		`{"name": "Loose", "strict": false, "properties": {"a": "number"}}`,
		`{"name": "Filtered", "strict": "filter", "properties": {"a": {"type": "number", "required": true}}}`,
		`{"name": "Validate", "strict": "validate", "properties": {"a": "number"}}`,
	)
	const now = `"created":"2024-05-01T10:30:00.123Z"`
	cases := []struct {
		model, in, out string
		viol           []string
	}{
		{model: "Customer", in: `{"name":"ann"}`, out: `{"name":"ann",` + now + `,"score":0,"vip":false}`},
		{model: "Customer", in: `{"name":"ann","born":"1990-02-03","vip":"true","score":"12.5","tags":["a","b"],"created":0}`,
			out: `{"name":"ann","born":"1990-02-03T00:00:00.000Z","vip":true,"score":12.5,"tags":["a","b"],"created":"1970-01-01T00:00:00.000Z"}`},
		{model: "Customer", in: `{"name":"ann","address":{"city":"Oslo","extra":1},"home":{"loc":"59.9,10.7","x":[]},"orders":[{"qty":"2"}],` + now + `,"score":1,"vip":true}`,
			out: `{"name":"ann","address":{"city":"Oslo","extra":1},"home":{"loc":{"lat":59.9,"lng":10.7},"x":[]},"orders":[{"qty":2}],` + now + `,"score":1,"vip":true}`},
		{model: "Customer", in: `{"name":"ann","friend":{"name":"bob","friend":{"name":"cy"}},"data":[1,{"a":null}],"blob":"AAEC","meta":{}}`,
			out: `{"name":"ann","friend":{"name":"bob","friend":{"name":"cy",` + now + `,"score":0,"vip":false},` + now + `,"score":0,"vip":false},"data":[1,{"a":null}],"blob":"AAEC","meta":{},` + now + `,"score":0,"vip":false}`},
		{model: "Customer", in: `{"tags":["A"],"address":{},"orders":[{}],"friend":{},"zip":1,"home":{"loc":{"lat":100,"lng":0}}}`,
			viol: []string{"/name required", "/tags/0 pattern", "/address/city required", "/orders/0/qty required", "/friend/name required", "/zip unknown_property", "/home/loc/lat geopoint_range"}},
		{model: "Customer", in: `{"name":"ann","home":{"loc":{"x":0,"x":"","lat":0,"lat":1,"lng":0}}}`,
			viol: []string{"/home/loc/x unknown_property", "/home/loc/x duplicate_key", "/home/loc/lat duplicate_key"}},
		{model: "Loose", in: `{"a":"1","b":{"c":[]}}`, out: `{"a":1,"b":{"c":[]}}`},
		{model: "Filtered", in: `{"b":2,"a":1,"c":{"d":[]}}`, out: `{"a":1}`},
		{model: "Filtered", in: `{"b":2}`, viol: []string{"/a required"}},
		{model: "Validate", in: `{"b":2}`, viol: []string{"/b unknown_property"}},
	}
	for _, c := range cases {
		v := mustNew(t, m[c.model], m)
		out, err := v.Validate([]byte(c.in))
		if c.viol != nil {
			want := append([]string(nil), c.viol...)
			slices.Sort(want)
			if got := violations(err); !slices.Equal(got, want) {
				t.Errorf("%s %s: violations\n got %q\nwant %q", c.model, c.in, got, want)
			}
		} else if err != nil || string(out) != c.out {
			t.Errorf("%s %s:\n got %s, %v\nwant %s", c.model, c.in, out, err, c.out)
		}
		checkResult(t, v, []byte(c.in), out, err)
	}
}
