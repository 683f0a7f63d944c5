package modelreg

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
)

// MaxTenantIDLen is the maximum length of a tenant id, in bytes.
const MaxTenantIDLen = 128

// GlobalScopeID is the reserved id that names the global scope in reports,
// events and errors. It is not a valid tenant id: WithTenant(ctx,
// GlobalScopeID) does not select the global scope, it makes registrations
// fail with ErrGlobalScope. Code without a tenant uses the global scope.
const GlobalScopeID = "global"

type tenantKey struct{}

// tenantValue is what WithTenant stores in a context: the id, and the
// scope the last lookup made with this context found, so that repeated
// lookups with one context skip the tenant index. The cached scope is only
// used while it is live (checked under its lock): a cleaned-up scope is
// dead, holds no model, and is replaced by the index's answer.
type tenantValue struct {
	id    string
	scope atomic.Pointer[scope]
}

// WithTenant returns a copy of ctx that carries the tenant id. Every
// registry call made with the returned context acts in that tenant's
// scope. The id is not checked here: registrations refuse an invalid id
// with a *TenantIDError, and lookups treat it as a tenant that has no
// models (they see the global named models only).
func WithTenant(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, tenantKey{}, &tenantValue{id: id})
}

func tenantValueFrom(ctx context.Context) *tenantValue {
	if ctx == nil {
		return nil
	}
	tv, _ := ctx.Value(tenantKey{}).(*tenantValue)
	return tv
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
