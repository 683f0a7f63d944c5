package server

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestModelLifecycle(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")

	r := ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	m := r.json(t)
	fp := m["fingerprint"].(string)
	if !strings.HasPrefix(fp, "v1:") || len(fp) != 3+64 {
		t.Errorf("fingerprint = %q", fp)
	}
	rev1, _ := m["revision"].(float64)
	if m["name"] != "Customer" || m["scope"] != "tenant" || m["tenant"] != "acme" || rev1 <= 0 {
		t.Errorf("put response = %s", r.body)
	}
	tag1 := fmt.Sprintf(`"%.0f"`, rev1)
	if r.header.Get("ETag") != tag1 || r.header.Get("Location") != "/v1/tenants/acme/models/Customer" {
		t.Errorf("headers = %v, want ETag %s", r.header, tag1)
	}
	if refs := fmt.Sprint(m["refs"]); refs != "[User]" {
		t.Errorf("refs = %s", refs)
	}

	// Same structure again: 200 replaced, same fingerprint, a larger revision.
	r = ts.must(200, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	m = r.json(t)
	rev2, _ := m["revision"].(float64)
	if m["fingerprint"] != fp || rev2 <= rev1 {
		t.Errorf("replace response = %s", r.body)
	}
	tag2 := fmt.Sprintf(`"%.0f"`, rev2)
	// The name may be left out of the body; the URL names the model.
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, `{"properties": {"email": {"type": "string", "required": true}}}`))

	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/models/Customer", tok, nil))
	if g := r.json(t); g["fingerprint"] != fp || g["definition"] == nil || g["canonical"] == nil {
		t.Errorf("get = %s", r.body)
	}
	if r.header.Get("ETag") != tag2 {
		t.Errorf("get ETag = %q, want %s", r.header.Get("ETag"), tag2)
	}

	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
	list := r.json(t)["models"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["name"] != "Customer" || list[1].(map[string]any)["name"] != "User" {
		t.Errorf("list = %s", r.body)
	}

	// Conditional writes.
	ts.must(412, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef, "If-Match", tag1))
	ts.must(200, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef, "If-Match", tag2))
	ts.must(412, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef, "If-None-Match", "*"))

	// Lookup by structure: the nested address is an anonymous model.
	r = ts.must(200, ts.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"city": "String", "street": "string"}}`))
	if l := r.json(t); l["anonymous"] != true || l["scope"] != "tenant" {
		t.Errorf("lookup = %s", r.body)
	}
	r = ts.must(200, ts.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"email": {"type": "string", "required": true}}}`))
	if l := r.json(t); l["name"] != "User" {
		t.Errorf("lookup User = %s", r.body)
	}
	r = ts.must(404, ts.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"nope": "string"}}`))
	if r.problemType() != "no-match" {
		t.Errorf("lookup miss = %s", r.body)
	}

	// Validation.
	r = ts.must(200, ts.do("POST", "/v1/tenants/acme/models/Customer/validate", tok,
		`{"name": "Ann", "age": "42", "owner": {"email": "a@b.c"}, "orders": [{"sku": "x", "qty": 2}]}`))
	if d := r.json(t)["document"].(map[string]any); d["name"] != "Ann" || d["owner"] == nil {
		t.Errorf("validate = %s", r.body)
	}
	r = ts.must(422, ts.do("POST", "/v1/tenants/acme/models/Customer/validate", tok,
		`{"age": true, "extra": 1, "owner": {}, "orders": [{"qty": "many"}]}`))
	if r.problemType() != "validation-failed" {
		t.Errorf("invalid document problem = %s", r.body)
	}
	if v := r.json(t)["violations"].([]any); len(v) < 4 {
		t.Errorf("want every violation (>= 4), got %s", r.body)
	}

	// JSON Schema export.
	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/models/Customer/schema", tok, nil))
	if r.header.Get("Content-Type") != "application/schema+json" || !strings.Contains(string(r.body), "2020-12") {
		t.Errorf("schema = %s %s", r.header.Get("Content-Type"), r.body)
	}

	// Delete.
	ts.must(204, ts.do("DELETE", "/v1/tenants/acme/models/User", tok, nil))
	ts.must(404, ts.do("DELETE", "/v1/tenants/acme/models/User", tok, nil))
	r = ts.must(404, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	if r.problemType() != "model-not-found" {
		t.Errorf("get deleted = %s", r.body)
	}
	// Customer's reference to User is now unresolved.
	r = ts.must(409, ts.do("GET", "/v1/tenants/acme/models/Customer/schema", tok, nil))
	if r.problemType() != "unresolved-reference" {
		t.Errorf("schema with missing ref = %s", r.body)
	}

	// Stats.
	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", tok, nil))
	if s := r.json(t); s["models"] != 1.0 || s["tokens"] != 1.0 || s["resident"] != true {
		t.Errorf("stats = %s", r.body)
	}
}

func TestGlobalScope(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	r := ts.must(403, ts.do("PUT", "/v1/global/models/User", tok, userDef))
	if r.problemType() != "forbidden" {
		t.Errorf("tenant write to global = %s", r.body)
	}
	r = ts.must(201, ts.do("PUT", "/v1/global/models/User", testAdmin, userDef))
	if m := r.json(t); m["scope"] != "global" || m["tenant"] != nil {
		t.Errorf("global put = %s", r.body)
	}
	// Everyone reads global models; a tenant sees them next to its own.
	ts.must(200, ts.do("GET", "/v1/global/models/User", tok, nil))
	ts.must(200, ts.do("GET", "/v1/global/models", tok, nil))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
	if list := r.json(t)["models"].([]any); len(list) != 2 || list[1].(map[string]any)["scope"] != "global" {
		t.Errorf("tenant list with global = %s", r.body)
	}
	// A tenant reference resolves to the global model.
	ts.must(200, ts.do("POST", "/v1/tenants/acme/models/Customer/validate", tok, `{"name": "x", "owner": {"email": "e"}}`))
	r = ts.must(422, ts.do("POST", "/v1/tenants/acme/models/Customer/validate", tok, `{"name": "x", "owner": {}}`))
	if !strings.Contains(string(r.body), "/owner") {
		t.Errorf("violation path = %s", r.body)
	}
	// ... and a tenant model shadows the global one, for that tenant only.
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, `{"properties": {"login": {"type": "string", "required": true}}}`))
	ts.must(200, ts.do("POST", "/v1/tenants/acme/models/Customer/validate", tok, `{"name": "x", "owner": {"login": "l"}}`))
	ts.must(200, ts.do("POST", "/v1/global/models/User/validate", tok, `{"email": "e"}`))
	ts.must(403, ts.do("DELETE", "/v1/global/models/User", tok, nil))
	ts.must(204, ts.do("DELETE", "/v1/global/models/User", testAdmin, nil))

	// Global models survive a restart.
	ts.must(201, ts.do("PUT", "/v1/global/models/Thing", testAdmin, `{"properties": {"x": "string"}}`))
	ts.close()
	ts2 := openTestServer(t, ts.dir)
	ts2.must(200, ts2.do("GET", "/v1/global/models/Thing", testAdmin, nil))
}

func TestTokenIsolation(t *testing.T) {
	ts := newTestServer(t)
	a, b := ts.token("alpha"), ts.token("beta")
	ts.must(201, ts.do("PUT", "/v1/tenants/alpha/models/Customer", a, customerDef))
	ts.must(201, ts.do("PUT", "/v1/tenants/beta/models/Customer", b, customerDef))

	paths := []struct{ method, path, body string }{
		{"GET", "/models", ""},
		{"GET", "/models/Customer", ""},
		{"PUT", "/models/Customer", customerDef},
		{"DELETE", "/models/Customer", ""},
		{"POST", "/models/Customer/validate", `{"name": "x"}`},
		{"GET", "/models/Customer/schema", ""},
		{"POST", "/lookup", `{"properties": {"street": "string", "city": "string"}}`},
		{"GET", "/stats", ""},
		{"POST", "/evict", ""},
		{"POST", "/tokens", ""},
		{"DELETE", "", ""},
	}
	for _, p := range paths {
		var body any
		if p.body != "" {
			body = p.body
		}
		// alpha's token on beta (exists) and on nobody (does not exist):
		// the very same answer, apart from the instance path.
		other := ts.do(p.method, "/v1/tenants/beta"+p.path, a, body)
		none := ts.do(p.method, "/v1/tenants/nobody"+p.path, a, body)
		if other.status != 404 || none.status != 404 || other.problemType() != "tenant-not-found" {
			t.Errorf("%s %s: other tenant %d %s / missing tenant %d", p.method, p.path, other.status, other.body, none.status)
		}
		norm := func(r response) string {
			s := strings.ReplaceAll(string(r.body), "beta", "X")
			return strings.ReplaceAll(s, "nobody", "X")
		}
		if norm(other) != norm(none) {
			t.Errorf("%s %s: answers differ:\n%s\n%s", p.method, p.path, other.body, none.body)
		}
	}
	// Beta's data is untouched.
	ts.must(200, ts.do("GET", "/v1/tenants/beta/models/Customer", b, nil))
	// Admin-only routes.
	for _, p := range []struct{ method, path string }{{"GET", "/v1/tenants"}, {"GET", "/v1/stats"}, {"POST", "/v1/tenants/alpha/tokens"}, {"DELETE", "/v1/tenants/alpha"}, {"POST", "/v1/tenants/alpha/evict"}} {
		if r := ts.do(p.method, p.path, a, nil); r.status != 403 || r.problemType() != "forbidden" {
			t.Errorf("%s %s with tenant token: %d %s", p.method, p.path, r.status, r.body)
		}
	}
	// Bad tokens. (The altered last character must differ from the
	// token's own, which is random.)
	last, id := "A", "0000"
	if strings.HasSuffix(a, last) {
		last = "B"
	}
	if a[4:8] == id {
		id = "1111"
	}
	for _, tok := range []string{"", "nope", testAdmin + "x", a[:len(a)-1] + last, a[:4] + id + a[8:]} {
		r := ts.do("GET", "/v1/tenants/alpha/models", tok, nil)
		if r.status != 401 || r.problemType() != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: %d %s", tok, r.status, r.body)
		}
	}
}

func TestDeleteTenantPurges(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	for _, evictFirst := range []bool{false, true} {
		if evictFirst {
			tok = ts.token("acme")
			ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
			ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
			ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
		}
		r := ts.must(200, ts.do("DELETE", "/v1/tenants/acme", testAdmin, nil))
		rep := r.json(t)
		// Customer has 2 anonymous models (address, orders element).
		if rep["tenant"] != "acme" || rep["modelsRemoved"] != 4.0 || rep["storedModelsRemoved"] != 2.0 || rep["tokensRevoked"] != 1.0 ||
			fmt.Sprint(rep["cleanedModels"]) != "[Customer User]" || rep["mappingsRemoved"] == nil {
			t.Errorf("evicted first %v: report = %s", evictFirst, r.body)
		}
		if _, ok := rep["duration"].(float64); !ok {
			t.Errorf("duration = %v", rep["duration"])
		}
		// The token is revoked, the tenant is gone everywhere.
		ts.must(401, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
		ts.must(404, ts.do("GET", "/v1/tenants/acme/models", testAdmin, nil))
		ts.must(404, ts.do("GET", "/v1/tenants/acme/stats", testAdmin, nil))
		ts.must(404, ts.do("DELETE", "/v1/tenants/acme", testAdmin, nil))
		if ts.srv.Resident("acme") {
			t.Errorf("tenant still resident")
		}
		if list, _ := ts.store.Store.Models(context.Background(), "acme"); len(list) != 0 {
			t.Errorf("store still has %d models", len(list))
		}
	}
}

func TestEvictReloadSameFingerprints(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	defs := map[string]string{"Customer": customerDef, "User": userDef}
	for i := range 20 {
		defs[fmt.Sprint("M", i)] = fmt.Sprintf(`{"properties": {"a%d": "string", "nested": {"x": "number", "deep": {"y": ["date"]}}}}`, i)
	}
	for name, def := range defs {
		ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/"+name, tok, def))
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		for name := range defs {
			r := ts.must(200, ts.do("GET", "/v1/tenants/acme/models/"+name, tok, nil))
			m := r.json(t)
			out[name] = fmt.Sprint(m["fingerprint"], m["revision"], string(r.body))
		}
		return out
	}
	before := snapshot()
	loads := ts.store.loads.Load()
	r := ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	if e := r.json(t); e["evicted"] != true {
		t.Errorf("evict = %s", r.body)
	}
	if ts.srv.Resident("acme") {
		t.Fatal("still resident after evict")
	}
	after := snapshot()
	for name := range defs {
		if before[name] != after[name] {
			t.Errorf("%s changed across evict/reload:\n%s\n%s", name, before[name], after[name])
		}
	}
	if got := ts.store.loads.Load() - loads; got != 1 {
		t.Errorf("%d loads after eviction, want 1", got)
	}
	// A second evict finds nothing resident; an unknown tenant is 404.
	ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	r = ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	if r.json(t)["evicted"] != false {
		t.Errorf("second evict = %s", r.body)
	}
	ts.must(404, ts.do("POST", "/v1/tenants/nobody/evict", testAdmin, nil))
}

// TestStampedeLoadsOnce sends many concurrent first requests to a tenant
// that is not resident: the store is asked for its models exactly once.
// The tenant's requests all compute at once (no MaxTenantRunning), so that
// every one of them waits for the load.
func TestStampedeLoadsOnce(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxInFlight = 1000; c.MaxTenantRunning = -1 })
	tok := ts.token("acme")
	for i := range 10 {
		ts.must(201, ts.do("PUT", fmt.Sprint("/v1/tenants/acme/models/M", i), tok, `{"properties": {"a": "string"}}`))
	}
	for round := range 3 {
		ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
		block := make(chan struct{})
		ts.store.mu.Lock()
		ts.store.block = block
		ts.store.mu.Unlock()
		before := ts.store.loads.Load()
		const n = 64
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Go(func() {
				r := ts.do("GET", fmt.Sprint("/v1/tenants/acme/models/M", i%10), tok, nil)
				if r.status != 200 {
					errs <- fmt.Sprint(r.status, string(r.body))
				}
			})
		}
		// Let the requests pile up behind the blocked load.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			ts.srv.awaiting.mu.Lock()
			waiting := ts.srv.awaiting.n["acme"]
			ts.srv.awaiting.mu.Unlock()
			if waiting == n {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("round %d: %d requests waiting for the load, want %d", round, waiting, n)
				break
			}
		}
		ts.store.mu.Lock()
		ts.store.block = nil
		ts.store.mu.Unlock()
		close(block)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("round %d: %s", round, e)
		}
		if got := ts.store.loads.Load() - before; got != 1 {
			t.Errorf("round %d: %d concurrent first requests caused %d loads, want 1", round, n, got)
		}
	}
}

// TestRequestDuringSweepCountsFromItself checks that a request made after
// a sweep read its clock, and seen by that sweep, counts as activity no
// earlier than the request: counted from the sweep's reading, a later
// sweep unloaded a tenant used within the idle timeout.
func TestRequestDuringSweepCountsFromItself(t *testing.T) {
	clk := newFakeClock()
	ts := newTestServer(t, func(c *Config) { c.Clock = clk.now })
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	t0 := clk.now()
	clk.advance(100 * time.Millisecond)
	sweepRead := clk.now() // a sweep reads its clock, then is preempted
	clk.advance(90 * time.Millisecond)
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil)) // at 190ms
	if got := ts.srv.sweepIdle(context.Background(), sweepRead, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("the sweep that saw the request unloaded %v", got)
	}
	clk.advance(20 * time.Millisecond) // 20ms after the request; the timeout is 50ms
	if got := ts.srv.sweepIdle(context.Background(), clk.now(), 50*time.Millisecond); len(got) != 0 {
		t.Errorf("unloaded %v 20ms after a request, with a 50ms idle timeout", got)
	}
	r := ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", testAdmin, nil))
	last, err := time.Parse(time.RFC3339Nano, r.json(t)["memory"].(map[string]any)["lastActive"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if d := last.Sub(t0); d < 190*time.Millisecond {
		t.Errorf("lastActive is %v after the first write, before the request at 190ms", d)
	}
}

// TestStatsLastActiveFollowsRequests checks that a tenant's lastActive in
// its stats moves with its requests, also when no idle sweep runs.
func TestStatsLastActiveFollowsRequests(t *testing.T) {
	clk := newFakeClock()
	ts := newTestServer(t, func(c *Config) { c.Clock = clk.now }) // IdleTimeout -1: no sweeps
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	lastActive := func() string {
		r := ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", testAdmin, nil))
		return r.json(t)["memory"].(map[string]any)["lastActive"].(string)
	}
	before := lastActive()
	clk.advance(time.Hour)
	if got := lastActive(); got != before {
		t.Errorf("lastActive moved from %s to %s without a request", before, got)
	}
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil))
	want := clk.now().UTC().Format(time.RFC3339Nano)
	if got := lastActive(); got != want {
		t.Errorf("lastActive after a request an hour later = %s, want %s", got, want)
	}
}

func TestIdleSweepUnloadsAndReloads(t *testing.T) {
	clk := newFakeClock()
	ts := newTestServer(t, func(c *Config) { c.Clock = clk.now })
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	ts.token("quiet") // exists, no models, never used
	ts.must(200, ts.do("GET", "/v1/tenants/quiet/models", testAdmin, nil))
	idle := 10 * time.Minute

	if got := ts.srv.sweepIdle(context.Background(), clk.now(), idle); len(got) != 0 {
		t.Errorf("fresh tenants unloaded: %v", got)
	}
	ts.must(201, ts.do("PUT", "/v1/tenants/writer/models/User", testAdmin, userDef))
	clk.advance(6 * time.Minute)
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))             // acme active
	ts.must(200, ts.do("PUT", "/v1/tenants/writer/models/User", testAdmin, userDef)) // a write is activity too
	ts.srv.sweepIdle(context.Background(), clk.now(), idle)
	clk.advance(6 * time.Minute)
	got := ts.srv.sweepIdle(context.Background(), clk.now(), idle)
	if fmt.Sprint(got) != "[quiet]" {
		t.Errorf("after 12 idle minutes unloaded %v, want [quiet]", got)
	}
	clk.advance(6 * time.Minute)
	got = ts.srv.sweepIdle(context.Background(), clk.now(), idle)
	slices.Sort(got)
	if fmt.Sprint(got) != "[acme writer]" {
		t.Errorf("unloaded %v, want [acme writer]", got)
	}
	if ts.srv.Resident("acme") || ts.srv.reg.Stats().Gauges.Tenants != 0 {
		t.Errorf("acme still in memory")
	}
	// Transparent reload.
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	if !ts.srv.Resident("acme") {
		t.Errorf("not reloaded")
	}
}

// nestedDefinition returns a definition whose structure is depth levels
// deep: depth-1 nested objects around a scalar property, in the long form
// ({"type": {...}}, two JSON levels each) or the short one.
func nestedDefinition(depth int, long bool) string {
	var b strings.Builder
	b.WriteString(`{"properties": `)
	for range depth - 1 {
		if long {
			b.WriteString(`{"n": {"type": `)
		} else {
			b.WriteString(`{"n": `)
		}
	}
	b.WriteString(`{"leaf": "string"}`)
	for range depth - 1 {
		if long {
			b.WriteString(`}}`)
		} else {
			b.WriteString(`}`)
		}
	}
	b.WriteString(`}`)
	return b.String()
}

// TestStoredDeepDefinitionLoadsUnderLowerQuota: a definition stored under
// a higher depth quota, deeper than the nesting the parser lets new writes
// have once the quota is lowered, still loads after the restart.
func TestStoredDeepDefinitionLoadsUnderLowerQuota(t *testing.T) {
	dir := t.TempDir()
	ts := openTestServer(t, dir, func(c *Config) { c.Policy.MaxDepth = 40 })
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Deep", testAdmin, nestedDefinition(40, true)))
	ts.must(201, ts.do("PUT", "/v1/global/models/GlobalDeep", testAdmin, nestedDefinition(40, true)))
	ts.close()
	ts = openTestServer(t, dir)
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/Deep", testAdmin, nil))
	ts.must(200, ts.do("GET", "/v1/global/models/GlobalDeep", testAdmin, nil))
	if r := ts.do("PUT", "/v1/tenants/acme/models/Deeper", testAdmin, nestedDefinition(33, true)); r.status != 409 || r.problemType() != "quota-exceeded" {
		t.Errorf("a new model over the default quota: %d %s", r.status, r.body)
	}
}

// TestWriteNestingNeverAboveStored: however high the depth quota, a new
// write is parsed under no more nesting than stored definitions are
// loaded under, so what is written loads again under a lower quota.
func TestWriteNestingNeverAboveStored(t *testing.T) {
	dir := t.TempDir()
	ts := openTestServer(t, dir, func(c *Config) { c.Policy.MaxDepth = 600 })
	options := func(n int) string {
		return `{"options": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `, "properties": {"a": "string"}}`
	}
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Deep", testAdmin, options(1000)))
	ts.must(201, ts.do("PUT", "/v1/global/models/GlobalDeep", testAdmin, options(1000)))
	for _, path := range []string{"/v1/tenants/acme/models/Deeper", "/v1/global/models/GlobalDeeper"} {
		if r := ts.do("PUT", path, testAdmin, options(StoredMaxNesting)); r.status != 400 || r.problemType() != "invalid-definition" {
			t.Errorf("%s nested past %d: %d %s", path, StoredMaxNesting, r.status, r.body)
		}
	}
	ts.close()
	ts = openTestServer(t, dir)
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/Deep", testAdmin, nil))
	ts.must(200, ts.do("GET", "/v1/global/models/GlobalDeep", testAdmin, nil))
}

