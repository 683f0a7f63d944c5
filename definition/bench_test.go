package definition

import "testing"

// benchModel is the model recipe of the benchmark workload (WORKLOAD.md
// §2), model 1 of tenant 17: 7 properties, two nested objects and an array
// of objects.
var benchModel = []byte(`{"name":"tenant_17_Model1","properties":{"name":"string","qty":"number",` +
	`"active":"boolean","createdAt":"date","address":{"city":"string","zip":"string",` +
	`"country":"string","street":"string"},"detail":{"m1_key":"string","m1_val":"number"},` +
	`"items":[{"sku":"string","qty":"number","price":"number"}]}}`)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchModel)))
	for b.Loop() {
		if _, err := Parse(benchModel, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	d, err := Parse(benchModel, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = d.AppendCanonical(buf[:0])
	}
}

func BenchmarkFingerprint(b *testing.B) {
	d, err := Parse(benchModel, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Fingerprint()
	}
}

func BenchmarkParseProperties(b *testing.B) {
	q := []byte(`{"zip":"string","country":"string","street":"string","city":"string"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseProperties(q, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseScratch(b *testing.B) {
	var s Scratch
	b.ReportAllocs()
	b.SetBytes(int64(len(benchModel)))
	for b.Loop() {
		if _, err := ParseScratch(benchModel, Limits{}, &s); err != nil {
			b.Fatal(err)
		}
	}
}
