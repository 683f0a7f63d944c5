package document

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/definition"
)

var (
	addressObj = object(definition.StrictOpen,
		prop("street", tString), prop("city", tString, required), prop("zip", tString, pattern(`^[0-9]{5}$`)))
	itemObj = object(definition.StrictReject,
		prop("sku", tString, required), prop("qty", tNumber, def("1")))

	// typesObj has one property of every type, none required.
	typesObj = object(definition.StrictReject,
		prop("s", tString), prop("n", tNumber), prop("b", tBoolean), prop("d", tDate),
		prop("buf", tBuffer), prop("o", tObject), prop("a", tAny), prop("g", tGeo),
		prop("ss", tArray(tString)), prop("nn", tArray(tArray(tNumber))), prop("aa", tArray(tAny)),
		prop("addr", tNested(addressObj)), prop("items", tArray(tNested(itemObj))),
		prop("owner", tRef("User")), prop("friends", tArray(tRef("User"))), prop("ghost", tRef("Ghost")),
		prop("pat", tArray(tString), pattern(`^x`)),
	)
	userObj = object(definition.StrictFilter,
		prop("name", tString, required), prop("boss", tRef("User")))
	testModels = models{"User": userObj}
)

type vcase struct {
	name string
	obj  *definition.Object // typesObj when nil
	in   string
	out  string   // expected output when valid
	viol []string // expected "path code" (any order) when invalid
}

func runCases(t *testing.T, cases []vcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.obj
			if o == nil {
				o = typesObj
			}
			v := mustNew(t, o, testModels)
			out, err := v.Validate([]byte(c.in))
			if c.viol != nil {
				if err == nil {
					t.Fatalf("Validate(%s) = %s, want violations %q", c.in, out, c.viol)
				}
				if out != nil {
					t.Errorf("output %q with an error", out)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("errors.Is(err, ErrInvalid) = false")
				}
				want := slices.Clone(c.viol)
				slices.Sort(want)
				if got := violations(err); !slices.Equal(got, want) {
					t.Fatalf("Validate(%s) violations\n got %q\nwant %q\n(%v)", c.in, got, want, err)
				}
				for _, s := range want {
					code := Code(s[strings.LastIndexByte(s, ' ')+1:])
					if !errors.Is(err, code) {
						t.Errorf("errors.Is(err, %q) = false", code)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("Validate(%s): %v", c.in, err)
				}
				if string(out) != c.out {
					t.Fatalf("Validate(%s)\n got %s\nwant %s", c.in, out, c.out)
				}
				// Idempotence: the output validates to itself.
				again, err := v.Validate(out)
				if err != nil || string(again) != string(out) {
					t.Fatalf("re-validating %s: %s, %v", out, again, err)
				}
			}
			checkValuePath(t, v, []byte(c.in), out, err)
		})
	}
}

