// Package postgres is the store of modelreg serve for several replicas: a
// store.Store on one PostgreSQL database that every replica of modelreg
// serve opens, with a change feed (store.Feed, over LISTEN/NOTIFY) that
// tells each replica what the others changed. A single server is better
// served by the embedded SQLite store (store/sqlite), which needs no
// database server.
//
// # Opening
//
// Open takes a PostgreSQL connection string, as a URL
//
//	postgres://user:password@host:5432/dbname?sslmode=verify-full
//
// or in the keyword/value form (host=... dbname=...); both accept the
// parameters libpq does, and the pool's (pool_max_conns, ...) of pgxpool.
// To migrate the schema, the role needs to create tables in the
// database's first schema on the search_path (append &search_path=NAME to
// the URL for another schema than public); then, to read and write them.
// A role that may only read and write the tables (SELECT, INSERT, UPDATE,
// DELETE) opens a database already migrated: the replicas may run as one,
// and a start as the owner migrates.
// Connections name themselves application_name=modelreg (and "modelreg
// watch" for the feed's) unless the URL sets application_name.
// The feed needs LISTEN, which a pooler in transaction mode (PgBouncer's
// pool_mode=transaction) does not pass on: connect to the server itself,
// or through a pooler in session mode.
//
// # Migrations
//
// The schema is versioned in the schema_version table. Open applies, in one
// transaction and under an advisory lock (so that replicas starting
// together do not race), every migration newer than the database's
// version; reopening an up-to-date database changes nothing. A database
// written by a newer version of modelreg is refused with ErrSchemaTooNew.
//
// # Limits
//
// Tenant ids, model names, token ids and setting keys are PostgreSQL text:
// valid UTF-8 without NUL bytes (SQLite keeps any bytes); writes refuse
// others with store.ErrInvalid, and reads find nothing by them. As index
// keys they may take up to about 2700 bytes (after compression), and a
// tenant id, token id or setting key must fit in a change notification
// (under 8000 bytes): past that, writes fail with store.ErrInvalid. The
// server's limits are far below both.
//
// # Concurrency
//
// Every write is one transaction. The writes of one scope (a tenant, or the
// global scope) take a transaction-level advisory lock on the scope first,
// so that they are serialized across every connection and replica: a
// conditional write checks its condition and writes with no other write of
// the scope in between, revisions follow each other, and a tenant deleted
// while a model or token of it is written is deleted either before (the
// write creates it again, unless its store.Condition has TenantMustExist)
// or after (with what was written). Reads take no
// lock. Calls that fail for a deadlock, a serialization failure or a
// connection that the server ended (a restart, a failover) are tried again
// a few times; a COMMIT is not: when its answer is lost, the error says
// that the write may have been committed.
//
// # Change feed
//
// Every write that others must know of calls pg_notify in its transaction:
// PostgreSQL delivers the notification on commit only, in commit order,
// to every connection that LISTENs on the channel, modelreg_changes
// (modelreg_changes:SCHEMA for the tables of another schema than public;
// see Watch). New tenants and tokens are not notified: no replica holds
// anything of them until it reads them from the store.
package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelreg/modelreg/store"
)

// ErrSchemaTooNew is returned by Open for a database whose schema version is
// newer than this build knows (as a *SchemaTooNewError).
var ErrSchemaTooNew = errors.New("database schema is newer than this version of modelreg: run a newer modelreg")

// SchemaTooNewError is the error of Open for a database whose schema
// version is newer than this build knows. It wraps ErrSchemaTooNew.
type SchemaTooNewError struct {
	// Version is the database's schema version, Known the newest this
	// build knows (SchemaVersion).
	Version, Known int
}

// Error says which versions the database and the build have.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("postgres store: %v (database version %d, known %d)", ErrSchemaTooNew, e.Version, e.Known)
}

// Unwrap returns ErrSchemaTooNew.
func (e *SchemaTooNewError) Unwrap() error { return ErrSchemaTooNew }

// SchemaVersion is the schema version this build writes.
const SchemaVersion = 1

