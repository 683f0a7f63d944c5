package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/store/storetest"
)

// TestTenancyUnderChurn mixes, on a few tenants, writes and reads with
// every way a tenant leaves memory: deletion here and through another
// replica, evictions, idle sweeps, capacity unloads (one tenant resident
// at most) and a resync. A write is seen by the next read on its replica;
// a read after the tenant's deletion finds nothing; no request fails; and
// once the other replica's changes have arrived, each resident tenant
// holds exactly what the store does, and no unloaded tenant is left in
// the registry.
func TestTenancyUnderChurn(t *testing.T) {
	m := storetest.NewMemory(nil)
	srv := newAdminServer(t, m, Config{IdleTimeout: -1, MaxResidentTenants: 2})
	defer srv.Close()
	other := newAdminServer(t, m.Replica(), Config{IdleTimeout: -1})
	defer other.Close()
	h, oh := srv.Handler(), other.Handler()
	tenants := []string{"a", "b", "c"}
	// A tenant's deletions exclude the write-then-read checks on it.
	var deleting [3]sync.RWMutex
	rounds := 1000
	if raceEnabled {
		rounds = 300
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for k := range rounds {
				i := r.IntN(len(tenants))
				id := tenants[i]
				base := "/v1/tenants/" + id
				check := func(c int, what string) {
					if c >= 500 {
						t.Errorf("%s %s: %d", what, id, c)
					}
				}
				switch r.IntN(9) {
				case 0, 1, 2:
					name := fmt.Sprintf("W%d_%d", w, k%3)
					deleting[i].RLock()
					if c := adminStatus(h, "PUT", base+"/models/"+name, modelDef(name)); c != 200 && c != 201 {
						t.Errorf("PUT %s/%s: %d", id, name, c)
					} else if rr := adminCall(h, "GET", base+"/models/"+name, ""); rr.Code != 200 {
						t.Errorf("GET %s/%s after its PUT: %d %s", id, name, rr.Code, rr.Body)
					}
					deleting[i].RUnlock()
				case 3:
					deleting[i].Lock()
					if c := adminStatus(h, "DELETE", base, ""); c == 200 {
						if rr := adminCall(h, "GET", base+fmt.Sprintf("/models/W%d_0", w), ""); rr.Code != 404 {
							t.Errorf("GET %s after its deletion: %d %s", id, rr.Code, rr.Body)
						}
					} else {
						check(c, "DELETE")
					}
					deleting[i].Unlock()
				case 4:
					deleting[i].Lock()
					check(adminStatus(oh, "DELETE", base, ""), "DELETE elsewhere")
					deleting[i].Unlock()
				case 5:
					check(adminStatus(oh, "PUT", base+"/models/M", modelDef("M")), "PUT elsewhere")
				case 6:
					check(adminStatus(h, "POST", base+"/evict", ""), "evict")
					srv.SweepIdle(context.Background(), 0)
				case 7:
					check(adminStatus(h, "POST", base+"/lookup", `{"properties": {"email": "string"}}`), "lookup")
				default:
					check(adminStatus(h, "GET", base+"/models", ""), "list")
					if k == rounds/2 && w == 0 {
						srv.askResync()
					}
				}
			}
		})
	}
	wg.Wait()

	ctx := context.Background()
	if n, all := srv.resident.count.Load(), len(srv.resident.all()); n != int64(all) {
		t.Errorf("resident count %d, but %d tenants resident", n, all)
	}
	state := func(id string) (stored, inMemory []string, resident, inRegistry bool) {
		models, err := m.Models(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, sm := range models {
			stored = append(stored, sm.Name)
		}
		for _, mm := range srv.reg.Models(modelreg.WithTenant(ctx, id)) {
			if mm.Tenant() == id {
				inMemory = append(inMemory, mm.Name())
			}
		}
		slices.Sort(stored)
		slices.Sort(inMemory)
		_, inRegistry = srv.reg.TenantStats(id)
		return stored, inMemory, srv.Resident(id), inRegistry
	}
	for _, id := range tenants {
		eventually(t, "tenant "+id+" in memory as stored", func() bool {
			stored, inMemory, resident, inRegistry := state(id)
			return resident && slices.Equal(stored, inMemory) || !resident && !inRegistry
		})
		// Its list, loading it if needed, is what the store holds.
		eventually(t, "tenant "+id+" listed as stored", func() bool {
			stored, _, _, _ := state(id)
			rr := adminCall(h, "GET", "/v1/tenants/"+id+"/models", "")
			var list struct{ Models []struct{ Name string } }
			json.Unmarshal(rr.Body.Bytes(), &list)
			var listed []string
			for _, m := range list.Models {
				listed = append(listed, m.Name)
			}
			slices.Sort(listed)
			return slices.Equal(stored, listed)
		})
	}
}
