package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// heldWriter is a ResponseWriter whose every Write waits for the test:
// a client that reads slowly.
type heldWriter struct {
	h     http.Header
	body  bytes.Buffer
	wrote chan struct{} // a Write arrived
	cont  chan struct{} // let it return
}

func (w *heldWriter) Header() http.Header { return w.h }
func (w *heldWriter) WriteHeader(int)     {}
func (w *heldWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	w.wrote <- struct{}{}
	<-w.cont
	return len(b), nil
}

// TestListComputesInItsTurn: a model list describes and encodes its
// models in its tenant's turn (MaxTenantRunning), and gives the turn back
// while each chunk of its answer is written: a client slow to read holds
// no turn (the tenant's other requests run meanwhile), and a list whose
// chunk was written waits for the turn before it computes the next one.
func TestListComputesInItsTurn(t *testing.T) {
	const patience = 10 * time.Second
	gsrv := newGatedServer(t, Config{IdleTimeout: -1, MaxTenantRunning: 1})
	s := gsrv.s
	var props []string
	for i := range 300 {
		props = append(props, fmt.Sprintf(`"property%05d_%s": {"type": "string", "required": true}`, i, strings.Repeat("x", 100)))
	}
	for i := range 6 {
		def := `{"properties": {` + strings.Join(props, ",") + fmt.Sprintf(`, "m%d": "number"}}`, i)
		if rec := adminCall(s.Handler(), "PUT", fmt.Sprintf("/v1/tenants/a/models/M%d", i), def); rec.Code != 201 {
			t.Fatalf("set-up: %d %s", rec.Code, rec.Body)
		}
	}
	tok := issueTokenFor(t, s, "a")
	serve := func(w http.ResponseWriter, method, path, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		s.Handler().ServeHTTP(w, req)
	}

	w := &heldWriter{h: http.Header{}, wrote: make(chan struct{}), cont: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(w, "GET", "/v1/tenants/a/models", "")
	}()
	select {
	case <-w.wrote: // the first chunk, held
	case <-time.After(patience):
		t.Fatal("the list wrote nothing")
	}
	// The client reads slowly: the tenant's other requests run.
	v := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		serve(rec, "POST", "/v1/tenants/a/models/M0/validate", `{"m0": 1}`)
		v <- rec.Code
	}()
	select {
	case code := <-v:
		if code != 422 && code != 200 {
			t.Errorf("validate while the list's client reads: %d", code)
		}
	case <-time.After(patience):
		t.Fatal("the tenant's validate waited for a list whose client reads slowly")
	}
	// Someone else has the turn: the list, its chunk written, waits for it
	// before computing the next.
	s.tenantLim.mu.Lock()
	sh := s.tenantLim.n["a"]
	s.tenantLim.mu.Unlock()
	sh.run <- struct{}{}
	waits := tenantWaits(t, s)
	w.cont <- struct{}{}
	for deadline := time.Now().Add(patience); tenantWaits(t, s) == waits; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the list went on computing without its tenant's turn")
		}
	}
	<-sh.run
	for {
		select {
		case <-w.wrote:
			w.cont <- struct{}{}
			continue
		case <-done:
		case <-time.After(patience):
			t.Fatal("the list did not end")
		}
		break
	}
	if !bytes.HasSuffix(w.body.Bytes(), []byte("]}\n")) || !bytes.Contains(w.body.Bytes(), []byte(`"name":"M5"`)) {
		t.Errorf("the list's answer is incomplete: %d bytes ending %q", w.body.Len(), w.body.Bytes()[max(0, w.body.Len()-20):])
	}
}

// issueTokenFor issues a token of tenant on s with the admin token.
func issueTokenFor(t *testing.T, s *Server, tenant string) string {
	t.Helper()
	rec := adminCall(s.Handler(), "POST", "/v1/tenants/"+tenant+"/tokens", "")
	tok, _, _ := strings.Cut(strings.TrimPrefix(rec.Body.String(), `{"token":"`), `"`)
	if rec.Code != 201 || !strings.HasPrefix(tok, "mrt_") {
		t.Fatalf("token of %s: %d %s", tenant, rec.Code, rec.Body)
	}
	return tok
}

// bigListedDef is a definition of about 40 KB of canonical form: a few of
// them make a list answer of several chunks.
func bigListedDef(i int) string {
	var props []string
	for j := range 300 {
		props = append(props, fmt.Sprintf(`"property%05d_%s": {"type": "string"}`, j, strings.Repeat("x", 100)))
	}
	return `{"properties": {` + strings.Join(props, ",") + fmt.Sprintf(`, "m%d": "number"}}`, i)
}

// TestListCutWhileWaitingForItsTurn: a list whose client goes away while
// the list waits for its tenant's turn between two chunks (a client that
// half-closes its connection: its request's context ends, the connection
// can still be written) cuts the connection: the client sees an answer
// cut short, never a complete HTTP answer whose JSON stops half-way.
func TestListCutWhileWaitingForItsTurn(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxTenantRunning = 1 })
	for i := range 40 {
		ts.must(201, ts.do("PUT", fmt.Sprintf("/v1/tenants/a/models/M%d", i), testAdmin, bigListedDef(i)))
	}
	tok := ts.token("a")
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/tenants/a/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
	br := bufio.NewReader(conn)
	if _, err := br.Peek(1000); err != nil { // the first chunk is written
		t.Fatal(err)
	}
	var sh *tenantShare
	for deadline := time.Now().Add(5 * time.Second); sh == nil; time.Sleep(time.Millisecond) {
		ts.srv.tenantLim.mu.Lock()
		sh = ts.srv.tenantLim.n["a"]
		ts.srv.tenantLim.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the list never started")
		}
	}
	waits := tenantWaits(t, ts.srv)
	sh.run <- struct{}{} // another request of a takes the turn once the list gives it back
	for deadline := time.Now().Add(5 * time.Second); tenantWaits(t, ts.srv) == waits; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the list never waited for its turn")
		}
	}
	canceled := rejected(t, ts.srv, "canceled")
	conn.(*net.TCPConn).CloseWrite() // the client has sent all it will: its request's context ends
	for deadline := time.Now().Add(5 * time.Second); rejected(t, ts.srv, "canceled") == canceled; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the list did not stop waiting for its turn when its client went away")
		}
	}
	<-sh.run
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("status %d, %d body bytes, read error %v, ends %q", resp.StatusCode, len(body), err, body[max(0, len(body)-12):])
	if err == nil {
		t.Errorf("the list's answer ended as complete (%d bytes, JSON valid: %v), though the list stopped half-way", len(body), json.Valid(body))
	}
}

