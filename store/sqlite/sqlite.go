// Package sqlite is the embedded store of modelreg serve: a single SQLite
// database file (modernc.org/sqlite, pure Go) in write-ahead-log mode.
//
// # Durability
//
// The database runs with journal_mode=WAL and synchronous=FULL. In WAL mode
// with synchronous=NORMAL a commit is not fsynced (only checkpoints are), so
// a power loss or kernel crash can lose the last commits even though they
// were acknowledged; it is only safe against a crash of the process. The
// server acknowledges a write only once it is durable, so this store uses
// FULL: every commit fsyncs the WAL before it returns. The cost is one fsync
// per write, which is fine for a definition registry (writes are rare next
// to reads, and reads never touch the disk path of a commit).
//
// # Concurrency
//
// Writes go through one connection (SQLite allows one writer at a time, and
// a single Go-side connection turns writer contention into a queue instead
// of SQLITE_BUSY retries); transactions begin IMMEDIATE so a read-then-write
// transaction can never fail to upgrade its lock. Reads use a separate pool
// of read-only connections and, thanks to WAL, never wait for the writer.
//
// # Migrations
//
// The schema is versioned in the schema_version table. Open applies, in one
// transaction, every migration newer than the database's version; reopening
// an up-to-date database changes nothing. A database written by a newer
// version of modelreg (an unknown schema version) is refused.
package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelreg/modelreg/store"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrSchemaTooNew is returned by Open for a database whose schema version is
// newer than this build knows.
var ErrSchemaTooNew = errors.New("database schema is newer than this version of modelreg: run a newer modelreg, or restore a backup")

// ErrForeign is returned by Open for a database file that is not a
// modelreg store (an application's own SQLite database, say): Open
// changes nothing in it.
var ErrForeign = errors.New("not a modelreg database (it has tables, not modelreg's); nothing was changed")

// ErrReadOnly is returned by Open for a database it cannot write (a file
// the process may only read, on a read-only file system): SQLite would
// open it read-only, and every read would pass while every write failed.
// It is returned too when the database's directory cannot be written and
// Open would have to create a file there: the database itself, or
// SQLite's -wal or -shm file beside it.
var ErrReadOnly = errors.New("sqlite store: the database cannot be written")

// Option configures Open.
type Option func(*config)

type config struct {
	now     func() time.Time
	readers int
	// readerIdle is how long a read connection may stay idle before it is
	// closed.
	readerIdle time.Duration
	busy       time.Duration
	syncMode   string
}

// WithClock sets the clock used for Created/Updated times (default
// time.Now; nil keeps it).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithReaders sets the number of read connections (default: GOMAXPROCS, at
// least 2; zero or less keeps the default).
func WithReaders(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readers = n
		}
	}
}

// WithReaderIdleTime sets how long an idle read connection is kept open
// before it is closed to give its memory back (default one minute; zero or
// negative: kept forever).
func WithReaderIdleTime(d time.Duration) Option { return func(c *config) { c.readerIdle = d } }

// WithBusyTimeout sets how long a write waits for a lock another process
// holds on the database before it fails with store.ErrBusy
// (default 10 s).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busy = d } }

// WithSynchronous overrides the synchronous pragma ("FULL" by default).
// Only tests and benchmarks that do not need durability should use
// "NORMAL" or "OFF".
func WithSynchronous(mode string) Option { return func(c *config) { c.syncMode = mode } }

// Store is the SQLite implementation of store.Store.
type Store struct {
	w, r   *sql.DB
	now    func() time.Time
	closed atomic.Bool
	// path and file: the database file, as it was when it was opened. A
	// write is refused once path no longer names that file (deleted or
	// replaced while the store is open): its commit would go to a file
	// nothing will read again.
	path string
	file os.FileInfo
	busy time.Duration // the busy timeout of every connection
}

var _ store.Store = (*Store)(nil)

// migration moves the schema one version up: its SQL, then its Go step
// (nil for none), in the same transaction.
type migration struct {
	sql string
	fn  func(context.Context, *sql.Tx) error
}