func TestValidateTypes(t *testing.T) {
	runCases(t, []vcase{
		{name: "empty", in: `{}`, out: `{}`},
		{name: "whitespace dropped", in: " {\n\t\"s\" : \"x\" ,\r\n \"n\" : 1 } ", out: `{"s":"x","n":1}`},
		{name: "nulls kept", in: `{"s":null,"n":null,"addr":null,"owner":null,"ghost":null}`, out: `{"s":null,"n":null,"addr":null,"owner":null,"ghost":null}`},

		// string
		{name: "string", in: `{"s":"héllo \"q\" \u00e9 \ud83d\ude00 \/"}`, out: `{"s":"héllo \"q\" \u00e9 \ud83d\ude00 \/"}`},
		{name: "string from number", in: `{"s":12}`, viol: []string{"/s type"}},
		{name: "string from bool", in: `{"s":true}`, viol: []string{"/s type"}},
		{name: "string from object", in: `{"s":{"a":1}}`, viol: []string{"/s type"}},

		// number
		{name: "number int", in: `{"n":42}`, out: `{"n":42}`},
		{name: "number forms kept", in: `{"n":-0.5e-3}`, out: `{"n":-0.5e-3}`},
		{name: "number big int exact", in: `{"n":123456789012345678901234567890}`, out: `{"n":123456789012345678901234567890}`},
		{name: "number 2^53+1 exact", in: `{"n":9007199254740993}`, out: `{"n":9007199254740993}`},
		{name: "number from string", in: `{"n":"12"}`, out: `{"n":12}`},
		{name: "number from string float", in: `{"n":"-1.5e3"}`, out: `{"n":-1.5e3}`},
		{name: "number from padded string", in: `{"n":" 12"}`, viol: []string{"/n type"}},
		{name: "number from plus string", in: `{"n":"+12"}`, viol: []string{"/n type"}},
		{name: "number from hex string", in: `{"n":"0x1F"}`, viol: []string{"/n type"}},
		{name: "number from NaN string", in: `{"n":"NaN"}`, viol: []string{"/n type"}},
		{name: "number from Infinity string", in: `{"n":"Infinity"}`, viol: []string{"/n type"}},
		{name: "number from empty string", in: `{"n":""}`, viol: []string{"/n type"}},
		{name: "number overflow", in: `{"n":1e400}`, viol: []string{"/n number_range"}},
		{name: "number overflow in string", in: `{"n":"-1e309"}`, viol: []string{"/n number_range"}},
		{name: "number underflow ok", in: `{"n":1e-400}`, out: `{"n":1e-400}`},
		{name: "number max float", in: `{"n":1.7976931348623157e308}`, out: `{"n":1.7976931348623157e308}`},
		{name: "number from bool", in: `{"n":true}`, viol: []string{"/n type"}},

		// boolean
		{name: "boolean", in: `{"b":false}`, out: `{"b":false}`},
		{name: "boolean from string", in: `{"b":"true"}`, out: `{"b":true}`},
		{name: "boolean from string false", in: `{"b":"false"}`, out: `{"b":false}`},
		{name: "boolean from TRUE", in: `{"b":"TRUE"}`, viol: []string{"/b type"}},
		{name: "boolean from 1", in: `{"b":1}`, out: `{"b":true}`},
		{name: "boolean from 0", in: `{"b":0}`, out: `{"b":false}`},
		{name: "boolean from 1.0", in: `{"b":1.0}`, out: `{"b":true}`},
		{name: "boolean from -0", in: `{"b":-0}`, out: `{"b":false}`},
		{name: "boolean from 2", in: `{"b":2}`, viol: []string{"/b type"}},
		{name: "boolean from 0.5", in: `{"b":0.5}`, viol: []string{"/b type"}},
		{name: "boolean from 1e400", in: `{"b":1e400}`, viol: []string{"/b number_range"}},
		{name: "boolean from string 1", in: `{"b":"1"}`, viol: []string{"/b type"}},

		// date
		{name: "date utc", in: `{"d":"2024-05-01T10:30:00Z"}`, out: `{"d":"2024-05-01T10:30:00.000Z"}`},
		{name: "date offset", in: `{"d":"2024-05-01T00:30:00+02:00"}`, out: `{"d":"2024-04-30T22:30:00.000Z"}`},
		{name: "date negative offset", in: `{"d":"2024-12-31t23:30:00.5-01:00"}`, out: `{"d":"2025-01-01T00:30:00.500Z"}`},
		{name: "date micro", in: `{"d":"2024-05-01T10:30:00.123456z"}`, out: `{"d":"2024-05-01T10:30:00.123456Z"}`},
		{name: "date nano", in: `{"d":"2024-05-01T10:30:00.000000001Z"}`, out: `{"d":"2024-05-01T10:30:00.000000001Z"}`},
		{name: "date only", in: `{"d":"2024-02-29"}`, out: `{"d":"2024-02-29T00:00:00.000Z"}`},
		{name: "date millis", in: `{"d":1714559400000}`, out: `{"d":"2024-05-01T10:30:00.000Z"}`},
		{name: "date millis negative", in: `{"d":-1}`, out: `{"d":"1969-12-31T23:59:59.999Z"}`},
		{name: "date millis exponent", in: `{"d":1.7145594e12}`, out: `{"d":"2024-05-01T10:30:00.000Z"}`},
		{name: "date millis zero", in: `{"d":0}`, out: `{"d":"1970-01-01T00:00:00.000Z"}`},
		{name: "date year 0", in: `{"d":"0000-01-01T00:00:00Z"}`, out: `{"d":"0000-01-01T00:00:00.000Z"}`},
		{name: "date year 9999", in: `{"d":253402300799999}`, out: `{"d":"9999-12-31T23:59:59.999Z"}`},
		{name: "date millis fraction", in: `{"d":1.5}`, viol: []string{"/d date_format"}},
		{name: "date millis too big", in: `{"d":253402300800000}`, viol: []string{"/d date_format"}},
		{name: "date millis huge", in: `{"d":1e400}`, viol: []string{"/d date_format"}},
		{name: "date before year 0", in: `{"d":"0000-01-01T00:30:00+01:00"}`, viol: []string{"/d date_format"}},
		{name: "date no zone", in: `{"d":"2024-05-01T10:30:00"}`, viol: []string{"/d date_format"}},
		{name: "date feb 30", in: `{"d":"2023-02-29"}`, viol: []string{"/d date_format"}},
		{name: "date leap second", in: `{"d":"2016-12-31T23:59:60Z"}`, viol: []string{"/d date_format"}},
		{name: "date 10 fraction digits", in: `{"d":"2024-05-01T10:30:00.1234567891Z"}`, viol: []string{"/d date_format"}},
		{name: "date garbage", in: `{"d":"yesterday"}`, viol: []string{"/d date_format"}},
		{name: "date numeric string", in: `{"d":"1714559400000"}`, viol: []string{"/d date_format"}},
		{name: "date bool", in: `{"d":true}`, viol: []string{"/d type"}},

		// buffer
		{name: "buffer std", in: `{"buf":"aGVsbG8="}`, out: `{"buf":"aGVsbG8="}`},
		{name: "buffer empty", in: `{"buf":""}`, out: `{"buf":""}`},
		{name: "buffer unpadded", in: `{"buf":"aGVsbG8"}`, out: `{"buf":"aGVsbG8="}`},
		{name: "buffer url-safe", in: `{"buf":"-_8="}`, out: `{"buf":"+/8="}`},
		{name: "buffer escaped slash", in: `{"buf":"+\/8="}`, out: `{"buf":"+/8="}`},
		{name: "buffer line breaks", in: `{"buf":"aGVs\nbG8="}`, out: `{"buf":"aGVsbG8="}`},
		{name: "buffer non-canonical bits", in: `{"buf":"QR=="}`, viol: []string{"/buf buffer_format"}},
		{name: "buffer mixed alphabets", in: `{"buf":"+_8="}`, viol: []string{"/buf buffer_format"}},
		{name: "buffer garbage", in: `{"buf":"not base64!"}`, viol: []string{"/buf buffer_format"}},
		{name: "buffer number", in: `{"buf":12}`, viol: []string{"/buf type"}},

		// object and any
		{name: "object", in: `{"o":{"x":[1,{"y":null}],"z":"w"}}`, out: `{"o":{"x":[1,{"y":null}],"z":"w"}}`},
		{name: "object empty", in: `{"o":{ }}`, out: `{"o":{}}`},
		{name: "object array", in: `{"o":[]}`, viol: []string{"/o type"}},
		{name: "any values", in: `{"a":[1,"x",true,null,{},[]]}`, out: `{"a":[1,"x",true,null,{},[]]}`},
		{name: "any number overflow", in: `{"a":{"x":[1e999]}}`, viol: []string{"/a/x/0 number_range"}},
		{name: "any duplicate key", in: `{"o":{"x":1,"x":2}}`, viol: []string{"/o/x duplicate_key"}},
		{name: "any duplicate escaped key", in: `{"o":{"x":1,"\u0078":2}}`, viol: []string{"/o/x duplicate_key"}},

		// geopoint
		{name: "geopoint", in: `{"g":{"lng":-122.5,"lat":37.7}}`, out: `{"g":{"lat":37.7,"lng":-122.5}}`},
		{name: "geopoint string", in: `{"g":"37.7, -122.5"}`, out: `{"g":{"lat":37.7,"lng":-122.5}}`},
		{name: "geopoint numeric strings", in: `{"g":{"lat":"1","lng":"2"}}`, out: `{"g":{"lat":1,"lng":2}}`},
		{name: "geopoint bounds", in: `{"g":{"lat":-90,"lng":180}}`, out: `{"g":{"lat":-90,"lng":180}}`},
		{name: "geopoint lat range", in: `{"g":{"lat":90.5,"lng":0}}`, viol: []string{"/g/lat geopoint_range"}},
		{name: "geopoint lng range", in: `{"g":{"lat":0,"lng":-181}}`, viol: []string{"/g/lng geopoint_range"}},
		{name: "geopoint string range", in: `{"g":"91,0"}`, viol: []string{"/g geopoint_range"}},
		{name: "geopoint string format", in: `{"g":"1;2"}`, viol: []string{"/g geopoint_format"}},
		{name: "geopoint string three", in: `{"g":"1,2,3"}`, viol: []string{"/g geopoint_format"}},
		{name: "geopoint missing", in: `{"g":{"lat":1}}`, viol: []string{"/g/lng required"}},
		{name: "geopoint null lat", in: `{"g":{"lat":null,"lng":1}}`, viol: []string{"/g/lat required"}},
		{name: "geopoint extra", in: `{"g":{"lat":1,"lng":2,"alt":3}}`, viol: []string{"/g/alt unknown_property"}},
		{name: "geopoint bool lat", in: `{"g":{"lat":true,"lng":2}}`, viol: []string{"/g/lat type"}},
		{name: "geopoint array", in: `{"g":[1,2]}`, viol: []string{"/g type"}},

		// arrays
		{name: "array", in: `{"ss":["a","b"],"nn":[[1,2],[],["3"]],"aa":[null]}`, out: `{"ss":["a","b"],"nn":[[1,2],[],[3]],"aa":[null]}`},
		{name: "array not array", in: `{"ss":"a"}`, viol: []string{"/ss type"}},
		{name: "array null element", in: `{"ss":["a",null]}`, viol: []string{"/ss/1 type"}},
		{name: "array bad elements", in: `{"ss":[1,"a",true],"nn":[[1,"x"]]}`, viol: []string{"/ss/0 type", "/ss/2 type", "/nn/0/1 type"}},
		{name: "array pattern", in: `{"pat":["xa","y","xb"]}`, viol: []string{"/pat/1 pattern"}},

		// nested
		{name: "nested", in: `{"addr":{"city":"Paris","zip":"75001","extra":[1]}}`, out: `{"addr":{"city":"Paris","zip":"75001","extra":[1]}}`},
		{name: "nested required", in: `{"addr":{"street":"x"}}`, viol: []string{"/addr/city required"}},
		{name: "nested pattern", in: `{"addr":{"city":"P","zip":"7500"}}`, viol: []string{"/addr/zip pattern"}},
		{name: "nested pattern escaped", in: `{"addr":{"city":"P","zip":"\u0037\u0035001"}}`, out: `{"addr":{"city":"P","zip":"\u0037\u0035001"}}`},
		{name: "nested not object", in: `{"addr":"Paris"}`, viol: []string{"/addr type"}},
		{name: "array of nested with default", in: `{"items":[{"sku":"a"},{"sku":"b","qty":"3"}]}`, out: `{"items":[{"sku":"a","qty":1},{"sku":"b","qty":3}]}`},
		{name: "array of nested violations", in: `{"items":[{"qty":1},{"sku":"b","x":1}]}`, viol: []string{"/items/0/sku required", "/items/1/x unknown_property"}},

		// references
		{name: "ref", in: `{"owner":{"name":"ann","boss":{"name":"bob","age":3}},"friends":[{"name":"c"}]}`, out: `{"owner":{"name":"ann","boss":{"name":"bob"}},"friends":[{"name":"c"}]}`},
		{name: "ref violations", in: `{"owner":{"boss":{"name":1}}}`, viol: []string{"/owner/name required", "/owner/boss/name type"}},
		{name: "ref unresolved", in: `{"ghost":{"a":1}}`, viol: []string{"/ghost unresolved_ref"}},
		{name: "ref not object", in: `{"owner":"ann"}`, viol: []string{"/owner type"}},

		// strictness
		{name: "strict rejects", in: `{"zz":1,"s":"a","yy":{}}`, viol: []string{"/zz unknown_property", "/yy unknown_property"}},
		{name: "strict pointer escaping", in: `{"a/b~c":1}`, viol: []string{"/a~1b~0c unknown_property"}},
		{name: "duplicate declared", in: `{"s":"a","s":"b"}`, viol: []string{"/s duplicate_key"}},
		{name: "duplicate declared escaped", in: `{"s":"a","\u0073":"b"}`, viol: []string{"/s duplicate_key"}},
		{name: "every violation", in: `{"s":1,"n":"x","b":2,"d":"x","buf":"!","g":"x","zz":0}`,
			viol: []string{"/s type", "/n type", "/b type", "/d date_format", "/buf buffer_format", "/g geopoint_format", "/zz unknown_property"}},

		// top level
		{name: "top array", in: `[]`, viol: []string{" type"}},
		{name: "top null", in: `null`, viol: []string{" type"}},
		{name: "top string", in: `"x"`, viol: []string{" type"}},
	})
}

