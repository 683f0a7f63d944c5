package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

func TestFeedConformance(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) (a, b store.Store) {
		u := pgtest.URL(t)
		a, err := Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = Open(context.Background(), u); err != nil {
			a.Close()
			t.Fatal(err)
		}
		return a, b
	})
}

// TestFeedQuiet: writes that change nothing notify nothing.
func TestFeedQuiet(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	w := storetest.Watch(t, b)
	w.Expect(t, store.Change{Kind: store.Resync})
	for i, op := range []func() error{
		func() error { return a.DeleteSetting(ctx, "missing") },
		func() error { _, err := a.CreateTenant(ctx, "acme"); return err },
		func() error { _, err := a.PutToken(ctx, store.Token{ID: "k", Tenant: "acme"}); return err },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
		w.Marker(t, a, fmt.Sprint("marker-", i))
	}
}

// TestFeedUnreadable: a notification this version cannot read (of a newer
// one, say) is a Resync.
func TestFeedUnreadable(t *testing.T) {
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	w := storetest.Watch(t, b)
	w.Expect(t, store.Change{Kind: store.Resync})
	c := connect(t, u)
	for _, payload := range []string{`not json`, `{"o":"x","k":"model-renamed","s":"acme","n":"A"}`} {
		if _, err := c.Exec(context.Background(), `SELECT pg_notify($1, $2)`, b.channel, payload); err != nil {
			t.Fatal(err)
		}
		w.Expect(t, store.Change{Kind: store.Resync})
	}
	w.Marker(t, a, "end")
}

// TestFeedReconnects: when its connection is terminated, Watch reports
// Lost, connects again, reports a Resync, then changes again.
func TestFeedReconnects(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	w := storetest.Watch(t, b)
	w.Expect(t, store.Change{Kind: store.Resync})
	c := connect(t, u)
	for round := range 2 {
		n := queryInt(t, c, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, appName+watchSuffix)
		if n != 1 {
			t.Fatalf("terminated %d watch connections, want 1", n)
		}
		if c := w.Next(t); c.Kind != store.Lost || c.Err == nil {
			t.Fatalf("reported %+v once the connection was cut, want a Lost with its error", c)
		}
		w.Expect(t, store.Change{Kind: store.Resync})
		w.Marker(t, a, fmt.Sprint("after-", round))
	}
	if _, _, err := a.PutModel(ctx, store.Model{Scope: "acme", Name: "A"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, store.Change{Kind: store.ModelChanged, Scope: "acme", Key: "A"})
}

// TestWatchEnds: Watch returns ctx's error when ctx is done, also while it
// tries to connect again, and ErrClosed when its store is closed; it
// leaves no connection behind (and, TestMain checks, no goroutine).
func TestWatchEnds(t *testing.T) {
	u := pgtest.URL(t)
	c := connect(t, u)
	watches := func() int64 {
		return queryInt(t, c, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, appName+watchSuffix)
	}
	// waitNoWatch waits for the server to see the watch connections
	// closed (a backend ends shortly after its client closes).
	waitNoWatch := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(storetest.FeedWait)
		for watches() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d watch connections left", watches())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s := openURL(t, u)
	t.Run("canceled", func(t *testing.T) {
		w := storetest.Watch(t, s)
		w.Expect(t, store.Change{Kind: store.Resync})
		if err := w.Stop(t); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
		waitNoWatch(t)
	})
	t.Run("while reconnecting", func(t *testing.T) {
		down := openURL(t, u)
		down.watchConfig.Port = 1 // nothing listens there
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var calls []store.Change
		if err := down.Watch(ctx, func(c store.Change) { calls = append(calls, c) }); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Watch of an unreachable server = %v, want context.DeadlineExceeded", err)
		}
		// One Lost, saying why, however many attempts to connect.
		if len(calls) != 1 || calls[0].Kind != store.Lost || calls[0].Err == nil {
			t.Errorf("Watch of an unreachable server reported %+v, want one Lost with its error", calls)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := openURL(t, u)
		w := storetest.Watch(t, s)
		w.Expect(t, store.Change{Kind: store.Resync})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Result(t); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch of a store closed during it = %v, want ErrClosed", err)
		}
		if err := s.Watch(context.Background(), func(store.Change) {}); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Watch of a closed store = %v, want ErrClosed", err)
		}
		waitNoWatch(t)
	})
	t.Run("no function", func(t *testing.T) {
		if err := s.Watch(context.Background(), nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Watch(nil) = %v, want ErrInvalid", err)
		}
	})
}

