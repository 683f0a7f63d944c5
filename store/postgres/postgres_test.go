package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

// openURL opens a store on the database at u, closed at t's end.
func openURL(t *testing.T, u string) *Store {
	t.Helper()
	s, err := Open(context.Background(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// open opens a store on a new database of the test server.
func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// connect returns a connection of its own to the database at u, closed at
// t's end: for looking at the database from outside the store.
func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// queryInt runs a query of one integer on c.
// lockWaiters returns how many of the stores' connections to the test's
// database (by their application name) wait for a lock, as c sees them.
func lockWaiters(t *testing.T, c *pgx.Conn) int64 {
	t.Helper()
	return queryInt(t, c, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`, appName)
}

func queryInt(t *testing.T, c *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	t.Run("fresh", func(t *testing.T) {
		u := pgtest.URL(t)
		s := openURL(t, u)
		if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
			t.Errorf("Version = %d, %v; want %d", v, err, SchemaVersion)
		}
		c := connect(t, u)
		for _, table := range []string{"schema_version", "tenants", "models", "tokens", "settings", "revisions", "scope_revisions"} {
			if n := queryInt(t, c, `SELECT count(*) FROM information_schema.tables WHERE table_name = $1`, table); n != 1 {
				t.Errorf("table %s: %d of them", table, n)
			}
		}
		if n := queryInt(t, c, `SELECT count(*) FROM schema_version`); n != 1 {
			t.Errorf("schema_version has %d rows, want 1", n)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
	t.Run("reopen changes nothing", func(t *testing.T) {
		u := pgtest.URL(t)
		s := openURL(t, u)
		m, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		c := connect(t, u)
		// xmin is the transaction that wrote the row: an UPDATE, even to
		// the same value, changes it.
		before := queryInt(t, c, `SELECT xmin::text::bigint FROM schema_version`)
		s2 := openURL(t, u)
		if after := queryInt(t, c, `SELECT xmin::text::bigint FROM schema_version`); after != before {
			t.Errorf("re-opening wrote schema_version (xmin %d, was %d)", after, before)
		}
		if got, err := s2.Model(ctx, "acme", "A"); err != nil || got.Revision != m.Revision {
			t.Errorf("after re-opening, Model = %+v, %v; want %+v", got, err, m)
		}
	})
	t.Run("replicas starting together", func(t *testing.T) {
		u := pgtest.URL(t)
		const replicas = 6
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		stores := make([]*Store, replicas)
		for i := range replicas {
			wg.Go(func() { stores[i], errs[i] = Open(ctx, u) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
			} else {
				stores[i].Close()
			}
		}
		c := connect(t, u)
		if n := queryInt(t, c, `SELECT count(*) FROM schema_version`); n != 1 {
			t.Errorf("schema_version has %d rows, want 1", n)
		}
		if n := queryInt(t, c, `SELECT count(*) FROM revisions`); n != 1 {
			t.Errorf("revisions has %d rows, want 1", n)
		}
	})
	t.Run("newer schema refused", func(t *testing.T) {
		u := pgtest.URL(t)
		openURL(t, u).Close()
		c := connect(t, u)
		if _, err := c.Exec(ctx, `UPDATE schema_version SET version = $1`, SchemaVersion+1); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, u)
		if err == nil {
			s.Close()
		}
		var tooNew *SchemaTooNewError
		if !errors.Is(err, ErrSchemaTooNew) || !errors.As(err, &tooNew) || tooNew.Version != SchemaVersion+1 || tooNew.Known != SchemaVersion {
			t.Fatalf("Open of a newer schema: %v; want a SchemaTooNewError{%d, %d}", err, SchemaVersion+1, SchemaVersion)
		}
		if v := queryInt(t, c, `SELECT version FROM schema_version`); v != SchemaVersion+1 {
			t.Errorf("the refused Open changed the version to %d", v)
		}
	})
}

// TestOpenErrors checks what Open says of URLs it cannot use.
func TestOpenErrors(t *testing.T) {
	server := pgtest.Server(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := url.Parse(server)
	if err != nil {
		t.Skipf("%s is not a URL: %v", pgtest.EnvURL, err)
	}
	missing := *u
	missing.Path = "/modelreg_test_no_such_database"
	tests := []struct {
		name, url string
		want      error
		notWant   error
	}{
		{"not a connection string", "postgres://[::1", store.ErrInvalid, nil},
		{"nothing listening", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable&connect_timeout=5", closedPort), store.ErrBusy, nil},
		{"no such database", missing.String(), store.ErrUnavailable, store.ErrBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), tc.url)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tc.want) || tc.notWant != nil && errors.Is(err, tc.notWant) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestText checks the strings PostgreSQL cannot store (invalid UTF-8, NUL
// bytes): writes refuse them, reads find nothing.
func TestText(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	for _, bad := range []string{"a\x00b", "\xff"} {
		t.Run(strconv.Quote(bad), func(t *testing.T) {
			checks := []struct {
				name string
				err  error
				want error
			}{
				{"PutModel name", func() error {
					_, _, err := s.PutModel(ctx, store.Model{Scope: "a", Name: bad}, store.Condition{})
					return err
				}(), store.ErrInvalid},
				{"PutModel scope", func() error {
					_, _, err := s.PutModel(ctx, store.Model{Scope: bad, Name: "A"}, store.Condition{})
					return err
				}(), store.ErrInvalid},
				{"CreateTenant", func() error { _, err := s.CreateTenant(ctx, bad); return err }(), store.ErrInvalid},
				{"PutToken", func() error { _, err := s.PutToken(ctx, store.Token{ID: bad, Tenant: "a"}); return err }(), store.ErrInvalid},
				{"PutSetting", s.PutSetting(ctx, bad, nil), store.ErrInvalid},
				{"Model", func() error { _, err := s.Model(ctx, "a", bad); return err }(), store.ErrNotFound},
				{"Tenant", func() error { _, err := s.Tenant(ctx, bad); return err }(), store.ErrNotFound},
				{"Token", func() error { _, err := s.Token(ctx, bad); return err }(), store.ErrNotFound},
				{"Setting", func() error { _, err := s.Setting(ctx, bad); return err }(), store.ErrNotFound},
				{"DeleteModel", s.DeleteModel(ctx, bad, "A", store.Condition{}), store.ErrNotFound},
				{"DeleteModel if it exists", s.DeleteModel(ctx, bad, "A", store.Condition{MustExist: true}), store.ErrPrecondition},
				{"DeleteTenant", func() error { _, err := s.DeleteTenant(ctx, bad); return err }(), store.ErrNotFound},
				{"DeleteToken", s.DeleteToken(ctx, "a", bad), store.ErrNotFound},
			}
			for _, c := range checks {
				if !errors.Is(c.err, c.want) {
					t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
				}
			}
			if list, err := s.Models(ctx, bad); err != nil || len(list) != 0 {
				t.Errorf("Models = %v, %v", list, err)
			}
			if err := s.DeleteSetting(ctx, bad); err != nil {
				t.Errorf("DeleteSetting: %v", err)
			}
		})
	}
	// A name too long for a notification is stored (its notification goes
	// without it), a tenant id too long is refused.
	long := strings.Repeat("x", maxPayload)
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "a", Name: long}, store.Condition{}); err != nil {
		t.Errorf("PutModel of a %d-byte name: %v", len(long), err)
	}
	if _, _, err := s.PutModel(ctx, store.Model{Scope: long, Name: "A"}, store.Condition{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutModel of a %d-byte tenant id: %v, want ErrInvalid", len(long), err)
	}
	// One that does not compress is too long for an index entry.
	random := make([]byte, 6000)
	_, _ = rand.Read(random)
	huge := base64.StdEncoding.EncodeToString(random)
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "a", Name: huge}, store.Condition{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutModel of a %d-byte name of random bytes: %v, want ErrInvalid", len(huge), err)
	}
}

// TestConcurrentStores runs writers of two Store values (two pools, as two
// replicas have) on one database: conditional writes of one model (a
// compare-and-swap counter) never both pass from the same revision, and
// the revisions of the scope grow with each write that passed.
func TestConcurrentStores(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	stores := []*Store{openURL(t, u), openURL(t, u)}
	for _, scope := range []string{"acme", store.Global} {
		t.Run(fmt.Sprintf("scope %q", scope), func(t *testing.T) {
			first, _, err := stores[0].PutModel(ctx, store.Model{Scope: scope, Name: "Counter", Definition: []byte("0")}, store.Condition{MustNotExist: true})
			if err != nil {
				t.Fatal(err)
			}
			type step struct{ from, to int64 } // the revision matched, and the one given
			const writers, each = 8, 15
			var mu sync.Mutex
			var steps []step
			var wg sync.WaitGroup
			for w := range writers {
				s := stores[w%2]
				wg.Go(func() {
					for done := 0; done < each; {
						m, err := s.Model(ctx, scope, "Counter")
						if err != nil {
							t.Error(err)
							return
						}
						n, _ := strconv.Atoi(string(m.Definition))
						got, _, err := s.PutModel(ctx, store.Model{Scope: scope, Name: "Counter", Definition: []byte(strconv.Itoa(n + 1))},
							store.Condition{Revisions: []int64{m.Revision}})
						switch {
						case errors.Is(err, store.ErrPrecondition):
							continue // another writer passed first: read again
						case err != nil:
							t.Error(err)
							return
						}
						mu.Lock()
						steps = append(steps, step{m.Revision, got.Revision})
						mu.Unlock()
						done++
					}
				})
			}
			wg.Wait()
			m, err := stores[1].Model(ctx, scope, "Counter")
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Definition) != strconv.Itoa(writers*each) {
				t.Errorf("counter = %s after %d increments: a conditional write passed on a stale revision", m.Definition, writers*each)
			}
			// The writes that passed form one chain: each from the
			// revision the one before gave, each revision above the one
			// it replaced.
			slices.SortFunc(steps, func(a, b step) int { return cmp.Compare(a.to, b.to) })
			prev := first.Revision
			for _, s := range steps {
				if s.from != prev || s.to <= s.from {
					t.Fatalf("write %d -> %d follows revision %d: the writes did not take turns", s.from, s.to, prev)
				}
				prev = s.to
			}
			if prev != m.Revision {
				t.Errorf("the model's revision is %d, the last write's %d", m.Revision, prev)
			}
		})
	}
	t.Run("create once", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for w := range 8 {
			s := stores[w%2]
			wg.Go(func() {
				_, c, err := s.PutModel(ctx, store.Model{Scope: "race", Name: "Once", Definition: []byte(strconv.Itoa(w))}, store.Condition{MustNotExist: true})
				if err != nil && !errors.Is(err, store.ErrPrecondition) {
					t.Error(err)
				}
				if err == nil && c {
					mu.Lock()
					created++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if created != 1 {
			t.Errorf("%d create-only writes passed, want 1", created)
		}
	})
}

// TestDeleteTenantRace deletes a tenant through one Store value while the
// other writes models and tokens of it: whichever order they take, no model
// or token is left without its tenant, no revision row without its scope,
// and no revision of the tenant is given twice.
func TestDeleteTenantRace(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	a, b := openURL(t, u), openURL(t, u)
	const rounds = 40
	var mu sync.Mutex
	revs := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range rounds {
				m, _, err := a.PutModel(ctx, store.Model{Scope: "doomed", Name: fmt.Sprint("M", w), Definition: []byte(`{}`)}, store.Condition{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if revs[m.Revision] {
					t.Errorf("revision %d given twice", m.Revision)
				}
				revs[m.Revision] = true
				mu.Unlock()
				if _, err := a.PutToken(ctx, store.Token{ID: fmt.Sprintf("tok-%d-%d", w, i), Tenant: "doomed"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	deleted := 0
	wg.Go(func() {
		for range rounds * 2 {
			switch _, err := b.DeleteTenant(ctx, "doomed"); {
			case err == nil:
				deleted++
			case !errors.Is(err, store.ErrNotFound):
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	t.Logf("%d deletes of the tenant found it", deleted)
	c := connect(t, u)
	orphans := []struct{ what, sql string }{
		{"models", `SELECT count(*) FROM models m WHERE m.scope <> '' AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = m.scope)`},
		{"tokens", `SELECT count(*) FROM tokens k WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = k.tenant)`},
		{"revision rows", `SELECT count(*) FROM scope_revisions r WHERE r.scope <> '' AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = r.scope)`},
	}
	for _, o := range orphans {
		if n := queryInt(t, c, o.sql); n != 0 {
			t.Errorf("%d %s of a deleted tenant", n, o.what)
		}
	}
	// What is left is consistent: the tenant's counts are its rows.
	if tn, err := a.Tenant(ctx, "doomed"); err == nil {
		models, _ := a.Models(ctx, "doomed")
		tokens, _ := a.Tokens(ctx, "doomed")
		if tn.Models != len(models) || tn.Tokens != len(tokens) {
			t.Errorf("tenant %+v, with %d models and %d tokens", tn, len(models), len(tokens))
		}
	}
}

// TestConnectionsTerminated: when the server ends the pool's connections
// (a restart, a failover, an administrator), the next writes and reads
// connect again rather than fail.
func TestConnectionsTerminated(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := openURL(t, u)
	c := connect(t, u)
	for round := range 4 {
		// Several connections in the pool, just used.
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i)}, store.Condition{}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		n := queryInt(t, c, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, appName)
		if n == 0 {
			t.Fatal("no connection of the store's pool to terminate")
		}
		if round%2 == 0 {
			for i := range 4 {
				if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i)}, store.Condition{}); err != nil {
					t.Errorf("round %d: write after %d connections were terminated: %v", round, n, err)
				}
			}
		} else {
			for i := range 4 {
				if _, err := s.Model(ctx, "acme", fmt.Sprint("M", i)); err != nil {
					t.Errorf("round %d: read after %d connections were terminated: %v", round, n, err)
				}
			}
		}
	}
}

// TestDeletedTenantLeavesNoTrace: once a tenant is deleted, no row of any
// table holds its id, and where a scope without a row starts
// (revisions.last) is above its last revision.
func TestDeletedTenantLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := openURL(t, u)
	const id = "gone-tenant"
	var last int64
	for i := range 3 {
		m, _, err := s.PutModel(ctx, store.Model{Scope: id, Name: fmt.Sprint("M", i)}, store.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		last = m.Revision
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "tok", Tenant: id}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "kept", Name: "M"}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTenant(ctx, id); err != nil {
		t.Fatal(err)
	}
	c := connect(t, u)
	rows, err := c.Query(ctx, `SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type IN ('text', 'bytea')`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ Table, Name, Type string }
	columns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil || len(columns) < 8 {
		t.Fatalf("columns: %v, %v", columns, err)
	}
	for _, col := range columns {
		sql := fmt.Sprintf(`SELECT count(*) FROM %s WHERE position($1::%s in %s) > 0`,
			pgx.Identifier{col.Table}.Sanitize(), col.Type, pgx.Identifier{col.Name}.Sanitize())
		if n := queryInt(t, c, sql, id); n != 0 {
			t.Errorf("%d rows of %s hold %q in %s", n, col.Table, id, col.Name)
		}
	}
	if floor := queryInt(t, c, `SELECT last FROM revisions`); floor < last {
		t.Errorf("revisions.last = %d, below the deleted tenant's last revision %d", floor, last)
	}
}

func TestSchemaVersionIsTheLastMigration(t *testing.T) {
	if n := len(migrations()); n != SchemaVersion {
		t.Errorf("%d migrations, but SchemaVersion is %d", n, SchemaVersion)
	}
}

// TestOpenWithoutDDLRights: a role that may read and write the tables but
// create none opens a database already migrated, and is refused, saying
// why, one that is not.
func TestOpenWithoutDDLRights(t *testing.T) {
	ctx := context.Background()
	migrated, fresh := pgtest.URL(t), pgtest.URL(t)
	openURL(t, migrated).Close()
	asRole, role := pgtest.TableRole(t, migrated)
	s := openURL(t, asRole)
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
		t.Errorf("a write by a role with table rights only: %v", err)
	}
	freshAsRole, err := pgtest.AsRole(fresh, role)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, freshAsRole); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Open of a database to migrate by a role that cannot: %v, want ErrUnavailable saying permission denied", err)
	}
}

// TestRevokeWaitsForWritesWithTheToken: a write made with a token
// (store.Condition.Token) that found the token is committed before the
// token's revocation is: once DeleteToken has returned, no write made
// with the token commits. The test holds up such a write after its check
// (its revision row is locked from outside) and revokes the token
// meanwhile: the revocation must wait for the write.
func TestRevokeWaitsForWritesWithTheToken(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := openURL(t, u)
	if _, err := s.PutToken(ctx, store.Token{ID: "tok-a", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	c, watcher := connect(t, u), connect(t, u)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM scope_revisions WHERE scope = 'acme' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	// waitFor waits until n of the store's connections wait for a lock,
	// or done is closed.
	waitFor := func(n int64, done <-chan struct{}) {
		t.Helper()
		for {
			if lockWaiters(t, watcher) >= n {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	putDone := make(chan struct{})
	var putErr error
	go func() {
		defer close(putDone)
		_, _, putErr = s.PutModel(ctx, store.Model{Scope: "acme", Name: "B", Definition: []byte(`{}`)}, store.Condition{Token: "tok-a"})
	}()
	waitFor(1, putDone)
	revokeDone := make(chan struct{})
	var revokeErr error
	go func() {
		defer close(revokeDone)
		revokeErr = s.DeleteToken(ctx, "acme", "tok-a")
	}()
	waitFor(2, revokeDone)
	revokedFirst := false
	select {
	case <-revokeDone:
		revokedFirst = true
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-putDone
	<-revokeDone
	if revokeErr != nil {
		t.Fatalf("DeleteToken: %v", revokeErr)
	}
	if revokedFirst && putErr == nil {
		t.Errorf("a write made with a token committed after the token's revocation had returned")
	}
}

// TestChecksSeeWhatCommittedBeforeTheLock: a write checks its Condition
// on what was committed before it held its scope's lock, whatever the
// database's default isolation level: under REPEATABLE READ, a snapshot
// taken before the lock was held would miss a tenant deleted meanwhile,
// and a write with TenantMustExist would create it again.
func TestChecksSeeWhatCommittedBeforeTheLock(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	admin := connect(t, u)
	if _, err := admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation TO ''repeatable read''', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	s := openURL(t, u)
	if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	// Another replica deletes the tenant, holding its lock as
	// DeleteTenant does, while the write waits for the lock.
	c, watcher := connect(t, u), connect(t, u)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	b := &pgx.Batch{}
	queueLock(b, "acme")
	for _, q := range []string{`DELETE FROM models WHERE scope = 'acme'`, `DELETE FROM tokens WHERE tenant = 'acme'`,
		`DELETE FROM tenants WHERE id = 'acme'`, `DELETE FROM scope_revisions WHERE scope = 'acme'`} {
		b.Queue(q)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var putErr error
	go func() {
		defer close(done)
		_, _, putErr = s.PutModel(ctx, store.Model{Scope: "acme", Name: "B", Definition: []byte(`{}`)}, store.Condition{TenantMustExist: true})
	}()
	for waiting := int64(0); waiting == 0; {
		select {
		case <-done:
			t.Fatalf("the write did not wait for the tenant's lock: %v", putErr)
		case <-time.After(5 * time.Millisecond):
		}
		waiting = lockWaiters(t, watcher)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if !errors.Is(putErr, store.ErrNotFound) {
		t.Errorf("a write with TenantMustExist to a tenant deleted before it held the lock: %v, want ErrNotFound", putErr)
	}
	if _, err := s.Tenant(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted tenant is back: %v", err)
	}
}