// migrations returns the schema migrations, applied in order: migration i
// moves the schema from version i to version i+1. Never edit a released
// migration: append.
func migrations() []migration {
	return []migration{
		// 1: tenants, models, tokens, settings.
		{sql: `CREATE TABLE tenants (
		id         TEXT PRIMARY KEY,
		created_at INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE models (
		scope       TEXT NOT NULL,
		name        TEXT NOT NULL,
		definition  BLOB NOT NULL,
		fingerprint TEXT NOT NULL,
		revision    INTEGER NOT NULL,
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		PRIMARY KEY (scope, name)
	) WITHOUT ROWID;
	CREATE TABLE tokens (
		id         TEXT PRIMARY KEY,
		tenant     TEXT NOT NULL,
		hash       BLOB NOT NULL,
		created_at INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX tokens_by_tenant ON tokens (tenant);
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	) WITHOUT ROWID;`},
		// 2: one revision counter for the whole store, so that no two
		// writes get the same revision, even after a delete. (It starts
		// above every revision stored; those of models deleted before
		// the migration are not known.)
		{sql: `CREATE TABLE revisions (
		id   INTEGER PRIMARY KEY CHECK (id = 1),
		last INTEGER NOT NULL
	);
	INSERT INTO revisions (id, last) SELECT 1, COALESCE(MAX(revision), 0) FROM models;`},
		// 3: one revision counter per scope, so that a tenant's revisions
		// count its own writes and say nothing of other tenants'. Until
		// migration 4, a scope's row was kept when the scope was deleted
		// (keyed by the SHA-256 of its id), so that a scope created again
		// with that id went on from where it was; a scope without a
		// row starts above revisions.last, from now on fixed: above every
		// revision given before this migration.
		{sql: `CREATE TABLE scope_revisions (
		scope_key BLOB PRIMARY KEY,
		last      INTEGER NOT NULL
	) WITHOUT ROWID;`},
		// 4: a deleted tenant leaves no trace, not even the hash of its id:
		// the rows of scopes that no longer exist are dropped, and
		// revisions.last, where a new scope starts, is raised to the
		// largest of their revisions. (Revisions follow the clock as well,
		// store.NextRevision, so that floor matters only to a clock set
		// back.)
		{fn: dropDeletedScopeRevisions},
	}
}

// pageCacheKiB bounds each connection's page cache, in KiB (SQLite's
// default is 2000). The server's memory is the cache of this store: a
// tenant is read once per load (a B-tree descent and a few leaf pages) and
// then served from the registry, so a large page cache here would mostly
// hold a second copy of what is resident, or pages of tenants no longer
// resident. A miss is a read(2) that the kernel's page cache answers. On a
// 10,000-tenant database, reading a random tenant's models takes the same
// time (about 63 µs, BenchmarkModelsRandomTenant) with 32 KiB as with 64
// or 256 KiB, and so does loading a 100-model tenant
// (server.BenchmarkLazyLoad100, 1.6 ms).
//
// The cost of a bigger cache is resident memory outside the Go heap:
// modernc's libc allocates each 4 KiB page (with SQLite's header) in an
// 8 KiB slot, and its allocator keeps up to 4 MiB per size class of freed
// regions committed for reuse, so what the caches once reached stays
// resident even after their connections close. A modelreg serve that had
// loaded 10,000 tenants through its read connections kept about 8 MiB
// more with the default than with 256 KiB, and 1.4 MiB more with 256 KiB
// than with 32.
const pageCacheKiB = 32

// walSizeLimit is the size the write-ahead log is cut back to once a
// checkpoint has copied it into the database and it starts over: a burst
// of writes while readers hold old snapshots grows it, and without a
// limit SQLite keeps the file at its largest until the last connection
// closes. 4 MiB is about the size at which SQLite checkpoints it (1000
// pages).
const walSizeLimit = 4 << 20

