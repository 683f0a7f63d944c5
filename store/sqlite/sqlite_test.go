package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

func open(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

// TestConformance runs the store conformance suite. It runs with
// synchronous=OFF to keep it fast (the suite checks behaviour, not
// durability; TestDurabilitySettings checks the production settings and
// the end-to-end crash test checks durability).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "modelreg.db"), WithSynchronous("OFF"))
	})
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "with space #1?x=y")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "modelreg.db")
	s := open(t, path)
	for i := range 10 {
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: []byte(fmt.Sprint(i)), Fingerprint: "v1:x"}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "tok", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSetting(ctx, "admin", []byte("h")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at %s: %v", path, err)
	}

	s = open(t, path)
	defer s.Close()
	list, err := s.Models(ctx, "acme")
	if err != nil || len(list) != 10 {
		t.Fatalf("after reopen: %d models, %v", len(list), err)
	}
	for i, m := range list {
		if string(m.Definition) != fmt.Sprint(i) || m.Name != fmt.Sprint("M", i) {
			t.Errorf("model %d = %s %q", i, m.Name, m.Definition)
		}
	}
	if _, err := s.Token(ctx, "tok"); err != nil {
		t.Errorf("token lost: %v", err)
	}
	if v, err := s.Setting(ctx, "admin"); err != nil || string(v) != "h" {
		t.Errorf("setting = %q, %v", v, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	for i := range 3 {
		s := open(t, path)
		v, err := s.Version(ctx)
		if err != nil || v != SchemaVersion {
			t.Fatalf("open %d: version %d, %v; want %d", i, v, err, SchemaVersion)
		}
		var rows int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
			t.Errorf("open %d: schema_version has %d rows (%v), want 1", i, rows, err)
		}
		if _, err := s.CreateTenant(ctx, fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	s := open(t, path)
	defer s.Close()
	if list, _ := s.Tenants(ctx, "", 0); len(list) != 3 {
		t.Errorf("data lost across reopen with migrations: %v", list)
	}
}

func TestSchemaTooNewRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	open(t, path).Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(ctx, path); !errors.Is(err, ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of newer schema = %v, want ErrSchemaTooNew", err)
	}
}

// TestDurabilitySettings checks the pragmas the durability promise rests on.
func TestDurabilitySettings(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "m.db"))
	defer s.Close()
	for _, db := range []*sql.DB{s.w, s.r} {
		var mode string
		var sync int
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
		}
	}
	// Read connections are read-only.
	if _, err := s.r.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('x', 'y')`); err == nil {
		t.Errorf("write through a read connection succeeded")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), WithSynchronous("sometimes")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad synchronous mode: %v", err)
	}
}

// TestPageCacheSize checks that every connection's page cache is bounded
// to pageCacheKiB (see there why).
func TestPageCacheSize(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "m.db"))
	defer s.Close()
	for _, db := range []*sql.DB{s.w, s.r} {
		var n int
		if err := db.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&n); err != nil || n != -pageCacheKiB {
			t.Errorf("cache_size = %d, %v; want %d", n, err, -pageCacheKiB)
		}
	}
}

func BenchmarkPutModel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	def := []byte(`{"name":"Customer","properties":{"name":"string","age":"number"}}`)
	i := 0
	for b.Loop() {
		i++
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i%100), Definition: def}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkModels100(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "b.db"), WithSynchronous("OFF"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	def := []byte(`{"name":"Customer","properties":{"name":"string","age":"number"}}`)
	for i := range 100 {
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: def}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if list, err := s.Models(ctx, "acme"); err != nil || len(list) != 100 {
			b.Fatal(len(list), err)
		}
	}
}

// BenchmarkModelsRandomTenant reads the models of a random tenant of a
// 10,000-tenant store (three models each), as a lazy load does: the
// figure that the page cache's bound (pageCacheKiB) trades for memory.
func BenchmarkModelsRandomTenant(b *testing.B) {
	const tenants = 10000
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "b.db"), WithSynchronous("OFF"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	def := []byte(`{"name":"Customer","properties":{"name":"string","age":"number","address":{"street":"string","city":"string"}}}`)
	for t := range tenants {
		for _, name := range []string{"User", "Customer", "Order"} {
			if _, _, err := s.PutModel(ctx, store.Model{Scope: fmt.Sprint("tenant-", t), Name: name, Definition: def}, store.Condition{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	x := uint32(0x9E3779B9)
	for b.Loop() {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if list, err := s.Models(ctx, fmt.Sprint("tenant-", x%tenants)); err != nil || len(list) != 3 {
			b.Fatal(len(list), err)
		}
	}
}

// TestIdleReadersClosed checks that read connections left idle are closed
// (their SQLite page caches live outside the Go heap) and that reads work
// again afterwards.
func TestIdleReadersClosed(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "idle.db"), WithReaderIdleTime(time.Millisecond))
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// database/sql closes expired idle connections from a background
	// cleaner; wait for it rather than for a fixed time.
	for s.r.Stats().MaxIdleTimeClosed == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("read after the idle connections were closed: %v", err)
	}
}

// TestMigrationToRevisionCounter opens a database of schema version 1
// (revisions per model) and checks that the store-wide counter starts
// above every stored revision.
func TestMigrationToRevisionCounter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
		migrations()[0].sql,
		`INSERT INTO tenants (id, created_at) VALUES ('a', 1)`,
		`INSERT INTO models VALUES ('a', 'A', '{}', '', 5, 1, 1), ('a', 'B', '{}', '', 9, 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := open(t, path)
	defer s.Close()
	if v, err := s.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
	m, _, err := s.PutModel(ctx, store.Model{Scope: "a", Name: "A", Definition: []byte(`{"v":2}`)}, store.Condition{Revisions: []int64{5}})
	if err != nil || m.Revision <= 9 {
		t.Errorf("replace after migration: revision %d, %v; want above 9", m.Revision, err)
	}
}