// TestDepthQuotaIsWhatRefuses: the depth quota, default or raised, is what
// refuses a structure nested too deep (409 quota-exceeded), in either
// form, not the parser's nesting limit (400) first.
func TestDepthQuotaIsWhatRefuses(t *testing.T) {
	for _, quota := range []int{0, 40} { // 0: the default, 32
		ts := newTestServer(t, func(c *Config) { c.Policy.MaxDepth = quota })
		limit := cmp.Or(quota, 32)
		for _, long := range []bool{false, true} {
			path := fmt.Sprintf("/v1/tenants/acme/models/Deep%v", long)
			ts.must(201, ts.do("PUT", path, testAdmin, nestedDefinition(limit, long)))
			r := ts.must(409, ts.do("PUT", path, testAdmin, nestedDefinition(limit+1, long)))
			if r.problemType() != "quota-exceeded" {
				t.Errorf("quota %d, long form %v: %s", limit, long, r.body)
			}
		}
	}
}

// TestQuotaRefusalStoresNothing checks the atomicity of PUT: a definition
// the registry refuses leaves the store as it was.
func TestQuotaRefusalStoresNothing(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.Policy.MaxModels = 2
		c.Policy.MaxBytes = 400
	})
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/A", tok, `{"properties": {"a": "string"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/B", tok, `{"properties": {"b": "string"}}`))
	r := ts.must(409, ts.do("PUT", "/v1/tenants/acme/models/C", tok, `{"properties": {"c": "string"}}`))
	if r.problemType() != "quota-exceeded" {
		t.Errorf("models quota = %s", r.body)
	}
	// Bytes quota: refused by the registry after the store write, undone.
	var big strings.Builder
	big.WriteString(`{"properties": {`)
	for i := range 40 {
		fmt.Fprintf(&big, `"property_%d": "string",`, i)
	}
	big.WriteString(`"z": "string"}}`)
	r = ts.must(409, ts.do("PUT", "/v1/tenants/acme/models/B", tok, big.String()))
	if r.problemType() != "quota-exceeded" {
		t.Errorf("bytes quota = %s", r.body)
	}
	ctx := context.Background()
	list, _ := ts.store.Store.Models(ctx, "acme")
	if len(list) != 2 {
		t.Fatalf("store has %d models, want 2", len(list))
	}
	if b, _ := ts.store.Store.Model(ctx, "acme", "B"); !strings.Contains(string(b.Definition), `"b"`) {
		t.Errorf("B in store = %s, want the previous definition back", b.Definition)
	}
	// Memory and store agree after a reload.
	ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/models/B", tok, nil))
	if !strings.Contains(string(r.body), `"b"`) {
		t.Errorf("B after reload = %s", r.body)
	}
}

