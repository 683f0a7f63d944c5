package server

import (
	"context"
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
	a := newAuthenticator([32]byte{}, st, 100)
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
