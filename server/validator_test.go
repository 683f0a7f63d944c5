package server

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/modelreg/modelreg"
)

// TestValidatorLetsGoOfRemovedModel: a model validated once, then deleted
// or replaced, becomes garbage, as the registry lets go of it: the
// server's cache of validators holds only the validators of models in
// use. It kept every model ever validated while its scope was resident,
// so a tenant that defines, validates and deletes models under new names
// grew without bound within its quota.
func TestValidatorLetsGoOfRemovedModel(t *testing.T) {
	for _, tc := range []struct {
		name, scope, token string
		remove             func(ts *testServer, path, tok string)
	}{
		{"tenant delete", "/v1/tenants/acme", "", func(ts *testServer, path, tok string) {
			ts.must(204, ts.do("DELETE", path, tok, nil))
		}},
		{"tenant replace", "/v1/tenants/acme", "", func(ts *testServer, path, tok string) {
			ts.must(200, ts.do("PUT", path, tok, `{"properties": {"b": "number"}}`))
		}},
		{"global delete", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(204, ts.do("DELETE", path, tok, nil))
		}},
		{"global replace", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(200, ts.do("PUT", path, tok, `{"properties": {"b": "number"}}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			tok := tc.token
			if tok == "" {
				tok = ts.token("acme")
			}
			path := tc.scope + "/models/Temp"
			ts.must(201, ts.do("PUT", path, tok, `{"properties": {"a": {"street": "string"}}}`))
			ctx := context.Background()
			if tc.scope != "/v1/global" {
				ctx = modelreg.WithTenant(ctx, "acme")
			}
			m, ok := ts.srv.Registry().FindByName(ctx, "Temp")
			if !ok {
				t.Fatal("Temp not found")
			}
			w := weak.Make(m)
			m = nil
			ts.must(200, ts.do("POST", path+"/validate", tok, `{"a": {"street": "x"}}`))
			tc.remove(ts, path, tok)
			for range 20 {
				runtime.GC()
				if w.Value() == nil {
					return
				}
			}
			t.Error("the removed model is still reachable")
		})
	}
}
