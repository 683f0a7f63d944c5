package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

// purgingStore is a store whose Token runs purge after it has read the
// token: a tenant deletion landing between a request's read of its token
// and the caching of it.
type purgingStore struct {
	*storetest.Memory
	purge func()
}

func (p *purgingStore) Token(ctx context.Context, id string) (store.Token, error) {
	t, err := p.Memory.Token(ctx, id)
	if p.purge != nil {
		p.purge()
	}
	return t, err
}

// TestTokenReadDuringPurgeNotCached: a token read from the store while
// its tenant's tokens were being purged is not cached, so that it stops
// working once its tenant is deleted, however the two interleave.
func TestTokenReadDuringPurgeNotCached(t *testing.T) {
	ctx := context.Background()
	st := &purgingStore{Memory: storetest.NewMemory(nil)}
	tok, rec := newTenantToken("acme")
	if _, err := st.PutToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator([32]byte{}, st, newMetrics(), 100)
	st.purge = func() { a.purgeTenant("acme") } // the deletion, after the read
	if p, err := a.authenticate(ctx, tok); err != nil || p.tenant != "acme" {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	if n := a.cached(); n != 0 {
		t.Errorf("%d tokens cached, read while their tenant's were purged", n)
	}
	st.purge = nil // without a purge meanwhile, a token read is cached
	if _, err := a.authenticate(ctx, tok); err != nil || a.cached() != 1 {
		t.Errorf("authenticate: %v; %d cached, want 1", err, a.cached())
	}
}

// TestConfiguredAdminTokenRevokesGenerated: a start with a configured
// admin token deletes the hash of a generated one, so that the generated
// token does not come back when the configured one is removed: the next
// start without one generates a new token, and the old one stays invalid.
func TestConfiguredAdminTokenRevokesGenerated(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMemory(nil)
	_, gen1, _, err := ResolveAdminToken(ctx, st, "", false)
	if err != nil || gen1 == "" {
		t.Fatalf("first start: %q, %v", gen1, err)
	}
	const configured = "a-configured-admin-token"
	hash, gen, revoked, err := ResolveAdminToken(ctx, st, configured, false)
	if err != nil || gen != "" || !revoked || hash != sha256.Sum256([]byte(configured)) {
		t.Fatalf("configured start: generated %q, revoked %v, %v", gen, revoked, err)
	}
	if _, err := st.Setting(ctx, adminHashSetting); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the generated token's hash is still stored: %v", err)
	}
	if _, _, revoked, err := ResolveAdminToken(ctx, st, configured, false); err != nil || revoked {
		t.Errorf("second configured start: revoked %v (nothing to revoke), %v", revoked, err)
	}
	hash, gen2, revoked, err := ResolveAdminToken(ctx, st, "", false)
	if err != nil || gen2 == "" || gen2 == gen1 || revoked {
		t.Fatalf("start without a configured token: generated %q (first %q), revoked %v, %v", gen2, gen1, revoked, err)
	}
	a := newAuthenticator(hash, st, newMetrics(), 100)
	if _, err := a.authenticate(ctx, gen1); !errors.Is(err, errBadToken) {
		t.Errorf("the revoked generated token: %v, want errBadToken", err)
	}
	if p, err := a.authenticate(ctx, gen2); err != nil || !p.admin {
		t.Errorf("the new generated token: %+v, %v", p, err)
	}
}
