package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/store"
)

// TestGetAnswersDefinitionAndRevisionOfOneWrite: while a model is
// replaced again and again, every GET (and list and lookup) answers a
// definition with the revision that stored it, never a newer revision with
// an older definition: a client that edits what it read and PUTs it back
// with If-Match must not overwrite a version it never saw.
func TestGetAnswersDefinitionAndRevisionOfOneWrite(t *testing.T) {
	ts := newTestServer(t)
	const writes = 600
	// Write i of M has the one property p<i>, and the revision revs[i].
	def := func(i int) string { return fmt.Sprintf(`{"properties": {"p%d": "string"}}`, i) }
	revs := make([]int64, writes)
	put := func(i, status int) {
		t.Helper()
		r := ts.do("PUT", "/v1/tenants/acme/models/M", testAdmin, def(i))
		rev, err := strconv.ParseInt(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
		if r.status != status || err != nil || i > 0 && rev <= revs[i-1] {
			t.Fatalf("PUT %d: %d, ETag %s: %s", i, r.status, r.header.Get("ETag"), r.body)
		}
		revs[i] = rev
	}
	put(0, 201)

	var done atomic.Bool
	var bad atomic.Int64
	var reads atomic.Int64
	client := ts.http.Client()
	get := func(method, path, body string) (rev int64, props map[string]json.RawMessage, ok bool) {
		req, _ := http.NewRequest(method, ts.http.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdmin)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, false
		}
		defer resp.Body.Close()
		var m struct {
			Revision   int64 `json:"revision"`
			Definition struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"definition"`
			Models []struct {
				Revision int64  `json:"revision"`
				Name     string `json:"name"`
			} `json:"models"`
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
			t.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
			return 0, nil, false
		}
		if etag := resp.Header.Get("ETag"); etag != "" && etag != strconv.Quote(strconv.FormatInt(m.Revision, 10)) {
			t.Errorf("ETag %s with revision %d in the body", etag, m.Revision)
		}
		return m.Revision, m.Definition.Properties, true
	}
	// What each read answered, checked against revs once the writes are
	// done: a read may answer a write before its PUT has returned.
	type read struct {
		rev   int64
		props []string
	}
	var mu sync.Mutex
	var answers []read
	check := func(rev int64, props map[string]json.RawMessage) {
		reads.Add(1)
		mu.Lock()
		answers = append(answers, read{rev, slices.Collect(maps.Keys(props))})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !done.Load() {
				if rev, props, ok := get("GET", "/v1/tenants/acme/models/M", ""); ok {
					check(rev, props)
				}
			}
		})
	}
	wg.Go(func() {
		for !done.Load() {
			// Lists read the metadata too (under the same lock).
			req, _ := http.NewRequest("GET", ts.http.URL+"/v1/tenants/acme/models", nil)
			req.Header.Set("Authorization", "Bearer "+testAdmin)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for i := 1; i < writes; i++ {
		put(i, 200)
	}
	done.Store(true)
	wg.Wait()
	for _, a := range answers {
		i, found := slices.BinarySearch(revs, a.rev)
		if !found || len(a.props) != 1 || a.props[0] != fmt.Sprint("p", i) {
			if bad.Add(1) <= 3 {
				t.Errorf("revision %d answered with properties %v", a.rev, a.props)
			}
		}
	}
	if bad.Load() > 0 {
		t.Errorf("%d of %d reads answered a definition with another write's revision", bad.Load(), reads.Load())
	}
	t.Logf("%d reads during %d writes", reads.Load(), writes)
}

// TestFailedWriteCreatesNoTenant: an admin PUT that fails (a failed
// precondition, a quota) on a tenant that does not exist leaves it not
// existing, in memory as in the store: every route answers
// tenant-not-found, as for any unknown tenant.
func TestFailedWriteCreatesNoTenant(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Policy.MaxBytes = 120 })
	big := `{"properties": {"aaaaaaaaaaaaaaaaaaaaaaaa": "string", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb": "string", "cccccccccccccccccccccccccccc": "string", "dddddddddddd": "number"}}`
	for _, tc := range []struct {
		name, body string
		hdr        []string
		status     int
	}{
		{"precondition", `{"properties": {}}`, []string{"If-Match", `"1"`}, 412},
		{"quota", big, nil, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "ghost-" + tc.name
			ts.must(tc.status, ts.do("PUT", "/v1/tenants/"+id+"/models/M", testAdmin, tc.body, tc.hdr...))
			assertNoTenant(t, ts, id)
		})
	}
}

// assertNoTenant checks that tenant id does not exist for any route.
func assertNoTenant(t *testing.T, ts *testServer, id string) {
	t.Helper()
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/v1/tenants/" + id + "/models", ""},
		{"GET", "/v1/tenants/" + id + "/models/M", ""},
		{"GET", "/v1/tenants/" + id + "/stats", ""},
		{"POST", "/v1/tenants/" + id + "/lookup", `{"properties": {"a": "string"}}`},
		{"POST", "/v1/tenants/" + id + "/models/M/validate", `{}`},
		{"POST", "/v1/tenants/" + id + "/evict", ""},
		{"DELETE", "/v1/tenants/" + id, ""},
	} {
		var body any
		if rq.body != "" {
			body = rq.body
		}
		if r := ts.do(rq.method, rq.path, testAdmin, body); r.status != 404 || r.problemType() != "tenant-not-found" {
			t.Errorf("%s %s: %d %s, want 404 tenant-not-found", rq.method, rq.path, r.status, r.body)
		}
	}
	if _, err := ts.store.Store.Tenant(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the store has tenant %s: %v", id, err)
	}
	if ts.srv.resident.get(id) != nil {
		t.Errorf("tenant %s is resident", id)
	}
}

// TestRefusedReplaceKeepsRevision: a replacement the registry refuses
// changes nothing: the stored revision and the ETag a GET answers stay
// those of the previous definition, and a conditional PUT on it succeeds.
func TestRefusedReplaceKeepsRevision(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Policy.MaxBytes = 120 })
	big := `{"properties": {"aaaaaaaaaaaaaaaaaaaaaaaa": "string", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb": "string", "cccccccccccccccccccccccccccc": "string", "dddddddddddd": "number"}}`
	tag := ts.must(201, ts.do("PUT", "/v1/tenants/q/models/S", testAdmin, `{"properties": {"a": "string"}}`)).header.Get("ETag")
	ts.must(409, ts.do("PUT", "/v1/tenants/q/models/S", testAdmin, big))
	if r := ts.must(200, ts.do("GET", "/v1/tenants/q/models/S", testAdmin, nil)); r.header.Get("ETag") != tag {
		t.Errorf("ETag after a refused replace = %s, want %s", r.header.Get("ETag"), tag)
	}
	if m, _ := ts.store.Store.Model(context.Background(), "q", "S"); strconv.Quote(strconv.FormatInt(m.Revision, 10)) != tag {
		t.Errorf("stored revision = %d, want that of ETag %s", m.Revision, tag)
	}
	ts.must(200, ts.do("PUT", "/v1/tenants/q/models/S", testAdmin, `{"properties": {"b": "string"}}`, "If-Match", tag))
}