// SchemaVersion is the schema version this build writes.
const SchemaVersion = 4

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{now: time.Now, readers: max(2, runtime.GOMAXPROCS(0)), readerIdle: time.Minute, busy: 10 * time.Second, syncMode: "FULL"}
	for _, o := range opts {
		o(&cfg)
	}
	switch cfg.syncMode {
	case "FULL", "NORMAL", "OFF", "EXTRA":
	default:
		return nil, fmt.Errorf("%w: synchronous mode %q", store.ErrInvalid, cfg.syncMode)
	}
	// A new database is readable by its owner only (it holds token
	// hashes); SQLite gives its -wal and -shm files the same mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, readOnlyError(path, err)
		}
		return nil, fmt.Errorf("sqlite store: create %s: %w", path, err)
	} else if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("sqlite store: %s is not a file (%s): move it away, or choose another data directory", path, fi.Mode().Type())
	} else if err := checkNotForeign(ctx, path); err != nil {
		return nil, err
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.busy.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+cfg.syncMode+")")
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -pageCacheKiB))
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
		// A deleted tenant's models and tokens are overwritten with
		// zeros, not left in free pages of the file.
		q.Add("_pragma", "secure_delete(ON)")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Set("_txlock", "immediate")
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		if readOnly(err) {
			return nil, readOnlyError(path, err)
		}
		if missing := cannotCreateBeside(path); missing != "" && cantOpen(err) {
			return nil, readOnlyError(path, fmt.Errorf("%v: SQLite must create %s there", err, filepath.Base(missing)))
		}
		return nil, fmt.Errorf("sqlite store: %s: %w", path, err)
	}
	// A write, even with the schema current: SQLite opens a file it may
	// not write read-only, and its reads (and Ping) pass.
	if _, err := w.ExecContext(ctx, `UPDATE schema_version SET version = version`); err != nil {
		w.Close()
		if readOnly(err) {
			return nil, readOnlyError(path, err)
		}
		return nil, fmt.Errorf("sqlite store: %s: %w", path, err)
	}
	if err := ownerOnly(path); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	file, err := os.Stat(path)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	r, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	// A read connection holds its own page cache and schema in memory
	// that modernc's libc allocates outside the Go heap; one left idle
	// (after a burst of tenant loads, say) is closed so that memory is
	// freed (libc's allocator keeps some of it for reuse: see
	// pageCacheKiB), and the next read opens a fresh one.
	r.SetMaxOpenConns(cfg.readers)
	r.SetMaxIdleConns(cfg.readers)
	r.SetConnMaxIdleTime(cfg.readerIdle)
	r.SetConnMaxLifetime(0)
	return &Store{w: w, r: r, now: cfg.now, path: path, file: file, busy: cfg.busy}, nil
}

// ErrBackupReadOnlyDir is returned by Backup for a database that SQLite
// cannot read without creating its -wal or -shm file beside it, in a
// directory this user cannot write. (A server using the database keeps
// both files; they are missing once the last connection has closed.)
// BackupStopped can copy such a database, once the caller has made sure
// that nothing uses it.
var ErrBackupReadOnlyDir = errors.New("sqlite store: backup: SQLite must create a file beside the database, in a directory this user cannot write")

// Backup writes a consistent copy of the database at path to the new file
// out (readable by its owner only: it holds token hashes), with VACUUM
// INTO over a read-only connection. It may run while a server uses the
// database: the copy is the database as of the backup's start, WAL
// included. It refuses an out that exists, and a path that is not a
// modelreg database; on error it removes what it wrote of out. Like any
// SQLite connection, it needs the database's -wal and -shm files, and to
// create them if they are missing: in a directory this user cannot write,
// it then fails with ErrBackupReadOnlyDir.
func Backup(ctx context.Context, path, out string) error {
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite store: backup: %s is not a file", path)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	}
	defer db.Close()
	err = backupFrom(ctx, db, path, out)
	if err == nil || !readOnly(err) && !cantOpen(err) {
		return err
	}
	if missing := cannotCreateBeside(path); missing != "" {
		var se *sqlite.Error
		errors.As(err, &se)
		return fmt.Errorf("%w: %s: %v, as it must create %s: run the backup as a user who may write %s, or make sure no server uses the database and use BackupStopped",
			ErrBackupReadOnlyDir, path, se, filepath.Base(missing), filepath.Dir(path))
	}
	return err
}

