package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/store"
)

// Changes made by other replicas.
//
// When several servers share one store (store/postgres), each holds its
// own cache of it: resident tenants, the global models, verified tokens.
// A store that implements store.Feed reports the changes the others
// commit, and the server drops what they make stale:
//
//   - a tenant's model written or deleted elsewhere: the tenant is
//     unloaded (under its lock, as the evict route does), and its next
//     request loads it again from the store;
//   - a global model: it is read again from the store and replaces, or
//     removes, the one in memory (the global scope is always resident);
//   - a tenant deleted: its cached tokens are forgotten, then it is
//     unloaded;
//   - a token deleted: it is forgotten, and requests checked with it
//     before recheck it (see authenticator.recheck);
//   - the stored admin token hash, when the server uses the generated
//     admin token (Config.FollowStoredAdminToken): read again;
//   - a Resync (the feed started, or lost its connection and is back, and
//     may have missed changes): every cached token is forgotten, every
//     resident tenant unloaded, and the global models read again;
//   - Lost (the feed lost its connection): /readyz reports 503 until the
//     Resync, so that load balancers send requests to replicas that hear
//     the others' changes;
//   - a change the server cannot apply (the store failed to read the
//     global model or admin token hash it changed): as Lost, and the
//     server watches again, whose Resync reads everything again.
//
// A change is applied after its commit, so for a short while (the
// notification's trip, typically a millisecond) another replica may
// answer from what it held before: a replica reads its own writes at
// once, and others' soon after. Conditional writes (If-Match,
// If-None-Match) are checked by the store, so they hold across replicas
// at once. Quotas are checked against the writer's memory, which a
// concurrent write through another replica may not be in yet.
//
// Unloading under the tenant's lock also covers a load that read the
// store before the change committed: loads hold the lock, so the unload
// waits for it and drops what it loaded.

// feedRetry is the pause before watching again after Watch failed.
const feedRetry = time.Second

// watchFeed applies the changes that feed reports until stop is closed.
// It sends nil on ready once the feed first reports a Resync, or the error
// Watch returned before that, and then returns; after the first Resync, it
// watches again when Watch fails.
//
// A change that cannot be applied (the store failed to read what it
// changed) ends the watch, as a lost connection does: memory may hold
// what the change made stale, and only the Resync of the next watch reads
// it all again. The server is not ready meanwhile.
func (s *Server) watchFeed(feed store.Feed, ready chan<- error, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		wctx, wcancel := context.WithCancel(ctx)
		var failed error
		var asked atomic.Bool
		go func() {
			select {
			case <-s.resyncAsked:
				asked.Store(true)
				wcancel()
			case <-wctx.Done():
			}
		}()
		err := feed.Watch(wctx, func(c store.Change) {
			if failed != nil {
				return // the watch is ending
			}
			if err := s.applyChange(wctx, c); err != nil {
				failed = fmt.Errorf("applying a %s change: %w", c.Kind, err)
				s.feedReady.Store(false)
				wcancel()
				return
			}
			if c.Kind == store.Resync && ready != nil {
				ready <- nil
				ready = nil
			}
		})
		wcancel()
		if failed != nil && ctx.Err() == nil {
			err = failed
		} else if asked.Load() && ctx.Err() == nil {
			err = errResyncAsked
		}
		s.feedReady.Store(false)
		if ready != nil {
			ready <- err
			return
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrClosed) {
			s.log.Info("store closed: no more changes from other replicas")
			return
		}
		s.log.Error("watching the store's changes failed; trying again", "err", err, "in", feedRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(feedRetry):
		}
	}
}

// errResyncAsked ends a watch that askResync ended.
var errResyncAsked = errors.New("memory may not hold what the store does: reading everything again")

// askResync has the feed watch again, and its Resync read everything
// again: memory may not hold what the store does, and the server cannot
// tell what differs. The server is not ready until then. Without a feed
// (a store no other process shares), it does nothing.
func (s *Server) askResync() {
	if s.resyncAsked == nil {
		return
	}
	s.feedReady.Store(false)
	select {
	case s.resyncAsked <- struct{}{}:
	default: // asked already
	}
}