// migrations are the schema migrations, applied in order: migration i
// moves the schema from version i to version i+1. Never edit a released
// migration: append.
//
// Text columns use the "C" collation, so that ids and names sort by their
// bytes (as Go and SQLite compare them), whatever the database's locale.
// Times are timestamptz, with PostgreSQL's microsecond precision.
func migrations() []string {
	return []string{
		// 1: tenants, models, tokens, settings, and the revision counters:
		// one per scope (scope_revisions, dropped with its tenant) and the
		// floor where a scope without a row starts (revisions.last, raised to
		// the last revision of each scope dropped), so that a tenant deleted
		// and created again never gives a revision twice, and a deleted tenant
		// leaves no trace.
		`CREATE TABLE tenants (
			id         text COLLATE "C" PRIMARY KEY,
			created_at timestamptz NOT NULL
		);
		CREATE TABLE models (
			scope       text COLLATE "C" NOT NULL,
			name        text COLLATE "C" NOT NULL,
			definition  bytea NOT NULL,
			fingerprint text NOT NULL,
			revision    bigint NOT NULL,
			created_at  timestamptz NOT NULL,
			updated_at  timestamptz NOT NULL,
			PRIMARY KEY (scope, name)
		);
		CREATE TABLE tokens (
			id         text COLLATE "C" PRIMARY KEY,
			tenant     text COLLATE "C" NOT NULL REFERENCES tenants (id),
			hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
			created_at timestamptz NOT NULL
		);
		CREATE INDEX tokens_by_tenant ON tokens (tenant, created_at, id);
		CREATE TABLE settings (
			key   text COLLATE "C" PRIMARY KEY,
			value bytea NOT NULL
		);
		CREATE TABLE revisions (
			id   integer PRIMARY KEY CHECK (id = 1),
			last bigint NOT NULL
		);
		INSERT INTO revisions (id, last) VALUES (1, 0);
		CREATE TABLE scope_revisions (
			scope text COLLATE "C" PRIMARY KEY,
			last  bigint NOT NULL
		);`,
	}
}

// Advisory lock keys. migrationLock (one bigint key: "modelreg" in ASCII)
// serializes the migrations of Open; the writes of a scope lock the pair
// (scopeLockClass, fnv32a(scope)), in the other key space of advisory
// locks. Never change them: replicas of different versions must agree.
const (
	migrationLock  int64 = 0x6d6f64656c726567
	scopeLockClass int32 = 0x6d72 // "mr"
)

// channelFor returns the channel of the change notifications of the
// modelreg store in schema: one per schema, so that the stores of two
// schemas of one database (each its own search_path) do not hear each
// other. (Names past PostgreSQL's 63 bytes are shortened with a hash.)
func channelFor(schema string) string {
	c := "modelreg_changes"
	if schema != "public" {
		c += ":" + schema
	}
	if len(c) > 63 {
		sum := sha256.Sum256([]byte(schema))
		c = "modelreg_changes:" + hex.EncodeToString(sum[:16])
	}
	return c
}

// maxPayload is the largest notification payload PostgreSQL takes (it must
// be shorter than 8000 bytes).
const maxPayload = 7999

// The application_name of the store's connections, when the URL sets none,
// and the suffix of its feed connections'.
const (
	appName     = "modelreg"
	watchSuffix = " watch"
)

// Store is the PostgreSQL implementation of store.Store and store.Feed. It
// is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// watchConfig is the configuration of the feed's connections.
	watchConfig *pgx.ConnConfig
	// origin is this value's random id, in its notifications: Watch skips
	// them.
	origin string
	// channel is the channel of the notifications (see channelFor).
	channel string
	// idleCheck and checkWait: a feed connection that received nothing
	// for idleCheck is pinged, and lost if no answer comes within
	// checkWait (see listen). A rollback waits for checkWait at most.
	idleCheck, checkWait time.Duration
	closed               atomic.Bool
	// closing is canceled by Close, ending the Watch calls in progress.
	closing context.Context
	close   context.CancelFunc
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Feed  = (*Store)(nil)
)

// Open connects to the PostgreSQL database at url (see the package
// documentation for its form) and applies pending migrations. A url that
// cannot be parsed is store.ErrInvalid; a database that cannot be reached
// is store.ErrBusy, one that refuses the role store.ErrUnavailable.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's error shows the connection string with its password
		// redacted.
		return nil, fmt.Errorf("%w: postgres store: %v", store.ErrInvalid, err)
	}
	name := cfg.ConnConfig.RuntimeParams["application_name"]
	if name == "" {
		name = appName
		cfg.ConnConfig.RuntimeParams["application_name"] = name
	}
	watch := cfg.ConnConfig.Copy()
	watch.RuntimeParams["application_name"] = name + watchSuffix
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	var id [12]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	s := &Store{pool: pool, watchConfig: watch, origin: hex.EncodeToString(id[:]), idleCheck: idleCheck, checkWait: checkWait}
	s.closing, s.close = context.WithCancel(context.Background())
	if err := s.migrate(ctx); err != nil {
		s.close()
		pool.Close()
		var tooNew *SchemaTooNewError
		if errors.As(err, &tooNew) {
			return nil, err
		}
		return nil, fmt.Errorf("postgres store: migrating the schema: %w", s.wrap(ctx, err))
	}
	schema, err := queryOne(ctx, s, nil, scanString, `SELECT current_schema()`)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	s.channel = channelFor(schema)
	return s, nil
}