// TestNewDatabaseOwnerOnly: a new database file (and its WAL) can be read
// by its owner only: it holds token hashes.
func TestNewDatabaseOwnerOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path)
	defer s.Close()
	if _, err := s.CreateTenant(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
	}
}

// TestExistingDatabaseMadeOwnerOnly: a database readable by others (one
// created by hand, or by a version of modelreg that did not restrict it),
// and its -wal and -shm files, are restricted to their owner on Open.
func TestExistingDatabaseMadeOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path + "-wal", path + "-shm"} { // empty: valid
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, path)
	defer s.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v after Open, want -rw-------", p, fi.Mode().Perm())
		}
	}
	if _, err := s.CreateTenant(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDoesNotWaitForOthersLock: Close gives up its checkpoint rather
// than wait the busy timeout (10 s by default) for another process's lock
// on the database, so a server stops within its shutdown timeout.
func TestCloseDoesNotWaitForOthersLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	st, err := Open(ctx, path, WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTenant(ctx, "a"); err != nil { // something to checkpoint
		t.Fatal(err)
	}
	unlock := lockElsewhere(t, path)
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Close still waiting for another connection's lock after 5 s")
		unlock()
		<-done
	}
}

// lockElsewhere takes the write lock of the database at path through a
// connection of its own, as another process would, until unlock is
// called (or the test ends).
func lockElsewhere(t *testing.T, path string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Error(err)
		}
	}
}

// TestLockedIsUnavailable checks that a write finding the database locked
// by another process beyond the busy timeout fails with store.ErrBusy, an
// ErrUnavailable (a server answers 503 and the client retries), and
// that writes succeed again once the lock is gone.
func TestLockedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	st, err := Open(ctx, path, WithBusyTimeout(50*time.Millisecond), WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	unlock := lockElsewhere(t, path)
	m := store.Model{Scope: "acme", Name: "A", Definition: []byte(`{"name":"A"}`)}
	if _, _, err := st.PutModel(ctx, m, store.Condition{}); !errors.Is(err, store.ErrBusy) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("PutModel with the database locked elsewhere: %v, want store.ErrBusy", err)
	}
	unlock()
	if _, _, err := st.PutModel(ctx, m, store.Condition{}); err != nil {
		t.Fatalf("PutModel once the lock is gone: %v", err)
	}
}

