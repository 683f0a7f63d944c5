package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store"
)

// feedWait bounds the wait for one change: generous, as a change crosses a
// database connection, but a feed that lost a change fails rather than
// hangs.
const feedWait = 30 * time.Second

// RunFeed runs the conformance suite of store.Feed. open returns two Store
// values on the same, empty data, as two processes would open one shared
// database; the second must implement store.Feed.
func RunFeed(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	t.Helper()
	a, b := open(t)
	feed, ok := b.(store.Feed)
	if !ok {
		t.Fatalf("%T does not implement store.Feed", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan store.Change, 100)
	done := make(chan error, 1)
	go func() {
		done <- feed.Watch(ctx, func(c store.Change) { changes <- c })
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v once its context was canceled, want context.Canceled", err)
			}
		case <-time.After(feedWait):
			t.Errorf("Watch did not return within %v of its context's cancellation", feedWait)
		}
	}
	t.Cleanup(stop)

	next := func(what string) store.Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case err := <-done:
			t.Fatalf("%s: Watch returned %v", what, err)
		case <-time.After(feedWait):
			t.Fatalf("%s: no change reported within %v", what, feedWait)
		}
		return store.Change{}
	}
	expect := func(what string, want store.Change) {
		t.Helper()
		if got := next(what); got != want {
			t.Fatalf("%s: reported %+v, want %+v", what, got, want)
		}
	}
	// marker writes a setting through a and expects it reported next: the
	// writes between the previous expectation and the marker reported
	// nothing.
	markers := 0
	marker := func(what string) {
		t.Helper()
		markers++
		key := "feed-marker"
		if err := a.PutSetting(ctx, key, []byte{byte(markers)}); err != nil {
			t.Fatal(err)
		}
		expect(what+" (then a marker)", store.Change{Kind: store.SettingChanged, Key: key})
	}

	expect("first call", store.Change{Kind: store.Resync})

	mustPut(t, a, model("t1", "Order", `{"name":"Order"}`))
	expect("PutModel of a tenant's model", store.Change{Kind: store.ModelChanged, Scope: "t1", Key: "Order"})
	mustPut(t, a, model(store.Global, "Address", `{"name":"Address"}`))
	expect("PutModel of a global model", store.Change{Kind: store.ModelChanged, Scope: store.Global, Key: "Address"})
	mustPut(t, a, model("t1", "Order", `{"name":"Order","v":2}`))
	expect("PutModel replacing a model", store.Change{Kind: store.ModelChanged, Scope: "t1", Key: "Order"})

	if _, _, err := a.PutModel(ctx, model("t1", "Order", `{}`), store.Condition{MustNotExist: true}); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("PutModel with a condition not met: %v, want ErrPrecondition", err)
	}
	if err := a.DeleteModel(ctx, "t1", "Nope", store.Condition{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteModel of a model that does not exist: %v, want ErrNotFound", err)
	}
	marker("failed writes report nothing")

	mustPut(t, b, model("t1", "Line", `{"name":"Line"}`))
	if err := b.PutSetting(ctx, "own", []byte("x")); err != nil {
		t.Fatal(err)
	}
	marker("the watching value's own writes are not reported to it")

	if err := a.DeleteModel(ctx, "t1", "Order", store.Condition{}); err != nil {
		t.Fatal(err)
	}
	expect("DeleteModel", store.Change{Kind: store.ModelChanged, Scope: "t1", Key: "Order"})

	if _, err := a.PutToken(ctx, store.Token{ID: "tok1", Tenant: "t1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTenant(ctx, "t2"); err != nil {
		t.Fatal(err)
	}
	marker("PutToken and CreateTenant report nothing")
	if err := a.DeleteToken(ctx, "t1", "tok1"); err != nil {
		t.Fatal(err)
	}
	expect("DeleteToken", store.Change{Kind: store.TokenDeleted, Scope: "t1", Key: "tok1"})

	if err := a.DeleteSetting(ctx, "own"); err != nil {
		t.Fatal(err)
	}
	expect("DeleteSetting", store.Change{Kind: store.SettingChanged, Key: "own"})

	if _, err := a.DeleteTenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	expect("DeleteTenant", store.Change{Kind: store.TenantDeleted, Scope: "t1"})

	// Commit order: a burst of writes to several scopes arrives in order.
	var want []store.Change
	for i := range 20 {
		scope := []string{"t3", store.Global, "t4"}[i%3]
		name := string(rune('A' + i))
		mustPut(t, a, model(scope, name, `{}`))
		want = append(want, store.Change{Kind: store.ModelChanged, Scope: scope, Key: name})
	}
	for i, w := range want {
		if got := next("a burst of writes"); got != w {
			t.Fatalf("change %d of a burst: %+v, want %+v", i, got, w)
		}
	}

	stop()
	if t.Failed() {
		return
	}
	select {
	case c := <-changes:
		t.Errorf("reported %+v, which no write made", c)
	default:
	}
}