func TestAdminRoutes(t *testing.T) {
	ts := newTestServer(t)
	for _, id := range []string{"t1", "t2", "t3"} {
		ts.must(201, ts.do("PUT", "/v1/tenants/"+id+"/models/User", testAdmin, userDef))
	}
	r := ts.must(200, ts.do("GET", "/v1/tenants?limit=2", testAdmin, nil))
	m := r.json(t)
	if list := m["tenants"].([]any); len(list) != 2 || m["next"] == nil {
		t.Errorf("page 1 = %s", r.body)
	}
	r = ts.must(200, ts.do("GET", m["next"].(string), testAdmin, nil))
	if list := r.json(t)["tenants"].([]any); len(list) != 1 || list[0].(map[string]any)["tenant"] != "t3" {
		t.Errorf("page 2 = %s", r.body)
	}
	r = ts.must(200, ts.do("GET", "/v1/stats", testAdmin, nil))
	if s := r.json(t); s["registry"].(map[string]any)["gauges"].(map[string]any)["tenants"] != 3.0 {
		t.Errorf("stats = %s", r.body)
	}
	ts.must(200, ts.do("GET", "/healthz", "", nil))
	ts.must(200, ts.do("GET", "/readyz", "", nil))
	r = ts.must(200, ts.do("GET", "/metrics", "", nil))
	for _, want := range []string{"modelreg_http_requests_total", `modelreg_registry_gauge{name="tenants"} 3`, `modelreg_registry_approx_bytes{scope="tenant"}`, "modelreg_tenant_loads_total", "go_goroutines"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(r.body), `modelreg_registry_gauge{name="tenantBytes"}`) {
		t.Errorf("the registry's counts and bytes share a metric family")
	}
	if strings.Contains(string(r.body), `tenant="`) || strings.Contains(string(r.body), "t1") {
		t.Errorf("metrics carry a tenant label")
	}
	ts.srv.Drain()
	ts.must(503, ts.do("GET", "/readyz", "", nil))
}

// oneSlotServer returns a server serving one API request at a time, with
// no wait for the slot, and a token of tenant acme, which has model User.
// Further options apply after those.
func oneSlotServer(t *testing.T, opts ...option) (*testServer, string) {
	ts := newTestServer(t, append([]option{func(c *Config) {
		c.MaxInFlight = 1
		c.QueueWait = -1
		c.MaxTenantInFlight = -1 // these tests are of the server's slots
	}}, opts...)...)
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	return ts, tok
}

// holdTheSlot has a request take the one slot of a oneSlotServer (a GET
// of acme's User, blocked in its load) and returns a function that lets
// it finish and returns its answer.
func holdTheSlot(ts *testServer, tok string) (finish func() response) {
	ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	block := make(chan struct{})
	ts.store.mu.Lock()
	ts.store.block = block
	ts.store.mu.Unlock()
	before := ts.store.loads.Load()
	done := make(chan response, 1)
	go func() { done <- ts.do("GET", "/v1/tenants/acme/models/User", tok, nil) }()
	for ts.store.loads.Load() == before {
		time.Sleep(time.Millisecond)
	}
	return func() response {
		ts.store.mu.Lock()
		ts.store.block = nil
		ts.store.mu.Unlock()
		close(block)
		return <-done
	}
}