// migrate applies the pending migrations in one transaction, under an
// advisory lock that the transaction's end releases. A database already
// at this build's version is only read, so that replicas may run as a
// role that can read and write the tables but not create any.
func (s *Store) migrate(ctx context.Context) error {
	all := migrations()
	var current int
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&current)
	})
	switch {
	case err == nil && current == len(all):
		return nil
	case err == nil && current > len(all):
		return &SchemaTooNewError{Version: current, Known: len(all)}
	}
	// No table yet (or no row), or an older version: migrate.
	return s.retry(ctx, func() error {
		tx, err := s.pool.BeginTx(ctx, txOptions())
		if err != nil {
			return err
		}
		defer s.rollback(ctx, tx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		var version int
		switch err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version); {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read schema_version: %w", err)
		}
		if version > len(all) {
			return &SchemaTooNewError{Version: version, Known: len(all)}
		}
		if version == len(all) {
			return nil // nothing to do; the deferred rollback ends the transaction
		}
		for v := version; v < len(all); v++ {
			if _, err := tx.Exec(ctx, all[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(all)); err != nil {
			return err
		}
		return commit(ctx, tx)
	})
}

// Version returns the schema version of the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	return queryOne(ctx, s, nil, scanInt, `SELECT version FROM schema_version`)
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// maxTries is how many times a call is tried when it fails in a way that
// another try may fix: a deadlock, a serialization failure, or a connection
// that the server ended (a pooled connection that a restart, a failover or
// an administrator ended while it was idle fails the next call).
const maxTries = 5

// retryable reports whether a call that failed with err may be tried
// again: nothing of it was committed, and another try may pass. The
// error of a COMMIT never is (see commitError).
func retryable(err error) bool {
	var ce *commitError
	if errors.As(err, &ce) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return hasCode(pe.Code, retryCodes())
	}
	var ne net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// retryCodes are the SQLSTATE classes and codes of the errors a call is
// tried again for.
func retryCodes() []string {
	return []string{
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"08",    // connection exception
		"57P01", // admin_shutdown: the connection was ended
		"57P02", // crash_shutdown
	}
}

// retry calls fn until it succeeds, fails with an error that is not
// retryable, or was tried maxTries times.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for try := 1; ; try++ {
		err := fn()
		if err == nil || try == maxTries || !retryable(err) || ctx.Err() != nil || s.closed.Load() {
			return err
		}
		// A few milliseconds, growing, with jitter: deadlocked
		// transactions tried again together would deadlock again.
		wait := time.Duration(try)*2*time.Millisecond + mrand.N(5*time.Millisecond)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// commitError is the error of a COMMIT, which is never tried again: the
// transaction may have been committed.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// errOutcomeUnknown is the error of a commit whose connection failed before
// the server answered: the transaction may have been committed or not.
var errOutcomeUnknown = errors.New("postgres store: the connection failed during the commit: the write may or may not have been committed")

// commit commits tx, and returns its error as a commitError.
func commit(ctx context.Context, tx pgx.Tx) error {
	err := tx.Commit(ctx)
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) && !pgconn.SafeToRetry(err) && ctx.Err() == nil {
		err = fmt.Errorf("%w: %v", errOutcomeUnknown, err)
	}
	return &commitError{err}
}

// txOptions returns the options of every transaction: READ COMMITTED,
// whatever the database's or role's default_transaction_isolation, as the
// writes rely on it: each statement sees what was committed before it
// began, so one that follows the scope's lock sees every write of the
// scope before (a snapshot of REPEATABLE READ, taken by the transaction's
// first statement before the lock was held, would miss them).
func txOptions() pgx.TxOptions { return pgx.TxOptions{IsoLevel: pgx.ReadCommitted} }

// tx runs fn in a transaction and commits it, trying again (fn too) when it
// fails in a way that another try may fix (see retryable). fn must set
// what it returns to its caller anew at each call.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.wrap(ctx, s.retry(ctx, func() error {
		tx, err := s.pool.BeginTx(ctx, txOptions())
		if err != nil {
			return err
		}
		// Deferred, so that a panic in fn does not leave the connection
		// in a transaction (after Commit, a no-op).
		defer s.rollback(ctx, tx)
		if err := fn(tx); err != nil {
			return err
		}
		return commit(ctx, tx)
	}))
}

// rollback ends tx unless it was committed (then it does nothing). It runs
// even when ctx is done, so that a canceled call does not leave its
// connection in a transaction, but for checkWait at most: a server that
// has not answered by then is taken as gone (as a feed's is), and pgx
// closes the connection rather than wait for TCP's keep-alives, holding
// the caller (and the tenant's lock in the server) until they give up.
func (s *Store) rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.checkWait)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// queryOne returns the row that sql selects, read by scan; notFound
// returns the error of no row (nil: pgx.ErrNoRows).
func queryOne[T any](ctx context.Context, s *Store, notFound func() error, scan func(pgx.Row) (T, error), sql string, args ...any) (T, error) {
	var out T
	err := s.read(ctx, func() error {
		v, err := scan(s.pool.QueryRow(ctx, sql, args...))
		if errors.Is(err, pgx.ErrNoRows) && notFound != nil {
			return notFound()
		}
		out = v
		return err
	})
	return out, err
}

