package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/sqlite"
	dto "github.com/prometheus/client_model/go"
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

// gatedStore is a store whose model writes (PutModel) and tenant loads
// (Models) of a gated scope wait at the gate until it is opened: a write
// or load of that tenant held inside the store, with the tenant's lock
// held meanwhile.
type gatedStore struct {
	store.Store
	mu    sync.Mutex
	gates map[string]*gate
}

type gate struct {
	entered  chan struct{} // closed once an operation waits at the gate
	open     chan struct{} // closed to let it (and any later one) through
	once     sync.Once
	openOnce sync.Once
}

func (g *gate) release() { g.openOnce.Do(func() { close(g.open) }) }

// gate closes scope's gate: its next writes and loads wait at it.
func (gs *gatedStore) gate(scope string) *gate {
	g := &gate{entered: make(chan struct{}), open: make(chan struct{})}
	gs.mu.Lock()
	if gs.gates == nil {
		gs.gates = make(map[string]*gate)
	}
	gs.gates[scope] = g
	gs.mu.Unlock()
	return g
}

func (gs *gatedStore) wait(ctx context.Context, scope string) error {
	gs.mu.Lock()
	g := gs.gates[scope]
	gs.mu.Unlock()
	if g == nil {
		return nil
	}
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (gs *gatedStore) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	if err := gs.wait(ctx, m.Scope); err != nil {
		return store.Model{}, false, err
	}
	return gs.Store.PutModel(ctx, m, cond)
}

func (gs *gatedStore) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if err := gs.wait(ctx, scope); err != nil {
		return nil, err
	}
	return gs.Store.Models(ctx, scope)
}

// releaseAll opens every gate.
func (gs *gatedStore) releaseAll() {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, g := range gs.gates {
		g.release()
	}
}

// gatedServer is a server on a gatedStore.
type gatedServer struct {
	t  *testing.T
	s  *Server
	gs *gatedStore
}

// newGatedServer returns a server on a gatedStore, closed (every gate
// opened first) when the test ends.
func newGatedServer(t *testing.T, cfg Config) *gatedServer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modelreg.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: st}
	s := newAdminServer(t, gs, cfg)
	t.Cleanup(func() {
		gs.releaseAll()
		s.Close()
		st.Close()
	})
	return &gatedServer{t, s, gs}
}

// call is a request served in the background.
type call struct {
	method, path string
	done         chan struct{}
	rec          *httptest.ResponseRecorder
}

// start serves an admin request in the background. A test that ends
// opens the gates and waits for it.
func (g *gatedServer) start(method, path, body string) *call {
	c := &call{method: method, path: path, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.rec = adminCall(g.s.Handler(), method, path, body)
	}()
	g.t.Cleanup(func() {
		g.gs.releaseAll()
		<-c.done
	})
	return c
}

// within waits for c to be answered with want, failing the test if that
// takes longer than d.
func (c *call) within(t *testing.T, d time.Duration, want int) {
	t.Helper()
	select {
	case <-c.done:
		if c.rec.Code != want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, c.rec.Code, want, c.rec.Body)
		}
	case <-time.After(d):
		t.Fatalf("%s %s not answered after %v", c.method, c.path, d)
	}
}

// coStriped returns n tenant ids other than a that the server's former
// locking (256 mutexes shared between tenants, chosen by the hash of the
// id under the resident set's seed) put on a's mutex.
func coStriped(s *Server, a string, n int) []string {
	stripe := func(id string) uint64 { return maphash.String(s.resident.seed, id) % 256 }
	var out []string
	for i := 0; len(out) < n; i++ {
		if id := fmt.Sprint("co", i); stripe(id) == stripe(a) {
			out = append(out, id)
		}
	}
	return out
}