func TestOverloadSheds(t *testing.T) {
	ts, tok := oneSlotServer(t)
	finish := holdTheSlot(ts, tok)
	r := ts.do("GET", "/v1/tenants/acme/models/User", tok, nil)
	if r.status != 503 || r.problemType() != "overloaded" || r.header.Get("Retry-After") == "" {
		t.Errorf("second request = %d %s", r.status, r.body)
	}
	ts.must(200, ts.do("GET", "/healthz", "", nil)) // never limited
	if r := finish(); r.status != 200 {
		t.Errorf("first request = %d %s", r.status, r.body)
	}
}

// TestShedRequestCountedUnderItsRoute: a request shed before the mux ran
// is counted under the route that would have served it, not "unmatched"
// with the requests no route serves.
func TestShedRequestCountedUnderItsRoute(t *testing.T) {
	ts, tok := oneSlotServer(t)
	finish := holdTheSlot(ts, tok)
	ts.must(503, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
	ts.must(503, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	finish()
	count := func(route, method string) float64 {
		var m dto.Metric
		if err := ts.srv.m.requests.WithLabelValues(route, method, "503").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	for _, c := range []struct{ route, method string }{
		{"GET /v1/tenants/{tenant}/models", "GET"},
		{"PUT /v1/tenants/{tenant}/models/{name}", "PUT"},
	} {
		if n := count(c.route, c.method); n != 1 {
			t.Errorf("%s: %v requests shed, want 1", c.route, n)
		}
		if n := count("unmatched", c.method); n != 0 {
			t.Errorf("%v %s requests shed as unmatched", n, c.method)
		}
	}
}

// TestSlowBodyHoldsNoSlot checks that a request whose body is still
// arriving holds no in-flight slot: with one slot, a client sending a PUT
// body slowly used to shut every other client out with 503s.
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	ts, tok := oneSlotServer(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) }) // before the server closes
	req, err := http.NewRequest("PUT", ts.http.URL+"/v1/tenants/acme/models/Slow", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		resp, err := ts.http.Client().Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				err = fmt.Errorf("slow PUT = %d %s", resp.StatusCode, b)
			}
		}
		done <- err
	}()
	if _, err := io.WriteString(pw, `{"properties": {"a": `); err != nil {
		t.Fatal(err)
	}
	// Wait until the slow request is in its handler: the in-flight gauge
	// counts it and the /metrics request itself.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if strings.Contains(string(ts.do("GET", "/metrics", "", nil).body), "modelreg_http_requests_in_flight 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow PUT never reached the server")
		}
	}
	for range 3 {
		ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))
		ts.must(200, ts.do("GET", "/v1/tenants", testAdmin, nil))
	}
	if _, err := io.WriteString(pw, `"string"}}`); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/Slow", tok, nil))
}

// TestSlowBodiesMemoryBound checks that, although a request whose body is
// arriving holds no slot, the bodies of all requests together stay within
// MaxInFlight times MaxBodyBytes, and that what a request announces does
// not count, only what it sends: connections that announce large bodies
// and stall take a small buffer each and shut no one out, and connections
// that send large bodies and stall beyond the budget get 503s.
func TestSlowBodiesMemoryBound(t *testing.T) {
	const maxBody = 4 << 20
	ts := newTestServer(t, func(c *Config) {
		c.MaxInFlight = 2
		c.MaxBodyBytes = maxBody
		// For a slot, so that none is refused one, and for the budget, so
		// that a probe holding a little of it while a body's last
		// reservation comes does not get that body refused.
		c.QueueWait = time.Second
		c.MaxTenantInFlight = -1 // one tenant's requests, to test the server's bound
	})
	tok := ts.token("acme")
	addr := strings.TrimPrefix(ts.http.URL, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// stall opens a connection that announces a body of maxBody bytes,
	// sends n of them and stops.
	stall := func(i, n int) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "PUT /v1/tenants/acme/models/M%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"properties\":", i, tok, maxBody)
		if _, err := c.Write(bytes.Repeat([]byte(" "), n)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	probe := func() response {
		return ts.do("PUT", "/v1/tenants/acme/models/Probe", tok, `{"properties": {"a": "string"}}`)
	}

	// Announced, not sent: 50 connections announcing twice the budget
	// (in all, 25 times) take a bodyChunk each.
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const n = 50
	for i := range n {
		stall(i, 10)
	}
	waitInFlight(t, ts, n+1)
	ts.must(201, probe())
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grew > n*2*bodyChunk {
		t.Errorf("%d stalled bodies: the heap grew by %d KiB, more than %d KiB each", n, grew>>10, 2*bodyChunk>>10)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitInFlight(t, ts, 1)

	// Sent: two connections that sent 3 MiB of their 4 hold the budget
	// (a request holds at most twice what it received); every later
	// body is refused, and requests without one still pass.
	for i := range 2 {
		stall(n+i, 3<<20)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r := probe()
		if r.status == 503 && strings.Contains(string(r.body), "request bodies") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two stalled bodies of 3 MiB did not take the budget: %d %s", r.status, r.body)
		}
	}
	c := stall(n+2, 10)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c) // the server closes the connection after its answer
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 503 ")) || !bytes.Contains(b, []byte("request bodies")) {
		t.Fatalf("a third body: %q, %v; want a 503 for the bodies' memory", b, err)
	}
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
}

// TestHugeAnnouncedBody checks that a body's announced length is not
// allocated before it arrives: with a limit of a TiB, a request
// announcing half of that made the process die out of memory.
func TestHugeAnnouncedBody(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = 1 << 40 })
	tok := ts.token("acme")
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /v1/tenants/acme/models/Huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", tok, int64(1)<<39)
	waitInFlight(t, ts, 2)
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Small", tok, `{"properties": {"a": "string"}}`))
}

// TestBodyOfMaxBodyBytes checks that a body of exactly MaxBodyBytes is
// taken, announced or not, and one byte more gets 413, even with a single
// request in flight: a request reserves one byte over the limit, to see
// the end of its body, and the budget has room for it.
func TestBodyOfMaxBodyBytes(t *testing.T) {
	const limit = 1_000_000
	ts := newTestServer(t, func(c *Config) {
		c.MaxInFlight = 1
		c.MaxBodyBytes = limit
	})
	tok := ts.token("acme")
	body := func(n int) []byte {
		b := []byte(`{"properties": {"a": "string"}, "description": "`)
		b = append(b, bytes.Repeat([]byte("x"), n-len(b)-2)...)
		return append(b, `"}`...)
	}
	for _, tc := range []struct {
		name    string
		n       int
		chunked bool
		status  int
	}{
		{"announced", limit, false, 201},
		{"chunked", limit, true, 201},
		{"chunked, one byte over", limit + 1, true, 413},
		{"announced, one byte over", limit + 1, false, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(body(tc.n))
			if tc.chunked {
				rd = io.MultiReader(rd) // no length known
			}
			req, err := http.NewRequest("PUT", ts.http.URL+"/v1/tenants/acme/models/M", rd)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := ts.http.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status && !(tc.status == 201 && resp.StatusCode == 200) {
				t.Errorf("%d bytes: %d %s", tc.n, resp.StatusCode, b)
			}
		})
	}
}

// TestSmallChunkedBodyAllocatesLittle checks that a small body of unknown
// length (a client streaming it) is not given a buffer of the reservation's
// 64 KiB.
func TestSmallChunkedBodyAllocatesLittle(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	h := ts.srv.Handler()
	lookup := func() {
		req := httptest.NewRequest("POST", "/v1/tenants/acme/lookup", io.MultiReader(strings.NewReader(`{"properties": {"email": "string"}}`)))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+testAdmin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 404 {
			t.Fatalf("lookup: %d %s", rec.Code, rec.Body)
		}
	}
	lookup()
	const n = 200
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range n {
		lookup()
	}
	runtime.ReadMemStats(&m1)
	if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 32<<10 {
		t.Errorf("a lookup with a 36-byte body of unknown length allocates %d bytes", per)
	}
}

// waitInFlight waits until the in-flight gauge reads n (the /metrics
// request reading it included).
func waitInFlight(t *testing.T, ts *testServer, n int) {
	t.Helper()
	want := fmt.Sprintf("modelreg_http_requests_in_flight %d\n", n)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if strings.Contains(string(ts.do("GET", "/metrics", "", nil).body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("in flight: never %d", n)
		}
	}
}

// TestUnavailableCarriesRetryAfter checks that every 503 carries
// Retry-After, as the API documents: not only overload.
func TestUnavailableCarriesRetryAfter(t *testing.T) {
	ts := newTestServer(t)
	ts.srv.Drain()
	r := ts.must(503, ts.do("GET", "/readyz", "", nil))
	if r.header.Get("Retry-After") == "" {
		t.Errorf("/readyz while draining: 503 %s without Retry-After", r.problemType())
	}
	ts.store.Close()
	r = ts.must(503, ts.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil))
	if r.header.Get("Retry-After") == "" {
		t.Errorf("a request with the store closed: 503 %s without Retry-After", r.problemType())
	}
}

// TestTwoAuthorizationHeaders checks that a request with two Authorization
// headers is refused whatever their order, rather than acting as the
// first one's principal.
func TestTwoAuthorizationHeaders(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	for _, order := range [][2]string{{tok, testAdmin}, {testAdmin, tok}, {testAdmin, testAdmin}} {
		req, err := http.NewRequest("GET", ts.http.URL+"/v1/tenants/acme/models", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("Authorization", "Bearer "+order[0])
		req.Header.Add("Authorization", "Bearer "+order[1])
		resp, err := ts.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("two Authorization headers: %d, want 401", resp.StatusCode)
		}
	}
}

