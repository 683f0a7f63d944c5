package postgres

import (
	"testing"
	"unicode/utf8"

	"github.com/modelreg/modelreg/store"
)

// FuzzParseNotice: the payload of a notification, as Watch reads it, never
// panics; what it cannot read is a Resync, one of its own value's is
// skipped; and the change of a payload the store writes reads back as
// that change.
func FuzzParseNotice(f *testing.F) {
	for _, seed := range []string{
		`{"o":"other","k":"model","s":"acme","n":"Order"}`,
		`{"o":"other","k":"tenant-deleted","s":"acme"}`,
		`{"o":"other","k":"token-deleted","s":"acme","n":"0123abcd"}`,
		`{"o":"other","k":"setting","n":"admin_token_sha256"}`,
		`{"o":"self","k":"model","s":"","n":"Global"}`,
		`{"o":"other","k":"model-renamed"}`,
		`not json`, `{}`, `null`, `[]`, `{"k":1}`,
	} {
		f.Add(seed, uint8(store.ModelChanged), "acme", "Order")
	}
	f.Fuzz(func(t *testing.T, payload string, kind uint8, scope, key string) {
		s := &Store{origin: "self"}
		c, ok := s.parse(payload)
		if ok && c.Kind != store.Resync && kindName(c.Kind) == "" {
			t.Errorf("parse(%q) = %+v: a kind that notifications never carry", payload, c)
		}
		if !ok && c != (store.Change{}) {
			t.Errorf("parse(%q) skipped its own change, but returned %+v", payload, c)
		}

		// What the other store value writes, this one reads back.
		k := store.ChangeKind(kind)
		if kindName(k) == "" || !utf8.ValidString(scope) || !utf8.ValidString(key) {
			return
		}
		writer := &Store{origin: "other"}
		p, err := writer.payload(k, scope, key)
		if err != nil {
			return // too long for a notification: refused, never sent
		}
		if len(p) > maxPayload {
			t.Fatalf("payload of %d bytes, more than %d", len(p), maxPayload)
		}
		got, ok := s.parse(p)
		want := store.Change{Kind: k, Scope: scope, Key: key}
		if got.Key == "" && k == store.ModelChanged {
			want.Key = "" // a name too long for a notification goes without
		}
		if !ok || got != want {
			t.Errorf("payload %q of %+v reads back as %+v, %v", p, want, got, ok)
		}
		if _, ok := writer.parse(p); ok {
			t.Errorf("the writer's own payload %q is not skipped", p)
		}
	})
}
