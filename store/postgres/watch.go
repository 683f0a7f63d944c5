package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modelreg/modelreg/store"
)

// Backoff of Watch between its attempts to connect again: the first
// attempt after losing a connection that listened for a while (steady) is
// immediate, then they wait reconnectMin, doubled at each failure up to
// reconnectMax. A connection lost sooner counts as a failure, so that a
// server or proxy that cuts every connection short is not called in a
// tight loop (nor the watcher's function with a Resync each time).
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
	steady       = time.Minute
)

// closeWait bounds how long Watch waits for its connection to close.
const closeWait = 5 * time.Second

// A feed connection that received nothing for idleCheck is pinged, and
// counted lost without an answer within checkWait: a peer gone without a
// word (a host powered off, a network partition) is found within 25 s,
// not after the minutes of TCP's keep-alives, while the server would
// report itself ready and miss changes.
const (
	idleCheck = 15 * time.Second
	checkWait = 10 * time.Second
)

// Watch implements store.Feed: it reports to fn the changes committed
// through other Store values (of this process or another) on the same
// database, as store.Feed documents.
//
// Each call has a connection of its own, outside the pool, that LISTENs
// on the change channel: its application_name is the store's followed by
// " watch". When the connection is lost, Watch connects again at once (if
// it had listened for a minute), then after a wait that doubles from
// 100 ms up to 5 s between failed attempts, until ctx is done; it reports
// a store.Lost, with the error, when the connection is lost (or it cannot
// listen at first), once for each outage, and a store.Resync once it
// listens again. A connection that received nothing for 15 s is pinged: a
// server gone without a word is found within 25 s.
//
// Writes notify: PutModel and DeleteModel a store.ModelChanged (Scope is
// store.Global for a global model; Key is empty when the model's name
// would make the notification longer than PostgreSQL allows), DeleteTenant
// a store.TenantDeleted (one for the tenant, not one for each of its
// models), DeleteToken a store.TokenDeleted, PutSetting and DeleteSetting a
// store.SettingChanged. CreateTenant and PutToken notify nothing: a new
// tenant or token is read from the store on its first use. A
// notification that this version cannot read (from a newer version of
// modelreg) is reported as a store.Resync.
//
// Watch returns ctx.Err() once ctx is done, and store.ErrClosed when the
// store is closed (before the call, or during it), in both cases after
// closing its connection; store.ErrInvalid at once for a nil fn.
func (s *Store) Watch(ctx context.Context, fn func(store.Change)) error {
	if err := s.check(); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: Watch needs a function to report changes to", store.ErrInvalid)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	var wait time.Duration
	// lost is set once the current outage (or the failure to listen at
	// first) was reported: one Lost for each, not one for each attempt.
	lost := false
	report := func(c store.Change) {
		switch c.Kind {
		case store.Lost:
			if lost || wctx.Err() != nil {
				return
			}
			lost = true
		case store.Resync:
			lost = false
		}
		fn(c)
	}
	for {
		start := time.Now()
		if listened := s.listen(wctx, report); listened && time.Since(start) >= steady {
			wait = 0
		} else {
			wait = min(max(2*wait, reconnectMin), reconnectMax)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed.Load() {
			return store.ErrClosed
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-wctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// listen connects, listens and reports changes to fn until ctx is done or
// the connection fails, which it reports as a store.Lost with its error.
// It reports whether it listened.
func (s *Store) listen(ctx context.Context, fn func(store.Change)) (listened bool) {
	conn, err := pgx.ConnectConfig(ctx, s.watchConfig)
	if err != nil {
		fn(store.Change{Kind: store.Lost, Err: fmt.Errorf("connecting to listen: %w", err)})
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		conn.Close(cctx)
		select {
		case <-conn.PgConn().CleanupDone():
		case <-cctx.Done():
		}
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		fn(store.Change{Kind: store.Lost, Err: fmt.Errorf("LISTEN: %w", err)})
		return false
	}
	fn(store.Change{Kind: store.Resync})
	for {
		wctx, cancel := context.WithTimeout(ctx, s.idleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// Nothing for a while: is the server still there? (A
			// timeout leaves the connection usable.)
			pctx, cancel := context.WithTimeout(ctx, s.checkWait)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
			err = fmt.Errorf("no answer from the server within %v: %w", s.checkWait, err)
		}
		if err != nil {
			fn(store.Change{Kind: store.Lost, Err: err})
			return true
		}
		if c, ok := s.parse(n.Payload); ok {
			fn(c)
		}
	}
}

// kindOf returns the kind of change that kindName names.
func kindOf(name string) (store.ChangeKind, bool) {
	for _, k := range []store.ChangeKind{store.ModelChanged, store.TenantDeleted, store.TokenDeleted, store.SettingChanged} {
		if kindName(k) == name {
			return k, true
		}
	}
	return 0, false
}

// parse returns the change a notification's payload reports, and false for
// a change this value made. A payload it cannot read is a store.Resync.
func (s *Store) parse(payload string) (store.Change, bool) {
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return store.Change{Kind: store.Resync}, true
	}
	if n.Origin == s.origin {
		return store.Change{}, false
	}
	kind, ok := kindOf(n.Kind)
	if !ok {
		return store.Change{Kind: store.Resync}, true
	}
	return store.Change{Kind: kind, Scope: n.Scope, Key: n.Key}, true
}
