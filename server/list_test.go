package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/modelreg/modelreg/store"
)

// marshalledList is a list's answer as it was built whole: json.Marshal
// of every model's description, then a newline.
func marshalledList(t *testing.T, s *Server, scope string) []byte {
	t.Helper()
	ps, err := s.pinScope(context.Background(), principal{admin: true}, scope)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.release()
	out := struct {
		Models []modelJSON `json:"models"`
	}{Models: []modelJSON{}}
	for _, l := range s.listed(ps.t, ps.ctx) {
		mj, err := s.modelResponse(l.m, l.meta, false)
		if err != nil {
			t.Fatal(err)
		}
		out.Models = append(out.Models, mj)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestListAnswerAsMarshalled: a list written one model at a time is, byte
// for byte, what json.Marshal of the whole list gave (HTML escaped in the
// canonical form's defaults too), empty or not, for a tenant and the
// global scope.
func TestListAnswerAsMarshalled(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	check := func(path, scope string) {
		t.Helper()
		r := ts.must(200, ts.do("GET", path, tok, nil))
		if want := marshalledList(t, ts.srv, scope); !bytes.Equal(r.body, want) {
			t.Errorf("GET %s:\n%s\nwant\n%s", path, r.body, want)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, r.header.Get("Content-Type"))
		}
	}
	check("/v1/tenants/acme/models", "acme")
	check("/v1/global/models", store.Global)
	ts.must(201, ts.do("PUT", "/v1/global/models/Address", testAdmin, `{"name": "Address", "properties": {"city": "string"}}`))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Customer", tok, customerDef))
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/Note", tok,
		`{"name": "Note", "properties": {"text": {"type": "string", "default": "<b>&amp;</b> \u2028 é"}, "at": "Address", "tags": [{"k": "string"}]}}`))
	check("/v1/tenants/acme/models", "acme")
	check("/v1/global/models", store.Global)
}

// bigDefaultDef is a definition of model name whose canonical form holds
// a default of size bytes.
func bigDefaultDef(name string, size int) string {
	return fmt.Sprintf(`{"name": %q, "properties": {"p": {"type": "string", "default": %q}}}`, name, strings.Repeat(name[len(name)-1:], size))
}

// TestListMemoryBounded: listing a tenant's models allocates about what
// its largest model's description takes, not what all of them take. The
// answer used to be built whole, the canonical form of every model
// written, then marshalled and copied: four times the sum of them.
func TestListMemoryBounded(t *testing.T) {
	if raceEnabled {
		// sync.Pool drops a share of what is put in it at random under
		// the race detector: encoding/json allocates its buffer again
		// for some of the models.
		t.Skip("allocations are not those of a build without the race detector")
	}
	const n, size = 32, 200 << 10
	ts := newTestServer(t)
	tok := ts.token("acme")
	for i := range n {
		name := fmt.Sprintf("M%02d", i)
		ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/"+name, tok, bigDefaultDef(name, size)))
	}
	h := ts.srv.Handler()
	list := func() {
		req := httptest.NewRequest("GET", "/v1/tenants/acme/models", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &countingWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 200 || w.n < n*size {
			t.Fatalf("answer %d of %d bytes", w.code, w.n)
		}
	}
	list() // fingerprints are computed on first use
	const runs = 3
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		list()
	}
	runtime.ReadMemStats(&after)
	perList := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d KiB allocated per list of %d models of %d KiB", perList>>10, n, size>>10)
	if limit := uint64(6 * size); perList > limit {
		t.Errorf("a list allocates %d KiB, more than %d KiB (the models take %d KiB in all)", perList>>10, limit>>10, n*size>>10)
	}
}

// countingWriter is a ResponseWriter that counts the body's bytes and
// drops them.
type countingWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *countingWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}

// TestListUnpinsBeforeAnswering: a list lets go of its tenant before it
// writes its answer, as the other reads do (see pinnedScope), so a client
// that does not read it does not keep the tenant from being unloaded.
func TestListUnpinsBeforeAnswering(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token("acme")
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", tok, userDef))
	s := ts.srv
	w, done := serveBlocked(t, s.Handler(), "GET", "/v1/tenants/acme/models", tok, "")
	st := s.resident.get("acme")
	if st == nil {
		t.Fatal("acme not resident")
	}
	if st.mu.TryLock() {
		st.mu.Unlock()
	} else {
		t.Error("the list holds its tenant while it writes its answer")
	}
	close(w.release)
	<-done
}

// TestAnswerCutAfterItStarts: a handler that fails once its answer is
// under way, with an answerCut or a panic, has the connection cut, so
// that its client sees an incomplete answer rather than a complete one
// (with a problem appended, or stopping half-way); the failure is logged,
// and a panic counted.
func TestAnswerCutAfterItStarts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   func() error
		log    string
		panics float64
	}{
		{"answerCut", func() error { return &answerCut{errors.New("the model cannot be written")} }, "the model cannot be written", 0},
		{"panic", func() error { panic("boom") }, `"panic":"boom"`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			var mu sync.Mutex
			ts := newTestServer(t, func(c *Config) {
				c.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &log}, nil))
			})
			s := ts.srv
			h := s.wrap(s.serveRoute(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				w.Write([]byte(`{"models":[` + strings.Repeat(" ", 64<<10)))
				return tc.fail()
			}))
			srv := httptest.NewServer(h)
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL + "/v1/global/models")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the answer: %v, want an unexpected EOF (got %d bytes)", err, len(b))
			}
			if bytes.Contains(b, []byte("problem")) {
				t.Errorf("a problem was appended to the answer")
			}
			var m dto.Metric
			if err := s.m.panics.Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); got != tc.panics {
				t.Errorf("panics counted: %v, want %v", got, tc.panics)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(log.String(), tc.log) {
				t.Errorf("the log does not say what failed:\n%s", log.String())
			}
		})
	}
}
