package server

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/modelreg/modelreg"
)

// TestValidatorLetsGoOfRemovedModel: a model validated once, then deleted
// or replaced, becomes garbage, as the registry lets go of it: the
// server's cache of validators holds only the validators of models in
// use. It kept every model ever validated while its scope was resident,
// so a tenant that defines, validates and deletes models under new names
// grew without bound within its quota. A global model validated through
// a tenant, whose own cache holds it, goes too: the tenants kept it while
// resident, however often it was replaced or deleted since.
func TestValidatorLetsGoOfRemovedModel(t *testing.T) {
	for _, tc := range []struct {
		name, scope, token string
		remove             func(ts *testServer, path, tok string)
		via                string // validated through this tenant's path, with its token (default: scope)
	}{
		{"tenant delete", "/v1/tenants/acme", "", func(ts *testServer, path, tok string) {
			ts.must(204, ts.do("DELETE", path, tok, nil))
		}, ""},
		{"tenant replace", "/v1/tenants/acme", "", func(ts *testServer, path, tok string) {
			ts.must(200, ts.do("PUT", path, tok, `{"properties": {"b": "number"}}`))
		}, ""},
		{"global delete", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(204, ts.do("DELETE", path, tok, nil))
		}, ""},
		{"global replace", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(200, ts.do("PUT", path, tok, `{"properties": {"b": "number"}}`))
		}, ""},
		{"global delete via tenant", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(204, ts.do("DELETE", path, tok, nil))
		}, "/v1/tenants/acme"},
		{"global replace via tenant", "/v1/global", testAdmin, func(ts *testServer, path, tok string) {
			ts.must(200, ts.do("PUT", path, tok, `{"properties": {"b": "number"}}`))
		}, "/v1/tenants/acme"},
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
			if tc.via == "" {
				ts.must(200, ts.do("POST", path+"/validate", tok, `{"a": {"street": "x"}}`))
			} else {
				ts.must(200, ts.do("POST", tc.via+"/models/Temp/validate", ts.token("acme"), `{"a": {"street": "x"}}`))
			}
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

// TestNestedDescriptionsStayWithTheirModel: two models whose nested
// objects have one structure, described differently, share its anonymous
// model, and each shows its own descriptions, in its definition and in its
// JSON Schema, also once its tenant was unloaded and loaded again.
func TestNestedDescriptionsStayWithTheirModel(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	const base = "/v1/tenants/acme/models/"
	for _, who := range []string{"Home", "Office"} {
		ts.must(201, ts.do("PUT", base+who, tok,
			`{"properties": {"address": {"street": {"type": "string", "description": "the street of the `+who+`"}}}}`))
	}
	check := func(when string) {
		t.Helper()
		var fps []any
		for _, who := range []string{"Home", "Office"} {
			for _, path := range []string{base + who, base + who + "/schema"} {
				body := string(ts.must(200, ts.do("GET", path, tok, nil)).body)
				for _, other := range []string{"Home", "Office"} {
					if has := strings.Contains(body, "the street of the "+other); has != (other == who) {
						t.Errorf("%s: GET %s shows the description of the %s: %v\n%s", when, path, other, has, body)
					}
				}
			}
			fps = append(fps, ts.must(200, ts.do("GET", base+who, tok, nil)).json(t)["fingerprint"])
		}
		if fps[0] != fps[1] {
			t.Errorf("%s: one structure, two fingerprints: %v", when, fps)
		}
	}
	check("resident")
	ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	check("loaded again")
	st := ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", tok, nil)).json(t)
	mem, _ := st["memory"].(map[string]any)
	if n, _ := mem["anonymous"].(float64); n != 1 {
		t.Errorf("%v anonymous models, want 1 (the address, shared): %v", mem["anonymous"], st)
	}
}