func TestValidateOptions(t *testing.T) {
	open := object(definition.StrictOpen, prop("a", tString))
	filter := object(definition.StrictFilter, prop("a", tString), prop("n", tNested(open)))
	defaults := object(definition.StrictOpen,
		prop("a", tString, def(`"x"`)),
		prop("b", tNumber, def(`"7"`), required),
		prop("c", tArray(tNested(itemObj)), def(`[{"sku":"s"}]`)),
		prop("d", tDate, def(`"$now"`)),
		prop("e", tDate, def(`0`)),
		prop("f", tString, def(`null`)),
		prop("g", tGeo, def(`"1,2"`)),
		prop("h", tObject, def(`{"k":[1]}`)),
	)
	badDefault := object(definition.StrictOpen, prop("a", tNumber, def(`"x"`)), prop("b", tString, required, def(`null`)),
		prop("c", tNested(object(definition.StrictReject, prop("x", tString))), def(`{"y":{"z":[1,`)),
		prop("d", tArray(tArray(tArray(tAny))), def(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)))
	req := object(definition.StrictOpen, prop("a", tString, required), prop("b", tAny, required), prop("c", tString, required, def(`"c"`)))
	runCases(t, []vcase{
		{name: "open keeps", obj: open, in: `{"x":{"y":[1]},"a":"b"}`, out: `{"x":{"y":[1]},"a":"b"}`},
		{name: "open duplicate unknown", obj: open, in: `{"x":1,"y":2,"x":3}`, viol: []string{"/x duplicate_key"}},
		{name: "filter drops", obj: filter, in: `{"x":{"y":[1]},"a":"b","n":{"z":1}}`, out: `{"a":"b","n":{"z":1}}`},
		{name: "filter first", obj: filter, in: `{"x":1,"a":"b"}`, out: `{"a":"b"}`},
		{name: "filter last", obj: filter, in: `{"a":"b","x":1}`, out: `{"a":"b"}`},
		{name: "filter all", obj: filter, in: `{"x":1,"y":[2]}`, out: `{}`},
		{name: "filter whitespace", obj: filter, in: " { \"x\" : [ 1 , 2 ] , \"a\" : \"b\" , \"y\" : { \"z\" : 1 } , \"n\" : { \"q\" : 1 , \"w\" : 2 } } ", out: `{"a":"b","n":{"q":1,"w":2}}`},
		{name: "filter middle whitespace", obj: filter, in: "{\"a\":\"b\" ,\n \"x\" :1 ,\t\"n\":{}}", out: `{"a":"b","n":{}}`},
		{name: "filter with defaults", obj: object(definition.StrictFilter, prop("d", tNumber, def("1"))), in: `{ "x" : 1 }`, out: `{"d":1}`},
		{name: "filter with defaults after", obj: object(definition.StrictFilter, prop("a", tNumber), prop("d", tNumber, def("1"))), in: `{ "a" : 2 , "x" : 1 }`, out: `{"a":2,"d":1}`},
		{name: "filter still checks syntax", obj: filter, in: `{"x":[1,}`, viol: []string{"/x/1 syntax"}},
		{name: "filter duplicate unknown", obj: filter, in: `{"x":1,"x":1}`, viol: []string{"/x duplicate_key"}},
		{name: "defaults", obj: defaults, in: `{}`, out: `{"a":"x","b":7,"c":[{"sku":"s","qty":1}],"d":"2024-05-01T10:30:00.123Z","e":"1970-01-01T00:00:00.000Z","f":null,"g":{"lat":1,"lng":2},"h":{"k":[1]}}`},
		{name: "defaults not for null", obj: defaults, in: `{"a":null,"b":1}`, out: `{"a":null,"b":1,"c":[{"sku":"s","qty":1}],"d":"2024-05-01T10:30:00.123Z","e":"1970-01-01T00:00:00.000Z","f":null,"g":{"lat":1,"lng":2},"h":{"k":[1]}}`},
		{name: "default required null", obj: defaults, in: `{"b":null}`, viol: []string{"/b required"}},
		{name: "bad defaults", obj: badDefault, in: `{}`, viol: []string{"/a invalid_default", "/b invalid_default", "/c invalid_default", "/d invalid_default"}},
		{name: "bad defaults nested", obj: object(definition.StrictOpen, prop("n", tNested(badDefault))), in: `{"n":{"a":1},"zz":{"q":[1]}}`,
			viol: []string{"/n/b invalid_default", "/n/c invalid_default", "/n/d invalid_default"}},
		{name: "bad default unused", obj: badDefault, in: `{"a":1,"b":"x","c":null,"d":[]}`, out: `{"a":1,"b":"x","c":null,"d":[]}`},
		{name: "required", obj: req, in: `{}`, viol: []string{"/a required", "/b required"}},
		{name: "required null", obj: req, in: `{"a":null,"b":null}`, viol: []string{"/a required", "/b required"}},
		{name: "required any present", obj: req, in: `{"a":"","b":false}`, out: `{"a":"","b":false,"c":"c"}`},
	})
}