// TestUndoOfStoredWrite covers the write the registry refuses after it
// was stored, which only a policy changed between the server's check and
// its Define can cause (here the store's write lowers it): the store write
// is undone, and store, memory and ETags agree afterwards.
func TestUndoOfStoredWrite(t *testing.T) {
	ts := newTestServer(t)
	reg := ts.srv.Registry()
	tighten := func(tenant string) {
		ts.store.mu.Lock()
		ts.store.afterPut = func(m store.Model) {
			if m.Scope == tenant {
				reg.SetPolicy(tenant, modelreg.Policy{MaxBytes: 1})
			}
		}
		ts.store.mu.Unlock()
	}
	loosen := func(tenant string) {
		ts.store.mu.Lock()
		ts.store.afterPut = nil
		ts.store.mu.Unlock()
		reg.SetPolicy(tenant, modelreg.Policy{})
	}
	ctx := context.Background()

	// A new tenant: deleted again.
	tighten("n")
	ts.must(409, ts.do("PUT", "/v1/tenants/n/models/M", testAdmin, `{"properties": {"a": "string"}}`))
	loosen("n")
	assertNoTenant(t, ts, "n")

	// A new model of a tenant: deleted again.
	ts.must(201, ts.do("PUT", "/v1/tenants/e/models/A", testAdmin, `{"properties": {"a": "string"}}`))
	tighten("e")
	ts.must(409, ts.do("PUT", "/v1/tenants/e/models/B", testAdmin, `{"properties": {"b": "string"}}`))
	loosen("e")
	if _, err := ts.store.Store.Model(ctx, "e", "B"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused new model in the store: %v", err)
	}
	ts.must(404, ts.do("GET", "/v1/tenants/e/models/B", testAdmin, nil))

	// A replacement (larger than the model it replaces, which a tenant
	// over its bytes quota may not make): the previous definition is
	// stored again, as a new revision, and memory answers that revision.
	tighten("e")
	ts.must(409, ts.do("PUT", "/v1/tenants/e/models/A", testAdmin, `{"properties": {"z": "string", "zz": "string"}}`))
	loosen("e")
	stored, err := ts.store.Store.Model(ctx, "e", "A")
	if err != nil || !strings.Contains(string(stored.Definition), `"a"`) {
		t.Fatalf("stored A = %s, %v; want the previous definition", stored.Definition, err)
	}
	r := ts.must(200, ts.do("GET", "/v1/tenants/e/models/A", testAdmin, nil))
	if want := strconv.Quote(strconv.FormatInt(stored.Revision, 10)); r.header.Get("ETag") != want {
		t.Errorf("ETag = %s, stored revision %d", r.header.Get("ETag"), stored.Revision)
	}
	ts.must(200, ts.do("PUT", "/v1/tenants/e/models/A", testAdmin, `{"properties": {"y": "string"}}`, "If-Match", r.header.Get("ETag")))
}