// writeFailed makes memory agree with the store again after a write of
// model name of scope failed with err, which may not say whether the
// store has it (a commit whose answer was lost, a request canceled during
// its commit): the feed never reports a server's own writes, so nothing
// else would. A tenant is unloaded (its next request reads it again); a
// global model is read again, and if that fails too, everything is, by
// the feed's Resync (see askResync). The caller holds the scope's lock.
func (s *Server) writeFailed(ctx context.Context, scope, name string, err error) {
	if writeMayHaveCommitted(err) {
		s.forget(ctx, scope, name)
	}
}

// forget makes memory read model name of scope from the store again, as
// writeFailed does, when memory may disagree with the store. The caller
// holds the scope's lock.
func (s *Server) forget(ctx context.Context, scope, name string) {
	ctx = context.WithoutCancel(ctx)
	if scope == store.Global {
		if err := s.refreshGlobalLocked(ctx, name); err != nil {
			s.askResync()
		}
		return
	}
	if _, _, err := s.unloadLocked(ctx, scope, unloadRemote); err != nil {
		s.log.Error("unloading a tenant after a failed write", "tenant", scope, "err", err)
	}
}

// writeMayHaveCommitted reports whether a store write that failed with
// err may have been committed all the same: it was not refused.
func writeMayHaveCommitted(err error) bool {
	return err != nil && !errors.Is(err, store.ErrPrecondition) && !errors.Is(err, store.ErrNotFound) &&
		!errors.Is(err, store.ErrInvalid)
}

// applyChange drops what the server holds in memory that c makes stale.
// It returns the error of a store read that failed: memory may then still
// hold some of it (see watchFeed).
func (s *Server) applyChange(ctx context.Context, c store.Change) error {
	s.m.changes.WithLabelValues(c.Kind.String()).Inc()
	switch c.Kind {
	case store.Resync:
		s.auth.purgeAll()
		n := s.resyncs.Add(1) // before listing the resident tenants: see publish
		for _, t := range s.resident.all() {
			s.unloadChanged(ctx, t.id)
		}
		if s.cfg.FollowStoredAdminToken {
			if err := s.followAdminHash(ctx); err != nil {
				return err
			}
		}
		if err := s.refreshGlobal(ctx, ""); err != nil {
			return err
		}
		s.feedReady.Store(true)
		if n == 1 {
			s.log.Info("watching the store's changes")
		} else {
			s.log.Warn("watching the store's changes again, some of which may have been missed: every tenant unloaded")
		}
	case store.ModelChanged:
		if c.Scope == store.Global {
			return s.refreshGlobal(ctx, c.Key)
		}
		s.unloadChanged(ctx, c.Scope)
	case store.TenantDeleted:
		s.auth.purgeTenant(c.Scope)
		s.unloadChanged(ctx, c.Scope)
	case store.TokenDeleted:
		s.auth.revoke(c.Key)
	case store.Lost:
		s.feedReady.Store(false)
		s.log.Warn("not listening for the other replicas' changes: not ready until it listens again (changes may be missed meanwhile)", "err", c.Err)
	case store.SettingChanged:
		if c.Key == adminHashSetting && s.cfg.FollowStoredAdminToken {
			return s.followAdminHash(ctx)
		}
	}
	return nil
}

// followAdminHash reads the stored admin token hash again. An error leaves
// the hash as it was; a store error is returned.
func (s *Server) followAdminHash(ctx context.Context) error {
	changed, err := s.auth.followAdminHash(ctx)
	if errors.Is(err, errBadAdminHash) {
		s.log.Error("the admin token hash changed elsewhere is not one; the old one stays", "err", err)
		return nil
	}
	if err != nil {
		s.log.Error("reading the admin token hash changed elsewhere; the old one stays until the feed's next resync", "err", err)
		return err
	}
	if changed {
		s.log.Warn("the admin token was changed through another replica: the one used until now no longer works")
	}
	return nil
}

