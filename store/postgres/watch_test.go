package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
)

// eventWait bounds how long a test waits for a change to be reported: long,
// as a busy machine may be slow, but a test that passes never waits it.
const eventWait = 30 * time.Second

// watcher runs Watch on a store in a goroutine, and hands over the changes
// it reports.
type watcher struct {
	changes chan store.Change
	cancel  context.CancelFunc
	done    chan error // Watch's result
}

// watch starts a Watch of s, ended at t's end (before the stores close).
func watch(t *testing.T, s *Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{changes: make(chan store.Change, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- s.Watch(ctx, func(c store.Change) { w.changes <- c }) }()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// stop cancels the Watch and returns its result.
func (w *watcher) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	return w.result(t)
}

// result waits for Watch to return.
func (w *watcher) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err // for the next call
		return err
	case <-time.After(eventWait):
		t.Fatalf("Watch did not return within %v", eventWait)
		return nil
	}
}

// next returns the next change reported.
func (w *watcher) next(t *testing.T) store.Change {
	t.Helper()
	select {
	case c := <-w.changes:
		return c
	case err := <-w.done:
		w.done <- err
		t.Fatalf("Watch returned %v while a change was awaited", err)
	case <-time.After(eventWait):
		t.Fatalf("no change reported within %v", eventWait)
	}
	return store.Change{}
}

// expect checks that the next changes reported are want, in order.
func (w *watcher) expect(t *testing.T, want ...store.Change) {
	t.Helper()
	for _, c := range want {
		if got := w.next(t); got != c {
			t.Fatalf("reported %+v, want %+v", got, c)
		}
	}
}

// marker writes a setting through s and waits for w to report it, after
// nothing else: every change committed before was reported before it.
func marker(t *testing.T, s *Store, w *watcher, key string) {
	t.Helper()
	if err := s.PutSetting(context.Background(), key, nil); err != nil {
		t.Fatal(err)
	}
	w.expect(t, store.Change{Kind: store.SettingChanged, Key: key})
}

func TestFeed(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	wb := watch(t, b)
	wb.expect(t, store.Change{Kind: store.Resync})

	put := func(s *Store, scope, name string, cond store.Condition) error {
		_, _, err := s.PutModel(ctx, store.Model{Scope: scope, Name: name, Definition: []byte(`{}`)}, cond)
		return err
	}
	// Each write through a, and the change b must report (none: the
	// zero Change).
	longName := strings.Repeat("N", maxPayload)
	tests := []struct {
		name string
		op   func() error
		want store.Change
	}{
		{"global model", func() error { return put(a, store.Global, "G", store.Condition{}) }, store.Change{Kind: store.ModelChanged, Scope: store.Global, Key: "G"}},
		{"tenant model", func() error { return put(a, "acme", "A", store.Condition{}) }, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"replaced", func() error { return put(a, "acme", "A", store.Condition{MustExist: true}) }, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"failed condition", func() error { return put(a, "acme", "A", store.Condition{MustNotExist: true}) }, store.Change{}},
		{"name too long to notify", func() error { return put(a, "acme", longName, store.Condition{}) }, store.Change{Kind: store.ModelChanged, Scope: "acme"}},
		{"model deleted", func() error { return a.DeleteModel(ctx, "acme", "A", store.Condition{}) }, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"missing model deleted", func() error { return a.DeleteModel(ctx, "acme", "A", store.Condition{}) }, store.Change{}},
		{"delete on a failed condition", func() error { return a.DeleteModel(ctx, store.Global, "G", store.Condition{Revisions: []int64{1}}) }, store.Change{}},
		{"global model deleted", func() error { return a.DeleteModel(ctx, store.Global, "G", store.Condition{}) }, store.Change{Kind: store.ModelChanged, Scope: store.Global, Key: "G"}},
		{"new tenant", func() error { _, err := a.CreateTenant(ctx, "new"); return err }, store.Change{}},
		{"new token", func() error { _, err := a.PutToken(ctx, store.Token{ID: "k1", Tenant: "acme"}); return err }, store.Change{}},
		{"token of another tenant", func() error { return a.DeleteToken(ctx, "new", "k1") }, store.Change{}},
		{"token deleted", func() error { return a.DeleteToken(ctx, "acme", "k1") }, store.Change{Kind: store.TokenDeleted, Scope: "acme", Key: "k1"}},
		{"setting", func() error { return a.PutSetting(ctx, "s", []byte("v")) }, store.Change{Kind: store.SettingChanged, Key: "s"}},
		{"setting deleted", func() error { return a.DeleteSetting(ctx, "s") }, store.Change{Kind: store.SettingChanged, Key: "s"}},
		{"missing setting deleted", func() error { return a.DeleteSetting(ctx, "s") }, store.Change{}},
		{"tenant deleted", func() error { _, err := a.DeleteTenant(ctx, "acme"); return err }, store.Change{Kind: store.TenantDeleted, Scope: "acme"}},
		{"missing tenant deleted", func() error { _, err := a.DeleteTenant(ctx, "acme"); return err }, store.Change{}},
	}
	// One at a time: each change, or none, then a marker.
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if tc.want != (store.Change{}) {
				if err != nil {
					t.Fatal(err)
				}
				wb.expect(t, tc.want)
			} else if err == nil && !strings.HasPrefix(tc.name, "new") && !strings.HasPrefix(tc.name, "missing setting") {
				t.Fatalf("%s succeeded", tc.name)
			}
			marker(t, a, wb, fmt.Sprint("marker-", i))
		})
	}
	// All at once, with b's own writes between: in commit order, without
	// b's.
	var want []store.Change
	for _, tc := range tests {
		tc.op()
		if tc.want != (store.Change{}) {
			want = append(want, tc.want)
		}
		if err := put(b, "by-b", "B", store.Condition{}); err != nil {
			t.Fatal(err)
		}
		if err := b.PutSetting(ctx, "by-b", nil); err != nil {
			t.Fatal(err)
		}
	}
	wb.expect(t, want...)
	marker(t, a, wb, "end")

	// a's watch reports b's writes, not its own.
	wa := watch(t, a)
	wa.expect(t, store.Change{Kind: store.Resync})
	if err := put(a, "acme", "X", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wa.expect(t, store.Change{Kind: store.TenantDeleted, Scope: "acme"})
	wb.expect(t, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "X"})
}

