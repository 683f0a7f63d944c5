package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/store"
)

// Token formats.
//
// A tenant token is "mrt_" + 16 hex digits (its public id) + "_" + 43
// base64url characters (32 random bytes): 64 characters. The store keeps
// only the id, the tenant and the SHA-256 hash of the whole token; a
// request's token is found by id and checked by comparing hashes in
// constant time. A generated admin token is "mra_" + 43 base64url
// characters; an admin token given by the operator can be any string of at
// least MinAdminTokenLen bytes.
const (
	tenantTokenPrefix = "mrt_"
	adminTokenPrefix  = "mra_"
	tokenIDLen        = 16
	tokenSecretLen    = 43
	tenantTokenLen    = len(tenantTokenPrefix) + tokenIDLen + 1 + tokenSecretLen

	// MinAdminTokenLen is the minimum length of an operator-supplied admin
	// token.
	MinAdminTokenLen = 16

	// adminHashSetting is the store setting that keeps the SHA-256 hash of
	// a generated admin token.
	adminHashSetting = "admin_token_sha256"
)

// ErrWeakAdminToken is returned for an admin token shorter than
// MinAdminTokenLen.
var ErrWeakAdminToken = errors.New("server: admin token shorter than 16 bytes")

// ErrResetConfiguredToken is returned by ResolveAdminToken for a reset
// asked together with a configured token: a reset is meant to revoke the
// stored token and make a new one, and the new one would not be the admin
// token (the configured one is). The stored token is revoked by the
// configured token anyway; asking for a reset as well is a mistake to
// report, not to ignore.
var ErrResetConfiguredToken = errors.New("server: resetting the admin token generates one: it cannot be combined with a configured token (MODELREG_ADMIN_TOKEN or a file)")

// principal is who a request's token belongs to.
type principal struct {
	admin  bool
	tenant string // for tenant tokens
	// For tenant tokens: the token's id, and the authenticator's purge
	// generation when the token was checked (see authenticator.recheck).
	tokenID string
	gen     uint64
}

// canAccess reports whether p may act in tenant id's scope.
func (p principal) canAccess(id string) bool { return p.admin || p.tenant == id }

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newTenantToken returns a new token string and its stored form.
func newTenantToken(tenant string) (string, store.Token) {
	var idb [tokenIDLen / 2]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	tok := tenantTokenPrefix + id + "_" + randomString(32)
	return tok, store.Token{ID: id, Tenant: tenant, Hash: sha256.Sum256([]byte(tok))}
}

// parseTenantToken returns the id of a well-formed tenant token.
func parseTenantToken(tok string) (id string, ok bool) {
	if len(tok) != tenantTokenLen || !strings.HasPrefix(tok, tenantTokenPrefix) || tok[len(tenantTokenPrefix)+tokenIDLen] != '_' {
		return "", false
	}
	id = tok[len(tenantTokenPrefix) : len(tenantTokenPrefix)+tokenIDLen]
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return id, true
}

// ResolveAdminToken decides the admin token of a server at start.
//
// When configured is not empty (from MODELREG_ADMIN_TOKEN or a file) it is
// the admin token, and nothing is stored. The hash of a token generated at
// an earlier start is then deleted from the store, and revoked reports
// that it was: the generated token stops working for good, not only while
// a token is configured (an operator configures one because the generated
// one leaked, say). A later start without a configured token generates a
// new one.
//
// Otherwise the hash of a token generated at an earlier start is read from
// the store; when there is none, a new token is generated, its hash
// stored, and the token returned in generated so that the caller prints
// it, once. With reset, a new token is generated even if one was stored
// (and a configured token is then ErrResetConfiguredToken).
//
// Only the SHA-256 hash of the admin token is kept, in memory and in the
// store.
func ResolveAdminToken(ctx context.Context, st store.Store, configured string, reset bool) (hash [32]byte, generated string, revoked bool, err error) {
	if configured != "" && reset {
		return hash, "", false, ErrResetConfiguredToken
	}
	if configured != "" {
		if len(configured) < MinAdminTokenLen {
			return hash, "", false, ErrWeakAdminToken
		}
		// Any stored value goes, even one of the wrong length: it can only
		// be a generated token's hash, and no start uses it any more.
		switch _, err := st.Setting(ctx, adminHashSetting); {
		case err == nil:
			if err := st.DeleteSetting(ctx, adminHashSetting); err != nil {
				return hash, "", false, err
			}
			revoked = true
		case !errors.Is(err, store.ErrNotFound):
			return hash, "", false, err
		}
		return sha256.Sum256([]byte(configured)), "", revoked, nil
	}
	if !reset {
		switch v, err := st.Setting(ctx, adminHashSetting); {
		case err == nil && len(v) == len(hash):
			copy(hash[:], v)
			return hash, "", false, nil
		case err == nil:
			return hash, "", false, fmt.Errorf("server: stored admin token hash has %d bytes", len(v))
		case !errors.Is(err, store.ErrNotFound):
			return hash, "", false, err
		}
	}
	generated = adminTokenPrefix + randomString(32)
	hash = sha256.Sum256([]byte(generated))
	if err := st.PutSetting(ctx, adminHashSetting, hash[:]); err != nil {
		return [32]byte{}, "", false, err
	}
	return hash, generated, false, nil
}

