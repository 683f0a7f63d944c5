package document

import (
	"strings"
	"testing"
)

func TestLiteralInt(t *testing.T) {
	cases := []struct {
		lit  string
		want int64
		r    int
	}{
		{"0", 0, intOK}, {"-0", 0, intOK}, {"0.0e5", 0, intOK}, {"12.000", 12, intOK},
		{"1.6e12", 1600000000000, intOK}, {"-1714559400000", -1714559400000, intOK},
		{"100e-2", 1, intOK}, {"999999999999999999", 999999999999999999, intOK},
		{"1.5", 0, intFraction}, {"1e-1", 0, intFraction}, {"1e-99999999999", 0, intFraction},
		{"1e18", 0, intTooBig}, {"123456789012345678901234567890", 0, intTooBig}, {"1e99999999999", 0, intTooBig},
		{"0." + strings.Repeat("0", 50) + "1e51", 1, intOK},
	}
	for _, c := range cases {
		got, r := literalInt([]byte(c.lit))
		if got != c.want || r != c.r {
			t.Errorf("literalInt(%s) = %d, %d; want %d, %d", c.lit, got, r, c.want, c.r)
		}
	}
}

func TestGeoInRange(t *testing.T) {
	cases := []struct {
		lit   string
		limit float64
		want  bool
	}{
		{"90", 90, true}, {"-90", 90, true}, {"90.0", 90, true}, {"9e1", 90, true}, {"900e-1", 90, true},
		{"89.99999999999999999999", 90, true}, {"90.0000000000000000001", 90, false},
		{"-90.0000000000000000001", 90, false}, {"90000000000000000001e-18", 90, false},
		{"90.1", 90, false}, {"180", 180, true}, {"180.00000000000000000001", 180, false},
		{"1e400", 90, false}, {"0", 90, true}, {"90." + strings.Repeat("0", 100000) + "1", 90, false},
	}
	for _, c := range cases {
		if got := geoInRange([]byte(c.lit), c.limit); got != c.want {
			t.Errorf("geoInRange(%.40s, %v) = %v", c.lit, c.limit, got)
		}
	}
}

func TestDateRoundTrip(t *testing.T) {
	cases := []struct{ in, out string }{
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000Z"},
		{"9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"},
		{"1970-01-01T00:00:00.1+00:00", "1970-01-01T00:00:00.100Z"},
		{"2000-02-29T12:00:00.000001-12:30", "2000-03-01T00:30:00.000001Z"},
		{"1900-03-01", "1900-03-01T00:00:00.000Z"},
	}
	for _, c := range cases {
		sec, nsec, msg := parseDate([]byte(c.in))
		if got := string(appendDate(nil, sec, nsec)); msg != "" || got != c.out {
			t.Errorf("%s -> %s (%s), want %s", c.in, got, msg, c.out)
		}
	}
	for _, bad := range []string{"1900-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-01-01T", "2024-01-01 10:00:00Z",
		"2024-01-01T10:00Z", "2024-01-01T10:00:00.Z", "2024-01-01T10:00:00+0100", "2024-01-01T10:00:00+24:00", "24-01-01",
		"2024-01-01T10:00:00Zjunk", "+2024-01-01", "2024-1-01"} {
		if _, _, msg := parseDate([]byte(bad)); msg == "" {
			t.Errorf("parseDate(%s) accepted", bad)
		}
	}
}