// queryAll returns the rows that sql selects, each read by scan.
func queryAll[T any](ctx context.Context, s *Store, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	var out []T
	err := s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
		return err
	})
	return out, err
}

func scanInt(row pgx.Row) (int, error) {
	var n int
	err := row.Scan(&n)
	return n, err
}

func scanString(row pgx.Row) (string, error) {
	var v string
	err := row.Scan(&v)
	return v, err
}

func scanBytes(row pgx.Row) ([]byte, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// read runs fn, which reads, trying again when it fails in a way that
// another try may fix (see retryable). fn must set what it returns to its
// caller anew at each call.
func (s *Store) read(ctx context.Context, fn func() error) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.wrap(ctx, s.retry(ctx, fn))
}

// wrap maps the errors of pgx and PostgreSQL to the store's: store.ErrClosed
// after Close, store.ErrBusy for a database that may serve the call later
// (unreachable, restarting, out of connections or space, a lock or
// statement timeout), store.ErrUnavailable for one that refuses this store
// (the role, the database or the schema's tables gone). The store's own
// errors are returned as they are, and those of a call whose ctx is done
// wrap ctx's error.
func (s *Store) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, own := range []error{store.ErrNotFound, store.ErrPrecondition, store.ErrInvalid, store.ErrUnavailable, store.ErrClosed, errOutcomeUnknown} {
		if errors.Is(err, own) {
			return err
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if ctx.Err() != nil {
		// The call was canceled while it ran (the server's "canceling
		// statement due to user request", say).
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case hasCode(pe.Code, busyCodes()):
			return fmt.Errorf("%w: %w", store.ErrBusy, err)
		case hasCode(pe.Code, unavailableCodes()):
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		case hasCode(pe.Code, invalidCodes()):
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", store.ErrBusy, err)
	}
	return err
}

// busyCodes are the SQLSTATE classes (two characters) and codes of the
// errors of a database that may serve the call later.
func busyCodes() []string {
	return []string{
		"08",    // connection exception
		"53",    // insufficient resources: disk full, too many connections
		"40",    // serialization failure, deadlock (tried maxTries times)
		"55P03", // lock_not_available (lock_timeout)
		"57014", // query_canceled (statement_timeout)
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up
		"25006", // read_only_sql_transaction: a standby, until a failover
	}
}

// unavailableCodes are the SQLSTATE classes and codes of the errors of a
// database that refuses this store until something is changed.
func unavailableCodes() []string {
	return []string{
		"28",    // invalid authorization
		"3D",    // invalid catalog name: no such database
		"3F",    // invalid schema name
		"42",    // undefined table, insufficient privilege...
		"57P04", // database_dropped
	}
}

// invalidCodes are the SQLSTATE classes of the errors of an argument that
// PostgreSQL cannot store, such as a name too long for an index entry
// (about 2700 bytes) or a byte sequence invalid in the database's encoding.
func invalidCodes() []string {
	return []string{
		"22", // data exception
		"54", // program limit exceeded
	}
}

// hasCode reports whether the SQLSTATE code is one of codes, or of one of
// their classes.
func hasCode(code string, codes []string) bool {
	for _, c := range codes {
		if strings.HasPrefix(code, c) {
			return true
		}
	}
	return false
}

// validText reports whether every s can be stored in a text column: valid
// UTF-8 without NUL bytes. (PostgreSQL refuses the others, where SQLite
// keeps any bytes.)
func validText(s ...string) bool {
	for _, x := range s {
		if !utf8.ValidString(x) || strings.IndexByte(x, 0) >= 0 {
			return false
		}
	}
	return true
}

func invalidText(what string) error {
	return fmt.Errorf("%w: %s is not valid UTF-8 or holds a NUL byte, which PostgreSQL cannot store", store.ErrInvalid, what)
}

// send sends the statements of b on tx at once (in a pipeline: one round
// trip) and runs their callbacks, in order. A statement runs once the one
// before it has completed: one queued after queueLock's reads, in READ
// COMMITTED, a snapshot taken once the lock is held.
func send(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	return tx.SendBatch(ctx, b).Close()
}

// queueLock queues the lock of scope, held for the rest of the
// transaction: the writes of one scope wait for each other, on every
// connection of every replica.
func queueLock(b *pgx.Batch, scope string) {
	h := fnv.New32a()
	h.Write([]byte(scope))
	b.Queue(`SELECT pg_advisory_xact_lock($1::integer, $2::integer)`, scopeLockClass, int32(h.Sum32()))
}

// notice is the payload of a change notification, as JSON. It is the
// notifications' wire format, which replicas of different versions share:
// only add fields.
type notice struct {
	// Origin is the origin of the Store value that wrote the change.
	Origin string `json:"o"`
	// Kind is the change's kind, as kindName names it.
	Kind  string `json:"k"`
	Scope string `json:"s,omitempty"`
	Key   string `json:"n,omitempty"`
}

// kindName returns the name of a kind of change in notifications: part
// of their wire format, never to change. Kinds that are never notified
// have none.
func kindName(k store.ChangeKind) string {
	switch k {
	case store.ModelChanged:
		return "model"
	case store.TenantDeleted:
		return "tenant-deleted"
	case store.TokenDeleted:
		return "token-deleted"
	case store.SettingChanged:
		return "setting"
	}
	return ""
}

// payload returns the payload of the notification of a change, to send with
// notify. A ModelChanged whose name would make it too long goes without
// its Key; any other change too long for a notification is refused with
// store.ErrInvalid (the server's tenant ids, token ids and setting keys
// are far shorter).
func (s *Store) payload(kind store.ChangeKind, scope, key string) (string, error) {
	b, err := json.Marshal(notice{Origin: s.origin, Kind: kindName(kind), Scope: scope, Key: key})
	if err == nil && len(b) > maxPayload && kind == store.ModelChanged {
		b, err = json.Marshal(notice{Origin: s.origin, Kind: kindName(kind), Scope: scope})
	}
	if err != nil {
		return "", err
	}
	if len(b) > maxPayload {
		return "", fmt.Errorf("%w: the scope %.40q... or key %.40q... is too long for a change notification (%d bytes, at most %d)",
			store.ErrInvalid, scope, key, len(b), maxPayload)
	}
	return string(b), nil
}

// queueNotify queues the notification of payload on the change channel,
// which PostgreSQL delivers when the transaction commits.
func (s *Store) queueNotify(b *pgx.Batch, payload string) {
	b.Queue(`SELECT pg_notify($1, $2)`, s.channel, payload)
}

// rowsAffected returns a callback of a queued statement that stores its
// number of rows affected in n.
func rowsAffected(n *int) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		*n = int(tag.RowsAffected())
		return nil
	}
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	if !validText(id) {
		return false, invalidText("the tenant id")
	}
	var created bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tenants (id, created_at) VALUES ($1, clock_timestamp()) ON CONFLICT (id) DO NOTHING`, id)
		created = tag.RowsAffected() == 1
		return err
	})
	return created, err
}

// queueEnsureTenant queues the creation of tenant id at time now (nil: the
// statement's clock), if it does not exist.
func queueEnsureTenant(b *pgx.Batch, id string, now *time.Time) {
	b.Queue(`INSERT INTO tenants (id, created_at) VALUES ($1, COALESCE($2, clock_timestamp())) ON CONFLICT (id) DO NOTHING`, id, now)
}

const tenantColumns = `t.id, t.created_at,
	(SELECT count(*) FROM models m WHERE m.scope = t.id),
	(SELECT count(*) FROM tokens k WHERE k.tenant = t.id)`

func scanTenant(row pgx.Row) (store.Tenant, error) {
	var t store.Tenant
	if err := row.Scan(&t.ID, &t.Created, &t.Models, &t.Tokens); err != nil {
		return store.Tenant{}, err
	}
	t.Created = t.Created.UTC()
	return t, nil
}

// Tenant implements store.Store.
func (s *Store) Tenant(ctx context.Context, id string) (store.Tenant, error) {
	if err := s.check(); err != nil {
		return store.Tenant{}, err
	}
	if !validText(id) {
		return store.Tenant{}, fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
	}
	notFound := func() error { return fmt.Errorf("tenant %q: %w", id, store.ErrNotFound) }
	return queryOne(ctx, s, notFound, scanTenant, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id = $1`, id)
}