func TestBadInput(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	// Nested deeper than the parser's limit, which is twice the depth
	// quota plus 2 (66): a structure between the two is the quota's to
	// refuse (TestDepthQuotaIsWhatRefuses).
	deep := strings.Repeat(`{"a":`, 70) + `"string"` + strings.Repeat("}", 70)
	deepDoc := strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat("}", 100)
	veryDeep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	huge := `{"properties": {"a": "` + strings.Repeat("x", 70<<10) + `"}}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		problem                  string
	}{
		{"malformed definition", "PUT", "/v1/tenants/acme/models/A", `{"properties": {`, nil, 400, "malformed-json"},
		{"not an object", "PUT", "/v1/tenants/acme/models/A", `[1, 2]`, nil, 400, "invalid-definition"},
		{"empty body", "PUT", "/v1/tenants/acme/models/A", ``, nil, 400, "malformed-json"},
		{"unknown type", "PUT", "/v1/tenants/acme/models/A", `{"properties": {"a": "zipcode"}}`, nil, 400, "invalid-definition"},
		{"deep definition", "PUT", "/v1/tenants/acme/models/A", `{"properties": ` + deep + `}`, nil, 400, "invalid-definition"},
		{"very deep definition", "PUT", "/v1/tenants/acme/models/A", veryDeep, nil, 413, "payload-too-large"},
		{"huge body", "PUT", "/v1/tenants/acme/models/A", huge, nil, 413, "payload-too-large"},
		{"invalid model name", "PUT", "/v1/tenants/acme/models/9lives", `{"properties": {}}`, nil, 400, "invalid-model-name"},
		{"name with colon", "GET", "/v1/tenants/acme/models/a:b", "", nil, 400, "invalid-model-name"},
		{"invalid name, validate", "POST", "/v1/tenants/acme/models/a.b/validate", `{}`, nil, 400, "invalid-model-name"},
		{"invalid name, delete", "DELETE", "/v1/tenants/acme/models/%C3%A9", "", nil, 400, "invalid-model-name"},
		{"name mismatch", "PUT", "/v1/tenants/acme/models/A", `{"name": "B", "properties": {}}`, nil, 400, "name-mismatch"},
		{"invalid tenant id", "GET", "/v1/tenants/-bad/models", "", nil, 400, "invalid-tenant-id"},
		{"reserved tenant id", "GET", "/v1/tenants/global/models", "", nil, 400, "invalid-tenant-id"},
		{"long tenant id", "GET", "/v1/tenants/" + strings.Repeat("a", 200) + "/models", "", nil, 400, "invalid-tenant-id"},
		{"unknown tenant", "GET", "/v1/tenants/nobody/models", "", nil, 404, "tenant-not-found"},
		{"unknown model", "GET", "/v1/tenants/acme/models/Nope", "", nil, 404, "model-not-found"},
		{"validate unknown model", "POST", "/v1/tenants/acme/models/Nope/validate", `{}`, nil, 404, "model-not-found"},
		{"malformed document", "POST", "/v1/tenants/acme/models/User/validate", `{"email": `, nil, 422, "validation-failed"},
		{"deep document", "POST", "/v1/tenants/acme/models/User/validate", deepDoc, nil, 422, "validation-failed"},
		{"very deep document", "POST", "/v1/tenants/acme/models/User/validate", veryDeep[:60000], nil, 422, "validation-failed"},
		{"lookup malformed", "POST", "/v1/tenants/acme/lookup", `{"properties": `, nil, 400, "malformed-json"},
		{"lookup wrong shape", "POST", "/v1/tenants/acme/lookup", `{"props": {}}`, nil, 400, "invalid-request"},
		{"lookup no properties", "POST", "/v1/tenants/acme/lookup", `{}`, nil, 400, "invalid-request"},
		{"lookup empty body", "POST", "/v1/tenants/acme/lookup", ` `, nil, 400, "malformed-json"},
		{"lookup not an object", "POST", "/v1/tenants/acme/lookup", `[{"properties": {}}]`, nil, 400, "invalid-request"},
		{"lookup key in capitals", "POST", "/v1/tenants/acme/lookup", `{"PROPERTIES": {"email": "string"}}`, nil, 400, "invalid-request"},
		{"lookup key twice", "POST", "/v1/tenants/acme/lookup", `{"properties": {"a": "string"}, "properties": {"email": "string"}}`, nil, 400, "invalid-request"},
		{"lookup trailing data", "POST", "/v1/tenants/acme/lookup", `{"properties": {"email": "string"}} {}`, nil, 400, "malformed-json"},
		{"lookup trailing comma", "POST", "/v1/tenants/acme/lookup", `{"properties": {"a": "string",}}`, nil, 400, "malformed-json"},
		{"lookup bad type", "POST", "/v1/tenants/acme/lookup", `{"properties": {"a": "zipcode"}}`, nil, 400, "invalid-definition"},
		// Truncated, but too deep first: the scanner stops at the depth,
		// as for a PUT.
		{"lookup very deep", "POST", "/v1/tenants/acme/lookup", `{"properties": ` + veryDeep[:60000], nil, 400, "invalid-definition"},
		// Deeper than encoding/json's own limit (10,000), which splits
		// the body: the answer is still the definition parser's.
		{"lookup deeper than encoding/json reads", "POST", "/v1/tenants/acme/lookup", `{"properties": {"a": ` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`, nil, 400, "invalid-definition"},
		{"lookup invalid UTF-8 key", "POST", "/v1/tenants/acme/lookup", "{\"propert\xffies\": {\"a\": \"string\"}}", nil, 400, "malformed-json"},
		{"validate invalid name before its body", "POST", "/v1/tenants/acme/models/9lives/validate", `{}`, []string{"Content-Type", "text/plain"}, 400, "invalid-model-name"},
		{"validate invalid name, body too large", "POST", "/v1/tenants/acme/models/9lives/validate", huge, nil, 400, "invalid-model-name"},
		{"media type without subtype", "PUT", "/v1/tenants/acme/models/A", `{}`, []string{"Content-Type", "+json"}, 415, "unsupported-media-type"},
		{"media type not application", "PUT", "/v1/tenants/acme/models/A", `{}`, []string{"Content-Type", "text/x+json"}, 415, "unsupported-media-type"},
		{"encoded body", "PUT", "/v1/tenants/acme/models/A", `{"properties": {}}`, []string{"Content-Encoding", "x-custom"}, 415, "unsupported-media-type"},
		{"wrong content type", "PUT", "/v1/tenants/acme/models/A", `{}`, []string{"Content-Type", "text/plain"}, 415, "unsupported-media-type"},
		{"bad If-Match", "PUT", "/v1/tenants/acme/models/A", `{}`, []string{"If-Match", "W/x"}, 400, "invalid-request"},
		{"unknown route", "GET", "/v1/nope", "", nil, 404, "not-found"},
		{"empty path segment", "GET", "/v1/tenants//models", "", nil, 404, "not-found"},
		// The mux would redirect these to the tenant (a client that
		// follows redirects would delete or list it).
		{"dot-dot model name, delete", "DELETE", "/v1/tenants/acme/models/..", "", nil, 404, "not-found"},
		{"dot model name, get", "GET", "/v1/tenants/acme/models/.", "", nil, 404, "not-found"},
		{"dot-dot tenant, stats", "GET", "/v1/tenants/../stats", "", nil, 404, "not-found"},
		{"wrong method", "PATCH", "/v1/tenants/acme/models/User", "", nil, 405, "method-not-allowed"},
		{"bad limit", "GET", "/v1/tenants?limit=0", "", nil, 400, "invalid-request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := tok
			if strings.HasPrefix(tc.path, "/v1/tenants?") {
				token = testAdmin
			}
			if strings.Contains(tc.path, "/nobody/") {
				token = testAdmin
			}
			var body any
			if tc.body != "" || tc.method == "PUT" {
				body = []byte(tc.body)
			}
			r := ts.do(tc.method, tc.path, token, body, tc.hdr...)
			if r.status != tc.status || r.problemType() != tc.problem {
				t.Errorf("%d %q, want %d %q: %.300s", r.status, r.problemType(), tc.status, tc.problem, r.body)
			}
		})
	}
	// The server is still fine.
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", tok, nil))
	if got, _ := ts.store.Store.Models(context.Background(), "acme"); len(got) != 1 {
		t.Errorf("bad input stored something: %d models", len(got))
	}
}

func TestAdminTokenGeneratedOnce(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t)
	st := ts.store
	h1, gen1, _, err := ResolveAdminToken(ctx, st, "", false)
	if err != nil || gen1 == "" {
		t.Fatalf("first start: %q, %v", gen1, err)
	}
	h2, gen2, _, err := ResolveAdminToken(ctx, st, "", false)
	if err != nil || gen2 != "" || h2 != h1 {
		t.Errorf("second start generated again (%q) or changed the hash", gen2)
	}
	if _, gen3, _, _ := ResolveAdminToken(ctx, st, "", true); gen3 == "" || gen3 == gen1 {
		t.Errorf("reset did not generate a new token")
	}
	if _, _, _, err := ResolveAdminToken(ctx, st, "short", false); err == nil {
		t.Errorf("short admin token accepted")
	}
	// A reset with a configured token is refused, and changes nothing.
	before, _ := st.Setting(ctx, adminHashSetting)
	if _, _, _, err := ResolveAdminToken(ctx, st, "a-configured-admin-token", true); !errors.Is(err, ErrResetConfiguredToken) {
		t.Errorf("reset with a configured token: %v", err)
	}
	if after, _ := st.Setting(ctx, adminHashSetting); string(after) != string(before) {
		t.Error("a refused reset changed the stored hash")
	}
	// Only the hash is stored.
	v, err := st.Setting(ctx, adminHashSetting)
	if err != nil || len(v) != 32 || strings.Contains(string(v), "mra_") {
		t.Errorf("stored admin setting = %q, %v", v, err)
	}
	var _ store.Store = st
	_ = http.StatusOK
}

// TestMetricsMethodLabelBounded: a request with a method of its own
// invention is counted under method "other", so clients cannot add series
// to /metrics at will.
func TestMetricsMethodLabelBounded(t *testing.T) {
	ts := newTestServer(t)
	for _, m := range []string{"FOO1", "XYZZY"} {
		if r := ts.do(m, "/v1/tenants/acme/models", "", nil); r.status != 405 && r.status != 404 {
			t.Errorf("%s: %d %s", m, r.status, r.body)
		}
	}
	body := string(ts.must(200, ts.do("GET", "/metrics", "", nil)).body)
	if strings.Contains(body, "FOO1") || strings.Contains(body, "XYZZY") {
		t.Error("a client's method is a label value")
	}
	if !strings.Contains(body, `method="other"`) {
		t.Error(`no method="other" series`)
	}
}

// storeOpCount reads the number of observations of
// modelreg_store_operation_duration_seconds{op}.
func storeOpCount(t *testing.T, s *Server, op string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := s.m.storeOps.WithLabelValues(op).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestStoreOperationsTimed: every store call a request makes is timed in
// modelreg_store_operation_duration_seconds, the token reads of the auth
// path (a first use, a recheck after a purge) included; a cached token
// check reads nothing and times nothing.
func TestStoreOperationsTimed(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	ctx := context.Background()
	for _, tc := range []struct {
		op   string
		call func()
	}{
		{"token", func() { ts.must(200, ts.do("GET", "/v1/tenants/acme/models", tok, nil)) }}, // not cached yet
		{"model", func() {
			ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, `{"properties": {"email": {"type": "string"}}}`))
		}},
		{"tenant", func() { ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", testAdmin, nil)) }},
		{"tenants", func() { ts.must(200, ts.do("GET", "/v1/tenants", testAdmin, nil)) }},
		{"ping", func() { ts.must(200, ts.do("GET", "/readyz", "", nil)) }},
		{"token", func() { // the recheck of a principal checked before a purge
			p, err := ts.srv.auth.authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			ts.srv.auth.purgeTenant("another")
			if err := ts.srv.auth.recheck(ctx, p); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		before := storeOpCount(t, ts.srv, tc.op)
		tc.call()
		if after := storeOpCount(t, ts.srv, tc.op); after == before {
			t.Errorf("op %q: %d observations before and after a call that reads the store", tc.op, before)
		}
	}
	// A cached token costs no store read.
	before := storeOpCount(t, ts.srv, "token")
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
	if after := storeOpCount(t, ts.srv, "token"); after != before {
		t.Errorf("a cached token was read from the store: %d token reads, was %d", after, before)
	}
}

// failingStore fails every tenant load with err.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if scope != store.Global {
		return nil, f.err
	}
	return f.Store.Models(ctx, scope)
}

// TestServerErrorLoggedOnce: a request that fails with a 500 (a store
// error, a panic) is logged in one line, at the error level, which has
// its status and what failed; it was logged twice, the error, then the
// request at the warning level without it. With the access log too.
func TestServerErrorLoggedOnce(t *testing.T) {
	for _, accessLog := range []bool{false, true} {
		var log bytes.Buffer
		var mu sync.Mutex
		ts := newTestServer(t)
		hash, _, _, err := ResolveAdminToken(context.Background(), ts.store, testAdmin, false)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(context.Background(), Config{
			Store:          failingStore{ts.store, errors.New("database disk image is malformed")},
			AdminTokenHash: hash,
			IdleTimeout:    -1,
			AccessLog:      accessLog,
			Logger:         slog.New(slog.NewJSONHandler(lockedWriter{&mu, &log}, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		panics := srv.wrap(srv.serveRoute(func(w http.ResponseWriter, r *http.Request) error { panic("boom") }))
		for _, tc := range []struct {
			h    http.Handler
			path string
			want string // in the line
		}{
			{srv.Handler(), "/v1/tenants/acme/models", "database disk image is malformed"},
			{panics, "/v1/global/models", `"panic":"boom"`},
		} {
			mu.Lock()
			log.Reset()
			mu.Unlock()
			if rec := adminCall(tc.h, "GET", tc.path, ""); rec.Code != 500 || strings.Contains(rec.Body.String(), "malformed") {
				t.Errorf("%s: answer %d %s, want a 500 that leaves the cause to the log", tc.path, rec.Code, rec.Body)
			}
			mu.Lock()
			lines := slices.Collect(strings.Lines(log.String()))
			mu.Unlock()
			if len(lines) != 1 {
				t.Errorf("access log %v, %s: %d lines logged, want 1:\n%s", accessLog, tc.path, len(lines), strings.Join(lines, ""))
				continue
			}
			var line struct {
				Level  string
				Status int
			}
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatal(err)
			}
			if line.Level != "ERROR" || line.Status != 500 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("access log %v, %s: logged %s, want an ERROR of status 500 with %s", accessLog, tc.path, lines[0], tc.want)
			}
		}
	}
}

// TestExpectedUnavailableIsNotAnError checks that the 503s a server gives
// on purpose (shedding load, draining) are not logged as errors or
// warnings: they come by the thousand exactly when logs should stay
// readable, and metrics count them. A 500 is still an error.
func TestExpectedUnavailableIsNotAnError(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	ts, tok := oneSlotServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &log}, nil))
	})
	// Shedding: with the one slot held by a slow lookup, a request gets
	// 503 overloaded, before or after its body.
	finish := holdTheSlot(ts, tok)
	ts.must(503, ts.do("POST", "/v1/tenants/acme/models/User/validate", tok, `{}`))
	ts.must(503, ts.do("GET", "/v1/tenants/acme/models", tok, nil))
	finish()
	// Draining.
	ts.srv.Drain()
	ts.must(503, ts.do("GET", "/readyz", "", nil))
	mu.Lock()
	defer mu.Unlock()
	for line := range strings.Lines(log.String()) {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("logged: %s", line)
		}
	}
}