// TestGoneWhileWaitingIsNotOverload: a request whose client goes away
// while it waits for its tenant's turn is counted as canceled, not as
// refused for overload: no slot was lacking.
func TestGoneWhileWaitingIsNotOverload(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxTenantRunning = 1 })
	ts.must(201, ts.do("PUT", "/v1/tenants/a/models/M", testAdmin, `{"properties": {"x": "string"}}`))
	tok := ts.token("a")
	sh, ok := ts.srv.tenantLim.acquire("a") // another request of a, computing
	if !ok {
		t.Fatal("no share")
	}
	sh.run <- struct{}{}
	before, canceled := rejected(t, ts.srv, "overloaded"), rejected(t, ts.srv, "canceled")
	waits := tenantWaits(t, ts.srv)
	// The client goes away once its request waits for its turn (not after
	// a fixed time, which a slow machine could spend before the request
	// even reached the server).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", ts.http.URL+"/v1/tenants/a/models/M", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := ts.http.Client().Do(r); err == nil {
			resp.Body.Close()
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); tenantWaits(t, ts.srv) == waits; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never waited for its turn")
		}
	}
	cancel()
	<-done
	for deadline := time.Now().Add(5 * time.Second); rejected(t, ts.srv, "canceled") == canceled; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request did not stop waiting for its turn when its client went away")
		}
	}
	<-sh.run
	ts.srv.tenantLim.release("a")
	if after := rejected(t, ts.srv, "overloaded"); after != before {
		t.Errorf("a client gone while waiting for its turn counted as %v overload rejection(s) (reason=\"overloaded\"), with no slot lacking", after-before)
	}
}

// rejected reads modelreg_http_rejected_total{reason}.
func rejected(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.m.rejected.WithLabelValues(reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestRevokeRacesNoRequest: a token used concurrently with its revoke
// never succeeds in a request sent after the revoke returned, and a write
// that succeeded is there right after the revoke returned.
func TestRevokeRacesNoRequest(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, ts.do("PUT", "/v1/tenants/r/models/Base", testAdmin, `{"properties": {"x": "string"}}`))
	client := ts.http.Client()
	for iter := range 10 {
		tok := ts.token("r")
		id, _ := parseTenantToken(tok)
		var revoked atomic.Bool
		var wg sync.WaitGroup
		var mu sync.Mutex
		var okPuts []string
		var bad []string
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					after := revoked.Load()
					var r *http.Request
					name := fmt.Sprintf("W%d_%d_%d", iter, g, i)
					switch (g + i) % 3 {
					case 0:
						r, _ = http.NewRequest("PUT", ts.http.URL+"/v1/tenants/r/models/"+name, strings.NewReader(`{"properties": {"x": "string"}}`))
						r.Header.Set("Content-Type", "application/json")
					case 1:
						r, _ = http.NewRequest("GET", ts.http.URL+"/v1/tenants/r/models/Base", nil)
					default:
						r, _ = http.NewRequest("POST", ts.http.URL+"/v1/tenants/r/models/Base/validate", strings.NewReader(`{"x": "y"}`))
						r.Header.Set("Content-Type", "application/json")
					}
					r.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(r)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					code := resp.StatusCode
					if code != 401 && after {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s %s sent after the revoke returned: %d %s", r.Method, r.URL.Path, code, b))
						mu.Unlock()
					}
					if r.Method == "PUT" && code == 201 {
						mu.Lock()
						okPuts = append(okPuts, name)
						mu.Unlock()
					}
					if code == 401 {
						return
					}
					if code >= 300 {
						t.Errorf("%s %s: %d %s", r.Method, r.URL.Path, code, b)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		ts.must(204, ts.do("DELETE", "/v1/tenants/r/tokens/"+id, testAdmin, nil))
		revoked.Store(true)
		lr := ts.must(200, ts.do("GET", "/v1/tenants/r/models", testAdmin, nil))
		var list struct{ Models []struct{ Name string } }
		json.Unmarshal(lr.body, &list)
		seen := map[string]bool{}
		for _, m := range list.Models {
			seen[m.Name] = true
		}
		wg.Wait()
		for _, b := range bad {
			t.Error(b)
		}
		for _, n := range okPuts {
			if !seen[n] {
				t.Errorf("PUT %s succeeded but was not there right after the revoke returned", n)
			}
		}
		lr2 := ts.must(200, ts.do("GET", "/v1/tenants/r/models", testAdmin, nil))
		var list2 struct{ Models []struct{ Name string } }
		json.Unmarshal(lr2.body, &list2)
		if len(list2.Models) != len(list.Models) {
			t.Errorf("models after the revoke returned: %d, then %d", len(list.Models), len(list2.Models))
		}
		if t.Failed() {
			return
		}
	}
}