// BackupStopped is Backup for a database that no process has open, nor
// opens until it returns: the caller makes sure of that (modelreg backup
// holds the lock on the data directory that a server takes). It writes in
// neither the database's directory nor its files, so it can copy a
// database in a directory this user cannot write, where Backup fails
// with ErrBackupReadOnlyDir.
//
// With no -wal file, or an empty one, the database file holds every
// commit, and the copy is read from it alone (SQLite's immutable=1, with
// no -wal or -shm file and no locks). A -wal file with frames may hold
// commits not yet in the database file, and immutable=1 would ignore
// them: the database and its -wal file are then copied into a private
// directory beside out, and the copy is read there, log included. Either
// way it fails, and removes out, if the files changed meanwhile.
func BackupStopped(ctx context.Context, path, out string) error {
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite store: backup: %s is not a file", path)
	}
	before, err := filesOf(path)
	if err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	}
	var db *sql.DB
	if wal := before[1]; wal == nil || wal.Size() == 0 {
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	} else {
		var tmp string
		tmp, err = os.MkdirTemp(filepath.Dir(out), ".modelreg-backup-")
		if err != nil {
			return fmt.Errorf("sqlite store: backup: %w", err)
		}
		defer os.RemoveAll(tmp)
		copyPath := filepath.Join(tmp, "modelreg.db")
		for _, s := range []string{"", "-wal"} {
			if err := copyFile(path+s, copyPath+s); err != nil {
				return fmt.Errorf("sqlite store: backup: %w", err)
			}
		}
		db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: copyPath}).EscapedPath())
	}
	if err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	}
	err = backupFrom(ctx, db, path, out)
	db.Close()
	if err != nil {
		return err
	}
	after, err := filesOf(path)
	if err == nil && !sameFiles(before, after) {
		err = errors.New("the database or its -wal or -shm file changed during the backup, which is only correct if nothing uses the database: make sure no server runs on it, and back up again")
	}
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("sqlite store: backup of %s: %w", path, err)
	}
	return nil
}

// backupFrom writes the copy of the database db, opened from path, to the
// new file out (see Backup).
func backupFrom(ctx context.Context, db *sql.DB, path, out string) error {
	if _, ours, err := schemaOf(ctx, db); err != nil {
		return fmt.Errorf("sqlite store: backup: %s: %w", path, err)
	} else if !ours {
		return fmt.Errorf("sqlite store: backup: %s: %w", path, ErrForeign)
	}
	// VACUUM INTO writes into an empty file: made here, owner only. Its
	// name is absolute, so that SQLite never reads it as a URI ("file:...").
	out, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite store: backup: %w", err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		os.Remove(out)
		return fmt.Errorf("sqlite store: backup of %s: %w", path, err)
	}
	// The copy is where it was asked for, and a modelreg database.
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 || modelregTables(ctx, out) != nil {
		os.Remove(out)
		return fmt.Errorf("sqlite store: backup of %s: the copy %s is not a modelreg database", path, out)
	}
	if err := syncFile(out); err != nil {
		os.Remove(out)
		return fmt.Errorf("sqlite store: backup of %s: %w", path, err)
	}
	return nil
}

// syncFile flushes the file at path, and its name in its directory, to
// stable storage, so that a backup said to be done survives a power loss:
// VACUUM INTO does not promise to. A directory cannot be synced on
// Windows; there the file alone is.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || runtime.GOOS == "windows" {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// filesOf returns the file information of the database at path and of its
// -wal and -shm files (nil for one that does not exist).
func filesOf(path string) ([3]os.FileInfo, error) {
	var fis [3]os.FileInfo
	for i, s := range []string{"", "-wal", "-shm"} {
		fi, err := os.Lstat(path + s)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fis, err
		}
		fis[i] = fi
	}
	return fis, nil
}

// sameFiles reports whether the files of a and b are the same, with the
// same sizes and modification times.
func sameFiles(a, b [3]os.FileInfo) bool {
	for i := range a {
		switch {
		case a[i] == nil || b[i] == nil:
			if a[i] != b[i] {
				return false
			}
		case !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()):
			return false
		}
	}
	return true
}

// copyFile copies the file from to the new file to, readable by its
// owner only.
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// readOnly reports whether err is one of SQLite's "attempt to write a
// readonly database" errors (of the file, its directory, its -shm...).
func readOnly(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY
}

// cantOpen reports whether err is SQLite's "unable to open database file".
func cantOpen(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CANTOPEN
}

// cannotCreateBeside returns the name of the -wal or -shm file of the
// database at path that does not exist, when this process cannot write the
// database's directory to create it ("" if both exist, or it can). SQLite
// opens a database in WAL mode, even read-only, only once both exist: with
// a -wal file but no -shm in a read-only directory, it fails with
// SQLITE_CANTOPEN, not SQLITE_READONLY.
func cannotCreateBeside(path string) string {
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			if dirWritable(filepath.Dir(path)) {
				return ""
			}
			return p
		}
	}
	return ""
}