// TestTenantLocksAreTheirOwn: a tenant's lock, which its writes, loads
// and unloads hold (a write through its store write, a load through its
// store read), is its own. While one tenant's write or load is held inside
// the store, every other tenant (even one that shared a lock with it under
// the former striping) writes, loads, is evicted, gets tokens, and is
// created and deleted without waiting; the global scope too. The held
// operation completes once the store lets it.
func TestTenantLocksAreTheirOwn(t *testing.T) {
	const patience = 10 * time.Second // what a request without a wait takes, many times over
	def := `{"properties": {"x": "string"}}`
	for _, held := range []struct {
		name string
		// hold starts the operation of tenant a that the gate holds,
		// answered with want once the gate opens.
		hold func(g *gatedServer) *call
		want int
	}{
		{"write", func(g *gatedServer) *call {
			return g.start("PUT", "/v1/tenants/a/models/Held", def)
		}, 201},
		{"load", func(g *gatedServer) *call {
			if code := adminStatus(g.s.Handler(), "POST", "/v1/tenants/a/evict", ""); code != 200 {
				g.t.Fatalf("evict a: %d", code)
			}
			return g.start("GET", "/v1/tenants/a/models/M", "")
		}, 200},
	} {
		t.Run(held.name, func(t *testing.T) {
			gsrv := newGatedServer(t, Config{IdleTimeout: -1})
			s := gsrv.s
			others := coStriped(s, "a", 2)
			b, c := others[0], others[1]
			for _, id := range []string{"a", b} {
				if code := adminStatus(s.Handler(), "PUT", "/v1/tenants/"+id+"/models/M", def); code != 201 {
					t.Fatalf("set-up of %s: %d", id, code)
				}
			}

			g := gsrv.gs.gate("a")
			h := held.hold(gsrv)
			select {
			case <-g.entered:
			case <-h.done:
				t.Fatalf("%s of a answered %d without reaching the store", held.name, h.rec.Code)
			}

			for _, op := range []struct {
				method, path, body string
				want               int
			}{
				{"PUT", "/v1/tenants/" + b + "/models/N", def, 201}, // a write
				{"POST", "/v1/tenants/" + b + "/evict", "", 200},    // an unload
				{"GET", "/v1/tenants/" + b + "/models/M", "", 200},  // a load
				{"POST", "/v1/tenants/" + b + "/tokens", "", 201},   // a token
				{"PUT", "/v1/tenants/" + c + "/models/M", def, 201}, // a tenant created
				{"DELETE", "/v1/tenants/" + c, "", 200},             // and deleted
				{"PUT", "/v1/global/models/G", def, 201},            // the global scope
				{"GET", "/v1/tenants/" + b + "/models/G", "", 200},  // which b sees
			} {
				gsrv.start(op.method, op.path, op.body).within(t, patience, op.want)
			}

			select {
			case <-h.done:
				t.Fatalf("%s of a answered %d while held in the store", held.name, h.rec.Code)
			default:
			}
			g.release()
			h.within(t, patience, held.want)
		})
	}
}

// TestTenantRunsItsShareAtOnce: at most MaxTenantRunning requests of one
// tenant's tokens compute at once; the tenant's next one waits for its
// turn, while another tenant's request does not wait at all. So a tenant
// that sends costly requests takes at most that many cores from the
// others. Its requests held, the waiting one is answered once one ends.
func TestTenantRunsItsShareAtOnce(t *testing.T) {
	const patience = 10 * time.Second // what a request without a wait takes, many times over
	gsrv := newGatedServer(t, Config{IdleTimeout: -1, MaxTenantRunning: 2})
	s := gsrv.s
	def := `{"properties": {"x": "string"}}`
	tokens := map[string]string{}
	for _, id := range []string{"a", "b"} {
		if code := adminStatus(s.Handler(), "PUT", "/v1/tenants/"+id+"/models/M", def); code != 201 {
			t.Fatalf("set-up of %s: %d", id, code)
		}
		rec := adminCall(s.Handler(), "POST", "/v1/tenants/"+id+"/tokens", "")
		var tok struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.Token == "" {
			t.Fatalf("token of %s: %d %s", id, rec.Code, rec.Body)
		}
		tokens[id] = tok.Token
	}
	start := func(tenant, method, path, body string) *call {
		c := &call{method: method, path: path, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tokens[tenant])
			c.rec = httptest.NewRecorder()
			s.Handler().ServeHTTP(c.rec, req)
		}()
		t.Cleanup(func() {
			gsrv.gs.releaseAll()
			<-c.done
		})
		return c
	}
	running := func(tenant string) int {
		s.tenantLim.mu.Lock()
		defer s.tenantLim.mu.Unlock()
		if sh := s.tenantLim.n[tenant]; sh != nil {
			return len(sh.run)
		}
		return 0
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(patience); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s after %v", what, patience)
			}
		}
	}

	// Two writes of a: the first held in the store, the second waiting
	// for a's lock. Both are computing.
	g := gsrv.gs.gate("a")
	w1 := start("a", "PUT", "/v1/tenants/a/models/H1", def)
	<-g.entered
	w2 := start("a", "PUT", "/v1/tenants/a/models/H2", def)
	waitFor("second running request of a", func() bool { return running("a") == 2 })

	// A third request of a waits for its turn...
	waits := tenantWaits(t, s)
	v := start("a", "POST", "/v1/tenants/a/models/M/validate", `{"x": "y"}`)
	waitFor("request of a waiting for its turn", func() bool { return tenantWaits(t, s) == waits+1 })
	// ...while b's is served at once.
	start("b", "POST", "/v1/tenants/b/models/M/validate", `{"x": "y"}`).within(t, patience, 200)
	select {
	case <-v.done:
		t.Fatalf("a third request of a was answered while two were computing: %d %s", v.rec.Code, v.rec.Body)
	default:
	}

	g.release()
	w1.within(t, patience, 201)
	w2.within(t, patience, 201)
	v.within(t, patience, 200)
	waitFor("tenant shares given back", func() bool {
		s.tenantLim.mu.Lock()
		defer s.tenantLim.mu.Unlock()
		return len(s.tenantLim.n) == 0
	})
}

