package modelreg

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by the registry wraps one of them
// (or an error of package definition), so callers can test with errors.Is.
var (
	// ErrInvalidTenant: a tenant id is empty, too long or uses a character
	// outside the allowed set (see ValidTenantID).
	ErrInvalidTenant = errors.New("modelreg: invalid tenant id")
	// ErrGlobalScope: an operation that only applies to tenants (cleanup,
	// lease, policy) was asked for the global scope.
	ErrGlobalScope = errors.New("modelreg: operation not allowed on the global scope")
	// ErrQuota: a registration would exceed one of the tenant's quotas.
	ErrQuota = errors.New("modelreg: quota exceeded")
	// ErrInvalidDefinition: a definition built in Go breaks an invariant
	// of package definition (nil, unsorted or duplicate properties, a
	// nested type without an object, ...). Definitions returned by
	// definition.Parse never do, except one whose structure nests deeper
	// than 256 levels, which only a Limits.MaxDepth above 256 lets
	// through (see WithLimits).
	ErrInvalidDefinition = errors.New("modelreg: invalid definition")
	// ErrHook: an OnCleanup hook returned an error. The cleanup itself
	// happened; see HookError.
	ErrHook = errors.New("modelreg: cleanup hook failed")
	// ErrInvalidArgument: a non-definition argument is out of range
	// (for example a janitor interval that is not positive).
	ErrInvalidArgument = errors.New("modelreg: invalid argument")
)

// TenantIDError reports an invalid tenant id. It matches ErrInvalidTenant
// with errors.Is, or ErrGlobalScope when the id names the global scope.
type TenantIDError struct {
	ID     string // the id as given (truncated to 200 bytes)
	Reason string // why it is invalid
	global bool
}

// Error describes the invalid id and why it is refused.
func (e *TenantIDError) Error() string {
	return fmt.Sprintf("modelreg: invalid tenant id %q: %s", e.ID, e.Reason)
}

// Unwrap returns ErrGlobalScope for the reserved global id and
// ErrInvalidTenant otherwise.
func (e *TenantIDError) Unwrap() error {
	if e.global {
		return ErrGlobalScope
	}
	return ErrInvalidTenant
}

// QuotaError reports a registration refused by a tenant quota. It matches
// ErrQuota with errors.Is.
type QuotaError struct {
	Tenant string
	Quota  Quota // which quota
	Limit  int64 // the limit in force
	// Value is the value the registration would have reached; for
	// QuotaDepth, the first depth over the limit (compiling stops there,
	// so a definition nested deeper still reports Limit+1).
	Value int64
}

// Quota names a per-tenant quota.
type Quota uint8

// The per-tenant quotas, see Policy.
const (
	QuotaModels Quota = iota + 1 // Policy.MaxModels
	QuotaBytes                   // Policy.MaxBytes
	QuotaDepth                   // Policy.MaxDepth
)

// String returns the quota's name as error messages show it.
func (q Quota) String() string {
	switch q {
	case QuotaModels:
		return "models"
	case QuotaBytes:
		return "definition bytes"
	case QuotaDepth:
		return "nesting depth"
	}
	return fmt.Sprintf("Quota(%d)", uint8(q))
}

// Error names the tenant, the quota, the value reached and the limit.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("modelreg: tenant %q: %s quota exceeded: %d > %d", e.Tenant, e.Quota, e.Value, e.Limit)
}

// Unwrap returns ErrQuota.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// DefinitionError reports a definition built in Go that breaks an
// invariant of package definition. It matches ErrInvalidDefinition.
type DefinitionError struct {
	Path string // property path, e.g. "properties.address.zip"
	Msg  string
}

// Error names the property path, if any, and what is wrong there.
func (e *DefinitionError) Error() string {
	if e.Path == "" {
		return "modelreg: invalid definition: " + e.Msg
	}
	return "modelreg: invalid definition: " + e.Path + ": " + e.Msg
}

// Unwrap returns ErrInvalidDefinition.
func (e *DefinitionError) Unwrap() error { return ErrInvalidDefinition }

// HookError reports the errors returned by OnCleanup hooks for one
// cleanup. The cleanup itself completed. It matches ErrHook and, through
// Err (an errors.Join of the hooks' errors), each hook's own error.
type HookError struct {
	Tenant string
	Err    error
}

// Error names the tenant and the hooks' errors.
func (e *HookError) Error() string {
	return fmt.Sprintf("modelreg: cleanup hook for tenant %q: %v", e.Tenant, e.Err)
}

// Unwrap returns ErrHook and the joined hook errors.
func (e *HookError) Unwrap() []error { return []error{ErrHook, e.Err} }

func invalidArgf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// HookPanicError is the error an OnCleanup hook that panicked is reported
// with (joined into a HookError, as a returned error would be).
type HookPanicError struct {
	Value any    // the value the hook panicked with
	Stack []byte // the stack of the hook's goroutine when it panicked
}

// Error names the value the hook panicked with.
func (e *HookPanicError) Error() string {
	return fmt.Sprintf("modelreg: cleanup hook panicked: %v", e.Value)
}

// Unwrap returns Value if it is an error, and nil otherwise.
func (e *HookPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
