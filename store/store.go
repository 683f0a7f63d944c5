// Package store defines the durable storage that modelreg serve keeps its
// source of truth in: tenants, named model definitions (per tenant and in
// the global scope), tenant access tokens and a few server settings.
//
// The registry in memory is a cache of what a Store holds. Every method that
// changes data returns only once the change is durable (committed and, for
// the embedded SQLite implementation, fsynced), so a caller may acknowledge
// the change to its client as soon as the method returns without error.
//
// The interface speaks in plain values (strings, byte slices, times) and
// sentinel errors so that implementations other than the embedded SQLite one
// (store/sqlite), such as a PostgreSQL store shared by several replicas, can
// be added without changing callers. Package storetest holds a conformance
// suite that every implementation runs, and an in-memory store for tests.
//
// Nothing in the interface is SQLite-specific: conditional writes are
// expressed as a Condition (a revision compare, i.e. an UPDATE ... WHERE
// revision IN (...) in SQL), a tenant deletion is one transaction, and times
// and revisions are set by the store. A store shared by several replicas
// will add a change feed (for PostgreSQL, LISTEN/NOTIFY on model and
// tenant changes) so that each replica unloads the tenants changed
// elsewhere; the server's unload path (the one POST .../evict uses) is
// where such notifications land, and the next request reloads the tenant
// from the store.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Global is the scope of the models that every tenant can read. Tenant ids
// are never empty, so the empty string cannot name a tenant.
const Global = ""

// Errors returned by Store implementations. They are sentinels: test for them
// with errors.Is, as implementations may wrap them with more context.
var (
	// ErrNotFound reports that a tenant, model, token or setting does not
	// exist.
	ErrNotFound = errors.New("store: not found")
	// ErrPrecondition reports that a conditional write found a revision
	// other than the one its condition required.
	ErrPrecondition = errors.New("store: precondition failed")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable reports that the store cannot serve the call.
	// Nothing was written. It is ErrBusy when the store may serve it
	// later; otherwise something must change first: the SQLite store
	// serves no more calls until it is opened again (its database file
	// was deleted or replaced while in use), the PostgreSQL store none
	// until its database accepts its role and has its tables again.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrBusy is the ErrUnavailable of a store that may serve the call
	// later: it is locked by another process beyond its busy timeout, or
	// out of space.
	ErrBusy = fmt.Errorf("%w: busy or out of space", ErrUnavailable)
	// ErrNoToken reports a write whose Condition names a token that does
	// not exist, or is another tenant's. It wraps ErrNotFound.
	ErrNoToken = fmt.Errorf("%w: the token that makes the write does not exist", ErrNotFound)
	// ErrInvalid reports an argument that the store refuses, such as an
	// empty model name or a token for the global scope.
	ErrInvalid = errors.New("store: invalid argument")
)

// Model is one named model definition as stored.
type Model struct {
	// Scope is the tenant id, or Global.
	Scope string
	// Name is the model's name, unique within its scope.
	Name string
	// Definition is the definition as JSON, verbatim as it was accepted.
	Definition []byte
	// Fingerprint is the structural fingerprint of the compiled model
	// ("v1:<hex>"), recorded so that a reload can be checked against it.
	Fingerprint string
	// Revision identifies one write of the model: it is larger on each
	// replacement, and the store never gives a revision to two writes of
	// one scope, even after the model or its tenant was deleted and
	// created again (so a client's stale If-Match never matches a later
	// model). Each scope counts its own writes: a tenant's revisions say
	// nothing of other tenants' writes. (A tenant's model and the global
	// model of the same name may have the same revision: the server tells
	// them apart in their ETags.) A revision is NextRevision of the
	// scope's last one and the write's time, so it is at least Updated in
	// microseconds since 1970: a database restored from a backup or a
	// snapshot, whose counters went back, still gives no revision it gave
	// before the restore, once the clock has passed the writes it forgot.
	Revision int64
	// Created is when the model was first written, Updated when it was last
	// written. Both are set by the store.
	Created, Updated time.Time
}

// Tenant describes one tenant known to the store.
type Tenant struct {
	ID      string
	Created time.Time
	// Models and Tokens count the tenant's named model definitions and
	// access tokens.
	Models, Tokens int
}

// Token is a tenant access token as stored: its public id and the SHA-256
// hash of the whole token. The token itself is never stored.
type Token struct {
	// ID is the token's public identifier (part of the token string).
	ID string
	// Tenant is the tenant the token grants access to.
	Tenant string
	// Hash is the SHA-256 hash of the complete token string.
	Hash [32]byte
	// Created is set by the store.
	Created time.Time
}

// Purge reports what DeleteTenant removed from the store.
type Purge struct {
	Models, Tokens int
}

// NextRevision returns the revision of a scope's next write at time now,
// when last is the scope's last revision (0 for none): the larger of
// last+1 and now in microseconds since 1970. Revisions of one scope thus
// grow at every write, even when the clock stands still or goes back; they
// run ahead of the clock only while a scope makes more than one write a
// microsecond, which a durable write does not. So a scope's counter that
// went back with its database (restored from a backup or a snapshot)
// starts again above every revision it gave before, as long as the clock
// has moved past those writes. Revisions stay below 2^53, exact as a
// JavaScript number, until the year 2255.
func NextRevision(last int64, now time.Time) int64 {
	return max(last+1, now.UnixMicro())
}