// tenantWaits reads modelreg_http_tenant_waits_total.
func tenantWaits(t *testing.T, s *Server) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.m.tenantWaits.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestRevokeOneToken: the admin lists a tenant's tokens (ids and times,
// never a secret) and revokes one: it gets 401 from then on, even from a
// request already past its token check (held by Expect: 100-continue), and
// even though it was cached; the tenant's other tokens, its models and the
// tenant itself stay. Revoking it again, or through another tenant's URL,
// is 404 token-not-found, and through an unknown tenant's 404
// tenant-not-found, as listing its tokens; only the admin lists and
// revokes.
func TestRevokeOneToken(t *testing.T) {
	ts := newTestServer(t)
	keep, gone := ts.token("acme"), ts.token("acme")
	other := ts.token("other")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/M", gone, `{"properties": {"x": "string"}}`)) // cached now
	idOf := func(tok string) string { id, _ := parseTenantToken(tok); return id }

	var list struct {
		Tenant string
		Tokens []map[string]any
	}
	r := ts.must(200, ts.do("GET", "/v1/tenants/acme/tokens", testAdmin, nil))
	if err := json.Unmarshal(r.body, &list); err != nil || list.Tenant != "acme" || len(list.Tokens) != 2 {
		t.Fatalf("token list: %s", r.body)
	}
	for _, tk := range list.Tokens {
		if len(tk) != 2 || tk["id"] == nil || tk["created"] == nil {
			t.Errorf("a listed token has %v, want its id and creation time only", tk)
		}
	}
	if strings.Contains(string(r.body), keep[len(keep)-20:]) || strings.Contains(string(r.body), gone[len(gone)-20:]) {
		t.Errorf("the token list shows a token's secret: %s", r.body)
	}
	ts.must(403, ts.do("GET", "/v1/tenants/acme/tokens", keep, nil))
	ts.must(403, ts.do("DELETE", "/v1/tenants/acme/tokens/"+idOf(gone), keep, nil))
	ts.must(404, ts.do("GET", "/v1/tenants/acme/tokens", other, nil)) // as any other tenant's route
	ts.must(404, ts.do("DELETE", "/v1/tenants/acme/tokens/"+idOf(gone), other, nil))
	if r := ts.must(404, ts.do("GET", "/v1/tenants/nobody/tokens", testAdmin, nil)); r.problemType() != "tenant-not-found" {
		t.Errorf("listing the tokens of an unknown tenant: %s", r.body)
	}
	if r := ts.must(404, ts.do("DELETE", "/v1/tenants/nobody/tokens/"+idOf(gone), testAdmin, nil)); r.problemType() != "tenant-not-found" {
		t.Errorf("revoking a token of an unknown tenant: %s", r.body)
	}

	// A request of the token to revoke, past its token check.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"properties": {"y": "string"}}`
	fmt.Fprintf(conn, "PUT /v1/tenants/acme/models/Late HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", gone, len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue once the token was checked, got %q %v", line, err)
	}
	br.ReadString('\n')

	if r := ts.must(404, ts.do("DELETE", "/v1/tenants/other/tokens/"+idOf(gone), testAdmin, nil)); r.problemType() != "token-not-found" {
		t.Errorf("revoking acme's token through other's URL: %s", r.body)
	}
	ts.must(204, ts.do("DELETE", "/v1/tenants/acme/tokens/"+idOf(gone), testAdmin, nil))

	conn.Write([]byte(body))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request under way with the revoked token got %d, want 401", resp.StatusCode)
	}
	ts.must(401, ts.do("GET", "/v1/tenants/acme/models/M", gone, nil))
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/M", keep, nil))
	ts.must(200, ts.do("GET", "/v1/tenants/other/stats", other, nil))
	ts.must(404, ts.do("GET", "/v1/tenants/acme/models/Late", keep, nil))
	if r := ts.must(404, ts.do("DELETE", "/v1/tenants/acme/tokens/"+idOf(gone), testAdmin, nil)); r.problemType() != "token-not-found" {
		t.Errorf("revoking it again: %s", r.body)
	}
	r = ts.must(200, ts.do("GET", "/v1/tenants/acme/tokens", testAdmin, nil))
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Tokens) != 1 || list.Tokens[0]["id"] != idOf(keep) {
		t.Errorf("token list after the revoke: %s", r.body)
	}
}