// Tenants implements store.Store.
func (s *Store) Tenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !validText(after) {
		return nil, invalidText("the tenant id to list after")
	}
	var lim *int64 // LIMIT NULL: no limit
	if limit > 0 {
		n := int64(limit)
		lim = &n
	}
	return queryAll(ctx, s, scanTenant, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id > $1 ORDER BY t.id LIMIT $2`, after, lim)
}

// DeleteTenant implements store.Store. It notifies a store.TenantDeleted.
func (s *Store) DeleteTenant(ctx context.Context, id string) (store.Purge, error) {
	if id == "" {
		return store.Purge{}, fmt.Errorf("%w: empty tenant id", store.ErrInvalid)
	}
	if !validText(id) {
		if err := s.check(); err != nil {
			return store.Purge{}, err
		}
		return store.Purge{}, fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
	}
	payload, err := s.payload(store.TenantDeleted, id, "")
	if err != nil {
		return store.Purge{}, err
	}
	var p store.Purge
	err = s.tx(ctx, func(tx pgx.Tx) error {
		p = store.Purge{}
		var exists bool
		b := &pgx.Batch{}
		queueLock(b, id)
		b.Queue(`SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, id).QueryRow(func(row pgx.Row) error { return row.Scan(&exists) })
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("tenant %q: %w", id, store.ErrNotFound)
		}
		b = &pgx.Batch{}
		b.Queue(`DELETE FROM models WHERE scope = $1`, id).Exec(rowsAffected(&p.Models))
		b.Queue(`DELETE FROM tokens WHERE tenant = $1`, id).Exec(rowsAffected(&p.Tokens))
		b.Queue(`DELETE FROM tenants WHERE id = $1`, id)
		// The scope's revision row goes, and revisions.last, where a
		// scope without a row starts, rises to its last revision: a
		// tenant created again with this id goes on above it, and
		// nothing of the deleted one is kept.
		b.Queue(`WITH d AS (DELETE FROM scope_revisions WHERE scope = $1 RETURNING last)
			UPDATE revisions SET last = d.last FROM d WHERE revisions.id = 1 AND revisions.last < d.last`, id)
		s.queueNotify(b, payload)
		return send(ctx, tx, b)
	})
	if err != nil {
		return store.Purge{}, err
	}
	return p, nil
}

