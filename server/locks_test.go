package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// len returns the number of tenants whose lock is held or waited for.
func (ls *scopeLocks) len() int {
	n := 0
	for i := range ls.shards {
		sh := &ls.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// refs returns the number of holders and waiters of tenant id's lock.
func (ls *scopeLocks) refs(id string) int {
	sh := ls.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l := sh.m[id]; l != nil {
		return l.refs
	}
	return 0
}

// checkEmpty fails t unless no lock is held or waited for, and no shard
// keeps the map of a burst.
func (ls *scopeLocks) checkEmpty(t *testing.T) {
	t.Helper()
	if n := ls.len(); n != 0 {
		t.Errorf("%d tenant locks left once every operation ended, want 0", n)
	}
	for i := range ls.shards {
		sh := &ls.shards[i]
		sh.mu.Lock()
		if sh.m != nil && sh.peak > keepShardMap {
			t.Errorf("shard %d keeps a map grown to %d entries", i, sh.peak)
		}
		sh.mu.Unlock()
	}
}

// waitRefs waits until tenant id's lock has n holders and waiters.
func (ls *scopeLocks) waitRefs(t *testing.T, id string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ls.refs(id) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tenant %q's lock has %d holders and waiters, want %d", id, ls.refs(id), n)
		}
	}
}

// TestScopeLocks: a tenant's lock excludes the other lockers of the same
// id only; tryLock does not wait, and leaves nothing behind when the lock
// is taken; and the set forgets a tenant once nobody holds or waits for
// its lock, whatever the number of tenants it has seen.
func TestScopeLocks(t *testing.T) {
	var ls scopeLocks
	ls.init()

	a := ls.lock("a")
	b, ok := ls.tryLock("b")
	if !ok {
		t.Fatal("tryLock of b failed while only a was held")
	}
	if _, ok := ls.tryLock("a"); ok {
		t.Fatal("tryLock of a succeeded while a was held")
	}
	if n := ls.refs("a"); n != 1 {
		t.Errorf("a failed tryLock left %d references to a, want 1", n)
	}
	b.unlock()
	if n := ls.len(); n != 1 {
		t.Errorf("%d locks known with a held, want 1", n)
	}
	a.unlock()
	ls.checkEmpty(t)

	// Mutual exclusion per id, under contention, with no lock left after.
	var wg sync.WaitGroup
	inside := make([]int, 4)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				id := g % len(inside)
				l := ls.lock(fmt.Sprint("t", id))
				if inside[id]++; inside[id] != 1 {
					t.Errorf("%d holders of t%d's lock", inside[id], id)
				}
				if i%16 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
				inside[id]--
				l.unlock()
			}
		})
	}
	wg.Wait()
	ls.checkEmpty(t)

	// A burst of many tenants held at once.
	var held []*scopeLock
	for i := range 2000 {
		held = append(held, ls.lock(fmt.Sprint("burst", i)))
	}
	if n := ls.len(); n != 2000 {
		t.Errorf("%d locks known with 2000 held, want 2000", n)
	}
	for _, l := range held {
		l.unlock()
	}
	ls.checkEmpty(t)
}

// TestTenantLockSerialisesItsTenant: what a tenant's lock kept serialised
// still is. A second write to a tenant whose write is held in the store
// waits for it; so does the tenant's deletion, which then removes what the
// write stored, and a write that creates the tenant again comes after the
// deletion.
func TestTenantLockSerialisesItsTenant(t *testing.T) {
	g := newGatedServer(t, Config{IdleTimeout: -1})
	s := g.s
	def := `{"properties": {"x": "string"}}`
	if code := adminStatus(s.Handler(), "PUT", "/v1/tenants/a/models/M", def); code != 201 {
		t.Fatalf("set-up: %d", code)
	}
	gate := g.gs.gate("a")
	first := g.start("PUT", "/v1/tenants/a/models/First", def)
	<-gate.entered
	second := g.start("PUT", "/v1/tenants/a/models/Second", def)
	s.locks.waitRefs(t, "a", 2) // the second write waits for the first
	del := g.start("DELETE", "/v1/tenants/a", "")
	s.locks.waitRefs(t, "a", 3) // and so does the deletion
	gate.release()

	first.within(t, 10*time.Second, 201)
	<-second.done
	del.within(t, 10*time.Second, 200)
	var report struct {
		StoredModels int `json:"storedModelsRemoved"`
	}
	if err := json.Unmarshal(del.rec.Body.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	// The second write came before the deletion (201, three models
	// removed) or after it, creating the tenant again (201 too: the
	// admin creates tenants), leaving only itself.
	models, err := g.gs.Models(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case second.rec.Code == 201 && report.StoredModels == 3 && len(models) == 0:
	case second.rec.Code == 201 && report.StoredModels == 2 && len(models) == 1 && models[0].Name == "Second":
	default:
		t.Errorf("second write %d, deletion removed %d models, the store holds %d: not one after the other",
			second.rec.Code, report.StoredModels, len(models))
	}
	s.locks.checkEmpty(t)
}

// TestTenantLocksLeaveNothingBehind: once the operations end, no tenant's
// lock is left, however many tenants they touched and whichever path took
// the locks (writes, loads, tokens, evictions for capacity and on request,
// idle unloads, deletions).
func TestTenantLocksLeaveNothingBehind(t *testing.T) {
	clock := newFakeClock()
	ts := newTestServer(t, func(c *Config) { c.MaxResidentTenants, c.Clock = 4, clock.now })
	s := ts.srv
	h := s.Handler()
	const tenants = 40
	var wg sync.WaitGroup
	for i := range tenants {
		id := fmt.Sprint("t", i)
		wg.Go(func() {
			adminStatus(h, "PUT", "/v1/tenants/"+id+"/models/User", userDef)
			adminStatus(h, "POST", "/v1/tenants/"+id+"/tokens", "")
			adminStatus(h, "GET", "/v1/tenants/"+id+"/models/User", "")
			adminStatus(h, "POST", "/v1/tenants/"+id+"/evict", "")
			adminStatus(h, "PUT", "/v1/tenants/"+id+"/models/Order", modelDef("Order"))
			adminStatus(h, "DELETE", "/v1/tenants/"+id+"/models/Order", "")
			if i%2 == 0 {
				adminStatus(h, "DELETE", "/v1/tenants/"+id, "")
			}
		})
	}
	wg.Wait()
	// The last loads may all have been of tenants deleted since: load one
	// that stays, for the sweep to unload.
	if code := adminStatus(h, "GET", "/v1/tenants/t1/models/User", ""); code != 200 {
		t.Fatalf("GET t1: %d", code)
	}
	clock.advance(time.Hour)
	s.sweepIdle(context.Background(), clock.now(), time.Minute) // takes the mark
	clock.advance(time.Hour)
	if len(s.sweepIdle(context.Background(), clock.now(), time.Minute)) == 0 {
		t.Error("the idle sweep unloaded nothing")
	}
	if got := capacityUnloads(s); got == 0 {
		t.Error("no tenant was unloaded for capacity")
	}
	s.locks.checkEmpty(t)
}