// TestAccessLogStatusIsANumber: every request line's status is a JSON
// number, so that a filter such as .status >= 500 reads it as one.
func TestAccessLogStatusIsANumber(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	ts := newTestServer(t, func(c *Config) {
		c.AccessLog = true
		c.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &log}, nil))
	})
	ts.must(200, ts.do("GET", "/healthz", "", nil))
	ts.must(404, ts.do("GET", "/v1/tenants/acme/models/Nope", testAdmin, nil))
	mu.Lock()
	defer mu.Unlock()
	var statuses []any
	for line := range strings.Lines(log.String()) {
		var rec struct {
			Msg    string
			Status any
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec.Msg == "request" {
			statuses = append(statuses, rec.Status)
		}
	}
	if fmt.Sprint(statuses) != "[200 404]" {
		t.Fatalf("statuses %v", statuses)
	}
	for _, st := range statuses {
		if _, ok := st.(float64); !ok {
			t.Errorf("status %v is a %T, not a number", st, st)
		}
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestLookupProblemPaths: a lookup's problems name places in the body, in
// path and detail alike, and a syntax error's detail has its position.
func TestLookupProblemPaths(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ body, path, detail string }{
		{`{"properties": {"address": {"zip": "zipcode"}}}`, "properties.address.zip", `properties.address.zip: unknown type "zipcode"`},
		{`{"properties": {"a b": "string"}}`, `properties["a b"]`, `properties["a b"]: invalid property name`},
		{`{"properties": {"a": "string",}}`, "", "at line 1, column 31 (byte 30)"},
	} {
		r := ts.do("POST", "/v1/global/lookup", testAdmin, tc.body)
		var p Problem
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 400 || p.Path != tc.path || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d %s; want path %q, detail with %q", tc.body, r.status, r.body, tc.path, tc.detail)
		}
	}
	// Nested too deep: the position is the body's, not the properties
	// map's, on whichever line.
	deep := `{"a": ` + strings.Repeat(`{"x": `, 70) + `"string"` + strings.Repeat(`}`, 71)
	_, err := definition.ParseProperties([]byte(deep), ts.srv.cfg.Limits)
	var de *definition.Error
	if !errors.As(err, &de) || de.Offset < 0 {
		t.Fatalf("the properties alone: %v, want a positioned error", err)
	}
	for _, head := range []string{`{"properties": `, "{\n  \"properties\":\n  "} {
		body := head + deep + "}"
		off := len(head) + int(de.Offset)
		line := 1 + strings.Count(head, "\n")
		col := off - strings.LastIndex(head, "\n")
		want := fmt.Sprintf("line %d, column %d (byte %d)", line, col, off)
		if r := ts.do("POST", "/v1/global/lookup", testAdmin, body); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("too deep, after %q: %d %s; want the position %s", head, r.status, r.body, want)
		}
	}
}