// Condition makes PutModel and DeleteModel conditional (the server's
// If-None-Match: * and If-Match). The zero Condition is unconditional.
type Condition struct {
	// MustNotExist requires that the model does not exist yet.
	MustNotExist bool
	// MustExist requires that the model exists, at any revision.
	MustExist bool
	// Revisions, when not nil, requires that the model exists at one of
	// these revisions; an empty, non-nil Revisions is never met (an
	// If-Match that names no revision a store gives).
	Revisions []int64
	// TenantMustExist requires, of PutModel in a tenant's scope, that the
	// tenant exists: a write made with a tenant's token must not create
	// the tenant again once it was deleted (through another replica, say).
	// When it does not, PutModel returns ErrNotFound and writes nothing.
	// It is checked before the other fields, and ignored by DeleteModel
	// and in the global scope.
	TenantMustExist bool
	// Token, when not empty, requires of PutModel and DeleteModel in a
	// tenant's scope that the token with this id exists and is the
	// tenant's: a write made with a tenant's token fails once the token
	// was revoked, or its tenant deleted, even through another replica
	// that this process has not heard from yet. When it does not hold,
	// they return ErrNoToken and write nothing. It is checked first (a
	// tenant deleted has no tokens), and ignored in the global scope.
	Token string
}

// Check returns nil if c holds for the model called name, which exists at
// revision rev or, when exists is false, does not exist. Otherwise it
// returns a *PreconditionError, which wraps ErrPrecondition. Stores call
// it in the transaction that writes, so that nothing changes between the
// check and the write.
func (c Condition) Check(name string, exists bool, rev int64) error {
	if c.MustNotExist && exists ||
		!exists && (c.MustExist || c.Revisions != nil) ||
		exists && c.Revisions != nil && !slices.Contains(c.Revisions, rev) {
		if !exists {
			rev = 0
		}
		return &PreconditionError{Name: name, Exists: exists, Revision: rev}
	}
	return nil
}

// PreconditionError reports a Condition not met: the state of the model it
// was checked against.
type PreconditionError struct {
	Name     string // the model's name
	Exists   bool   // whether the model exists
	Revision int64  // its revision, when it exists
}

// Error says what the model's state is.
func (e *PreconditionError) Error() string {
	if !e.Exists {
		return fmt.Sprintf("model %q does not exist: %v", e.Name, ErrPrecondition)
	}
	return fmt.Sprintf("model %q exists at revision %d: %v", e.Name, e.Revision, ErrPrecondition)
}

// Unwrap returns ErrPrecondition.
func (e *PreconditionError) Unwrap() error { return ErrPrecondition }

// Store is durable storage for modelreg serve. Implementations are safe for
// concurrent use and honour context cancellation. Writes are atomic: after a
// crash each write is either entirely present or entirely absent.
type Store interface {
	// CreateTenant creates a tenant if it does not exist yet and reports
	// whether it did.
	CreateTenant(ctx context.Context, id string) (created bool, err error)
	// Tenant returns one tenant, or ErrNotFound.
	Tenant(ctx context.Context, id string) (Tenant, error)
	// Tenants lists up to limit tenants whose ids sort after the id
	// "after", in id order (limit <= 0 means no limit).
	Tenants(ctx context.Context, after string, limit int) ([]Tenant, error)
	// DeleteTenant removes a tenant with all its models and tokens in one
	// transaction, and returns ErrNotFound when the tenant does not exist.
	DeleteTenant(ctx context.Context, id string) (Purge, error)

	// PutModel creates or replaces the model m.Name in scope m.Scope with
	// m.Definition and m.Fingerprint, creating the tenant when the scope is
	// a tenant that does not exist yet. Revision and times in m are ignored
	// and set by the store. It returns the stored model and whether it was
	// created (rather than replaced). When cond is not met it returns
	// ErrPrecondition and changes nothing.
	PutModel(ctx context.Context, m Model, cond Condition) (stored Model, created bool, err error)
	// Model returns one model, or ErrNotFound.
	Model(ctx context.Context, scope, name string) (Model, error)
	// Models returns every model of a scope in name order. A scope that
	// does not exist has no models.
	Models(ctx context.Context, scope string) ([]Model, error)
	// DeleteModel removes a model and returns ErrNotFound when it does not
	// exist. The tenant itself stays. When cond is not met (see
	// Condition.Check) it returns ErrPrecondition and deletes nothing: a
	// model that does not exist fails MustExist and Revisions (rather than
	// being not found), and a model that does exist fails MustNotExist.
	DeleteModel(ctx context.Context, scope, name string, cond Condition) error

	// PutToken stores a tenant access token, creating the tenant when it
	// does not exist yet.
	PutToken(ctx context.Context, t Token) (Token, error)
	// Token returns the token with the given id, or ErrNotFound.
	Token(ctx context.Context, id string) (Token, error)
	// Tokens returns the tokens of a tenant, oldest first (by creation
	// time, then id). A tenant that does not exist has none.
	Tokens(ctx context.Context, tenant string) ([]Token, error)
	// DeleteToken removes the token with the given id if it belongs to
	// tenant, and returns ErrNotFound otherwise (no such token, or
	// another tenant's, which stays). The tenant itself stays.
	DeleteToken(ctx context.Context, tenant, id string) error

	// Setting returns a server setting, or ErrNotFound.
	Setting(ctx context.Context, key string) ([]byte, error)
	// PutSetting stores a server setting.
	PutSetting(ctx context.Context, key string, value []byte) error
	// DeleteSetting removes a server setting; removing one that does not
	// exist is not an error.
	DeleteSetting(ctx context.Context, key string) error

	// Ping checks that the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}
