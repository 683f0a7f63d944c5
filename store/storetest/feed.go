package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store"
)

// FeedWait bounds how long RunFeed waits for a change to be reported: long,
// as a busy machine may be slow, but a store that passes never makes it
// wait that long.
const FeedWait = 30 * time.Second

// RunFeed runs the conformance suite of store.Feed. open returns two Store
// values on the same new, empty data (two replicas' stores on one
// database), the second of which implements store.Feed; RunFeed closes
// both at the end of each subtest. The changes made through the first must
// be reported to the second's watchers, in commit order; those made
// through the second must not.
func RunFeed(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a store.Store, b store.Feed)
	}{
		{"EveryKindInCommitOrder", testFeedKinds},
		{"TwoWatches", testFeedTwoWatches},
		{"Ends", testFeedEnds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() {
				a.Close()
				b.Close()
			})
			f, ok := b.(store.Feed)
			if !ok {
				t.Fatalf("%T does not implement store.Feed", b)
			}
			tc.fn(t, a, f)
		})
	}
}

// Watcher runs a Watch in a goroutine and hands over the changes it
// reports: for the tests of a store.Feed.
type Watcher struct {
	changes chan store.Change
	cancel  context.CancelFunc
	done    chan error // Watch's result
}

// Watch starts a Watch of f, which t's cleanup ends (registered after the
// stores', it runs before they close).
func Watch(t testing.TB, f store.Feed) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{changes: make(chan store.Change, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- f.Watch(ctx, func(c store.Change) { w.changes <- c }) }()
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Stop cancels the Watch and returns its result.
func (w *Watcher) Stop(t testing.TB) error {
	t.Helper()
	w.cancel()
	return w.Result(t)
}

// Result waits for the Watch to return, and returns its result.
func (w *Watcher) Result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err // for the next call
		return err
	case <-time.After(FeedWait):
		t.Fatalf("Watch did not return within %v", FeedWait)
		return nil
	}
}

// Next returns the next change reported.
func (w *Watcher) Next(t testing.TB) store.Change {
	t.Helper()
	select {
	case c := <-w.changes:
		return c
	case err := <-w.done:
		w.done <- err
		t.Fatalf("Watch returned %v while a change was awaited", err)
	case <-time.After(FeedWait):
		t.Fatalf("no change reported within %v", FeedWait)
	}
	return store.Change{}
}

// Expect checks that the next changes reported are want, in order.
func (w *Watcher) Expect(t testing.TB, want ...store.Change) {
	t.Helper()
	for _, c := range want {
		if got := w.Next(t); got != c {
			t.Fatalf("reported %+v, want %+v", got, c)
		}
	}
}

// Marker writes the setting key through s and checks that w reports it
// next: that nothing else was reported of the changes committed before.
func (w *Watcher) Marker(t testing.TB, s store.Store, key string) {
	t.Helper()
	if err := s.PutSetting(context.Background(), key, nil); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, store.Change{Kind: store.SettingChanged, Key: key})
}