// withParam returns the connection string u with the parameter k=v.
func withParam(t *testing.T, u, k, v string) string {
	t.Helper()
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return u + " " + k + "=" + v
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

// TestSchemas: stores in two schemas of one database (two search_paths)
// keep their data and their changes apart.
func TestSchemas(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	c := connect(t, u)
	if _, err := c.Exec(ctx, `CREATE SCHEMA one; CREATE SCHEMA two`); err != nil {
		t.Fatal(err)
	}
	a1, b1 := openURL(t, withParam(t, u, "search_path", "one")), openURL(t, withParam(t, u, "search_path", "one"))
	a2 := openURL(t, withParam(t, u, "search_path", "two"))
	w := storetest.Watch(t, b1)
	w.Expect(t, store.Change{Kind: store.Resync})
	if err := a2.PutSetting(ctx, "in-two", nil); err != nil {
		t.Fatal(err)
	}
	w.Marker(t, a1, "in-one")
	if _, err := a2.Setting(ctx, "in-one"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("schema two's store reads schema one's setting: %v", err)
	}
	for _, schema := range []string{"one", "two"} {
		if n := queryInt(t, c, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'models'`, schema); n != 1 {
			t.Errorf("schema %s has %d models tables", schema, n)
		}
	}
}

func TestChannelFor(t *testing.T) {
	long := strings.Repeat("s", 60)
	tests := []struct{ schema, want string }{
		{"public", "modelreg_changes"},
		{"tenant_data", "modelreg_changes:tenant_data"},
		{long + "1", ""},
		{long + "2", ""},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		got := channelFor(tc.schema)
		if tc.want != "" && got != tc.want || len(got) > 63 || seen[got] {
			t.Errorf("channelFor(%q) = %q, want %q: at most 63 bytes, one a schema", tc.schema, got, tc.want)
		}
		seen[got] = true
	}
}

// TestFeedConcurrentWriters: writers of two other Store values, at once,
// lose no change: the watcher is told of every write, once.
func TestFeedConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	writers := []*Store{openURL(t, u), openURL(t, u)}
	b := openURL(t, u)
	w := storetest.Watch(t, b)
	w.Expect(t, store.Change{Kind: store.Resync})
	const goroutines, each = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[store.Change]int{} // the changes written
	for g := range goroutines {
		s := writers[g%2]
		wg.Go(func() {
			for i := range each {
				m := store.Model{Scope: fmt.Sprint("t", i%3), Name: fmt.Sprint("M", g%4)}
				if _, _, err := s.PutModel(ctx, m, store.Condition{}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[store.Change{Kind: store.ModelChanged, Scope: m.Scope, Key: m.Name}]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := writers[0].PutSetting(ctx, "end", nil); err != nil {
		t.Fatal(err)
	}
	counts := map[store.Change]int{}
	for {
		c := w.Next(t)
		if c == (store.Change{Kind: store.SettingChanged, Key: "end"}) {
			break
		}
		counts[c]++
	}
	if !maps.Equal(counts, want) {
		t.Errorf("reported %v, want %v (each change as often as it was written)", counts, want)
	}
}

// freezer is a TCP proxy to a PostgreSQL server that can stop passing
// bytes on, without closing anything: a server gone without a word.
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool

	mu           sync.Mutex
	duringFreeze []net.Conn // accepted while frozen
}

// thaw passes bytes on again, and closes the connections accepted while
// frozen, which the server never heard of (pgx's cancel request, sent
// on a connection of its own, would otherwise wait 15 s for an answer).
func (f *freezer) thaw() {
	f.frozen.Store(false)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.duringFreeze {
		c.Close()
	}
	f.duringFreeze = nil
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			if f.frozen.Load() {
				f.mu.Lock()
				f.duringFreeze = append(f.duringFreeze, c, up)
				f.mu.Unlock()
			}
			wg.Go(func() { f.pipe(up, c) })
			wg.Go(func() { f.pipe(c, up) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return f
}

// pipe copies from src to dst, dropping what comes once frozen, and
// closes dst once src ends.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestFeedFindsASilentServer: a feed connection whose server stops
// answering without closing it is found lost within idleCheck+checkWait,
// not after TCP's keep-alives.
func TestFeedFindsASilentServer(t *testing.T) {
	u := pgtest.URL(t)
	s := openURL(t, u)
	f := newFreezer(t, net.JoinHostPort(s.watchConfig.Host, strconv.Itoa(int(s.watchConfig.Port))))
	host, port, _ := net.SplitHostPort(f.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	s.watchConfig.Host, s.watchConfig.Port = host, uint16(p)
	s.watchConfig.Fallbacks = nil
	s.idleCheck, s.checkWait = 200*time.Millisecond, 2*time.Second

	w := storetest.Watch(t, s)
	w.Expect(t, store.Change{Kind: store.Resync})
	// Idle, but answering: the pings keep it.
	time.Sleep(3 * s.idleCheck)
	a := openURL(t, u)
	w.Marker(t, a, "alive")

	f.frozen.Store(true)
	if c := w.Next(t); c.Kind != store.Lost || c.Err == nil {
		t.Fatalf("reported %+v once the server went silent, want a Lost with its error", c)
	}
	f.frozen.Store(false)
	w.Expect(t, store.Change{Kind: store.Resync})
	w.Marker(t, a, "back")
}

// TestRollbackGivesUpOnASilentServer: a transaction that failed while its
// server went silent returns its error once the rollback has waited
// checkWait, not after TCP's keep-alives; the store works again once the
// server answers, on a new connection.
func TestRollbackGivesUpOnASilentServer(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	f := newFreezer(t, u.Host)
	u.Host = f.ln.Addr().String()
	s := openURL(t, u.String())
	s.checkWait = 500 * time.Millisecond
	ctx := context.Background()

	failed := errors.New("the transaction's own error")
	done := make(chan error, 1)
	go func() {
		done <- s.tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
				return err
			}
			f.frozen.Store(true)
			return failed
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, failed) {
			t.Errorf("tx returned %v, want its function's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the rollback still waits for the silent server after 30 s")
	}
	f.thaw()
	if err := s.PutSetting(ctx, "after", []byte("1")); err != nil {
		t.Fatalf("a write once the server answers again: %v", err)
	}
}