// authenticator checks bearer tokens. Verified tenant tokens are cached by
// id (the cache holds hashes only) so that a request does not need the
// store; the cache is bounded and purged of a tenant's tokens when the
// tenant is deleted. Only the store reads are timed (op "token"): a cached
// check costs nothing more.
type authenticator struct {
	// adminHash is the admin token's hash; it changes only when the
	// server follows the stored one (Config.FollowStoredAdminToken).
	adminHash atomic.Pointer[[32]byte]
	st        store.Store
	m         *metrics
	max       int

	// gen is bumped by every purge (under mu): a lookup caches only if it
	// did not change, and recheck trusts a principal only if it did not.
	gen atomic.Uint64

	mu       sync.RWMutex
	byID     map[string]cachedToken
	byTenant map[string][]string
}

type cachedToken struct {
	tenant string
	hash   [32]byte
}

func newAuthenticator(adminHash [32]byte, st store.Store, m *metrics, maxCached int) *authenticator {
	a := &authenticator{st: st, m: m, max: maxCached,
		byID: make(map[string]cachedToken), byTenant: make(map[string][]string)}
	a.adminHash.Store(&adminHash)
	return a
}

// bearer extracts the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return "", false // none, or ambiguous: which one would the request act as?
	}
	h := hs[0]
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(p):])
	return tok, tok != ""
}

var errBadToken = errors.New("invalid token")

// authenticate returns the principal of a token, errBadToken for a token
// that is not valid, or a store error.
func (a *authenticator) authenticate(ctx context.Context, tok string) (principal, error) {
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], a.adminHash.Load()[:]) == 1 {
		return principal{admin: true}, nil
	}
	id, ok := parseTenantToken(tok)
	if !ok {
		return principal{}, errBadToken
	}
	a.mu.RLock()
	c, hit := a.byID[id]
	gen := a.gen.Load()
	a.mu.RUnlock()
	if !hit {
		t, err := a.token(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return principal{}, errBadToken
		}
		if err != nil {
			return principal{}, err
		}
		c = cachedToken{tenant: t.Tenant, hash: t.Hash}
		a.remember(id, c, gen)
	}
	if subtle.ConstantTimeCompare(h[:], c.hash[:]) != 1 {
		return principal{}, errBadToken
	}
	return principal{tenant: c.tenant, tokenID: id, gen: gen}, nil
}

// recheck returns errBadToken if p's token was revoked (its tenant
// deleted) since p was authenticated, or a store error. A request checks
// its token once, before it locks or pins its tenant; if the tenant is
// deleted and created again meanwhile, the request would otherwise act on
// the new tenant with the old tenant's token. Deleting a tenant bumps gen
// before a new tenant of that id can exist, so a principal whose gen is
// still current cannot have met the new one: only after a purge does
// recheck read the token again. The caller rechecks once it holds what it
// acts on (a write lock, a pinned scope) or, for a read of the store, after
// the read.
func (a *authenticator) recheck(ctx context.Context, p principal) error {
	if p.admin || a.gen.Load() == p.gen {
		return nil
	}
	t, err := a.token(ctx, p.tokenID)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && t.Tenant != p.tenant:
		return errBadToken
	case err != nil:
		return err
	}
	return nil
}

// token reads the token with the given id from the store.
func (a *authenticator) token(ctx context.Context, id string) (store.Token, error) {
	t0 := time.Now()
	t, err := a.st.Token(ctx, id)
	a.m.observeStore("token", t0)
	return t, err
}

func (a *authenticator) remember(id string, c cachedToken, gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen.Load() != gen {
		return // a purge ran since the store was read: the token may be gone
	}
	if len(a.byID) >= a.max {
		// Crude but bounded: start over. Tokens are re-read on next use.
		a.byID = make(map[string]cachedToken)
		a.byTenant = make(map[string][]string)
	}
	a.byID[id] = c
	a.byTenant[c.tenant] = append(a.byTenant[c.tenant], id)
}

// purgeTenant forgets every cached token of a tenant. Call it after the
// tenant's tokens were deleted from the store.
func (a *authenticator) purgeTenant(tenant string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen.Add(1)
	for _, id := range a.byTenant[tenant] {
		delete(a.byID, id)
	}
	delete(a.byTenant, tenant)
}

// errBadAdminHash is the error of followAdminHash for a stored admin
// token hash that is not one: reading it again would not help.
var errBadAdminHash = errors.New("the stored admin token hash is not a SHA-256 hash")

// followAdminHash makes the admin token's hash the one stored, as another
// replica changed it: a new generated token (--reset-admin-token), or
// none (a start with a configured token revokes the generated one), which
// the zero hash, matching no token, stands for. A store error keeps the
// hash as it was, and is returned. It reports whether the hash changed.
func (a *authenticator) followAdminHash(ctx context.Context) (changed bool, err error) {
	var hash [32]byte
	v, err := a.st.Setting(ctx, adminHashSetting)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, err
	case len(v) != len(hash):
		return false, fmt.Errorf("%w: it has %d bytes", errBadAdminHash, len(v))
	default:
		copy(hash[:], v)
	}
	return *a.adminHash.Swap(&hash) != hash, nil
}

// purgeAll forgets every cached token, and makes every principal checked
// before it recheck its token. Call it when tokens may have been deleted
// without the server knowing which (another replica's, see watchFeed).
func (a *authenticator) purgeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen.Add(1)
	clear(a.byID)
	clear(a.byTenant)
}

// revoke forgets the cached token id, and makes the principals checked
// before it recheck their tokens (see recheck). Call it after the token
// was deleted from the store.
func (a *authenticator) revoke(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen.Add(1)
	c, ok := a.byID[id]
	if !ok {
		return
	}
	delete(a.byID, id)
	ids := slices.DeleteFunc(a.byTenant[c.tenant], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(a.byTenant, c.tenant)
	} else {
		a.byTenant[c.tenant] = ids
	}
}

// cached returns the number of cached tokens.
func (a *authenticator) cached() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.byID)
}