func testFeedKinds(t *testing.T, a store.Store, b store.Feed) {
	ctx := context.Background()
	bs := b.(store.Store)
	wb := Watch(t, b)
	wb.Expect(t, store.Change{Kind: store.Resync})
	put := func(s store.Store, scope, name string, cond store.Condition) error {
		_, _, err := s.PutModel(ctx, model(scope, name, `{}`), cond)
		return err
	}
	// A name longer than a notification of PostgreSQL's: its change may
	// be reported without it.
	longName := strings.Repeat("N", 8000)
	// Each write through a, whether it must succeed, and the change b
	// must report (none: the zero Change).
	tests := []struct {
		name string
		op   func() error
		ok   bool
		want store.Change
	}{
		{"global model", func() error { return put(a, store.Global, "G", store.Condition{}) }, true, store.Change{Kind: store.ModelChanged, Scope: store.Global, Key: "G"}},
		{"tenant model", func() error { return put(a, "acme", "A", store.Condition{}) }, true, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"replaced", func() error { return put(a, "acme", "A", store.Condition{MustExist: true}) }, true, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"failed condition", func() error { return put(a, "acme", "A", store.Condition{MustNotExist: true}) }, false, store.Change{}},
		{"long name", func() error { return put(a, "acme", longName, store.Condition{}) }, true, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: longName}},
		{"model deleted", func() error { return a.DeleteModel(ctx, "acme", "A", store.Condition{}) }, true, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"}},
		{"missing model deleted", func() error { return a.DeleteModel(ctx, "acme", "A", store.Condition{}) }, false, store.Change{}},
		{"delete on a failed condition", func() error { return a.DeleteModel(ctx, store.Global, "G", store.Condition{Revisions: []int64{}}) }, false, store.Change{}},
		{"global model deleted", func() error { return a.DeleteModel(ctx, store.Global, "G", store.Condition{}) }, true, store.Change{Kind: store.ModelChanged, Scope: store.Global, Key: "G"}},
		{"new tenant", func() error { _, err := a.CreateTenant(ctx, "new"); return err }, true, store.Change{}},
		{"new token", func() error { _, err := a.PutToken(ctx, store.Token{ID: "k1", Tenant: "acme"}); return err }, true, store.Change{}},
		{"token of another tenant deleted", func() error { return a.DeleteToken(ctx, "new", "k1") }, false, store.Change{}},
		{"token deleted", func() error { return a.DeleteToken(ctx, "acme", "k1") }, true, store.Change{Kind: store.TokenDeleted, Scope: "acme", Key: "k1"}},
		{"setting", func() error { return a.PutSetting(ctx, "s", []byte("v")) }, true, store.Change{Kind: store.SettingChanged, Key: "s"}},
		{"setting deleted", func() error { return a.DeleteSetting(ctx, "s") }, true, store.Change{Kind: store.SettingChanged, Key: "s"}},
		// One tenant deleted with its models: one change, not one a model.
		{"tenant deleted", func() error { _, err := a.DeleteTenant(ctx, "acme"); return err }, true, store.Change{Kind: store.TenantDeleted, Scope: "acme"}},
		{"missing tenant deleted", func() error { _, err := a.DeleteTenant(ctx, "acme"); return err }, false, store.Change{}},
	}
	// expect checks the change of test tc.
	expect := func(t *testing.T, w *Watcher, want store.Change) {
		t.Helper()
		got := w.Next(t)
		if want.Key == longName && got.Key == "" {
			want.Key = "" // the feed may leave it out
		}
		if got != want {
			t.Fatalf("reported %+v, want %+v", got, want)
		}
	}
	// One at a time: each change (or none), then a marker.
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); (err == nil) != tc.ok {
				t.Fatalf("err = %v, want success %v", err, tc.ok)
			}
			if tc.want != (store.Change{}) {
				expect(t, wb, tc.want)
			}
			wb.Marker(t, a, fmt.Sprint("marker-", i))
		})
	}
	// All at once, with writes of b's own between: every change of a in
	// commit order, and none of b's.
	var want []store.Change
	for _, tc := range tests {
		if err := tc.op(); (err == nil) != tc.ok {
			t.Fatalf("%s again: err = %v, want success %v", tc.name, err, tc.ok)
		}
		if tc.want != (store.Change{}) {
			want = append(want, tc.want)
		}
		if err := put(bs, "by-b", "B", store.Condition{}); err != nil {
			t.Fatal(err)
		}
		if err := bs.PutSetting(ctx, "by-b", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range want {
		expect(t, wb, c)
	}
	wb.Marker(t, a, "end")

	// A change is reported after its commit: a read once fn returned sees
	// it.
	if err := a.PutSetting(ctx, "seen", []byte("1")); err != nil {
		t.Fatal(err)
	}
	wb.Expect(t, store.Change{Kind: store.SettingChanged, Key: "seen"})
	if v, err := bs.Setting(ctx, "seen"); err != nil || string(v) != "1" {
		t.Errorf("b reads %q, %v after the change was reported", v, err)
	}

	// When a is a Feed too, its watchers see b's changes and not its own.
	fa, ok := a.(store.Feed)
	if !ok {
		return
	}
	wa := Watch(t, fa)
	wa.Expect(t, store.Change{Kind: store.Resync})
	if err := put(a, "acme", "X", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wa.Expect(t, store.Change{Kind: store.TenantDeleted, Scope: "acme"})
	wb.Expect(t, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "X"})
}

func testFeedTwoWatches(t *testing.T, a store.Store, b store.Feed) {
	w1, w2 := Watch(t, b), Watch(t, b)
	w1.Expect(t, store.Change{Kind: store.Resync})
	w2.Expect(t, store.Change{Kind: store.Resync})
	for i := range 3 {
		key := fmt.Sprint("k", i)
		if err := a.PutSetting(context.Background(), key, nil); err != nil {
			t.Fatal(err)
		}
		for _, w := range []*Watcher{w1, w2} {
			w.Expect(t, store.Change{Kind: store.SettingChanged, Key: key})
		}
	}
	// Ending one leaves the other watching.
	if err := w1.Stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v, want context.Canceled", err)
	}
	w2.Marker(t, a, "after")
}

func testFeedEnds(t *testing.T, a store.Store, b store.Feed) {
	w := Watch(t, b)
	w.Expect(t, store.Change{Kind: store.Resync})
	if err := w.Stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch = %v after its context was canceled, want context.Canceled", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := b.Watch(ctx, func(store.Change) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch = %v, want context.DeadlineExceeded", err)
	}
	if err := b.(store.Store).Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Watch(context.Background(), func(store.Change) {}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch of a closed store = %v, want ErrClosed", err)
	}
}
