package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/sqlite"
)

const benchModel = `{"name": "Order", "strict": true, "properties": {
	"id": {"type": "string", "required": true}, "customer": {"type": "string", "required": true},
	"email": "string", "phone": "string", "status": "string", "currency": "string",
	"total": "number", "tax": "number", "discount": "number", "weight": "number",
	"paid": "boolean", "gift": "boolean", "created": "date", "notes": "string",
	"tags": ["string"], "priority": "number", "channel": "string",
	"shipping": {"street": "string", "city": "string", "zip": "string", "country": "string"},
	"billing": {"street": "string", "city": "string", "zip": "string", "country": "string"},
	"lines": [{"sku": {"type": "string", "required": true}, "qty": "number", "price": "number"}]}}`

const benchDoc = `{"id": "o-1", "customer": "c-42", "email": "a@example.com", "phone": "+1 555",
	"status": "open", "currency": "EUR", "total": 129.5, "tax": 21.2, "discount": 0, "weight": 1.25,
	"paid": true, "gift": false, "created": "2024-05-01T10:00:00Z", "notes": "leave at door",
	"tags": ["a", "b"], "priority": 2, "channel": "web",
	"shipping": {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"},
	"billing": {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"},
	"lines": [{"sku": "s1", "qty": 1, "price": 9.5}, {"sku": "s2", "qty": 2, "price": 10},
		{"sku": "s3", "qty": 1, "price": 11}, {"sku": "s4", "qty": 3, "price": 12},
		{"sku": "s5", "qty": 1, "price": 13}, {"sku": "s6", "qty": 1, "price": 14},
		{"sku": "s7", "qty": 2, "price": 15}, {"sku": "s8", "qty": 1, "price": 16},
		{"sku": "s9", "qty": 1, "price": 17}, {"sku": "s10", "qty": 1, "price": 18}]}`

func benchServer(b *testing.B) (*Server, store.Store) {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		b.Fatal(err)
	}
	hash, _, _ := ResolveAdminToken(context.Background(), st, testAdmin, false)
	s, err := New(context.Background(), Config{Store: st, AdminTokenHash: hash, IdleTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
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
	if rec := call("PUT", "/v1/tenants/acme/models/Order", testAdmin, benchModel); rec.Code != 201 {
		b.Fatal(rec.Code, rec.Body)
	}
	rec := call("POST", "/v1/tenants/acme/tokens", testAdmin, "")
	tok := rec.Body.String()[10:74]
	if rec := call("POST", "/v1/tenants/acme/models/Order/validate", tok, benchDoc); rec.Code != 200 {
		b.Fatal(rec.Code, rec.Body)
	}
	body := []byte(benchDoc)
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
	ctx := context.Background()
	for i := range 100 {
		def := fmt.Sprintf(`{"name": "M%d", "properties": {"name": {"type": "string", "required": true}, "n%d": "number",
			"address": {"street": "string", "city": "string", "zip": "string"}, "tags": ["string"],
			"lines": [{"sku": "string", "qty": "number"}], "owner": "M%d", "created": "date"}}`, i, i, (i+1)%100)
		if _, _, err := st.PutModel(ctx, store.Model{Scope: "big", Name: fmt.Sprint("M", i), Definition: []byte(def)}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	mu := s.stripe("big")
	for b.Loop() {
		mu.Lock()
		if _, _, err := s.unloadLocked(ctx, "big", unloadEvict); err != nil {
			b.Fatal(err)
		}
		mu.Unlock()
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