// readOnlyError is the ErrReadOnly error of the database at path, naming
// every file SQLite must write.
func readOnlyError(path string, err error) error {
	return fmt.Errorf("%w: %s: %v: this user must be able to write the directory %s and the files %s, %s-wal and %s-shm in it, if they exist",
		ErrReadOnly, path, err, filepath.Dir(path), filepath.Base(path), filepath.Base(path), filepath.Base(path))
}

// checkNotForeign returns ErrForeign if the existing file at path is an
// SQLite database with tables but not modelreg's: another application's.
// It reads the file without the pragmas of Open (which would turn it to
// WAL mode) and writes nothing.
func checkNotForeign(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil // Open says what is wrong; an empty file is a new database
	}
	db, err := openReadOnly(path)
	if err != nil {
		return nil
	}
	defer db.Close()
	tables, ours, err := schemaOf(ctx, db)
	if err != nil {
		return nil // not readable as a database: Open says so
	}
	if tables > 0 && !ours {
		return fmt.Errorf("sqlite store: %s: %w", path, ErrForeign)
	}
	return nil
}

// openReadOnly opens the database at path read-only, without Open's
// pragmas (which would change its journal mode): for looking at a file
// before Open, or beside a server that has it open.
func openReadOnly(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(10000)")
}

// schemaOf returns the number of tables of db and whether modelreg's are
// among them (every migration since the first creates them together with
// schema_version, in one transaction).
func schemaOf(ctx context.Context, db *sql.DB) (tables int, modelreg bool, err error) {
	var ours int
	err = db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE name IN ('schema_version', 'tenants', 'models', 'tokens', 'settings'))
		FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &ours)
	return tables, ours == 5, err
}

// modelregTables returns an error unless the database file at path has
// modelreg's tables.
func modelregTables(ctx context.Context, path string) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, ours, err := schemaOf(ctx, db); err != nil || !ours {
		return fmt.Errorf("%s: %w", path, cmp.Or(err, ErrForeign))
	}
	return nil
}

// checkFile returns store.ErrUnavailable if s.path no longer names the
// file the store opened.
func (s *Store) checkFile() error {
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.file) {
		return nil
	}
	if err == nil {
		err = errors.New("another file is there")
	}
	return fmt.Errorf("%w: the database file %s was deleted or replaced while in use (%v); nothing was written: restart the server", store.ErrUnavailable, s.path, err)
}

// ownerOnly takes every permission of the group and of others away from
// the database file at path and its -wal and -shm files: the database
// holds token hashes. A new database is created so (see Open), but one
// created by an older modelreg or by hand may be readable by everyone,
// and SQLite gives the -wal and -shm files the database's mode. A file
// that belongs to another user (writable through its group, say) is left
// as its owner made it: only they may change its mode.
func ownerOnly(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			if err := os.Chmod(p, m&^0o077); err != nil && !errors.Is(err, fs.ErrPermission) {
				return err
			}
		}
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	migrations := migrations()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var version int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read schema_version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("%w (database version %d, known %d)", ErrSchemaTooNew, version, len(migrations))
	}
	if version == len(migrations) {
		return nil // nothing to do; the deferred rollback ends the transaction
	}
	for v := version; v < len(migrations); v++ {
		if q := migrations[v].sql; q != "" {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if fn := migrations[v].fn; fn != nil {
			if err := fn(ctx, tx); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit()
}

// dropDeletedScopeRevisions deletes the revision rows of the scopes that
// no longer exist: those whose key is the SHA-256 of no tenant's id, nor of
// the global scope's.
func dropDeletedScopeRevisions(ctx context.Context, tx *sql.Tx) error {
	keep := map[[32]byte]bool{sha256.Sum256([]byte(store.Global)): true}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM tenants`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		keep[sha256.Sum256([]byte(id))] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, `SELECT scope_key FROM scope_revisions`)
	if err != nil {
		return err
	}
	var drop [][]byte
	for rows.Next() {
		var key []byte
		if err := rows.Scan(&key); err != nil {
			rows.Close()
			return err
		}
		if len(key) != sha256.Size || !keep[[32]byte(key)] {
			drop = append(drop, key)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, key := range drop {
		if err := dropScopeRevision(ctx, tx, key); err != nil {
			return err
		}
	}
	return nil
}

// dropScopeRevision deletes the revision row of the scope whose key is
// key, first raising revisions.last, where a scope without a row starts, to
// its last revision: a scope created again with that id gives revisions
// above those of the deleted one without its id, or a hash of it, being
// kept.
func dropScopeRevision(ctx context.Context, tx *sql.Tx, key []byte) error {
	if _, err := tx.ExecContext(ctx, `UPDATE revisions SET last = MAX(last,
		COALESCE((SELECT last FROM scope_revisions WHERE scope_key = ?), 0)) WHERE id = 1`, key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM scope_revisions WHERE scope_key = ?`, key)
	return err
}

// Version returns the schema version of the open database.
func (s *Store) Version(ctx context.Context) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, err
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// wrap maps driver errors after Close to store.ErrClosed, and those of a
// database locked beyond the busy timeout or out of space to
// store.ErrBusy.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: %v", store.ErrClosed, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %w", store.ErrBusy, err)
		}
	}
	return err
}

