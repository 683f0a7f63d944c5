package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testAdmin = "test-admin-token-0123456789"

// countingStore wraps a store and counts tenant loads (Models calls for a
// tenant scope); block, when set, makes Models wait until it is closed.
type countingStore struct {
	store.Store
	loads atomic.Int64
	mu    sync.Mutex
	block chan struct{}
	// afterPut, when set, runs after each successful PutModel.
	afterPut func(store.Model)
}

func (c *countingStore) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	stored, created, err := c.Store.PutModel(ctx, m, cond)
	c.mu.Lock()
	f := c.afterPut
	c.mu.Unlock()
	if err == nil && f != nil {
		f(stored)
	}
	return stored, created, err
}

func (c *countingStore) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if scope != store.Global {
		c.loads.Add(1)
	}
	c.mu.Lock()
	b := c.block
	c.mu.Unlock()
	if b != nil {
		select {
		case <-b:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.Store.Models(ctx, scope)
}

type testServer struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	store *countingStore
	dir   string
}

type option func(*Config)

func newTestServer(t *testing.T, opts ...option) *testServer {
	t.Helper()
	dir := t.TempDir()
	return openTestServer(t, dir, opts...)
}

func openTestServer(t *testing.T, dir string, opts ...option) *testServer {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "modelreg.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	hash, _, _, err := ResolveAdminToken(context.Background(), cs, testAdmin, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: cs, AdminTokenHash: hash, IdleTimeout: -1}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), store: cs, dir: dir}
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ts.http.Close()
	ts.srv.Close()
	ts.store.Close()
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// problemType returns the problem type of a problem+json response, or "".
func (r response) problemType() string {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		return ""
	}
	var p struct{ Type string }
	json.Unmarshal(r.body, &p)
	return strings.TrimPrefix(p.Type, ProblemTypePrefix)
}

func (ts *testServer) do(method, path, token string, body any, hdr ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return ts.doHeader(method, path, rd, h)
}

// doHeader sends a request with exactly the headers h (which may repeat a
// header, or leave out Content-Type) and returns the response.
func (ts *testServer) doHeader(method, path string, body io.Reader, h http.Header) response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.http.URL+path, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header = h
	resp, err := ts.http.Client().Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// must checks the status of a response and returns it.
func (ts *testServer) must(status int, r response) response {
	ts.t.Helper()
	if r.status != status {
		ts.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func (ts *testServer) token(tenant string) string {
	ts.t.Helper()
	r := ts.must(201, ts.do("POST", "/v1/tenants/"+tenant+"/tokens", testAdmin, nil))
	return r.json(ts.t)["token"].(string)
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

const customerDef = `{"name": "Customer", "strict": true, "properties": {
	"name": {"type": "string", "required": true},
	"age": "number",
	"address": {"street": "string", "city": "string"},
	"tags": ["string"],
	"orders": [{"sku": "string", "qty": "number"}],
	"owner": "User"}}`

const userDef = `{"name": "User", "properties": {"email": {"type": "string", "required": true}}}`

// adminCall serves one request with the admin token on h.
func adminCall(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// adminStatus serves one request with the admin token on h and returns
// its status code.
func adminStatus(h http.Handler, method, path, body string) int {
	return adminCall(h, method, path, body).Code
}

// newAdminServer returns a Server on st whose admin token is testAdmin,
// with cfg's other settings. The caller closes it (inside a synctest
// bubble, before the bubble ends: its janitor runs there).
func newAdminServer(t testing.TB, st store.Store, cfg Config) *Server {
	t.Helper()
	hash, _, _, err := ResolveAdminToken(context.Background(), st, testAdmin, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.AdminTokenHash = st, hash
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