// TestConditionalDelete: a DELETE with If-Match deletes only that
// revision, so a client deleting what it read does not delete a newer
// version it never saw (the header was ignored).
func TestConditionalDelete(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/tenants/acme/models/Del"
	old := ts.must(201, ts.do("PUT", path, testAdmin, `{"properties": {"a": "string"}}`)).header.Get("ETag")
	cur := ts.must(200, ts.do("PUT", path, testAdmin, `{"properties": {"b": "string"}}`)).header.Get("ETag")
	ts.must(412, ts.do("DELETE", path, testAdmin, nil, "If-Match", old))
	ts.must(412, ts.do("DELETE", path, testAdmin, nil, "If-None-Match", "*"))
	ts.must(400, ts.do("DELETE", path, testAdmin, nil, "If-Match", "W/x"))
	ts.must(200, ts.do("GET", path, testAdmin, nil))
	ts.must(204, ts.do("DELETE", path, testAdmin, nil, "If-Match", cur))
	ts.must(412, ts.do("DELETE", path, testAdmin, nil, "If-Match", cur)) // gone: no revision matches
	ts.must(404, ts.do("DELETE", path, testAdmin, nil))
	g := "/v1/global/models/G"
	gold := ts.must(201, ts.do("PUT", g, testAdmin, `{"properties": {"a": "string"}}`)).header.Get("ETag")
	ts.must(200, ts.do("PUT", g, testAdmin, `{"properties": {"b": "string"}}`))
	ts.must(412, ts.do("DELETE", g, testAdmin, nil, "If-Match", gold))
	ts.must(200, ts.do("GET", g, testAdmin, nil))
}

// TestStaleETagAfterDelete: an ETag kept from before a model (or its
// tenant) was deleted does not match the model created after it.
func TestStaleETagAfterDelete(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/tenants/acme/models/Customer"
	old := ts.must(201, ts.do("PUT", path, testAdmin, `{"properties": {"v": "string"}}`)).header.Get("ETag")
	ts.must(204, ts.do("DELETE", path, testAdmin, nil))
	ts.must(201, ts.do("PUT", path, testAdmin, `{"properties": {"important": "number"}}`))
	ts.must(412, ts.do("PUT", path, testAdmin, `{"properties": {"v": "string", "w": "string"}}`, "If-Match", old))

	old = ts.must(200, ts.do("GET", path, testAdmin, nil)).header.Get("ETag")
	ts.must(200, ts.do("DELETE", "/v1/tenants/acme", testAdmin, nil))
	ts.must(201, ts.do("PUT", path, testAdmin, `{"properties": {"other": "boolean"}}`))
	ts.must(412, ts.do("PUT", path, testAdmin, `{"properties": {"v": "string"}}`, "If-Match", old))
}