// PutModel implements store.Store. It notifies a store.ModelChanged.
func (s *Store) PutModel(ctx context.Context, m store.Model, cond store.Condition) (store.Model, bool, error) {
	if m.Name == "" {
		return store.Model{}, false, fmt.Errorf("%w: empty model name", store.ErrInvalid)
	}
	if !validText(m.Scope, m.Name, m.Fingerprint) {
		return store.Model{}, false, invalidText("the scope, name or fingerprint")
	}
	if err := oddToken(m.Scope, &cond); err != nil {
		return store.Model{}, false, err
	}
	if m.Definition == nil {
		m.Definition = []byte{}
	}
	payload, err := s.payload(store.ModelChanged, m.Scope, m.Name)
	if err != nil {
		return store.Model{}, false, err
	}
	var created bool
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// The read after the lock's: its snapshot holds every write of
		// the scope committed before, and its clock is past them.
		var now time.Time
		var rev *int64
		var createdAt *time.Time
		var tenantExists, tokenExists bool
		b := &pgx.Batch{}
		queueLock(b, m.Scope)
		b.Queue(`SELECT clock_timestamp(), m.revision, m.created_at, EXISTS (SELECT 1 FROM tenants WHERE id = $1),
				EXISTS (SELECT 1 FROM tokens WHERE id = $3 AND tenant = $1)
			FROM (SELECT 1) AS one LEFT JOIN models m ON m.scope = $1 AND m.name = $2`, m.Scope, m.Name, cond.Token).QueryRow(func(row pgx.Row) error {
			return row.Scan(&now, &rev, &createdAt, &tenantExists, &tokenExists)
		})
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		if err := checkToken(m.Scope, cond, tokenExists); err != nil {
			return err
		}
		if cond.TenantMustExist && m.Scope != store.Global && !tenantExists {
			return fmt.Errorf("tenant %q: %w", m.Scope, store.ErrNotFound)
		}
		exists := rev != nil
		var cur int64
		if exists {
			cur = *rev
		}
		if err := cond.Check(m.Name, exists, cur); err != nil {
			return err
		}
		b = &pgx.Batch{}
		if m.Scope != store.Global {
			queueEnsureTenant(b, m.Scope, &now)
		}
		// The scope's next revision is store.NextRevision of its last
		// (of revisions.last for a scope without a row) at the write's
		// time, in microseconds.
		var next int64
		b.Queue(`WITH r AS (
				INSERT INTO scope_revisions AS r (scope, last)
				VALUES ($1, GREATEST((SELECT last FROM revisions WHERE id = 1) + 1, $6::bigint))
				ON CONFLICT (scope) DO UPDATE SET last = GREATEST(r.last + 1, $6::bigint)
				RETURNING last)
			INSERT INTO models (scope, name, definition, fingerprint, revision, created_at, updated_at)
			SELECT $1, $2, $3, $4, r.last, $5, $5 FROM r
			ON CONFLICT (scope, name) DO UPDATE SET definition = excluded.definition,
				fingerprint = excluded.fingerprint, revision = excluded.revision, updated_at = excluded.updated_at
			RETURNING revision`,
			m.Scope, m.Name, m.Definition, m.Fingerprint, now, now.UnixMicro()).QueryRow(func(row pgx.Row) error { return row.Scan(&next) })
		s.queueNotify(b, payload)
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		created = !exists
		m.Revision = next
		m.Created, m.Updated = now.UTC(), now.UTC()
		if exists {
			m.Created = createdAt.UTC()
		}
		return nil
	})
	if err != nil {
		return store.Model{}, false, err
	}
	return m, created, nil
}

const modelColumns = `scope, name, definition, fingerprint, revision, created_at, updated_at`

func scanModel(row pgx.Row) (store.Model, error) {
	var m store.Model
	if err := row.Scan(&m.Scope, &m.Name, &m.Definition, &m.Fingerprint, &m.Revision, &m.Created, &m.Updated); err != nil {
		return store.Model{}, err
	}
	m.Created, m.Updated = m.Created.UTC(), m.Updated.UTC()
	return m, nil
}

