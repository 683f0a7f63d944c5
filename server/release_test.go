package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/modelreg/modelreg/store/storetest"
)

// releaseServer returns a server whose janitor is stopped (a test runs
// its rounds by hand on the returned fake clock), holding at most 6
// tenants, with idle unloads after 10 minutes, a sweep interval of a
// minute and ReleaseMemoryAfter after; releases counts its releases of
// memory.
func releaseServer(t *testing.T, after int) (ts *testServer, clk *fakeClock, releases *atomic.Int64) {
	releases = new(atomic.Int64)
	clk = newFakeClock()
	ts = newTestServer(t, func(c *Config) {
		c.Clock = clk.now
		c.IdleTimeout = 10 * time.Minute
		c.SweepInterval = time.Minute
		c.ReleaseMemoryAfter = after
		c.MaxResidentTenants = 6
		c.releaseMemory = func() { releases.Add(1) }
	})
	ts.srv.Close() // the rounds are the test's
	return ts, clk, releases
}

// TestReleaseMemory drives the janitor's rounds by hand on a fake clock
// (the janitor goroutine itself is stopped) and counts the releases of
// memory to the OS: one after a sweep that unloaded enough tenants, or the
// last ones; none after a sweep that unloaded none or too few, none while
// tenants merely replace each other at the residency bound, and never two
// within a sweep interval.
func TestReleaseMemory(t *testing.T) {
	ts, clk, releases := releaseServer(t, 3)
	s := ts.srv
	ctx := context.Background()
	tenant := func(i int) string { return fmt.Sprint("t", i) }
	use := func(i int) {
		t.Helper()
		ts.must(200, ts.do("GET", "/v1/tenants/"+tenant(i)+"/models/User", testAdmin, nil))
	}
	sweep := func(after time.Duration, wantReleases int64) {
		t.Helper()
		clk.advance(after)
		s.sweep(ctx, clk.now())
		if got := releases.Load(); got != wantReleases {
			t.Fatalf("%d releases, want %d (resident %d)", got, wantReleases, s.resident.count.Load())
		}
	}
	// Twenty tenants go through a residency bound of six: capacity
	// churn alone, with the resident set never below the bound, releases
	// nothing.
	for i := range 20 {
		ts.must(201, ts.do("PUT", "/v1/tenants/"+tenant(i)+"/models/User", testAdmin, userDef))
	}
	if got := capacityUnloads(s); got < 14 {
		t.Fatalf("%v capacity unloads, want at least 14", got)
	}
	sweep(0, 0)
	sweep(time.Minute, 0)
	// The six resident tenants, idle for long enough, are unloaded: one
	// release.
	sweep(11*time.Minute, 1)
	if n := s.resident.count.Load(); n != 0 {
		t.Fatalf("%d tenants resident after the idle sweep", n)
	}
	// Nothing more unloaded: no more releases.
	sweep(0, 1)

	// Explicit evictions bring the resident set down again, right after
	// a release: the next one waits for a sweep interval to pass.
	for i := range 5 {
		use(i)
	}
	for i := range 5 {
		ts.must(200, ts.do("POST", "/v1/tenants/"+tenant(i)+"/evict", testAdmin, nil))
	}
	sweep(0, 1)
	sweep(30*time.Second, 1)
	sweep(30*time.Second, 2)
	sweep(time.Hour, 2)

	// Too small a drop releases nothing, unless no tenant is left.
	use(0)
	use(1)
	ts.must(200, ts.do("POST", "/v1/tenants/"+tenant(0)+"/evict", testAdmin, nil))
	sweep(time.Minute, 2)
	ts.must(200, ts.do("POST", "/v1/tenants/"+tenant(1)+"/evict", testAdmin, nil))
	sweep(time.Minute, 3)
	sweep(time.Minute, 3)
}

// TestReleaseMemoryOff checks that a negative ReleaseMemoryAfter turns the
// releases off, and with no idle timeout either, the janitor.
func TestReleaseMemoryOff(t *testing.T) {
	var releases atomic.Int64
	ts := newTestServer(t, func(c *Config) {
		c.ReleaseMemoryAfter = -1
		c.releaseMemory = func() { releases.Add(1) }
	})
	s := ts.srv
	if s.janStop != nil {
		t.Errorf("a janitor runs with neither idle unloads nor releases")
	}
	for i := range 5 {
		ts.must(201, ts.do("PUT", fmt.Sprint("/v1/tenants/t", i, "/models/User"), testAdmin, userDef))
		ts.must(200, ts.do("POST", fmt.Sprint("/v1/tenants/t", i, "/evict"), testAdmin, nil))
	}
	if s.releaseMemory(time.Now()) || releases.Load() != 0 {
		t.Errorf("memory released with ReleaseMemoryAfter < 0")
	}
}

// TestJanitorReleasesMemory runs the real janitor goroutine on fake time
// with no idle timeout: it exists for the releases alone, and returns
// memory once explicit evictions have brought the resident set down.
func TestJanitorReleasesMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var releases atomic.Int64
		srv := newAdminServer(t, storetest.NewMemory(nil), Config{IdleTimeout: -1, ReleaseMemoryAfter: 2,
			releaseMemory: func() { releases.Add(1) }})
		defer srv.Close()
		h := srv.Handler()
		call := func(method, path, body string) int { return adminStatus(h, method, path, body) }
		for _, tn := range []string{"a", "b", "c"} {
			if c := call("PUT", "/v1/tenants/"+tn+"/models/User", userDef); c != 201 {
				t.Fatal(c)
			}
		}
		time.Sleep(90 * time.Second) // the default interval is a minute
		synctest.Wait()
		if n := releases.Load(); n != 0 {
			t.Fatalf("%d releases with every tenant still resident", n)
		}
		for _, tn := range []string{"a", "b"} {
			if c := call("POST", "/v1/tenants/"+tn+"/evict", ""); c != 200 {
				t.Fatal(c)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := releases.Load(); n != 1 {
			t.Fatalf("%d releases a sweep after two of three tenants were evicted, want 1", n)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := releases.Load(); n != 1 {
			t.Fatalf("%d releases with nothing more unloaded, want 1", n)
		}
	})
}

// TestCapacityChurnReleasesNothing: with ReleaseMemoryAfter at 1, tenants
// that replace each other at MaxResidentTenants still release nothing: a
// load counts towards the peak only after it unloaded what went over.
func TestCapacityChurnReleasesNothing(t *testing.T) {
	ts, clk, releases := releaseServer(t, 1)
	s := ts.srv
	for i := range 40 {
		ts.must(201, ts.do("PUT", fmt.Sprint("/v1/tenants/t", i, "/models/User"), testAdmin, userDef))
	}
	for round := range 3 {
		for i := range 40 {
			ts.must(200, ts.do("GET", fmt.Sprint("/v1/tenants/t", i, "/models/User"), testAdmin, nil))
		}
		clk.advance(time.Minute)
		s.sweep(context.Background(), clk.now())
		if n := s.resident.count.Load(); n != 6 {
			t.Fatalf("round %d: %d resident, want the bound 6", round, n)
		}
	}
	if got := releases.Load(); got != 0 {
		t.Errorf("%d memory releases from capacity churn alone", got)
	}
}