// TestIfMatchComparesStrongly: If-Match follows RFC 9110 §13.1.1. Its
// tags are compared strongly, character by character, so "0036" or "+36"
// is not "36"; a weak tag never matches (412, not 400); * requires the
// model to exist; a list matches if one of its tags does; only what is not
// a list of entity tags is a 400.
func TestIfMatchComparesStrongly(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/tenants/acme/models/Etg"
	def := func(p string) string { return `{"properties": {"` + p + `": "string"}}` }
	cur := ts.must(201, ts.do("PUT", path, testAdmin, def("a"))).header.Get("ETag")
	rev := strings.Trim(cur, `"`)
	for _, tc := range []struct {
		ifMatch string
		status  int
	}{
		{`"0` + rev + `"`, 412},
		{`"+` + rev + `"`, 412},
		{`W/` + cur, 412},
		{`"x", W/` + cur, 412},
		{`,`, 412}, // a list of empty elements names no tag
		{`""` + rev + `""`, 400},
		{`"` + rev, 400},
		{`W/x`, 400},
		{cur + ` x`, 400},
	} {
		for _, method := range []string{"PUT", "DELETE"} {
			var body any
			if method == "PUT" {
				body = def("b")
			}
			r := ts.do(method, path, testAdmin, body, "If-Match", tc.ifMatch)
			if r.status != tc.status {
				t.Errorf("%s If-Match: %s: %d, want %d: %s", method, tc.ifMatch, r.status, tc.status, r.body)
			}
			if r.status == 412 && strings.Contains(string(r.body), "store:") {
				t.Errorf("%s If-Match: %s: the detail speaks of the store: %s", method, tc.ifMatch, r.body)
			}
		}
	}
	if got := ts.must(200, ts.do("GET", path, testAdmin, nil)); got.header.Get("ETag") != cur {
		t.Fatalf("a refused conditional write changed the model: ETag %s, was %s", got.header.Get("ETag"), cur)
	}
	// A list with the current tag matches; so does *.
	ts.must(200, ts.do("PUT", path, testAdmin, def("c"), "If-Match", `"1", W/"2", `+cur))
	ts.must(200, ts.do("PUT", path, testAdmin, def("d"), "If-Match", "*"))
	ts.must(204, ts.do("DELETE", path, testAdmin, nil, "If-Match", "*"))
	// * on a model that does not exist: 412, and neither the model nor
	// its tenant is created.
	ts.must(412, ts.do("PUT", path, testAdmin, def("e"), "If-Match", "*"))
	ts.must(412, ts.do("PUT", "/v1/tenants/fresh/models/X", testAdmin, def("e"), "If-Match", "*"))
	ts.must(412, ts.do("DELETE", path, testAdmin, nil, "If-Match", "*"))
	ts.must(404, ts.do("GET", path, testAdmin, nil))
	ts.must(404, ts.do("GET", "/v1/tenants/fresh/stats", testAdmin, nil))

	// A condition that can never be met is still weighed last (RFC 9110
	// §13.2.1): what fails without it fails as it would.
	for _, im := range []string{`W/"1"`, `"1"`, `*`} {
		if r := ts.do("PUT", "/v1/tenants/nosuch/models/X", testAdmin, `{`, "If-Match", im); r.status != 400 || r.problemType() != "malformed-json" {
			t.Errorf("PUT of a malformed body, If-Match: %s: %d %s, want 400 malformed-json", im, r.status, r.problemType())
		}
		if r := ts.do("DELETE", "/v1/tenants/nosuch/models/X", testAdmin, nil, "If-Match", im); r.status != 404 || r.problemType() != "tenant-not-found" {
			t.Errorf("DELETE in a missing tenant, If-Match: %s: %d %s, want 404 tenant-not-found", im, r.status, r.problemType())
		}
	}
	// If-None-Match: * twice is * (one list).
	twice := http.Header{"If-None-Match": {"*", "*"}, "Authorization": {"Bearer " + testAdmin}}
	if r := ts.doHeader("PUT", path, strings.NewReader(def("f")), twice); r.status != 201 {
		t.Errorf("PUT with If-None-Match: * twice: %d, want 201: %s", r.status, r.body)
	}
}

// TestTenantURLNeverReusesAnETag: a tenant URL serves the global model of
// its name until the tenant defines its own; the two never share an ETag,
// so an If-Match taken from the global model does not replace (or delete)
// a tenant model the client never saw.
func TestTenantURLNeverReusesAnETag(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("a")
	path := "/v1/tenants/a/models/X"
	ts.must(201, ts.do("PUT", "/v1/global/models/X", testAdmin, `{"properties": {"g": "string"}}`))
	seen := ts.must(200, ts.do("GET", path, tok, nil)).header.Get("ETag") // the global model
	own := ts.must(201, ts.do("PUT", path, testAdmin, `{"properties": {"own": "string"}}`)).header.Get("ETag")
	if own == seen {
		t.Fatalf("the tenant's model has the ETag %s of the global model the URL served before", own)
	}
	ts.must(412, ts.do("PUT", path, tok, `{"properties": {"lost": "string"}}`, "If-Match", seen))
	ts.must(412, ts.do("DELETE", path, tok, nil, "If-Match", seen))
	ts.must(200, ts.do("PUT", path, tok, `{"properties": {"mine": "string"}}`, "If-Match", own))
}