// TestPanicInWriteReleasesWriter checks that a panic inside a write
// transaction does not keep the store's only write connection: a panicking
// clock used to leave every later write waiting forever. WithClock(nil)
// (which made the clock panic) keeps the default clock now.
func TestPanicInWriteReleasesWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	nilClock, err := Open(ctx, filepath.Join(dir, "nil.db"), WithClock(nil), WithReaders(0), WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	defer nilClock.Close()
	if _, err := nilClock.CreateTenant(ctx, "t"); err != nil {
		t.Fatalf("CreateTenant with WithClock(nil): %v", err)
	}
	panics := true
	st, err := Open(ctx, filepath.Join(dir, "panic.db"), WithSynchronous("OFF"), WithClock(func() time.Time {
		if panics {
			panic("clock")
		}
		return time.Now()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	func() {
		defer func() { recover() }()
		st.CreateTenant(ctx, "t")
	}()
	panics = false
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st.PutSetting(tctx, "k", []byte("v")); err != nil {
		t.Fatalf("a write after a panicking one: %v", err)
	}
}

// TestForeignDatabaseLeftAlone: a database file of another application
// (tables, no schema_version) is refused with ErrForeign, and left exactly
// as it was: not migrated, not turned to WAL mode.
func TestForeignDatabaseLeftAlone(t *testing.T) {
	ctx := context.Background()
	for _, schema := range []string{
		`CREATE TABLE customers (id INTEGER, name TEXT); INSERT INTO customers VALUES (1, 'ann')`,
		// A table of modelreg's name is not enough (older Flyway used it).
		`CREATE TABLE schema_version (installed_rank INTEGER, version TEXT); INSERT INTO schema_version VALUES (1, '1')`,
	} {
		path := filepath.Join(t.TempDir(), "modelreg.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(schema); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before, _ := os.ReadFile(path)
		if s, err := Open(ctx, path); !errors.Is(err, ErrForeign) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open of another application's database (%s): %v, want ErrForeign", schema, err)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Error("the refused database file was changed")
		}
		for _, side := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + side); err == nil {
				t.Errorf("Open left %s behind", side)
			}
		}
	}
	// An empty file is a new database, and a modelreg one opens again.
	empty := filepath.Join(t.TempDir(), "modelreg.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, empty).Close()
	open(t, empty).Close()
}

// TestDatabaseFileGoneRefusesWrites: once the database file is deleted or
// replaced under an open store, a write is refused with ErrUnavailable
// (its commit would go to a file nothing reads again) and Ping fails, so
// /readyz says so; nothing is acknowledged that a restart would lose. It
// is not ErrBusy: retrying does not help, restarting does.
func TestDatabaseFileGoneRefusesWrites(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"moved", "replaced"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "modelreg.db")
			s := open(t, path)
			defer s.Close()
			m := store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}
			if _, _, err := s.PutModel(ctx, m, store.Condition{}); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path, filepath.Join(dir, "elsewhere.db")); err != nil {
				t.Fatal(err)
			}
			if how == "replaced" {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.PutModel(ctx, m, store.Condition{}); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrBusy) {
				t.Errorf("PutModel after the file was %s: %v, want ErrUnavailable, not ErrBusy", how, err)
			}
			if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrBusy) {
				t.Errorf("Ping after the file was %s: %v, want ErrUnavailable, not ErrBusy", how, err)
			}
		})
	}
}

// TestBackupWhileOpen: Backup copies a database in use, WAL included, to a
// new owner-only file that opens as the same store; it refuses to
// overwrite a file, and to copy another application's database.
func TestBackupWhileOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "modelreg.db")
	s := open(t, path)
	defer s.Close()
	for i := range 20 {
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: []byte(`{}`)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "copy.db")
	if err := Backup(ctx, path, out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	c := open(t, out)
	models, err := c.Models(ctx, "acme")
	c.Close()
	if err != nil || len(models) != 20 {
		t.Errorf("the backup holds %d models (%v), want 20", len(models), err)
	}
	if err := Backup(ctx, path, out); err == nil {
		t.Error("Backup overwrote an existing file")
	}
	// A name that SQLite would read as a URI is a file name all the same.
	t.Chdir(dir)
	if err := Backup(ctx, path, "file:copy.db?mode=memory"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "file:copy.db?mode=memory")); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup to a URI-like name: %v %v", fi, err)
	}
	foreign := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite", foreign)
	db.Exec(`CREATE TABLE customers (id INTEGER)`)
	db.Close()
	if err := Backup(ctx, foreign, filepath.Join(dir, "x.db")); !errors.Is(err, ErrForeign) {
		t.Errorf("Backup of another application's database: %v, want ErrForeign", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Error("a refused backup left its file")
	}
}

