package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/modelreg/modelreg/store"
)

// TestWrap checks how errors of pgx and PostgreSQL map to the store's.
func TestWrap(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		closed  bool
		err     error
		want    error // what the result is (nil: only err itself)
		notWant error
	}{
		{"deadlock, tried enough", nil, false, pg("40P01"), store.ErrBusy, nil},
		{"too many connections", nil, false, pg("53300"), store.ErrBusy, nil},
		{"disk full", nil, false, pg("53100"), store.ErrBusy, nil},
		{"lock timeout", nil, false, pg("55P03"), store.ErrBusy, nil},
		{"server shutting down", nil, false, pg("57P01"), store.ErrBusy, nil},
		{"server starting", nil, false, pg("57P03"), store.ErrBusy, nil},
		{"a standby", nil, false, pg("25006"), store.ErrBusy, nil},
		{"lost connection", nil, false, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrBusy, nil},
		{"refused password", nil, false, pg("28P01"), store.ErrUnavailable, store.ErrBusy},
		{"no such database", nil, false, pg("3D000"), store.ErrUnavailable, store.ErrBusy},
		{"table dropped", nil, false, pg("42P01"), store.ErrUnavailable, store.ErrBusy},
		{"index entry too large", nil, false, pg("54000"), store.ErrInvalid, store.ErrUnavailable},
		{"invalid encoding", nil, false, pg("22021"), store.ErrInvalid, store.ErrUnavailable},
		{"unique violation", nil, false, pg("23505"), nil, store.ErrUnavailable},
		{"store's own", nil, false, fmt.Errorf("x: %w", store.ErrNotFound), store.ErrNotFound, store.ErrUnavailable},
		{"precondition", nil, false, &store.PreconditionError{Name: "A"}, store.ErrPrecondition, nil},
		{"context", nil, false, fmt.Errorf("x: %w", context.DeadlineExceeded), context.DeadlineExceeded, store.ErrUnavailable},
		{"canceled by the server while ctx is done", canceled, false, pg("57014"), context.Canceled, store.ErrUnavailable},
		{"closed", nil, true, errors.New("closed pool"), store.ErrClosed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{}
			s.closed.Store(tc.closed)
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			got := s.wrap(ctx, tc.err)
			if !errors.Is(got, tc.err) && !errors.Is(got, context.Canceled) {
				t.Errorf("wrap(%v) = %v, which lost the error", tc.err, got)
			}
			if tc.want != nil && !errors.Is(got, tc.want) {
				t.Errorf("wrap(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if tc.notWant != nil && errors.Is(got, tc.notWant) {
				t.Errorf("wrap(%v) = %v, not %v", tc.err, got, tc.notWant)
			}
		})
	}
	if err := (&Store{}).wrap(context.Background(), nil); err != nil {
		t.Errorf("wrap(nil) = %v", err)
	}
}

// TestRetry checks which failures a transaction is tried again for, and
// how often.
func TestRetry(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code} }
	tests := []struct {
		name  string
		err   error
		calls int // calls of fn when it always fails with err
	}{
		{"serialization failure", pg("40001"), maxTries},
		{"deadlock", pg("40P01"), maxTries},
		{"connection ended by the server", pg("57P01"), maxTries},
		{"connection failure", pg("08006"), maxTries},
		{"lost connection", io.ErrUnexpectedEOF, maxTries},
		{"deadlock at commit", &commitError{pg("40P01")}, 1},
		{"lost connection at commit", &commitError{io.ErrUnexpectedEOF}, 1},
		{"unique violation", pg("23505"), 1},
		{"not found", store.ErrNotFound, 1},
		{"precondition", &store.PreconditionError{}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := (&Store{}).retry(context.Background(), func() error { calls++; return tc.err })
			if calls != tc.calls || !errors.Is(err, tc.err) {
				t.Errorf("retry: %d calls, %v; want %d calls and %v", calls, err, tc.calls, tc.err)
			}
		})
	}
	calls := 0
	err := (&Store{}).retry(context.Background(), func() error {
		if calls++; calls < 3 {
			return pg("40P01")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("a deadlock twice then success: %d calls, %v; want 3, nil", calls, err)
	}
}

// TestPayload pins the notifications' wire format, which replicas of
// different versions share, and its limits.
func TestPayload(t *testing.T) {
	s := &Store{origin: "o1"}
	long := strings.Repeat("n", maxPayload)
	tests := []struct {
		kind       store.ChangeKind
		scope, key string
		want       string // "": ErrInvalid
	}{
		{store.ModelChanged, "acme", "Customer", `{"o":"o1","k":"model","s":"acme","n":"Customer"}`},
		{store.ModelChanged, store.Global, "Customer", `{"o":"o1","k":"model","n":"Customer"}`},
		{store.ModelChanged, "acme", long, `{"o":"o1","k":"model","s":"acme"}`},
		{store.TenantDeleted, "acme", "", `{"o":"o1","k":"tenant-deleted","s":"acme"}`},
		{store.TokenDeleted, "acme", "k1", `{"o":"o1","k":"token-deleted","s":"acme","n":"k1"}`},
		{store.SettingChanged, "", "admin", `{"o":"o1","k":"setting","n":"admin"}`},
		{store.TenantDeleted, long, "", ""},
		{store.TokenDeleted, "acme", long, ""},
		{store.SettingChanged, "", long, ""},
	}
	for _, tc := range tests {
		got, err := s.payload(tc.kind, tc.scope, tc.key)
		switch {
		case tc.want == "" && !errors.Is(err, store.ErrInvalid):
			t.Errorf("payload(%v, %.20q, %.20q) = %.60q, %v; want ErrInvalid", tc.kind, tc.scope, tc.key, got, err)
		case tc.want != "" && (got != tc.want || err != nil):
			t.Errorf("payload(%v, %.20q, %.20q) = %.60q, %v; want %s", tc.kind, tc.scope, tc.key, got, err, tc.want)
		}
		if len(got) > maxPayload {
			t.Errorf("payload of %d bytes", len(got))
		}
		if tc.want == "" {
			continue
		}
		// And Watch reads it back, unless it is its own.
		c, ok := (&Store{origin: "o2"}).parse(got)
		want := store.Change{Kind: tc.kind, Scope: tc.scope, Key: tc.key}
		if len(tc.key) > 100 {
			want.Key = ""
		}
		if !ok || c != want {
			t.Errorf("parse(%.60q) = %+v, %v; want %+v", got, c, ok, want)
		}
		if _, ok := s.parse(got); ok {
			t.Errorf("parse(%.60q) of its own payload: reported", got)
		}
	}
}
