package server

import (
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
