package server

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