// TestTurnNeverWaitsForASlot: a request takes its tenant's turn only once
// it holds an in-flight slot, never the other way round. A body request
// used to take the turn first, then wait for a slot; the tenant's bodyless
// requests, holding slots, waited for that turn, and nothing ran until the
// body request's queue wait ended with a 503.
func TestTurnNeverWaitsForASlot(t *testing.T) {
	const queueWait = 2 * time.Second
	gsrv := newGatedServer(t, Config{IdleTimeout: -1, MaxInFlight: 3, MaxTenantInFlight: 10, MaxTenantRunning: 1, QueueWait: queueWait})
	s := gsrv.s
	def := `{"properties": {"x": "string"}}`
	if code := adminStatus(s.Handler(), "PUT", "/v1/tenants/a/models/M", def); code != 201 {
		t.Fatalf("set-up: %d", code)
	}
	rec := adminCall(s.Handler(), "POST", "/v1/tenants/a/tokens", "")
	var tok struct{ Token string }
	json.Unmarshal(rec.Body.Bytes(), &tok)
	if code := adminStatus(s.Handler(), "POST", "/v1/tenants/a/evict", ""); code != 200 {
		t.Fatalf("evict: %d", code)
	}
	start := func(method, path, body string) *call {
		c := &call{method: method, path: path, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			c.rec = httptest.NewRecorder()
			s.Handler().ServeHTTP(c.rec, req)
		}()
		t.Cleanup(func() { gsrv.gs.releaseAll(); <-c.done })
		return c
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s", what)
			}
		}
	}
	waits := tenantWaits(t, s)

	// H: a GET that loads a, held in the store: it has a's turn and a slot.
	g := gsrv.gs.gate("a")
	h := start("GET", "/v1/tenants/a/models/M", "")
	<-g.entered
	// A: a validate, body in, waiting for a's turn (without a slot).
	a := start("POST", "/v1/tenants/a/models/M/validate", `{"x": "y"}`)
	waitFor("validate waiting for its turn", func() bool { return tenantWaits(t, s) == waits+1 })
	// G1: a GET holding a slot, waiting for the turn; G2 and G3: GETs
	// that find every slot taken.
	g1 := start("GET", "/v1/tenants/a/models/M", "")
	waitFor("g1 waiting", func() bool { return tenantWaits(t, s) == waits+2 })
	g2 := start("GET", "/v1/tenants/a/models/M", "")
	g3 := start("GET", "/v1/tenants/a/models/M", "")
	time.Sleep(50 * time.Millisecond) // let them queue, wherever they do

	t0 := time.Now()
	g.release() // H answers: its turn goes to A, its slot to G3
	h.within(t, 5*time.Second, 200)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("validate not answered")
	}
	took := time.Since(t0)
	t.Logf("validate: %d after %v: %s", a.rec.Code, took, strings.TrimSpace(a.rec.Body.String()))
	if a.rec.Code != 200 {
		t.Errorf("validate got %d after %v: it waited for a slot while holding its tenant's turn, which the slots' holders waited for", a.rec.Code, took)
	}
	for _, c := range []*call{g1, g2, g3} {
		c.within(t, 5*time.Second, 200)
	}
}