// TestGlobalLookupScopes: the global route looks in the global scope,
// anonymous models first, as tenantless library code does; a tenant's
// route finds global named models only.
func TestGlobalLookupScopes(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/global/models/G", testAdmin, `{"properties": {"inner": {"a": "string"}}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/T", tok, `{"properties": {"t": "string"}}`))
	r := ts.must(200, ts.do("POST", "/v1/global/lookup", tok, `{"properties": {"a": "string"}}`))
	if !strings.Contains(string(r.body), `"anonymous":true`) || !strings.Contains(string(r.body), `"scope":"global"`) {
		t.Errorf("global lookup of a global nested type: %s, want the global anonymous model", r.body)
	}
	ts.must(404, ts.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"a": "string"}}`))
	r = ts.must(200, ts.do("POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"inner": {"a": "string"}}}`))
	if !strings.Contains(string(r.body), `"name":"G"`) {
		t.Errorf("tenant lookup of a global named model's structure: %s, want G", r.body)
	}
}

// TestValidateTruncatedFlag checks that a validation stopped at its
// violation limit says so in a member of the problem, not only in prose.
func TestValidateTruncatedFlag(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Nums", tok, `{"properties": {"n": ["number"]}}`))
	for _, tc := range []struct {
		items     int
		truncated bool
	}{{3, false}, {150, true}} {
		doc := `{"n": [` + strings.TrimSuffix(strings.Repeat(`"x",`, tc.items), ",") + `]}`
		p := ts.must(422, ts.do("POST", "/v1/tenants/acme/models/Nums/validate", tok, doc)).json(t)
		viols, _ := p["violations"].([]any)
		if got, _ := p["truncated"].(bool); got != tc.truncated || len(viols) != min(tc.items, 100) {
			t.Errorf("%d bad items: %d violations, truncated %v; want %d, %v", tc.items, len(viols), got, min(tc.items, 100), tc.truncated)
		}
	}
}