// Model implements store.Store.
func (s *Store) Model(ctx context.Context, scope, name string) (store.Model, error) {
	if err := s.check(); err != nil {
		return store.Model{}, err
	}
	if !validText(scope, name) {
		return store.Model{}, fmt.Errorf("model %q: %w", name, store.ErrNotFound)
	}
	notFound := func() error { return fmt.Errorf("model %q: %w", name, store.ErrNotFound) }
	return queryOne(ctx, s, notFound, scanModel, `SELECT `+modelColumns+` FROM models WHERE scope = $1 AND name = $2`, scope, name)
}

// Models implements store.Store.
func (s *Store) Models(ctx context.Context, scope string) ([]store.Model, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !validText(scope) {
		return nil, nil
	}
	return queryAll(ctx, s, scanModel, `SELECT `+modelColumns+` FROM models WHERE scope = $1 ORDER BY name`, scope)
}

// DeleteModel implements store.Store. It notifies a store.ModelChanged.
func (s *Store) DeleteModel(ctx context.Context, scope, name string, cond store.Condition) error {
	if err := oddToken(scope, &cond); err != nil {
		if cerr := s.check(); cerr != nil {
			return cerr
		}
		return err
	}
	if !validText(scope, name) {
		if err := s.check(); err != nil {
			return err
		}
		// No model has such a scope or name, and no token such a
		// tenant; the token is checked first all the same.
		if cond.Token != "" && scope != store.Global {
			exists := false
			if validText(scope) {
				t, err := s.Token(ctx, cond.Token)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				exists = err == nil && t.Tenant == scope
			}
			if err := checkToken(scope, cond, exists); err != nil {
				return err
			}
		}
		if err := cond.Check(name, false, 0); err != nil {
			return err
		}
		return fmt.Errorf("model %q: %w", name, store.ErrNotFound)
	}
	payload, err := s.payload(store.ModelChanged, scope, name)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		var rev *int64
		var tokenExists bool
		b := &pgx.Batch{}
		queueLock(b, scope)
		b.Queue(`SELECT (SELECT revision FROM models WHERE scope = $1 AND name = $2),
				EXISTS (SELECT 1 FROM tokens WHERE id = $3 AND tenant = $1)`, scope, name, cond.Token).QueryRow(func(row pgx.Row) error {
			return row.Scan(&rev, &tokenExists)
		})
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		if err := checkToken(scope, cond, tokenExists); err != nil {
			return err
		}
		if rev == nil {
			if err := cond.Check(name, false, 0); err != nil {
				return err
			}
			return fmt.Errorf("model %q: %w", name, store.ErrNotFound)
		}
		if err := cond.Check(name, true, *rev); err != nil {
			return err
		}
		b = &pgx.Batch{}
		b.Queue(`DELETE FROM models WHERE scope = $1 AND name = $2`, scope, name)
		s.queueNotify(b, payload)
		return send(ctx, tx, b)
	})
}

// oddToken handles a cond.Token that is not valid text, which no token
// has: it is ErrNoToken in a tenant's scope, and ignored (cleared, so
// that the write goes on) in the global scope.
func oddToken(scope string, cond *store.Condition) error {
	if validText(cond.Token) {
		return nil
	}
	if scope == store.Global {
		cond.Token = ""
		return nil
	}
	return checkToken(scope, *cond, false)
}

// checkToken checks cond.Token (see store.Condition), given whether that
// token of scope's tenant exists.
func checkToken(scope string, cond store.Condition, exists bool) error {
	if cond.Token == "" || scope == store.Global || exists {
		return nil
	}
	return fmt.Errorf("token %q of tenant %q: %w", cond.Token, scope, store.ErrNoToken)
}

// PutToken implements store.Store. It notifies nothing: no replica holds
// anything of a token before it reads it from the store.
func (s *Store) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.ID == "" || t.Tenant == store.Global {
		return store.Token{}, fmt.Errorf("%w: token needs an id and a tenant", store.ErrInvalid)
	}
	if !validText(t.ID, t.Tenant) {
		return store.Token{}, invalidText("the token's id or tenant")
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var created *time.Time // nil: the id is taken
		b := &pgx.Batch{}
		queueLock(b, t.Tenant)
		queueEnsureTenant(b, t.Tenant, nil)
		b.Queue(`WITH i AS (INSERT INTO tokens (id, tenant, hash, created_at) VALUES ($1, $2, $3, clock_timestamp())
				ON CONFLICT (id) DO NOTHING RETURNING created_at)
			SELECT (SELECT created_at FROM i)`, t.ID, t.Tenant, t.Hash[:]).QueryRow(func(row pgx.Row) error { return row.Scan(&created) })
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		if created == nil {
			return fmt.Errorf("postgres store: token id %q is taken", t.ID)
		}
		t.Created = created.UTC()
		return nil
	})
	if err != nil {
		return store.Token{}, err
	}
	return t, nil
}

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var hash []byte
	if err := row.Scan(&t.ID, &t.Tenant, &hash, &t.Created); err != nil {
		return store.Token{}, err
	}
	if len(hash) != len(t.Hash) {
		return store.Token{}, fmt.Errorf("postgres store: token %q has a %d-byte hash", t.ID, len(hash))
	}
	copy(t.Hash[:], hash)
	t.Created = t.Created.UTC()
	return t, nil
}

