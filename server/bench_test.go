package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/modelreg/modelreg/internal/fixture"
	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/postgres"
	"github.com/modelreg/modelreg/store/sqlite"
)

func benchServer(b *testing.B) (*Server, store.Store) {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		b.Fatal(err)
	}
	s := newAdminServer(b, st, Config{IdleTimeout: -1})
	b.Cleanup(func() { s.Close(); st.Close() })
	return s, st
}

// BenchmarkHandlerValidate measures the server's own cost of a validate
// request on a resident tenant (auth, routing, metrics, validation), with
// no network: the handler is called directly.
func BenchmarkHandlerValidate(b *testing.B) {
	s, _ := benchServer(b)
	h := s.Handler()
	call := func(method, path, tok, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := call("PUT", "/v1/tenants/acme/models/Order", testAdmin, fixture.OrderModel); rec.Code != 201 {
		b.Fatal(rec.Code, rec.Body)
	}
	rec := call("POST", "/v1/tenants/acme/tokens", testAdmin, "")
	tok := rec.Body.String()[10:74]
	if rec := call("POST", "/v1/tenants/acme/models/Order/validate", tok, fixture.OrderDocument); rec.Code != 200 {
		b.Fatal(rec.Code, rec.Body)
	}
	body := []byte(fixture.OrderDocument)
	req := httptest.NewRequest("POST", "/v1/tenants/acme/models/Order/validate", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(context.Background())
		r.Body = readCloser{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
		w.code = 0
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkLazyLoad100 measures loading a tenant of 100 stored models
// into memory: the store read, parsing and compiling every definition.
func BenchmarkLazyLoad100(b *testing.B) {
	s, st := benchServer(b)
	lazyLoad100(b, s, st)
}

// BenchmarkLazyLoad100Postgres is BenchmarkLazyLoad100 from a PostgreSQL
// store (see internal/pgtest), as a replica of several loads a tenant.
func BenchmarkLazyLoad100Postgres(b *testing.B) {
	st, err := postgres.Open(context.Background(), pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	s := newAdminServer(b, st, Config{IdleTimeout: -1})
	b.Cleanup(func() { s.Close(); st.Close() })
	lazyLoad100(b, s, st)
}

// lazyLoad100 stores a tenant of 100 models in st, then unloads it from s
// and loads it again, over and over.
func lazyLoad100(b *testing.B, s *Server, st store.Store) {
	ctx := context.Background()
	for i := range 100 {
		def := fmt.Sprintf(`{"name": "M%d", "properties": {"name": {"type": "string", "required": true}, "n%d": "number",
			"address": {"street": "string", "city": "string", "zip": "string"}, "tags": ["string"],
			"lines": [{"sku": "string", "qty": "number"}], "owner": "M%d", "created": "date"}}`, i, i, (i+1)%100)
		if _, _, err := st.PutModel(ctx, store.Model{Scope: "big", Name: fmt.Sprint("M", i), Definition: []byte(def)}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		l := s.locks.lock("big")
		if _, _, err := s.unloadLocked(ctx, "big", unloadEvict); err != nil {
			b.Fatal(err)
		}
		l.unlock()
		t, err := s.acquire(ctx, "big")
		if err != nil {
			b.Fatal(err)
		}
		s.release(t)
	}
	if n := len(s.reg.Models(scopeCtx(ctx, "big"))); n != 100 {
		b.Fatalf("%d models loaded", n)
	}
}
