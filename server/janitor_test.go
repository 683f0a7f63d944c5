package server

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/modelreg/modelreg/store/storetest"
)

// TestJanitorUnloadsIdleTenants runs the real janitor goroutine on fake
// time: a tenant used within the idle timeout stays; one idle for longer is
// unloaded; Close stops the goroutine.
func TestJanitorUnloadsIdleTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newAdminServer(t, storetest.NewMemory(nil), Config{IdleTimeout: 10 * time.Minute, SweepInterval: time.Minute})
		defer srv.Close()
		h := srv.Handler()
		call := func(method, path, body string) int { return adminStatus(h, method, path, body) }
		if c := call("PUT", "/v1/tenants/busy/models/User", userDef); c != 201 {
			t.Fatal(c)
		}
		if c := call("PUT", "/v1/tenants/idle/models/User", userDef); c != 201 {
			t.Fatal(c)
		}
		for range 30 { // 30 minutes: busy is used every minute
			time.Sleep(time.Minute)
			synctest.Wait()
			if c := call("GET", "/v1/tenants/busy/models/User", ""); c != 200 {
				t.Fatal(c)
			}
		}
		synctest.Wait()
		if !srv.Resident("busy") {
			t.Errorf("a tenant used every minute was unloaded")
		}
		if srv.Resident("idle") {
			t.Errorf("a tenant idle for 30 minutes is still resident")
		}
		// It comes back on use.
		if c := call("GET", "/v1/tenants/idle/models/User", ""); c != 200 || !srv.Resident("idle") {
			t.Errorf("reload after idle unload: %d", c)
		}
		srv.Close()
		srv.Close() // twice is fine
	})
}

// TestSweepRecheckSeesStats: a tenant the sweep found idle, then used and
// its stats read before the sweep's check under its locks, is kept. The
// stats request turned the use's mark into a recent activity time, and
// the check looked at the mark only.
func TestSweepRecheckSeesStats(t *testing.T) {
	clk := newFakeClock()
	ts := newTestServer(t, func(c *Config) { c.Clock = clk.now })
	s := ts.srv
	ts.must(201, ts.do("PUT", "/v1/tenants/acme/models/User", testAdmin, userDef))
	s.sweepIdle(context.Background(), clk.now(), time.Minute) // takes the PUT's mark
	clk.advance(10 * time.Minute)
	st := s.resident.get("acme")
	if st == nil || st.takeMark(s.now) {
		t.Fatal("set-up: acme should be resident and unmarked")
	}
	// The sweep has found acme idle; before it checks again:
	ts.must(200, ts.do("GET", "/v1/tenants/acme/models/User", testAdmin, nil))
	if s.unloadIfIdle(context.Background(), st, clk.now(), time.Minute) {
		t.Fatal("unloaded acme, marked as used")
	}
	ts.must(200, ts.do("GET", "/v1/tenants/acme/stats", testAdmin, nil))
	if s.unloadIfIdle(context.Background(), st, clk.now(), time.Minute) {
		t.Error("unloaded acme, used an instant before")
	}
	clk.advance(2 * time.Minute) // and once idle for longer than the limit, it goes
	if !s.unloadIfIdle(context.Background(), st, clk.now(), time.Minute) {
		t.Error("acme idle for 2 minutes, limit 1: not unloaded")
	}
}
