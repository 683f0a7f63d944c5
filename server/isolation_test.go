package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store"
)

// TestRevokedTokenMeetsNoRecreatedTenant: a request checks its token
// before it locks or pins its tenant. If the tenant is deleted and created
// again in between (an id is free for reuse once deleted), the deleted
// tenant's token must not write into, nor read from, the new tenant: the
// request gets 401, as a request sent after the delete does.
//
// Each request is held between its token check and the rest by
// Expect: 100-continue: the server asks for the body (100 Continue) only
// when the handler first reads it, after the token was checked.
func TestRevokedTokenMeetsNoRecreatedTenant(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"write", "PUT", "/v1/tenants/x/models/FromOld", `{"properties": {"old": "string"}}`},
		{"validate", "POST", "/v1/tenants/x/models/Secret/validate", `{"s": "v"}`},
		{"lookup", "POST", "/v1/tenants/x/lookup", `{"properties": {"s": "string"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			old := ts.token("x")
			ts.must(201, ts.do("PUT", "/v1/tenants/x/models/Before", old, `{"properties": {"b": "string"}}`))

			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
				tc.method, tc.path, old, len(tc.body))
			br := bufio.NewReader(conn)
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
				t.Fatalf("want 100 Continue once the token was checked, got %q %v", line, err)
			}
			br.ReadString('\n') // the blank line that ends the 100 response

			// Meanwhile the tenant is deleted and created again, with a
			// model the old token must not see.
			ts.must(200, ts.do("DELETE", "/v1/tenants/x", testAdmin, nil))
			ts.must(201, ts.do("PUT", "/v1/tenants/x/models/Secret", testAdmin, `{"properties": {"s": "string"}}`))

			conn.Write([]byte(tc.body))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("the deleted tenant's token got %d on the new tenant, want 401", resp.StatusCode)
			}
			models, err := ts.store.Store.Models(t.Context(), "x")
			if err != nil || len(models) != 1 || models[0].Name != "Secret" {
				t.Errorf("the new tenant holds %+v (%v), want only Secret", models, err)
			}
		})
	}
}

// TestTenantShareKeepsOthersServed: requests of one tenant's tokens hold
// at most MaxTenantInFlight of the server's slots, from the token check to
// the end of the answer: a tenant holding its share with requests whose
// bodies never come (or whose answers are never read) gets 429 for more,
// while another tenant, and the admin, are served.
func TestTenantShareKeepsOthersServed(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxInFlight, c.MaxTenantInFlight = 8, 2 })
	ta, tb := ts.token("a"), ts.token("b")
	def := `{"properties": {"x": "string"}}`
	ts.must(201, ts.do("PUT", "/v1/tenants/a/models/M", ta, def))
	ts.must(201, ts.do("PUT", "/v1/tenants/b/models/M", tb, def))

	// Two requests of a, held after their token check: they wait for
	// bodies that do not come yet.
	var held []*bufio.Reader
	var conns []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /v1/tenants/a/models/Slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", ta, len(def))
		br := bufio.NewReader(conn)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
			t.Fatalf("want 100 Continue, got %q %v", line, err)
		}
		br.ReadString('\n')
		held, conns = append(held, br), append(conns, conn)
	}

	r := ts.do("GET", "/v1/tenants/a/models/M", ta, nil)
	if r.status != http.StatusTooManyRequests || r.problemType() != "too-many-requests" || r.header.Get("Retry-After") == "" {
		t.Errorf("a third request of a: %d %s (Retry-After %q), want 429 too-many-requests with Retry-After", r.status, r.problemType(), r.header.Get("Retry-After"))
	}
	ts.must(200, ts.do("GET", "/v1/tenants/b/models/M", tb, nil))
	ts.must(200, ts.do("PUT", "/v1/tenants/b/models/M", tb, def))
	ts.must(200, ts.do("GET", "/v1/tenants/a/models/M", testAdmin, nil)) // the admin is not counted

	for i, conn := range conns {
		conn.Write([]byte(def))
		resp, err := http.ReadResponse(held[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("held request %d: %d once its body came", i, resp.StatusCode)
		}
	}
	ts.must(200, ts.do("GET", "/v1/tenants/a/models/M", ta, nil))
	// A request gives its share back once its handler returned, just
	// after its answer was written.
	left := -1
	for deadline := time.Now().Add(5 * time.Second); left != 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ts.srv.tenantLim.mu.Lock()
		left = len(ts.srv.tenantLim.n)
		ts.srv.tenantLim.mu.Unlock()
	}
	if left != 0 {
		t.Errorf("%d tenants still hold shares after every request ended", left)
	}
}

// TestRevisionsTellNothingOfOtherTenants: a tenant's revisions follow
// from its own writes and the clock only (store.NextRevision): between two
// of its writes, other tenants' writes (and the global scope's) do not
// move them.
func TestRevisionsTellNothingOfOtherTenants(t *testing.T) {
	ts := newTestServer(t)
	ta, tb := ts.token("a"), ts.token("b")
	def := `{"properties": {"x": "string"}}`
	first := ts.must(201, ts.do("PUT", "/v1/tenants/a/models/M", ta, def))
	for i := range 5 {
		ts.must(201, ts.do("PUT", fmt.Sprintf("/v1/tenants/b/models/M%d", i), tb, def))
		ts.must(201, ts.do("PUT", fmt.Sprintf("/v1/global/models/G%d", i), testAdmin, def))
	}
	second := ts.must(200, ts.do("PUT", "/v1/tenants/a/models/M", ta, def))
	var m1, m2 struct {
		Revision int64     `json:"revision"`
		Updated  time.Time `json:"updated"`
	}
	if err := json.Unmarshal(first.body, &m1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(second.body, &m2); err != nil {
		t.Fatal(err)
	}
	if want := store.NextRevision(m1.Revision, m2.Updated); m1.Revision == 0 || m2.Revision != want {
		t.Errorf("tenant a's revisions %d then %d (written at %v) with 10 writes of others between: want %d", m1.Revision, m2.Revision, m2.Updated, want)
	}
	for _, r := range []response{first, second} {
		var m struct{ Revision int64 }
		json.Unmarshal(r.body, &m)
		if r.header.Get("ETag") != fmt.Sprintf(`"%d"`, m.Revision) {
			t.Errorf("ETag %s for revision %d", r.header.Get("ETag"), m.Revision)
		}
	}
}