// Token implements store.Store.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	if err := s.check(); err != nil {
		return store.Token{}, err
	}
	if !validText(id) {
		return store.Token{}, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	notFound := func() error { return fmt.Errorf("token: %w", store.ErrNotFound) }
	return queryOne(ctx, s, notFound, scanToken, `SELECT id, tenant, hash, created_at FROM tokens WHERE id = $1`, id)
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context, tenant string) ([]store.Token, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !validText(tenant) {
		return nil, nil
	}
	return queryAll(ctx, s, scanToken, `SELECT id, tenant, hash, created_at FROM tokens WHERE tenant = $1 ORDER BY created_at, id`, tenant)
}

// DeleteToken implements store.Store. It notifies a store.TokenDeleted.
func (s *Store) DeleteToken(ctx context.Context, tenant, id string) error {
	if !validText(tenant, id) {
		if err := s.check(); err != nil {
			return err
		}
		return fmt.Errorf("token %q of tenant %q: %w", id, tenant, store.ErrNotFound)
	}
	payload, err := s.payload(store.TokenDeleted, tenant, id)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// The tenant's lock first: a write that checked the token
		// (store.Condition.Token) under it commits before the token
		// goes. One notification for each row deleted: one, or none.
		var deleted int
		b := &pgx.Batch{}
		queueLock(b, tenant)
		b.Queue(`WITH d AS (DELETE FROM tokens WHERE id = $1 AND tenant = $2 RETURNING 1)
			SELECT pg_notify($3, $4) FROM d`, id, tenant, s.channel, payload).Exec(rowsAffected(&deleted))
		if err := send(ctx, tx, b); err != nil {
			return err
		}
		if deleted == 0 {
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
	if !validText(key) {
		return nil, fmt.Errorf("setting %q: %w", key, store.ErrNotFound)
	}
	notFound := func() error { return fmt.Errorf("setting %q: %w", key, store.ErrNotFound) }
	return queryOne(ctx, s, notFound, scanBytes, `SELECT value FROM settings WHERE key = $1`, key)
}

// PutSetting implements store.Store. It notifies a store.SettingChanged.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	if !validText(key) {
		return invalidText("the setting's key")
	}
	if value == nil {
		value = []byte{}
	}
	payload, err := s.payload(store.SettingChanged, "", key)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH u AS (INSERT INTO settings (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING 1)
			SELECT pg_notify($3, $4) FROM u`, key, value, s.channel, payload)
		return err
	})
}

// DeleteSetting implements store.Store. It notifies a store.SettingChanged
// when there was a setting to delete.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	if !validText(key) {
		return s.check() // no such setting can exist
	}
	payload, err := s.payload(store.SettingChanged, "", key)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// One notification for each row deleted: one, or none.
		_, err := tx.Exec(ctx, `WITH d AS (DELETE FROM settings WHERE key = $1 RETURNING 1)
			SELECT pg_notify($2, $3) FROM d`, key, s.channel, payload)
		return err
	})
}

// Ping implements store.Store. It fails when the database cannot be
// reached, or the schema's tables cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	var version int
	var rows [6]bool
	err := s.read(ctx, func() error {
		return s.pool.QueryRow(ctx, pingQuery).Scan(&version, &rows[0], &rows[1], &rows[2], &rows[3], &rows[4], &rows[5])
	})
	if err != nil {
		return fmt.Errorf("postgres store: reading the schema's tables: %w", err)
	}
	if version != SchemaVersion {
		return fmt.Errorf("%w: the database's schema is version %d, not %d: it was changed while in use", store.ErrUnavailable, version, SchemaVersion)
	}
	return nil
}

// pingQuery reads the schema version and whether each table of the schema
// has a row: it fails, as the store's calls then would, when a table was
// renamed or dropped. Each EXISTS reads at most the first row of its table.
const pingQuery = `SELECT (SELECT version FROM schema_version),
	EXISTS (SELECT 1 FROM tenants), EXISTS (SELECT 1 FROM models), EXISTS (SELECT 1 FROM tokens),
	EXISTS (SELECT 1 FROM settings), EXISTS (SELECT 1 FROM revisions), EXISTS (SELECT 1 FROM scope_revisions)`

// Close implements store.Store. It ends the Watch calls in progress (they
// return store.ErrClosed), waits for the calls in progress to release their
// connections, and closes every connection.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return store.ErrClosed
	}
	s.close()
	s.pool.Close()
	return nil
}
