package server

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/store/sqlite"
)

func FuzzWithName(f *testing.F) {
	for _, s := range []string{`{}`, `{"properties": {}}`, `{"name": "A"}`, `{"name": "B", "x": 1}`, ` { "a" : [1, {"name": 2}] } `, `[]`, `{"name": 1}`, `{`, ``} {
		f.Add(s, "A")
	}
	f.Fuzz(func(t *testing.T, body, name string) {
		if !definition.ValidModelName(name, definition.Limits{}) {
			return // the handler refuses invalid names before withName
		}
		out, err := withName([]byte(body), name)
		if err != nil {
			return // a name mismatch, reported as a problem
		}
		var orig map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &orig) != nil || !json.Valid([]byte(body)) {
			return // malformed input goes to the parser unchanged
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("withName(%q, %q) = %q: not JSON: %v", body, name, out, err)
		}
		if _, had := orig["name"]; had {
			if !bytes.Equal(out, []byte(body)) {
				t.Fatalf("a body with a name was changed: %q -> %q", body, out)
			}
			return
		}
		var n string
		if json.Unmarshal(got["name"], &n) != nil || n != name || len(got) != len(orig)+1 {
			t.Fatalf("withName(%q, %q) = %q", body, name, out)
		}
	})
}

func FuzzParseTenantToken(f *testing.F) {
	tok, _ := newTenantToken("acme")
	f.Add(tok)
	f.Add("mrt_")
	f.Add(strings.Repeat("x", 64))
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseTenantToken(s)
		if ok && (len(s) != tenantTokenLen || len(id) != tokenIDLen || !strings.HasPrefix(s, tenantTokenPrefix+id+"_")) {
			t.Fatalf("parseTenantToken(%q) = %q", s, id)
		}
	})
}

// FuzzAPI sends arbitrary bodies to the definition, lookup and validation
// routes: the server answers every one with a status below 500 and never
// panics.
func FuzzAPI(f *testing.F) {
	for _, s := range []string{customerDef, userDef, `{"properties": {"a": {"b": ["date"]}}}`, `{"email": "x"}`, `{`, `[]`, `{"properties": {"x": "Y"}}`, "\x00"} {
		f.Add(s)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	srv := newAdminServer(f, st, Config{IdleTimeout: -1})
	defer srv.Close()
	h := srv.Handler()
	call := func(method, path, body string) int { return adminStatus(h, method, path, body) }
	if c := call("PUT", "/v1/tenants/fuzz/models/Customer", customerDef); c != 201 {
		f.Fatal(c)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range []struct{ method, path, body string }{
			{"PUT", "/v1/tenants/fuzz/models/Fuzzed", body},
			{"POST", "/v1/tenants/fuzz/lookup", `{"properties": ` + body + `}`},
			{"POST", "/v1/tenants/fuzz/models/Customer/validate", body},
			{"POST", "/v1/tenants/fuzz/models/Fuzzed/validate", body},
			{"GET", "/v1/tenants/fuzz/models/Fuzzed/schema", ""},
		} {
			if c := call(r.method, r.path, r.body); c >= 500 {
				t.Fatalf("%s %s %q: status %d", r.method, r.path, r.body, c)
			}
		}
	})
}
