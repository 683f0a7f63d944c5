package server

import (
	"hash/maphash"
	"sync"
)

// scopeLocks gives each tenant a mutex of its own: the lock that
// serialises the tenant's writes, loads and unloads (see "Tenancy in the
// server" in tenants.go). Two tenants never share one, so a tenant whose
// writes are slow (a large definition compiled, an fsync) or whose load is
// slow holds up only itself.
//
// A tenant's mutex exists only while someone holds it or waits for it: the
// entry is created by the first locker and removed by the last to let go,
// so the set holds as many entries as there are tenants being locked at
// the moment (bounded by the requests in flight, plus the janitor), not as
// many as the tenants ever seen. While the entry exists every locker of
// the id finds the same one, which is all that serialising needs; once it
// is gone nobody holds or waits for it, so a new entry for the id is as
// good as the old one.
//
// The maps are sharded by a hash of the id so that lockers of different
// tenants rarely meet even on the map's own mutex, which is held only for
// a map lookup or update, never while a tenant's lock is waited for.
type scopeLocks struct {
	seed   maphash.Seed
	shards [64]lockShard
}

type lockShard struct {
	mu sync.Mutex
	m  map[string]*scopeLock
	// peak is the largest len(m) since m was made: a map that grew large
	// during a burst is dropped once it is empty again, since Go maps
	// never give memory back; a small one is kept, so that the usual
	// lock and unlock allocate no map.
	peak int
	_    [40]byte // a shard to a cache line
}

// scopeLock is one tenant's lock, handed out by scopeLocks.lock and
// tryLock; its holder lets go of it with unlock.
type scopeLock struct {
	mu sync.Mutex
	id string
	sh *lockShard
	// refs counts the holder and the waiters (guarded by sh.mu): the
	// entry leaves the map when it drops to zero.
	refs int
}

// keepShardMap is the size up to which an empty shard keeps its map.
const keepShardMap = 8

func (ls *scopeLocks) init() { ls.seed = maphash.MakeSeed() }

func (ls *scopeLocks) shard(id string) *lockShard {
	return &ls.shards[maphash.String(ls.seed, id)%uint64(len(ls.shards))]
}

// ref returns id's entry, creating it if needed, with one more reference.
func (ls *scopeLocks) ref(id string) *scopeLock {
	sh := ls.shard(id)
	sh.mu.Lock()
	l := sh.m[id]
	if l == nil {
		if sh.m == nil {
			sh.m = make(map[string]*scopeLock)
		}
		l = &scopeLock{id: id, sh: sh}
		sh.m[id] = l
		sh.peak = max(sh.peak, len(sh.m))
	}
	l.refs++
	sh.mu.Unlock()
	return l
}

// unref drops a reference to l, and l from the map with the last one.
func (l *scopeLock) unref() {
	sh := l.sh
	sh.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(sh.m, l.id)
		if len(sh.m) == 0 && sh.peak > keepShardMap {
			sh.m, sh.peak = nil, 0 // give the buckets back
		}
	}
	sh.mu.Unlock()
}

// lock locks tenant id's lock, waiting for its holder if there is one
// (another request of the same tenant: never another tenant's).
func (ls *scopeLocks) lock(id string) *scopeLock {
	l := ls.ref(id)
	l.mu.Lock()
	return l
}

// tryLock locks tenant id's lock if it is free, without waiting.
func (ls *scopeLocks) tryLock(id string) (*scopeLock, bool) {
	l := ls.ref(id)
	if !l.mu.TryLock() {
		l.unref()
		return nil, false
	}
	return l, true
}

// unlock lets go of the lock. The holder must not use l afterwards: once
// nobody holds or waits for it, it leaves the set.
func (l *scopeLock) unlock() {
	// Unlock before unref: a waiter holds a reference, so the entry
	// stays until the waiter too has let go of it.
	l.mu.Unlock()
	l.unref()
}