func (s *Store) stamp() int64 { return s.now().UnixNano() }

func fromStamp(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// tx runs fn in a write transaction and commits it.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	// Deferred, so that a panic in fn does not keep the only write
	// connection in a transaction forever (after Commit, a no-op).
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return s.wrap(err)
	}
	if err := s.checkFile(); err != nil {
		return err
	}
	return s.wrap(tx.Commit())
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		created, err = ensureTenant(ctx, tx, id, s.stamp())
		return err
	})
	return created, err
}

func ensureTenant(ctx context.Context, tx *sql.Tx, id string, now int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const tenantColumns = `t.id, t.created_at,
	(SELECT count(*) FROM models m WHERE m.scope = t.id),
	(SELECT count(*) FROM tokens k WHERE k.tenant = t.id)`

func scanTenant(row interface{ Scan(...any) error }) (store.Tenant, error) {
	var t store.Tenant
	var created int64
	if err := row.Scan(&t.ID, &created, &t.Models, &t.Tokens); err != nil {
		return store.Tenant{}, err
	}
	t.Created = fromStamp(created)
	return t, nil
}

// Tenant implements store.Store.
func (s *Store) Tenant(ctx context.Context, id string) (store.Tenant, error) {
	if err := s.check(); err != nil {
		return store.Tenant{}, err
	}
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Tenant{}, fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
	}
	return t, s.wrap(err)
}

// Tenants implements store.Store.
func (s *Store) Tenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id > ? ORDER BY t.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []store.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, t)
	}
	return out, s.wrap(rows.Err())
}