// TestDirectoryInPlaceOfDatabase: a directory where the database file
// should be is named as such, not as SQLite's "unable to open".
func TestDirectoryInPlaceOfDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "modelreg.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a directory succeeded")
	}
	if !strings.Contains(err.Error(), "is not a file") || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a directory: %v; want it to say that %s is not a file", err, path)
	}
}

// TestRestoredBackupGivesNoRevisionAgain: a database restored from a
// backup has the backup's revision counters, but the writes it forgot
// were made before the restore, so its next revisions, which follow the
// clock, are above every one given before; an If-Match kept from a
// forgotten write does not match the restored model's next write.
func TestRestoredBackupGivesNoRevisionAgain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "modelreg.db")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := Open(ctx, path, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	put := func(s *Store, def string) store.Model {
		t.Helper()
		m, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(def)}, store.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	put(s, `{"v":1}`)
	out := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, path, out); err != nil {
		t.Fatal(err)
	}
	// Writes the restore will forget, many to a microsecond: the clock
	// stands still.
	var forgotten []int64
	for i := range 5 {
		forgotten = append(forgotten, put(s, fmt.Sprintf(`{"v":%d}`, 2+i)).Revision)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Restore: the backup in place of the database, its -wal and -shm gone.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	if err := os.Rename(out, path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Millisecond)
	s, err = Open(ctx, path, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, err := s.Model(ctx, "acme", "A"); err != nil || string(m.Definition) != `{"v":1}` {
		t.Fatalf("restored model = %s, %v; want the backup's", m.Definition, err)
	}
	if m := put(s, `{"v":9}`); m.Revision <= slices.Max(forgotten) {
		t.Errorf("revision %d after the restore, not above %d given before it", m.Revision, slices.Max(forgotten))
	}
	_, _, err = s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{"v":10}`)}, store.Condition{Revisions: forgotten})
	if !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("a write conditional on a revision given before the restore: %v, want ErrPrecondition", err)
	}
}

// TestDeletedTenantLeavesNoBytes: once DeleteTenant returns, neither the
// database file nor its write-ahead log holds the tenant's id, a model
// definition, a token id or hash, or the SHA-256 of the id, even though
// other tenants' rows share the pages theirs were in.
func TestDeletedTenantLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	s := open(t, path)
	defer s.Close()
	const id = "ghost-tenant-xyz"
	hash := sha256.Sum256([]byte("mrt_secret-token-of-the-ghost"))
	for _, scope := range []string{"keeper", id, "keeper-too"} {
		for i := range 3 {
			def := fmt.Sprintf(`{"properties": {"ssnNumberField%d": "string"}}`, i)
			if scope != id {
				def = `{"properties": {"other": "string"}}`
			}
			if _, _, err := s.PutModel(ctx, store.Model{Scope: scope, Name: fmt.Sprint("PatientRecord", i), Definition: []byte(def)}, store.Condition{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.PutToken(ctx, store.Token{ID: "tok-of-the-ghost", Tenant: id, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTenant(ctx, id); err != nil {
		t.Fatal(err)
	}
	idKey := sha256.Sum256([]byte(id))
	traces := map[string][]byte{
		"the id": []byte(id), "a definition": []byte("ssnNumberField"), "the token id": []byte("tok-of-the-ghost"),
		"the token hash": hash[:], "the id's SHA-256": idKey[:],
	}
	check := func(when string) {
		t.Helper()
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			for what, trace := range traces {
				if bytes.Contains(b, trace) {
					t.Errorf("%s: %s holds %s", when, filepath.Base(f), what)
				}
			}
		}
	}
	check("after DeleteTenant")
	if m, err := s.Models(ctx, "keeper"); err != nil || len(m) != 3 {
		t.Errorf("the other tenant's models: %d, %v", len(m), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")
}

// TestRecreatedTenantRevisionsWithClockSetBack: a tenant created again
// after a delete gives revisions above the deleted one's even if the clock
// was set back meanwhile, though the store keeps nothing of the deleted
// tenant.
func TestRecreatedTenantRevisionsWithClockSetBack(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(ctx, filepath.Join(t.TempDir(), "modelreg.db"), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(-time.Hour)
	again, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: "A", Definition: []byte(`{}`)}, store.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Revision <= old.Revision {
		t.Errorf("revision %d of the tenant created again, not above %d of the deleted one", again.Revision, old.Revision)
	}
}

// TestMigrationDropsDeletedScopeRevisions: migration 4 drops the revision
// rows of scopes that no longer exist, keeps the others, and raises the
// floor where new scopes start to the largest revision dropped.
func TestMigrationDropsDeletedScopeRevisions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	key := func(scope string) []byte { k := sha256.Sum256([]byte(scope)); return k[:] }
	qs := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version (version) VALUES (3)`}
	for _, m := range migrations()[:3] {
		qs = append(qs, m.sql)
	}
	qs = append(qs, `INSERT INTO tenants (id, created_at) VALUES ('live', 1)`, `UPDATE revisions SET last = 7`)
	for _, q := range qs {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for scope, last := range map[string]int64{"live": 10, "": 11, "deleted": 5000, "deleted-too": 20} {
		if _, err := db.ExecContext(ctx, `INSERT INTO scope_revisions (scope_key, last) VALUES (?, ?)`, key(scope), last); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, path)
	defer s.Close()
	got := map[string]int64{}
	rows, err := s.r.QueryContext(ctx, `SELECT scope_key, last FROM scope_revisions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k []byte
		var last int64
		rows.Scan(&k, &last)
		for _, scope := range []string{"live", "", "deleted", "deleted-too"} {
			if bytes.Equal(k, key(scope)) {
				got[scope] = last
			}
		}
	}
	rows.Close()
	if !maps.Equal(got, map[string]int64{"live": 10, "": 11}) {
		t.Errorf("revision rows after the migration: %v, want those of live and global only", got)
	}
	var floor int64
	if err := s.r.QueryRowContext(ctx, `SELECT last FROM revisions`).Scan(&floor); err != nil || floor != 5000 {
		t.Errorf("revisions.last = %d, %v; want 5000", floor, err)
	}
}

// TestPingReadsTheSchema: Ping fails while a table of the schema is
// missing (renamed from outside, as every call that needs it then fails),
// so that /readyz says the store cannot serve; it used to run SELECT 1,
// which succeeds whatever the database holds. It succeeds again once the
// table is back.
func TestPingReadsTheSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	s := open(t, path)
	defer s.Close()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	exec := func(stmt string) {
		t.Helper()
		if _, err := other.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"schema_version", "tenants", "models", "tokens", "settings", "revisions", "scope_revisions"} {
		exec("ALTER TABLE " + table + " RENAME TO renamed")
		if err := s.Ping(ctx); err == nil {
			t.Errorf("Ping with %s renamed succeeds", table)
		}
		exec("ALTER TABLE renamed RENAME TO " + table)
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping once %s is back: %v", table, err)
		}
	}
	exec("UPDATE schema_version SET version = version + 1")
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping with the schema version changed succeeds")
	}
}

// TestDeleteTenantDoesNotWaitForReaders: the checkpoint after a tenant's
// delete does not wait the busy timeout for a read of an older snapshot (a
// backup, a slow load) to end: it holds the one writer connection, and
// every other tenant's write would wait with it. Here the read never ends
// while the test runs, and the busy timeout is a minute.
func TestDeleteTenantDoesNotWaitForReaders(t *testing.T) {
	const patience = 10 * time.Second
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	s, err := Open(ctx, path, WithBusyTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, sc := range []string{"gone", "other"} {
		if _, _, err := s.PutModel(ctx, store.Model{Scope: sc, Name: "M", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	rdb, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	tx, err := rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM models`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.DeleteTenant(ctx, "gone")
		if err == nil {
			_, _, err = s.PutModel(ctx, store.Model{Scope: "other", Name: "N", Definition: []byte(`{}`)}, store.Condition{})
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatalf("DeleteTenant, then another tenant's write, not done after %v while a read holds an older snapshot", patience)
	}
	// The writer connection kept its busy timeout.
	var busy int
	if err := s.w.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil || busy != int(time.Minute.Milliseconds()) {
		t.Errorf("writer's busy timeout after the delete: %d, %v", busy, err)
	}
}