// TestStoredModelsSurviveTighterQuota checks that a quota tightened across
// a restart refuses new models but never hides stored ones: the load
// skipped the models over the quota, so a reload could bring back a model
// the client had deleted room for, and drop one it had just written.
func TestStoredModelsSurviveTighterQuota(t *testing.T) {
	ts := newTestServer(t)
	def := `{"properties": {"x": "string"}}`
	for _, n := range []string{"A", "B", "C"} {
		ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/"+n, testAdmin, def))
	}
	dir := ts.dir
	ts.close()
	ts = openTestServer(t, dir, func(c *Config) { c.Policy.MaxModels = 2 })
	names := func() string {
		var out []string
		for _, m := range ts.must(200, ts.do("GET", "/v1/tenants/acme/models", testAdmin, nil)).json(t)["models"].([]any) {
			out = append(out, m.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := names(); got != "A,B,C" {
		t.Fatalf("after a restart with a quota of 2 models: %s, want all three stored models", got)
	}
	if r := ts.do("PUT", "/v1/tenants/acme/models/D", testAdmin, def); r.status != 409 || r.problemType() != "quota-exceeded" {
		t.Errorf("a fourth model: %d %s, want 409 quota-exceeded", r.status, r.body)
	}
	ts.must(200, ts.do("PUT", "/v1/tenants/acme/models/C", testAdmin, `{"properties": {"x": "number"}}`)) // a replacement adds no model
	ts.must(204, ts.do("DELETE", "/v1/tenants/acme/models/A", testAdmin, nil))
	ts.must(204, ts.do("DELETE", "/v1/tenants/acme/models/B", testAdmin, nil))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/X", testAdmin, def))
	ts.must(200, ts.do("POST", "/v1/tenants/acme/evict", testAdmin, nil))
	if got := names(); got != "C,X" {
		t.Errorf("after a reload: %s, want C,X", got)
	}
}

// TestStoreUnavailableIs503 checks that a store that cannot serve a call
// (locked by another process, out of space, its file gone) gives 503
// unavailable, not 500, whose detail says why.
func TestStoreUnavailableIs503(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		err    error
		detail string
	}{
		{store.ErrBusy, "the store is busy or out of space; nothing was written"},
		{store.ErrUnavailable, "the store is unavailable (its database file was replaced or removed, or its database refuses this server); nothing was written"},
	} {
		err := ts.srv.storeError(fmt.Errorf("put: %w", tc.err))
		var p *Problem
		if !errors.As(err, &p) || p.Status != 503 || p.Type != ProblemUnavailable || p.Detail != tc.detail {
			t.Errorf("storeError(%v) = %v, want a 503 %s: %s", tc.err, err, ProblemUnavailable, tc.detail)
		}
	}
}

// TestDatabaseFileGoneIs503: a write to a store whose database file was
// moved away under the server gets 503 unavailable saying so; it used to
// say the store was busy or out of space, which a retry would get over.
func TestDatabaseFileGoneIs503(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	if err := os.Rename(filepath.Join(ts.dir, "modelreg.db"), filepath.Join(ts.dir, "elsewhere.db")); err != nil {
		t.Fatal(err)
	}
	r := ts.must(503, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != ProblemUnavailable || !strings.Contains(p.Detail, "database file was replaced or removed") || strings.Contains(p.Detail, "busy") {
		t.Errorf("answer %s", r.body)
	}
}

// TestReadyzFailsWithBrokenSchema: /readyz is 503 while a table of the
// store is missing (renamed from outside), when every request that needs
// it fails; it was 200 whatever the database held.
func TestReadyzFailsWithBrokenSchema(t *testing.T) {
	ts := newTestServer(t)
	ts.must(200, ts.do("GET", "/readyz", "", nil))
	db, err := sql.Open("sqlite", filepath.Join(ts.dir, "modelreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE tokens RENAME TO renamed`); err != nil {
		t.Fatal(err)
	}
	if r := ts.do("GET", "/readyz", "", nil); r.status != 503 || r.problemType() != "unavailable" {
		t.Errorf("/readyz with a table missing: %d %s", r.status, r.body)
	}
	if _, err := db.Exec(`ALTER TABLE renamed RENAME TO tokens`); err != nil {
		t.Fatal(err)
	}
	ts.must(200, ts.do("GET", "/readyz", "", nil))
}

// restartAfter closes the server, runs the SQL statement stmt on its
// database, as something outside the server would, and starts a server on
// it again.
func (ts *testServer) restartAfter(stmt string) *testServer {
	t := ts.t
	t.Helper()
	dir := ts.dir
	ts.close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "modelreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
	return openTestServer(t, dir)
}

// TestUnreadableStoredModel checks a stored definition the server cannot
// load (here, a row that is no longer valid JSON): the rest of the tenant
// is served, but the model is not reported missing, which contradicted
// the store (GET said 404 while a create-only PUT said it exists); it is a
// server error until a write replaces it.
func TestUnreadableStoredModel(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/A", testAdmin, `{"properties": {"x": "string"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/B", testAdmin, `{"properties": {"y": "string"}}`))
	ts = ts.restartAfter(`UPDATE models SET definition = '{"properties": {' WHERE scope = 'acme' AND name = 'A'`)
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/B", testAdmin, nil))
	for _, r := range []response{
		ts.do("GET", "/v1/tenants/acme/models/A", testAdmin, nil),
		ts.do("POST", "/v1/tenants/acme/models/A/validate", testAdmin, `{}`),
		ts.do("GET", "/v1/tenants/acme/models/A/schema", testAdmin, nil),
	} {
		if r.status != 500 || !strings.Contains(string(r.body), "cannot be loaded") {
			t.Errorf("a stored model that cannot be loaded: %d %s, want 500 saying so", r.status, r.body)
		}
	}
	ts.must(412, ts.do("PUT", "/v1/tenants/acme/models/A", testAdmin, `{"properties": {"x": "string"}}`, "If-None-Match", "*"))
	ts.must(200, ts.do("PUT", "/v1/tenants/acme/models/A", testAdmin, `{"properties": {"x": "number"}}`)) // a repair
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/A", testAdmin, nil))
}

// TestUnreadableStoredModelShadowsGlobal: a tenant's stored model that
// cannot be loaded still shadows the global model of the same name, as it
// did before the tenant was unloaded. Its tenant got the global model
// instead, from GET, validate, schema, the list, structure lookups, and
// references from its other models, and validated documents against it.
func TestUnreadableStoredModelShadowsGlobal(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, ts.do("PUT", "/v1/global/models/X", testAdmin, `{"properties": {"g": "string"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/X", testAdmin, `{"properties": {"t": "number"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Y", testAdmin, `{"properties": {"x": "X"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/other/models/Z", testAdmin, `{"properties": {"z": "string"}}`))
	ts = ts.restartAfter(`UPDATE models SET definition = '{"properties": {"t": "zipcode"}}' WHERE scope = 'acme' AND name = 'X'`)
	for _, r := range []response{
		ts.do("GET", "/v1/tenants/acme/models/X", testAdmin, nil),
		ts.do("POST", "/v1/tenants/acme/models/X/validate", testAdmin, `{"g": "x"}`),
		ts.do("GET", "/v1/tenants/acme/models/X/schema", testAdmin, nil),
		ts.do("POST", "/v1/tenants/acme/lookup", testAdmin, `{"properties": {"g": "string"}}`),
	} {
		if r.status != 500 || !strings.Contains(string(r.body), "cannot be loaded") {
			t.Errorf("a stored model that cannot be loaded, beside a global one of its name: %d %s, want 500 saying so", r.status, r.body)
		}
	}
	if r := ts.do("POST", "/v1/tenants/acme/models/Y/validate", testAdmin, `{"x": {"g": "x"}}`); r.status == 200 {
		t.Errorf("a reference to the unreadable model validated against the global one: %d %s", r.status, r.body)
	}
	if r := ts.must(200, ts.do("GET", "/v1/tenants/acme/models", testAdmin, nil)); strings.Contains(string(r.body), `"global"`) {
		t.Errorf("the list shows the global model in place of the unreadable one: %s", r.body)
	}
	// Other tenants and the global scope still see the global model.
	ts.must(200, ts.do("GET", "/v1/tenants/other/models/X", testAdmin, nil))
	ts.must(200, ts.do("GET", "/v1/global/models/X", testAdmin, nil))
	// A repair of the tenant's model ends it.
	ts.must(200, ts.do("PUT", "/v1/tenants/acme/models/X", testAdmin, `{"properties": {"t": "number"}}`))
	ts.must(200, ts.do("POST", "/v1/tenants/acme/models/Y/validate", testAdmin, `{"x": {"t": 1}}`))
	// So does a delete: the tenant sees the global model again.
	ts.must(204, ts.do("DELETE", "/v1/tenants/acme/models/X", testAdmin, nil))
	ts.must(200, ts.do("POST", "/v1/tenants/acme/models/X/validate", testAdmin, `{"g": "x"}`))
}

// TestDefinitionWithoutName: a definition that leaves its name to the URL
// is held to the limits, and its errors to the positions, of the body as
// sent (the name used to be written into the body first, which refused a
// body of exactly the limit and shifted every position), and it is stored
// as sent and loads again.
func TestDefinitionWithoutName(t *testing.T) {
	ts := newTestServer(t)
	r := ts.must(400, ts.do("PUT", "/v1/tenants/a/models/Customer", testAdmin, `{"properties":{"a":"string"}}}`))
	if !strings.Contains(string(r.body), "column 30 (byte 29)") {
		t.Errorf("trailing data: %s, want it at byte 29 of the body", r.body)
	}
	const limit = 1 << 20 // definition.DefaultMaxBytes and the default body limit
	head := `{"properties":{"a":"string"}`
	exact := head + strings.Repeat(" ", limit-len(head)-1) + "}"
	ts.must(201, ts.do("PUT", "/v1/tenants/a/models/Exact", testAdmin, exact))
	before := ts.must(200, ts.do("GET", "/v1/tenants/a/models/Exact", testAdmin, nil))
	stored, err := ts.store.Store.Model(context.Background(), "a", "Exact")
	if err != nil || string(stored.Definition) != exact {
		t.Errorf("stored %d bytes, %v; want the body as sent", len(stored.Definition), err)
	}
	ts.must(200, ts.do("POST", "/v1/tenants/a/evict", testAdmin, nil))
	if after := ts.must(200, ts.do("GET", "/v1/tenants/a/models/Exact", testAdmin, nil)); string(after.body) != string(before.body) {
		t.Errorf("reloaded:\n%s\nbefore:\n%s", after.body, before.body)
	}
	if r := ts.must(400, ts.do("PUT", "/v1/tenants/a/models/Exact", testAdmin, `{"name": "Other", "properties": {}}`)); !strings.Contains(string(r.body), "name-mismatch") {
		t.Errorf("another name in the body: %s", r.body)
	}
}

// TestNewRefusesConfigWithoutStore checks New's typed error.
func TestNewRefusesConfigWithoutStore(t *testing.T) {
	if _, err := New(context.Background(), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(Config{}) = %v, want ErrInvalidConfig", err)
	}
}

// TestBodyAsSent: a body is read only as what its headers say it is. One
// Content-Type, JSON; a Content-Encoding other than identity is refused
// (415 with Accept-Encoding: identity) rather than read as JSON: a gzipped
// definition is not "malformed JSON", nor stored as if it were plain.
func TestBodyAsSent(t *testing.T) {
	ts := newTestServer(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"properties": {"a": "string"}}`))
	zw.Close()
	send := func(body []byte, hdr http.Header) response {
		t.Helper()
		hdr.Set("Authorization", "Bearer "+testAdmin)
		return ts.doHeader("PUT", "/v1/tenants/acme/models/A", bytes.NewReader(body), hdr)
	}
	plain := []byte(`{"properties": {"a": "string"}}`)
	for _, tc := range []struct {
		name   string
		body   []byte
		hdr    http.Header
		status int
	}{
		{"gzip", gz.Bytes(), http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, 415},
		{"identity then gzip", gz.Bytes(), http.Header{"Content-Encoding": {"identity, gzip"}}, 415},
		{"two Content-Types, JSON first", plain, http.Header{"Content-Type": {"application/json", "text/plain"}}, 415},
		{"two Content-Types, JSON second", plain, http.Header{"Content-Type": {"text/plain", "application/json"}}, 415},
		{"identity", plain, http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"Identity"}}, 201},
		{"empty Content-Type: none", plain, http.Header{"Content-Type": {""}}, 200},
		{"structured syntax suffix", plain, http.Header{"Content-Type": {"application/vnd.acme+json; charset=utf-8"}}, 200},
	} {
		r := send(tc.body, tc.hdr)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, r.status, tc.status, r.body)
			continue
		}
		if tc.status == 415 {
			if r.problemType() != "unsupported-media-type" {
				t.Errorf("%s: problem %q", tc.name, r.problemType())
			}
			if enc := tc.hdr.Get("Content-Encoding"); enc != "" && r.header.Get("Accept-Encoding") != "identity" {
				t.Errorf("%s: Accept-Encoding %q, want identity", tc.name, r.header.Get("Accept-Encoding"))
			}
		}
	}
	if got, _ := ts.store.Store.Models(context.Background(), "acme"); len(got) != 1 || string(got[0].Definition) != string(plain) {
		t.Errorf("stored %+v, want the one plain definition", got)
	}
}

// panicStore panics when a tenant's models are read.
type panicStore struct{ *storetest.Memory }

func (p panicStore) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if scope != store.Global {
		panic("boom")
	}
	return p.Memory.Models(ctx, scope)
}

// TestPanicWhileLoadingFailsTheRequest: a panic while a tenant loads
// fails its requests, as a panic in a handler does, and is counted; it
// does not end the process, which the load's group (a goroutine of its
// own) did. The tenant's lock is let go of.
func TestPanicWhileLoadingFailsTheRequest(t *testing.T) {
	srv := newAdminServer(t, panicStore{storetest.NewMemory(nil)}, Config{IdleTimeout: -1})
	defer srv.Close()
	h := srv.Handler()
	for range 2 {
		if rr := adminCall(h, "GET", "/v1/tenants/acme/models/User", ""); rr.Code != 500 {
			t.Errorf("GET: %d %s, want 500", rr.Code, rr.Body)
		}
	}
	var m dto.Metric
	if err := srv.m.panics.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Errorf("panics counted: %v, want 2", got)
	}
	if l, ok := srv.locks.tryLock("acme"); !ok {
		t.Error("the tenant's lock is held")
	} else {
		l.unlock()
	}
}

// panicOnSkip is a log handler that panics when a load skips a stored
// definition: a panic in the middle of a load, once the models before it
// were defined.
type panicOnSkip struct{ slog.Handler }

func (panicOnSkip) Enabled(context.Context, slog.Level) bool { return true }

func (h panicOnSkip) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "skipping stored definition") {
		panic("boom in the middle of a load")
	}
	return h.Handler.Handle(ctx, r)
}

// TestPanicWhileLoadingLeavesNoModels: a load cut short by a panic, on a
// read's path (through the load's group) or on a write's (under the
// write's lock), fails its request and leaves none of the models it had
// defined in the registry: a tenant that is not resident has none there.
func TestPanicWhileLoadingLeavesNoModels(t *testing.T) {
	st := storetest.NewMemory(nil)
	ctx := context.Background()
	for _, m := range []store.Model{
		{Scope: "acme", Name: "A", Definition: []byte(`{"properties": {"x": "string", "addr": {"street": "string"}}}`)},
		{Scope: "acme", Name: "B", Definition: []byte(`{"properties": {"x": {"type": 5}}}`)},
	} {
		if _, _, err := st.PutModel(ctx, m, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	srv := newAdminServer(t, st, Config{IdleTimeout: -1, Logger: slog.New(panicOnSkip{slog.DiscardHandler})})
	defer srv.Close()
	h := srv.Handler()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/tenants/acme/models/A", ""},
		{"PUT", "/v1/tenants/acme/models/C", `{"properties": {"y": "number"}}`},
	} {
		if rr := adminCall(h, c.method, c.path, c.body); rr.Code != 500 {
			t.Errorf("%s %s: %d %s, want 500", c.method, c.path, rr.Code, rr.Body)
		}
		if m, ok := srv.reg.FindByName(modelreg.WithTenant(ctx, "acme"), "A"); ok {
			t.Errorf("after %s %s: model %s of the cut-short load is in the registry", c.method, c.path, m.Name())
		}
		if ts, ok := srv.reg.TenantStats("acme"); ok {
			t.Errorf("after %s %s: the registry holds tenant acme: %+v", c.method, c.path, ts)
		}
		if l, ok := srv.locks.tryLock("acme"); !ok {
			t.Errorf("after %s %s: the tenant's lock is held", c.method, c.path)
		} else {
			l.unlock()
		}
	}
}