// DeleteTenant implements store.Store.
func (s *Store) DeleteTenant(ctx context.Context, id string) (store.Purge, error) {
	if id == "" {
		return store.Purge{}, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	var p store.Purge
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
		}
		if res, err = tx.ExecContext(ctx, `DELETE FROM models WHERE scope = ?`, id); err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		p.Models = int(n)
		if res, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE tenant = ?`, id); err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		p.Tokens = int(n)
		key := sha256.Sum256([]byte(id))
		return dropScopeRevision(ctx, tx, key[:])
	})
	if err != nil {
		return store.Purge{}, err
	}
	s.truncateLog(ctx)
	return p, nil
}

// checkpointWait is how long the checkpoint after a tenant's delete waits
// for reads of older snapshots to end.
const checkpointWait = 50 * time.Millisecond

// truncateLog copies the write-ahead log into the database and truncates
// it, after a tenant's delete: the deleted rows' bytes are zeroed in the
// pages that held them (secure_delete), but the log still holds the frames
// of those pages written before. A read of an older snapshot (a load, a
// backup in progress) keeps it from completing; the checkpoint waits for
// it checkpointWait at most, not the busy timeout, since it holds the one
// writer connection meanwhile and every other tenant's write would wait
// with it. When it cannot complete, the log's old frames are overwritten
// as the log is reused. Best effort: the tenant is deleted either way.
func (s *Store) truncateLog(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	c, err := s.w.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", checkpointWait.Milliseconds())); err != nil {
		return
	}
	c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", s.busy.Milliseconds())); err != nil {
		// A connection left with the short timeout must not serve
		// writes: drop it (the pool opens a new one, with the DSN's).
		c.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// PutModel implements store.Store.
func (s *Store) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	if m.Name == "" {
		return store.Model{}, false, fmt.Errorf("%w: empty model name", store.ErrInvalid)
	}
	if m.Definition == nil {
		m.Definition = []byte{}
	}
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.stamp()
		if err := checkToken(ctx, tx, m.Scope, cond); err != nil {
			return err
		}
		if cond.TenantMustExist && m.Scope != store.Global {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = ?`, m.Scope).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("tenant %q: %w", m.Scope, store.ErrNotFound)
			} else if err != nil {
				return err
			}
		}
		var rev, createdAt int64
		switch err := tx.QueryRowContext(ctx, `SELECT revision, created_at FROM models WHERE scope = ? AND name = ?`, m.Scope, m.Name).Scan(&rev, &createdAt); {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			createdAt = now
		case err != nil:
			return err
		}
		if err := cond.Check(m.Name, !created, rev); err != nil {
			return err
		}
		if m.Scope != store.Global {
			if _, err := ensureTenant(ctx, tx, m.Scope, now); err != nil {
				return err
			}
		}
		// The scope's next revision is store.NextRevision of its last
		// (of revisions.last for a scope without a row) at the write's
		// time, in microseconds.
		key := sha256.Sum256([]byte(m.Scope))
		micros := fromStamp(now).UnixMicro()
		if err := tx.QueryRowContext(ctx, `INSERT INTO scope_revisions (scope_key, last)
			VALUES (?1, MAX((SELECT last FROM revisions WHERE id = 1) + 1, ?2))
			ON CONFLICT (scope_key) DO UPDATE SET last = MAX(last + 1, ?2)
			RETURNING last`, key[:], micros).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO models (scope, name, definition, fingerprint, revision, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (scope, name) DO UPDATE SET definition = excluded.definition,
				fingerprint = excluded.fingerprint, revision = excluded.revision, updated_at = excluded.updated_at`,
			m.Scope, m.Name, m.Definition, m.Fingerprint, rev, createdAt, now)
		m.Revision = rev
		m.Created, m.Updated = fromStamp(createdAt), fromStamp(now)
		return err
	})
	if err != nil {
		return store.Model{}, false, err
	}
	return m, created, nil
}

const modelColumns = `scope, name, definition, fingerprint, revision, created_at, updated_at`

func scanModel(row interface{ Scan(...any) error }) (store.Model, error) {
	var m store.Model
	var c, u int64
	if err := row.Scan(&m.Scope, &m.Name, &m.Definition, &m.Fingerprint, &m.Revision, &c, &u); err != nil {
		return store.Model{}, err
	}
	m.Created, m.Updated = fromStamp(c), fromStamp(u)
	return m, nil
}

// Model implements store.Store.
func (s *Store) Model(ctx context.Context, scope, name string) (store.Model, error) {
	if err := s.check(); err != nil {
		return store.Model{}, err
	}
	m, err := scanModel(s.r.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE scope = ? AND name = ?`, scope, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Model{}, fmt.Errorf("model %q: %w", name, store.ErrNotFound)
	}
	return m, s.wrap(err)
}

// Models implements store.Store.
func (s *Store) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+modelColumns+` FROM models WHERE scope = ? ORDER BY name`, scope)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []store.Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, m)
	}
	return out, s.wrap(rows.Err())
}