func TestValidateSyntax(t *testing.T) {
	bad := []string{
		``, ` `, `{`, `}`, `{"s"}`, `{"s":}`, `{"s":"a",}`, `{"s":"a"`, `{"s" "a"}`, `{s:"a"}`, `{'s':"a"}`,
		`{"s":"a"}x`, `{"s":"a"}{}`, `{"n":01}`, `{"n":1.}`, `{"n":.5}`, `{"n":-}`, `{"n":1e}`, `{"n":+1}`,
		`{"n":0x10}`, `{"n":NaN}`, `{"n":Infinity}`, `{"b":tru}`, `{"b":True}`, `{"s":nul}`,
		"{\"s\":\"a\tb\"}", "{\"s\":\"\x00\"}", `{"s":"\x"}`, `{"s":"\u12"}`, `{"s":"\ud800"}`,
		`{"s":"\udc00\ud800"}`, `{"s":"\ud800\u0041"}`, "{\"s\":\"\xff\"}", "{\"s\":\"\xc0\xaf\"}",
		"{\"s\":\"\xed\xa0\x80\"}", "\xef\xbb\xbf{}", `{"o":{"a":1,}}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
		`{"ss":["a"`, `{"g":{"lat":1,"lng":2,}}`, `{"g":{"lat":1 "lng":2}}`, `{"addr":{"city":"x"`,
		`{"o":{"a"}}`, `{"a":"\`, "{\"a\":\"abc", `{"d":"2024-01-01T00:00:00Z"]`,
		// A malformed value where another type is expected is only a
		// syntax error, not also a type mismatch named from its first byte.
		`xyz`, `not json`, `{"n":tru}`, `{"s":xyz}`, `{"b":-x}`,
	}
	v := mustNew(t, typesObj, testModels)
	for _, in := range bad {
		out, err := v.Validate([]byte(in))
		if err == nil {
			t.Errorf("Validate(%q) = %s, want a syntax error", in, out)
			continue
		}
		var ve *ValidationError
		if !errors.Is(err, CodeSyntax) || !errors.As(err, &ve) || len(ve.Violations) != 1 {
			t.Errorf("Validate(%q): %v, want one syntax violation", in, err)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	o := object(definition.StrictOpen, prop("a", tArray(tNumber)), prop("n", tNested(object(definition.StrictOpen, prop("x", tNumber)))))
	v := mustNew(t, o, nil, WithLimits(Limits{MaxBytes: 100, MaxDepth: 4, MaxItems: 3, MaxViolations: 2}))
	cases := []struct {
		in   string
		code Code
		viol []string
	}{
		{in: `{"a":[1,2,3]}`},
		{in: `{"x":"` + strings.Repeat("y", 100) + `"}`, code: CodeTooLarge, viol: []string{" too_large"}},
		{in: `{"a":[1,2,3,4]}`, code: CodeTooManyItems, viol: []string{"/a too_many_items"}},
		{in: `{"b":[1,2,3,4]}`, code: CodeTooManyItems, viol: []string{"/b too_many_items"}},
		{in: `{"x":[[[[1]]]]}`, code: CodeTooDeep, viol: []string{"/x/0/0/0 too_deep"}},
		{in: `{"x":[[[[]]]]}`, code: CodeTooDeep, viol: []string{"/x/0/0/0 too_deep"}},
		{in: `{"x":[[[{}]]]}`, code: CodeTooDeep, viol: []string{"/x/0/0/0 too_deep"}},
		{in: `{"n":{"y":[[[]]]}}`, code: CodeTooDeep, viol: []string{"/n/y/0/0 too_deep"}},
		{in: `{"x":[[[1]]]}`},
		{in: `{"a":["x","y","z"]}`, code: CodeType, viol: []string{"/a/0 type", "/a/1 type"}},
	}
	for _, c := range cases {
		out, err := v.Validate([]byte(c.in))
		if c.viol == nil {
			if err != nil {
				t.Errorf("Validate(%s): %v", c.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Validate(%s) = %s, want %s", c.in, out, c.code)
			continue
		}
		if !errors.Is(err, c.code) {
			t.Errorf("Validate(%s): %v, want %s", c.in, err, c.code)
		}
		if got := violations(err); !slices.Equal(got, c.viol) {
			t.Errorf("Validate(%s) = %q, want %q", c.in, got, c.viol)
		}
	}
	var ve *ValidationError
	_, err := v.Validate([]byte(`{"a":["x","y","z"]}`))
	if !errors.As(err, &ve) || !ve.Truncated {
		t.Errorf("want a truncated error, got %#v", err)
	}

	// Defaults cannot blow a small document up beyond MaxBytes.
	big := object(definition.StrictOpen, prop("pad", tString, def(`"`+strings.Repeat("x", 90)+`"`)))
	vb := mustNew(t, object(definition.StrictOpen, prop("items", tArray(tNested(big)))), nil, WithLimits(Limits{MaxBytes: 1000}))
	small := `{"items":[` + strings.Repeat(`{},`, 20) + `{}]}`
	if _, err := vb.Validate([]byte(small)); !errors.Is(err, CodeTooLarge) {
		t.Errorf("default amplification: %v", err)
	}
	if _, err := vb.ValidateValue(decodeNumber(t, []byte(small))); !errors.Is(err, CodeTooLarge) {
		t.Errorf("default amplification (decoded): %v", err)
	}
	if out, err := vb.Validate([]byte(`{"items":[{},{}]}`)); err != nil || len(out) < 200 {
		t.Errorf("two defaults: %s, %v", out, err)
	}

	// Deep input never overflows the stack: the limit stops it.
	v2 := mustNew(t, o, nil)
	deep := strings.Repeat(`{"x":[`, 1e5) + strings.Repeat(`]}`, 1e5)
	if _, err := v2.Validate([]byte(deep)); !errors.Is(err, CodeTooDeep) {
		t.Errorf("deep document: %v", err)
	}
	// A cyclic decoded value is too deep.
	m := map[string]any{}
	m["x"] = m
	if _, err := v2.ValidateValue(m); !errors.Is(err, CodeTooDeep) {
		t.Errorf("cyclic value: %v", err)
	}
	// The default violation limit.
	many := "{" + strings.Repeat(`"a":1,`, 0) + `"a":[` + strings.Repeat(`"x",`, 200) + `"x"]}`
	_, err = v2.Validate([]byte(many))
	if !errors.As(err, &ve) || len(ve.Violations) != DefaultMaxViolations || !ve.Truncated {
		t.Errorf("want %d violations, truncated; got %v", DefaultMaxViolations, err)
	}
}

// TestFatalAfterOtherViolations checks the two paths on documents where a
// fatal violation (too deep, too many items) stops validation: Validate
// walks members in document order, ValidateValue in key order, so each
// reports the violations it met before its stop, not the same set.
func TestFatalAfterOtherViolations(t *testing.T) {
	o := object(definition.StrictOpen, prop("a", tString), prop("z", tAny))
	v := mustNew(t, o, nil, WithLimits(Limits{MaxDepth: 3, MaxItems: 2}))
	for _, doc := range []string{
		`{"z":[[[1]]],"a":5}`, // Validate stops at /z; ValidateValue meets /a first
		`{"z":[1,2,3],"a":5}`,
		`{"a":5,"z":[[[1]]]}`, // both meet /a first
	} {
		out, err := v.Validate([]byte(doc))
		if !errors.Is(err, CodeTooDeep) && !errors.Is(err, CodeTooManyItems) {
			t.Fatalf("Validate(%s) = %s, %v; want a fatal violation", doc, out, err)
		}
		checkResult(t, v, []byte(doc), out, err)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []*definition.Object{
		nil,
		object(definition.StrictOpen, prop("a", tString, pattern(`(`))),
		object(definition.StrictOpen, prop("a", tk(definition.KindInvalid))),
		object(definition.StrictOpen, prop("a", definition.Type{Kind: definition.KindArray})),
		object(definition.StrictOpen, prop("a", definition.Type{Kind: definition.KindNested})),
		object(definition.StrictOpen, prop("a", definition.Type{Kind: definition.KindRef})),
		{Properties: []definition.Property{prop("b", tString), prop("a", tString)}},
		{Strict: 9},
	}
	for i, o := range cases {
		_, err := New(o, nil)
		var me *ModelError
		if !errors.As(err, &me) || !errors.Is(err, CodeInvalidModel) {
			t.Errorf("case %d: New = %v, want a *ModelError", i, err)
		}
	}
	// A cycle of nested pointers (impossible from the parser) is refused.
	cyc := &definition.Object{}
	cyc.Properties = []definition.Property{prop("self", tNested(cyc))}
	if _, err := New(cyc, nil); !errors.Is(err, CodeInvalidModel) {
		t.Errorf("cyclic nested: %v", err)
	}
	// An invalid referenced model is a violation.
	bad := models{"Bad": object(definition.StrictOpen, prop("a", tString, pattern(`(`)))}
	v := mustNew(t, object(definition.StrictOpen, prop("r", tRef("Bad"))), bad)
	if _, err := v.Validate([]byte(`{"r":{}}`)); !errors.Is(err, CodeInvalidModel) {
		t.Errorf("invalid ref: %v", err)
	}
}

func TestAppendValidate(t *testing.T) {
	v := mustNew(t, typesObj, testModels)
	dst := []byte("prefix:")
	out, err := v.AppendValidate(dst, []byte(`{"n":"1"}`))
	if err != nil || string(out) != `prefix:{"n":1}` {
		t.Fatalf("AppendValidate = %q, %v", out, err)
	}
	out, err = v.AppendValidate(dst, []byte(`{"n":"x"}`))
	if err == nil || string(out) != "prefix:" {
		t.Fatalf("AppendValidate = %q, %v", out, err)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	v := mustNew(t, typesObj, testModels)
	_, err := v.Validate([]byte(`{"s":1}`))
	if got, want := err.Error(), `document: /s: type: expected string, got number`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = v.Validate([]byte(`{"s":1,"n":true,"b":3,"zz":1}`))
	if got := err.Error(); !strings.HasPrefix(got, "document: 4 violations; /s: type") || !strings.HasSuffix(got, "; ...") {
		t.Errorf("Error() = %q", got)
	}
}

// TestValueLimitsOnDroppedValues: a value dropped (an unknown key of a
// filter model), refused (an unknown key of a strict model) or already
// wrong (a type mismatch, an unresolved reference) is still checked
// against the depth and item limits, by ValidateValue as by Validate
// (COERCION.md §1 and §6). ValidateValue used not to look inside such
// values, and so accepted what Validate refused.
func TestValueLimitsOnDroppedValues(t *testing.T) {
	lim := WithLimits(Limits{MaxDepth: 4, MaxItems: 3})
	filter := mustNew(t, object(definition.StrictFilter, prop("a", tNumber), prop("r", tRef("Missing"))), nil, lim)
	reject := mustNew(t, object(definition.StrictReject, prop("a", tNumber)), nil, lim)
	for _, tc := range []struct {
		v    *Validator
		doc  string
		want string // a violation's code
	}{
		{filter, `{"x": [1, 2, 3, 4]}`, "too_many_items"},
		{filter, `{"x": [[[[1]]]]}`, "too_deep"},
		{filter, `{"x": {"y": "\u00e9", "z": [1]}}`, ""},
		{filter, `{"a": [1, 2, 3, 4]}`, "too_many_items"},
		{filter, `{"a": [[[[1]]]]}`, "too_deep"},
		{filter, `{"a": [1]}`, "type"},
		{filter, `{"r": [1, 2, 3, 4]}`, "too_many_items"},
		{reject, `{"x": [[[[1]]]]}`, "unknown_property"},
		{reject, `{"x": 1e400}`, "unknown_property"},
	} {
		out, err := tc.v.Validate([]byte(tc.doc))
		got := violations(err)
		if tc.want == "" && got != nil || tc.want != "" && !strings.Contains(strings.Join(got, " "), tc.want) {
			t.Errorf("Validate(%s): %q, want %s among them", tc.doc, got, tc.want)
		}
		checkValuePath(t, tc.v, []byte(tc.doc), out, err)
	}
}

// TestPropertyTableSpreadsSharedEnds: property names that share their
// first and last 8 bytes and their length do not pile up in the lookup
// table. Its hash once read only those, so a model of 1000 such names had
// every lookup of a key of that shape scan a run of about 1000 slots
// (validating 4 MiB of such keys took 11 times as long as of others).
// Counted in probes, which do not depend on the machine: at most half
// full, a lookup of an absent key probes 2.5 slots on average.
func TestPropertyTableSpreadsSharedEnds(t *testing.T) {
	var props []definition.Property
	for i := range 1000 {
		props = append(props, prop(fmt.Sprintf("aaaaaaaa%04dzzzzzzzz", i), tAny))
	}
	v := mustNew(t, object(definition.StrictOpen, props...), nil)
	p := v.root
	probes, keys := 0, 0
	for i := range 26 * 26 * 26 {
		key := []byte(fmt.Sprintf("aaaaaaaa%c%c%czzzzzzzzz", 'A'+i%26, 'A'+i/26%26, 'A'+i/676))[:20]
		w0, wl := keyWords(key)
		for h := p.keyHash(key, w0, wl) & p.mask; p.table[h] != 0; h = (h + 1) & p.mask {
			probes++
		}
		keys++
		if p.lookupWords(key, w0, wl) >= 0 {
			t.Fatalf("%s found", key)
		}
	}
	if mean := float64(probes) / float64(keys); mean > 8 {
		t.Errorf("a lookup of an absent key scans %.1f filled slots on average, want a few", mean)
	}
	for i := range 1000 { // and every name is found
		if name := fmt.Sprintf("aaaaaaaa%04dzzzzzzzz", i); p.lookup([]byte(name)) != i {
			t.Fatalf("%s not found at %d", name, i)
		}
	}
}

// TestZeroValidator: a Validator not made by New validates nothing, with a
// *ModelError rather than a panic or a misleading violation.
func TestZeroValidator(t *testing.T) {
	for _, v := range []*Validator{new(Validator), nil} {
		var me *ModelError
		if out, err := v.Validate([]byte(`{}`)); out != nil || !errors.As(err, &me) || me.Code != CodeInvalidModel {
			t.Errorf("Validate: %s, %v; want a CodeInvalidModel *ModelError", out, err)
		}
		if out, err := v.AppendValidate([]byte("x"), []byte(`{}`)); string(out) != "x" || !errors.As(err, &me) {
			t.Errorf("AppendValidate: %q, %v; want dst unchanged and a *ModelError", out, err)
		}
		if out, err := v.ValidateValue(map[string]any{}); out != nil || !errors.As(err, &me) {
			t.Errorf("ValidateValue: %v, %v; want a *ModelError", out, err)
		}
	}
}
