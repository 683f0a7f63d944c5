package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/store/sqlite"
)

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
		if ok && strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("parseTenantToken(%q) = %q: not lower-case hex", s, id)
		}
	})
}

// FuzzAPI sends arbitrary bodies to the definition, lookup and validation
// routes: the server answers every one with a status below 500 and never
// panics, and a definition it accepts loads back from the store (after
// the tenant is evicted) as the same model.
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
	fingerprint := func(t *testing.T, rec *httptest.ResponseRecorder) string {
		var m struct{ Fingerprint string }
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Fingerprint == "" {
			t.Fatalf("no fingerprint in %s (%v)", rec.Body, err)
		}
		return m.Fingerprint
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := adminCall(h, "PUT", "/v1/tenants/fuzz/models/Fuzzed", body)
		if rec.Code >= 500 {
			t.Fatalf("PUT %q: status %d", body, rec.Code)
		}
		if rec.Code == 200 || rec.Code == 201 {
			fp := fingerprint(t, rec)
			if c := call("POST", "/v1/tenants/fuzz/evict", ""); c != 200 {
				t.Fatalf("evict: status %d", c)
			}
			rec := adminCall(h, "GET", "/v1/tenants/fuzz/models/Fuzzed", "")
			if rec.Code != 200 || fingerprint(t, rec) != fp {
				t.Fatalf("PUT %q: fingerprint %s; loaded back from the store: status %d, %s", body, fp, rec.Code, rec.Body)
			}
		}
		for _, r := range []struct{ method, path, body string }{
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
