package store

import (
	"context"
	"fmt"
)

// ChangeKind says what a Change changed.
type ChangeKind uint8

// The kinds of Change.
const (
	// Resync reports that the feed may have missed changes: it has just
	// started listening, or listened again after losing its connection to
	// the database. A watcher must assume that anything it read from the
	// store before may have changed.
	Resync ChangeKind = iota + 1
	// ModelChanged reports that model Key of scope Scope (a tenant, or
	// Global) was created, replaced or deleted.
	ModelChanged
	// TenantDeleted reports that tenant Scope was deleted with all its
	// models and tokens.
	TenantDeleted
	// TokenDeleted reports that token Key of tenant Scope was deleted.
	TokenDeleted
	// SettingChanged reports that server setting Key was written or
	// deleted.
	SettingChanged
	// Lost reports that the feed lost its connection to the database, or
	// could not listen at first, and why (Err): until its next Resync,
	// changes may go unreported. A watcher may stop trusting what it read
	// (a server reports itself not ready). A feed reports one Lost for
	// each outage, not one for each attempt to connect again.
	Lost
)

// String returns the kind's name.
func (k ChangeKind) String() string {
	switch k {
	case Resync:
		return "resync"
	case ModelChanged:
		return "model"
	case TenantDeleted:
		return "tenant-deleted"
	case TokenDeleted:
		return "token-deleted"
	case SettingChanged:
		return "setting"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one change committed to a store shared by several processes.
type Change struct {
	Kind ChangeKind
	// Scope is the tenant id, or Global; empty for Resync, Lost and
	// SettingChanged.
	Scope string
	// Key is the model name, token id or setting key; empty for Resync,
	// Lost and TenantDeleted. A feed may leave a ModelChanged's Key
	// empty (a name too long for its notifications): the change is then
	// to some model of the scope.
	Key string
	// Err is why a Lost happened, when the feed knows; nil for the other
	// kinds.
	Err error
}

// Feed is implemented by stores that several processes share (several
// replicas of modelreg serve on one database): it reports the changes that
// the others commit, so that each process can drop what it holds in
// memory of the data changed elsewhere. A store that only one process
// uses (the embedded SQLite store) has no need for one.
type Feed interface {
	// Watch calls fn, on the goroutine that called Watch, for every change
	// committed through another Store value (of this process or another)
	// while it watches, in commit order. It returns ctx's error once ctx
	// is done, and ErrClosed once the store is closed. The changes made
	// through this Store value are not reported: their writer knows of
	// them.
	//
	// Once Watch listens, it reports a Resync: changes committed before
	// it may not be reported. That is the first call of fn, unless Watch
	// cannot listen at first: then it reports Lost, and tries again until
	// ctx is done. When it loses its connection to the database, Watch
	// reports Lost, tries again, and once it listens again, reports a
	// Resync. A change is reported after its commit, so a read that
	// begins after fn returned sees it.
	//
	// fn should return soon: changes wait while it runs. Watch may be
	// called more than once, each call reporting every change to its own
	// fn.
	Watch(ctx context.Context, fn func(Change)) error
}