// DeleteModel implements store.Store.
func (s *Store) DeleteModel(ctx context.Context, scope, name string, cond store.Condition) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkToken(ctx, tx, scope, cond); err != nil {
			return err
		}
		var rev int64
		switch err := tx.QueryRowContext(ctx, `SELECT revision FROM models WHERE scope = ? AND name = ?`, scope, name).Scan(&rev); {
		case errors.Is(err, sql.ErrNoRows):
			if err := cond.Check(name, false, 0); err != nil {
				return err
			}
			return fmt.Errorf("model %q: %w", name, store.ErrNotFound)
		case err != nil:
			return err
		}
		if err := cond.Check(name, true, rev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM models WHERE scope = ? AND name = ?`, scope, name)
		return err
	})
}

// checkToken checks cond.Token (see store.Condition) in tx.
func checkToken(ctx context.Context, tx *sql.Tx, scope string, cond store.Condition) error {
	if cond.Token == "" || scope == store.Global {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = ? AND tenant = ?`, cond.Token, scope).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("token %q of tenant %q: %w", cond.Token, scope, store.ErrNoToken)
	}
	return err
}

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.ID == "" || t.Tenant == store.Global {
		return store.Token{}, fmt.Errorf("%w: token needs an id and a tenant", store.ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.stamp()
		if _, err := ensureTenant(ctx, tx, t.Tenant, now); err != nil {
			return err
		}
		t.Created = fromStamp(now)
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, tenant, hash, created_at) VALUES (?, ?, ?, ?)`, t.ID, t.Tenant, t.Hash[:], now)
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

// Token implements store.Store.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	if err := s.check(); err != nil {
		return store.Token{}, err
	}
	var t store.Token
	var hash []byte
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant, hash, created_at FROM tokens WHERE id = ?`, id).Scan(&t.ID, &t.Tenant, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, s.wrap(err)
	}
	if len(hash) != len(t.Hash) {
		return store.Token{}, fmt.Errorf("sqlite store: token %q has a %d-byte hash", id, len(hash))
	}
	copy(t.Hash[:], hash)
	t.Created = fromStamp(created)
	return t, nil
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context, tenant string) ([]store.Token, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant, hash, created_at FROM tokens WHERE tenant = ? ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var hash []byte
		var created int64
		if err := rows.Scan(&t.ID, &t.Tenant, &hash, &created); err != nil {
			return nil, s.wrap(err)
		}
		if len(hash) != len(t.Hash) {
			return nil, fmt.Errorf("sqlite store: token %q has a %d-byte hash", t.ID, len(hash))
		}
		copy(t.Hash[:], hash)
		t.Created = fromStamp(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	return out, nil
}

// DeleteToken implements store.Store. With secure_delete the token's hash
// is overwritten in the file (see DeleteTenant).
func (s *Store) DeleteToken(ctx context.Context, tenant, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("token %q of tenant %q: %w", id, tenant, store.ErrNotFound)
		}
		return nil
	})
}

// Setting implements store.Store.
func (s *Store) Setting(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("setting %q: %w", key, store.ErrNotFound)
	}
	return v, s.wrap(err)
}

// PutSetting implements store.Store.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}

// DeleteSetting implements store.Store.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key)
		return err
	})
}

// Ping implements store.Store. It fails when the database file is no
// longer the one opened, or the schema's tables cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.checkFile(); err != nil {
		return err
	}
	var version int
	var rows [6]bool
	err := s.r.QueryRowContext(ctx, pingQuery).Scan(&version, &rows[0], &rows[1], &rows[2], &rows[3], &rows[4], &rows[5])
	if err != nil {
		return fmt.Errorf("reading the schema's tables: %w", s.wrap(err))
	}
	if want := len(migrations()); version != want {
		return fmt.Errorf("the database's schema is version %d, not %d: it was changed while in use", version, want)
	}
	return nil
}

// pingQuery reads the schema version and whether each table of the schema
// has a row: it fails, as the store's calls then would, when a table was
// renamed or dropped from outside, where SELECT 1 succeeded whatever the
// database held. Each EXISTS reads at most the first row of its table.
const pingQuery = `SELECT (SELECT version FROM schema_version),
	EXISTS (SELECT 1 FROM tenants), EXISTS (SELECT 1 FROM models), EXISTS (SELECT 1 FROM tokens),
	EXISTS (SELECT 1 FROM settings), EXISTS (SELECT 1 FROM revisions), EXISTS (SELECT 1 FROM scope_revisions)`

// Close implements store.Store. It checkpoints the WAL into the database
// file (best effort) and closes every connection.
//
// The checkpoint waits at most closeWait: for the write connection, which
// a write still running holds, and for another process holding a lock on
// the database (with SQLite's busy timeout, up to 10 s). Skipping it loses
// nothing; the WAL is checkpointed when the database is next opened.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return store.ErrClosed
	}
	err1 := s.r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	if c, err := s.w.Conn(ctx); err == nil {
		_, err := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, closeWait.Milliseconds()))
		if err == nil {
			_, _ = c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		}
		c.Close()
	}
	err2 := s.w.Close()
	return errors.Join(err1, err2)
}

// closeWait bounds the checkpoint of Close.
const closeWait = time.Second