// TestStoredBytesQuota: the bytes quota bounds the definitions as the
// store holds them, as sent, not only what the registry counts of them:
// white space (or any key the registry does not keep) costs the tenant
// its quota, so a tenant cannot fill the disk, or the memory its next load
// reads, within its quota. A replacement no larger than what it replaces
// is accepted over the quota; a delete gives the bytes back; a load counts
// what is stored.
func TestStoredBytesQuota(t *testing.T) {
	const limit = 4000
	ts := newTestServer(t, func(c *Config) { c.Policy.MaxBytes = limit })
	padded := func(n int) string { return `{"properties": {"a": "string"}` + strings.Repeat(" ", n) + `}` }
	ts.must(201, ts.do("PUT", "/v1/tenants/q/models/A", testAdmin, padded(2500)))
	r := ts.must(409, ts.do("PUT", "/v1/tenants/q/models/B", testAdmin, padded(2500)))
	if r.problemType() != "quota-exceeded" || !strings.Contains(string(r.body), `"quota":"definition bytes"`) {
		t.Errorf("a second padded definition over the quota: %s", r.body)
	}
	// What the registry counts is far below the quota.
	var st struct {
		DefinitionBytes int64 `json:"definitionBytes"`
	}
	if err := json.Unmarshal(ts.must(200, ts.do("GET", "/v1/tenants/q/stats", testAdmin, nil)).body, &st); err != nil || st.DefinitionBytes > 200 {
		t.Fatalf("the registry counts %d definition bytes (%v); the test wants it far below the quota", st.DefinitionBytes, err)
	}
	ts.must(201, ts.do("PUT", "/v1/tenants/q/models/B", testAdmin, padded(100)))
	// After a load, the quota counts what the store holds.
	ts.must(200, ts.do("POST", "/v1/tenants/q/evict", testAdmin, nil))
	ts.must(409, ts.do("PUT", "/v1/tenants/q/models/C", testAdmin, padded(1500)))
	ts.must(200, ts.do("PUT", "/v1/tenants/q/models/A", testAdmin, padded(2000))) // smaller than it was
	ts.must(409, ts.do("PUT", "/v1/tenants/q/models/C", testAdmin, padded(1900)))
	ts.must(204, ts.do("DELETE", "/v1/tenants/q/models/A", testAdmin, nil))
	ts.must(201, ts.do("PUT", "/v1/tenants/q/models/C", testAdmin, padded(1900)))
}

// TestDeletedUnreadableModelGivesBackItsBytes: a stored model that could
// not be loaded counts in the stored-bytes quota, and deleting it gives its
// bytes back, as deleting any model does.
func TestDeletedUnreadableModelGivesBackItsBytes(t *testing.T) {
	const limit = 4000
	ts := newTestServer(t, func(c *Config) { c.Policy.MaxBytes = limit })
	padded := func(n int) string { return `{"properties": {"a": "string"}` + strings.Repeat(" ", n) + `}` }
	ts.must(201, ts.do("PUT", "/v1/tenants/q/models/A", testAdmin, padded(2500)))
	dir := ts.dir
	ts.close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "modelreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE models SET definition = replace(definition, '"string"', '"zipcode"') WHERE scope = 'q' AND name = 'A'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ts = openTestServer(t, dir, func(c *Config) { c.Policy.MaxBytes = limit })
	ts.must(500, ts.do("GET", "/v1/tenants/q/models/A", testAdmin, nil)) // unreadable
	ts.must(204, ts.do("DELETE", "/v1/tenants/q/models/A", testAdmin, nil))
	// The store now holds nothing of q but its tenant row.
	r := ts.do("PUT", "/v1/tenants/q/models/B", testAdmin, padded(2500))
	if r.status != 201 {
		t.Errorf("PUT of 2.5 KB into an empty tenant with a 4000-byte quota: %d %s", r.status, r.body)
	}
}
