package modelreg

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
)

// MaxTenantIDLen is the maximum length of a tenant id, in bytes.
const MaxTenantIDLen = 128

// GlobalScopeID is the reserved id "global": no tenant can have it, so that
// an application can use it to name the global scope where a scope is
// named by a string (modelreg serve does, in its /v1/global paths). The
// registry itself names the global scope "" in events, reports and model
// ids (no tenant). WithTenant(ctx, GlobalScopeID) does not select the
// global scope, it makes registrations fail with ErrGlobalScope. Code
// without a tenant uses the global scope.
const GlobalScopeID = "global"

type tenantKey struct{}

// tenantCtx is the context WithTenant returns: it carries the tenant id,
// and the scope the last lookup or registration made with this context
// found, so that repeated calls with one context skip the tenant index,
// and that scope's name table (see nameCache). The cached scope is only
// used while it is live: a cleaned-up scope is dead, holds no model, and
// is replaced by the index's answer. The context is its own
// value (rather than a context.WithValue holding a pointer), so that a
// lookup reaches the cached scope with one memory access fewer.
type tenantCtx struct {
	context.Context
	id    string
	scope atomic.Pointer[scope]
	// names caches the name table of the scope: see nameCache.
	names nameCache
	// Pads the struct to 64 bytes, so that it is one cache line.
	_ [16]byte
}

// Value returns the tenantCtx itself for the package's key, and otherwise
// asks the parent.
func (c *tenantCtx) Value(key any) any {
	if key == (tenantKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// String describes the context as context.WithValue's contexts do.
func (c *tenantCtx) String() string {
	return fmt.Sprint(c.Context) + ".WithTenant(" + strconv.Quote(c.id) + ")"
}

// WithTenant returns a copy of ctx that carries the tenant id. Every
// registry call made with the returned context acts in that tenant's
// scope. The id is not checked here: registrations refuse an invalid id
// with a *TenantIDError, and lookups treat it as a tenant that has no
// models (they see the global named models only). A nil ctx stands for
// context.Background().
func WithTenant(ctx context.Context, id string) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return &tenantCtx{Context: ctx, id: id}
}

// forget drops what c caches of scope s, which a cleanup made dead: a
// context kept after its tenant's cleanup then holds nothing of the
// tenant once it has been used again. (One not used again keeps the
// emptied scope and name table until it is dropped.) The scope is only
// dropped if c still caches it, so that a live scope another call cached
// meanwhile stays.
func (c *tenantCtx) forget(s *scope) {
	if c.scope.CompareAndSwap(s, nil) {
		c.names.store(nil)
	}
}

func tenantValueFrom(ctx context.Context) *tenantCtx {
	if tc, ok := ctx.(*tenantCtx); ok {
		return tc // the common case, inlined: no call at all
	}
	return tenantValueOf(ctx)
}

// tenantValueOf is tenantValueFrom for a context that is not a tenantCtx
// itself. Kept out of line so that tenantValueFrom is inlined.
//
//go:noinline
func tenantValueOf(ctx context.Context) *tenantCtx {
	if ctx == nil {
		return nil
	}
	tc, _ := ctx.Value(tenantKey{}).(*tenantCtx)
	return tc
}

// TenantFromContext returns the tenant id carried by ctx, and false when
// ctx carries none (global code). It does not allocate.
func TenantFromContext(ctx context.Context) (string, bool) {
	if tv := tenantValueFrom(ctx); tv != nil {
		return tv.id, true
	}
	return "", false
}

// ValidTenantID reports whether id is a valid tenant id: 1 to
// MaxTenantIDLen bytes, the first an ASCII letter or digit, the others
// ASCII letters, digits, '.', '_' or '-'. The id GlobalScopeID is reserved.
// The error is a *TenantIDError matching ErrInvalidTenant, or
// ErrGlobalScope for the reserved id.
func ValidTenantID(id string) error {
	if id == "" {
		return &TenantIDError{ID: id, Reason: "empty"}
	}
	if len(id) > MaxTenantIDLen {
		return &TenantIDError{ID: id[:min(len(id), 200)], Reason: "longer than " + strconv.Itoa(MaxTenantIDLen) + " bytes"}
	}
	if id == GlobalScopeID {
		return &TenantIDError{ID: id, Reason: "reserved for the global scope", global: true}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return &TenantIDError{ID: id, Reason: fmt.Sprintf("byte %d (%#02x) is not allowed", i, c)}
		}
	}
	return nil
}