// unloadChanged unloads tenant id, changed elsewhere, if it is resident.
func (s *Server) unloadChanged(ctx context.Context, id string) {
	l := s.locks.lock(id)
	defer l.unlock()
	if _, _, err := s.unloadLocked(ctx, id, unloadRemote); err != nil {
		s.log.Error("unloading a tenant changed elsewhere", "tenant", id, "err", err)
	}
}

// refreshGlobal makes the global model name in memory the one stored, or,
// for an empty name, every global model. A store error leaves memory as
// it was, and is logged and returned: the feed's next Resync reads
// everything again (see watchFeed).
func (s *Server) refreshGlobal(ctx context.Context, name string) error {
	s.globalMu.Lock()
	defer s.globalMu.Unlock()
	return s.refreshGlobalLocked(ctx, name)
}

// refreshGlobalLocked is refreshGlobal for a caller that holds globalMu.
func (s *Server) refreshGlobalLocked(ctx context.Context, name string) error {
	var stored []store.Model
	var err error
	t0 := time.Now()
	if name == "" {
		stored, err = s.st.Models(ctx, store.Global)
		s.m.observeStore("models", t0)
	} else {
		var m store.Model
		m, err = s.st.Model(ctx, store.Global, name)
		s.m.observeStore("model", t0)
		if err == nil {
			stored = []store.Model{m}
		} else if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		s.log.Error("reading global models changed elsewhere", "model", name, "err", err)
		return err
	}
	g := s.global
	byName := make(map[string]bool, len(stored))
	for _, sm := range stored {
		byName[sm.Name] = true
		g.metaMu.RLock()
		meta, ok := g.meta[sm.Name]
		g.metaMu.RUnlock()
		if ok && meta.revision == sm.Revision {
			continue
		}
		s.restoreGlobal(ctx, sm)
	}
	// What memory holds and the store no longer does.
	var gone []string
	g.metaMu.RLock()
	if name == "" {
		for n := range g.meta {
			if !byName[n] {
				gone = append(gone, n)
			}
		}
		for n := range g.unreadable {
			if !byName[n] {
				gone = append(gone, n)
			}
		}
	} else if !byName[name] {
		gone = append(gone, name)
	}
	g.metaMu.RUnlock()
	for _, n := range gone {
		s.removeGlobal(ctx, n)
	}
	return nil
}

// restoreGlobal defines the stored global model sm in place of the one
// in memory. The caller holds globalMu.
func (s *Server) restoreGlobal(ctx context.Context, sm store.Model) {
	g := s.global
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	g.storedBytes += int64(len(sm.Definition)) - g.storedSize(sm.Name)
	if err := s.defineStored(ctx, sm); err != nil {
		s.m.loadSkips.Inc()
		s.log.Error("skipping stored global definition that does not compile", "model", sm.Name, "revision", sm.Revision, "err", err)
		// The model in memory, if any, is of an older write: drop it, as
		// a load would not have it.
		if _, err := s.reg.RemoveModel(ctx, sm.Name); err != nil {
			s.log.Error("removing a stale global model", "model", sm.Name, "err", err)
		}
		delete(g.meta, sm.Name)
		g.markUnreadable(sm.Name, int64(len(sm.Definition)))
		s.dropValidators(g, sm.Name)
		return
	}
	g.meta[sm.Name] = modelMeta{revision: sm.Revision, created: sm.Created, updated: sm.Updated, size: int64(len(sm.Definition))}
	g.clearUnreadable(sm.Name)
	s.dropValidators(g, sm.Name)
}

// removeGlobal removes the global model name, deleted elsewhere, from
// memory. The caller holds globalMu.
func (s *Server) removeGlobal(ctx context.Context, name string) {
	g := s.global
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	if _, err := s.reg.RemoveModel(ctx, name); err != nil {
		s.log.Error("removing a global model deleted elsewhere", "model", name, "err", err)
		return
	}
	g.forgetModel(name)
	s.dropValidators(g, name)
}