// TestFeedTwoWatches: each Watch of one store reports every change.
func TestFeedTwoWatches(t *testing.T) {
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	w1, w2 := watch(t, b), watch(t, b)
	w1.expect(t, store.Change{Kind: store.Resync})
	w2.expect(t, store.Change{Kind: store.Resync})
	for i := range 3 {
		key := fmt.Sprint("k", i)
		if err := a.PutSetting(context.Background(), key, nil); err != nil {
			t.Fatal(err)
		}
		for _, w := range []*watcher{w1, w2} {
			w.expect(t, store.Change{Kind: store.SettingChanged, Key: key})
		}
	}
}

// TestFeedUnreadable: a notification this version cannot read (of a newer
// one, say) is a Resync.
func TestFeedUnreadable(t *testing.T) {
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	wb := watch(t, b)
	wb.expect(t, store.Change{Kind: store.Resync})
	c := connect(t, u)
	for _, payload := range []string{`not json`, `{"o":"x","k":"model-renamed","s":"acme","n":"A"}`} {
		if _, err := c.Exec(context.Background(), `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
			t.Fatal(err)
		}
		wb.expect(t, store.Change{Kind: store.Resync})
	}
	marker(t, a, wb, "end")
}

// TestFeedReconnects: after its connection is terminated, Watch connects
// again, reports a Resync, then changes again.
func TestFeedReconnects(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	wb := watch(t, b)
	wb.expect(t, store.Change{Kind: store.Resync})
	c := connect(t, u)
	for round := range 2 {
		n := queryInt(t, c, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, appName+watchSuffix)
		if n != 1 {
			t.Fatalf("terminated %d watch connections, want 1", n)
		}
		wb.expect(t, store.Change{Kind: store.Resync})
		marker(t, a, wb, fmt.Sprint("after-", round))
	}
	if _, _, err := a.PutModel(ctx, store.Model{Scope: "acme", Name: "A"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	wb.expect(t, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"})
}

// TestWatchEnds: Watch returns ctx's error when ctx is done, ErrClosed when
// its store is closed, and leaves no connection behind (and, TestMain
// checks, no goroutine).
func TestWatchEnds(t *testing.T) {
	u := pgtest.URL(t)
	c := connect(t, u)
	watches := func() int64 {
		return queryInt(t, c, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, appName+watchSuffix)
	}
	// waitNoWatch waits for the server to see the watch connections
	// closed (a backend ends shortly after its client closes).
	waitNoWatch := func() {
		t.Helper()
		deadline := time.Now().Add(eventWait)
		for watches() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d watch connections left", watches())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s := openURL(t, u)
	t.Run("canceled", func(t *testing.T) {
		w := watch(t, s)
		w.expect(t, store.Change{Kind: store.Resync})
		if err := w.stop(t); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
		waitNoWatch()
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := s.Watch(ctx, func(store.Change) {}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Watch = %v, want context.DeadlineExceeded", err)
		}
		waitNoWatch()
	})
	t.Run("while reconnecting", func(t *testing.T) {
		// A store whose server cannot be reached: Watch tries again
		// until ctx is done.
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		down := openURL(t, u)
		down.watchConfig.Port = 1 // nothing listens there
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		calls := 0
		if err := down.Watch(ctx, func(store.Change) { calls++ }); !errors.Is(err, context.DeadlineExceeded) || calls != 0 {
			t.Errorf("Watch = %v after %d calls of fn, want context.DeadlineExceeded and none (server port %d)", err, calls, cfg.Port)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := openURL(t, u)
		w := watch(t, s)
		w.expect(t, store.Change{Kind: store.Resync})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.result(t); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch of a store closed during it = %v, want ErrClosed", err)
		}
		if err := s.Watch(context.Background(), func(store.Change) {}); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch of a closed store = %v, want ErrClosed", err)
		}
		waitNoWatch()
	})
	t.Run("no function", func(t *testing.T) {
		if err := s.Watch(context.Background(), nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Watch(nil) = %v, want ErrInvalid", err)
		}
	})
}
