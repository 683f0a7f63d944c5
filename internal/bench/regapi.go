package bench

import "github.com/modelreg/modelreg"

// The few registry figures the harness reads, in one place.

// liveTenants returns the number of live tenant scopes.
func liveTenants(reg *modelreg.Registry) int {
	return reg.Stats().Gauges.Tenants
}

// counters returns the registry's monotonic counters of models registered
// (named registrations plus anonymous models created, like the old
// registry's totalModels) and of anonymous reuses.
func counters(reg *modelreg.Registry) (registered, reused uint64) {
	c := reg.Stats().Counters
	return c.Registrations + c.AnonymousCreated, c.Reuses
}

// tenantEntries returns the number of models (named and anonymous) in
// tenant id's scope, or 0 when it is not live.
func tenantEntries(reg *modelreg.Registry, id string) int {
	ts, ok := reg.TenantStats(id)
	if !ok {
		return 0
	}
	return ts.Models + ts.Anonymous
}

// tenantBytes returns the registry's approximate heap bytes of tenant id.
func tenantBytes(reg *modelreg.Registry, id string) (int64, bool) {
	ts, ok := reg.TenantStats(id)
	return ts.ApproxBytes, ok
}

// tenantLive reports whether tenant id has a live scope.
func tenantLive(reg *modelreg.Registry, id string) bool {
	_, ok := reg.TenantStats(id)
	return ok
}

// reportRemoved returns the number of models (named and anonymous) a
// cleanup removed.
func reportRemoved(rep modelreg.CleanupReport) int {
	return rep.ModelsRemoved
}
