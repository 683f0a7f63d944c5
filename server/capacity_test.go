package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// modelDef is a definition of a model called name.
func modelDef(name string) string {
	return fmt.Sprintf(`{"name": %q, "properties": {"email": {"type": "string", "required": true}}}`, name)
}

// TestMaxResidentTenants loads three times as many tenants as the bound
// allows: at most the bound stay resident (plus one pinned by a request in
// flight, which is never unloaded), the others are unloaded for capacity,
// and every tenant still answers, with every write it got, once reloaded.
func TestMaxResidentTenants(t *testing.T) {
	const n = 5
	ts := newTestServer(t, func(c *Config) { c.MaxResidentTenants = n })
	s := ts.srv
	tenant := func(i int) string { return fmt.Sprint("t", i) }
	check := func(extra int64) {
		t.Helper()
		if got := s.resident.count.Load(); got > n+extra {
			t.Fatalf("%d tenants resident, bound %d (+%d pinned)", got, n, extra)
		}
	}
	for i := range 3 * n {
		ts.must(201, ts.do("PUT", "/v1/tenants/"+tenant(i)+"/models/User", testAdmin, userDef))
		check(0)
	}
	// A second write to every other tenant, most of them unloaded by now.
	for i := 0; i < 3*n; i += 2 {
		ts.must(201, ts.do("PUT", "/v1/tenants/"+tenant(i)+"/models/Order", testAdmin, modelDef("Order")))
		check(0)
	}
	// A tenant pinned by a request in flight stays, however many loads.
	pinned, err := s.acquire(context.Background(), tenant(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * n {
		ts.must(200, ts.do("GET", "/v1/tenants/"+tenant(i)+"/models/User", testAdmin, nil))
		want := 404
		if i%2 == 0 {
			want = 200
		}
		ts.must(want, ts.do("GET", "/v1/tenants/"+tenant(i)+"/models/Order", testAdmin, nil))
		check(1)
		if !s.Resident(tenant(1)) {
			t.Fatalf("the pinned tenant was unloaded")
		}
	}
	s.release(pinned)
	ts.must(200, ts.do("GET", "/v1/tenants/"+tenant(3*n+100)+"/models/User", testAdmin, nil).orNotFound())
	if got := capacityUnloads(s); got < 2*n {
		t.Errorf("modelreg_tenant_unloads_total{reason=\"capacity\"} = %v, want at least %d", got, 2*n)
	}
	if got := s.resident.count.Load(); got > n {
		t.Errorf("%d tenants resident after the pin was released and a load, bound %d", got, n)
	}
	if g := s.reg.Stats().Gauges; int64(g.Tenants) > s.resident.count.Load() {
		t.Errorf("the registry holds %d tenants, the server %d resident", g.Tenants, s.resident.count.Load())
	}
}

// orNotFound maps a 404 to a 200, for a request whose only purpose is the
// load it causes.
func (r response) orNotFound() response {
	if r.status == 404 {
		r.status = 200
	}
	return r
}

// TestMaxResidentTenantsConcurrent has many goroutines read and write many
// tenants under a small bound, so tenants are unloaded and reloaded under
// the requests' feet: no request fails and no acknowledged write is lost.
func TestMaxResidentTenantsConcurrent(t *testing.T) {
	const (
		bound      = 3
		tenants    = 24
		goroutines = 16
	)
	ops := 150
	if raceEnabled {
		ops = 60
	}
	ts := newTestServer(t, func(c *Config) { c.MaxResidentTenants = bound })
	h := ts.http.Config.Handler
	call := func(method, path, body string) (int, string) {
		rec := adminCall(h, method, path, body)
		return rec.Code, rec.Body.String()
	}
	for i := range tenants {
		ts.must(201, ts.do("PUT", fmt.Sprint("/v1/tenants/c", i, "/models/User"), testAdmin, userDef))
	}
	type write struct{ tenant, model string }
	var (
		mu      sync.Mutex
		written []write
		wg      sync.WaitGroup
	)
	for g := range goroutines {
		wg.Go(func() {
			var mine []write
			for k := range ops {
				tn := fmt.Sprint("c", (g*7+k*5)%tenants)
				switch k % 4 {
				case 0: // a write
					m := fmt.Sprintf("M%d_%d", g, k)
					if code, body := call("PUT", "/v1/tenants/"+tn+"/models/"+m, modelDef(m)); code != 201 {
						t.Errorf("PUT %s/%s: %d %s", tn, m, code, body)
						return
					}
					mine = append(mine, write{tn, m})
				case 1: // read back one of this goroutine's writes
					if len(mine) > 0 {
						w := mine[k%len(mine)]
						if code, body := call("GET", "/v1/tenants/"+w.tenant+"/models/"+w.model, ""); code != 200 {
							t.Errorf("GET %s/%s: %d %s", w.tenant, w.model, code, body)
							return
						}
					}
				case 2:
					if code, body := call("POST", "/v1/tenants/"+tn+"/models/User/validate", `{"email": "a@b.c"}`); code != 200 {
						t.Errorf("validate in %s: %d %s", tn, code, body)
						return
					}
				case 3:
					if code, body := call("GET", "/v1/tenants/"+tn+"/models/User", ""); code != 200 {
						t.Errorf("GET %s/User: %d %s", tn, code, body)
						return
					}
				}
			}
			mu.Lock()
			written = append(written, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, w := range written {
		if code, body := call("GET", "/v1/tenants/"+w.tenant+"/models/"+w.model, ""); code != 200 {
			t.Errorf("acknowledged write %s/%s lost: %d %s", w.tenant, w.model, code, body)
		}
	}
	if got := ts.srv.resident.count.Load(); got > bound {
		t.Errorf("%d tenants resident once quiet, bound %d", got, bound)
	}
	if capacityUnloads(ts.srv) == 0 {
		t.Errorf("no capacity unloads")
	}
}

// capacityUnloads reads modelreg_tenant_unloads_total{reason="capacity"}.
func capacityUnloads(s *Server) float64 {
	var m dto.Metric
	if err := s.m.unloads.WithLabelValues(string(unloadCapacity)).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestStampedeLoadsOnceUnderCapacity: concurrent first requests for two
// tenants, with room for one, load each tenant once. The tenant one load
// published looked unused to the other tenant's load until its waiters
// took their read locks, and was unloaded then: every waiter loaded it
// again (3 to 8 loads a round instead of 2).
func TestStampedeLoadsOnceUnderCapacity(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxInFlight = 1000; c.MaxResidentTenants = 1 })
	s := ts.srv
	tenants := []string{"ta", "tb"}
	for _, id := range tenants {
		ts.must(201, ts.do("PUT", "/v1/tenants/"+id+"/models/User", testAdmin, userDef))
	}
	const perTenant = 8
	for round := range 20 {
		for _, id := range tenants {
			ts.must(200, ts.do("POST", "/v1/tenants/"+id+"/evict", testAdmin, nil))
		}
		block := make(chan struct{})
		ts.store.mu.Lock()
		ts.store.block = block
		ts.store.mu.Unlock()
		before := ts.store.loads.Load()
		var wg sync.WaitGroup
		for i := range 2 * perTenant {
			id := tenants[i%2]
			wg.Go(func() {
				if rr := adminCall(s.Handler(), "GET", "/v1/tenants/"+id+"/models/User", ""); rr.Code != 200 {
					t.Errorf("round %d: %s: %d %s", round, id, rr.Code, rr.Body)
				}
			})
		}
		// Every request waits for its tenant's load before either ends.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			s.awaiting.mu.Lock()
			n := s.awaiting.n["ta"] + s.awaiting.n["tb"]
			s.awaiting.mu.Unlock()
			if n == 2*perTenant {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d requests waiting for a load, want %d", round, n, 2*perTenant)
			}
		}
		ts.store.mu.Lock()
		ts.store.block = nil
		ts.store.mu.Unlock()
		close(block)
		wg.Wait()
		if got := ts.store.loads.Load() - before; got != 2 {
			t.Fatalf("round %d: %d loads for two tenants", round, got)
		}
	}
}

// TestDeleteNonResidentKeepsOthers: deleting a tenant that is not resident
// loads it only to count its models for the report, and does not make it
// resident, which unloaded another tenant to stay within the bound.
func TestDeleteNonResidentKeepsOthers(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxResidentTenants = 1 })
	s := ts.srv
	ts.must(201, ts.do("PUT", "/v1/tenants/gone/models/User", testAdmin, userDef))
	ts.must(201, ts.do("PUT", "/v1/tenants/hot/models/User", testAdmin, userDef)) // unloads gone
	if s.Resident("gone") || !s.Resident("hot") {
		t.Fatal("set-up: want hot resident, gone not")
	}
	r := ts.must(200, ts.do("DELETE", "/v1/tenants/gone", testAdmin, nil))
	if !strings.Contains(string(r.body), `"modelsRemoved":1`) {
		t.Errorf("report %s, want the model counted", r.body)
	}
	if !s.Resident("hot") || s.Resident("gone") || s.resident.count.Load() != 1 {
		t.Errorf("after deleting gone: hot resident %v, gone resident %v, %d resident", s.Resident("hot"), s.Resident("gone"), s.resident.count.Load())
	}
	if _, ok := s.reg.TenantStats("gone"); ok {
		t.Error("gone is still in the registry")
	}
}

// blockedWriter is a ResponseWriter whose client does not read: writing
// the answer (header or body) blocks until release is closed.
type blockedWriter struct {
	h       http.Header
	once    sync.Once
	writing chan struct{} // closed when the handler starts writing
	release chan struct{}
}

func (w *blockedWriter) Header() http.Header { return w.h }
func (w *blockedWriter) block() {
	w.once.Do(func() { close(w.writing) })
	<-w.release
}
func (w *blockedWriter) WriteHeader(int)             { w.block() }
func (w *blockedWriter) Write(b []byte) (int, error) { w.block(); return len(b), nil }

// serveBlocked serves an API request with token on h in the background,
// into a blockedWriter, and returns once the handler starts writing its
// answer (failing the test if it answers without writing). The caller
// closes w.release to let the answer go, then waits for done.
func serveBlocked(t *testing.T, h http.Handler, method, path, token, body string) (w *blockedWriter, done chan struct{}) {
	t.Helper()
	w = &blockedWriter{h: http.Header{}, writing: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	done = make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(w, req)
	}()
	select {
	case <-w.writing:
	case <-done:
		t.Fatalf("%s %s answered without writing", method, path)
	}
	return w, done
}

// TestWritesUnlockBeforeAnswering: a write's handler lets go of its
// tenant's lock before it writes its answer, so a client that does not
// read it does not stall the tenant's loads and other writes, or the
// janitor, for up to the write timeout.
func TestWritesUnlockBeforeAnswering(t *testing.T) {
	ts := newTestServer(t)
	s := ts.srv
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/v1/tenants/acme/models/User", userDef},
		{"DELETE", "/v1/tenants/acme/models/User", ""},
		{"POST", "/v1/tenants/acme/tokens", ""},
		{"POST", "/v1/tenants/acme/evict", ""},
		{"DELETE", "/v1/tenants/acme", ""},
	} {
		if r := ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef); r.status != 200 && r.status != 201 {
			t.Fatalf("set-up: %d %s", r.status, r.body)
		}
		w, done := serveBlocked(t, s.Handler(), tc.method, tc.path, testAdmin, tc.body)
		if l, ok := s.locks.tryLock("acme"); ok {
			l.unlock()
		} else {
			t.Errorf("%s %s holds the tenant's lock while it writes its answer", tc.method, tc.path)
		}
		close(w.release)
		<-done
	}
}
