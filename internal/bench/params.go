package bench

import (
	"errors"
	"fmt"
	"math"
)

// DefineMode says what W1 hands to the registry for each model.
type DefineMode string

// Define modes.
const (
	// DefineJSON passes the definition's JSON bytes to Registry.DefineJSON,
	// so parsing is part of the measured define cost. This is what users
	// send and is the default.
	DefineJSON DefineMode = "json"
	// DefineParsed parses every W1 definition first (timed separately as
	// w1.parse_ms) and passes the *definition.Definition to Registry.Define,
	// so w1.per_model_us is the registry's own cost. Churn and W5 always
	// use JSON.
	DefineParsed DefineMode = "parsed"
)

// Params are the workload parameters (WORKLOAD.md, "Defaults"). The JSON
// names are the single letters the workload uses.
type Params struct {
	N        int     `json:"N"`         // tenants
	M        int     `json:"M"`         // models per tenant
	C        int     `json:"C"`         // W5 churn cycles
	S        int     `json:"S"`         // W5 sample period (cycles)
	B        int     `json:"B"`         // models in the big tenant (W3)
	R        int     `json:"R"`         // big-tenant repetitions (W3)
	OpsScale float64 `json:"ops_scale"` // multiplier of the W2 op counts
	W        int     `json:"W"`         // warm-up tenants
	SkipW5   bool    `json:"skip_w5"`   // do not run W5

	// Others, when positive, adds a W3 step (not in the JS workload): the
	// big-tenant cleanup repeated with Others extra tenants live, each with
	// OthersM models (default 1). It measures that cleanup cost does not
	// depend on how many other tenants exist.
	Others  int `json:"others"`
	OthersM int `json:"others_m"`

	// Define selects how W1 hands definitions to the registry.
	Define DefineMode `json:"define"`
}

// DefaultParams returns the workload's defaults: N=1000, M=10, C=10000,
// S=1000, B=100, R=31, ops-scale 1, W=20.
func DefaultParams() Params {
	return Params{N: 1000, M: 10, C: 10000, S: 1000, B: 100, R: 31, OpsScale: 1, W: 20,
		OthersM: 1, Define: DefineJSON}
}

// ErrInvalidParams is the sentinel of every *ParamError.
var ErrInvalidParams = errors.New("invalid benchmark parameter")

// ParamError reports a parameter outside its valid range.
type ParamError struct {
	Name  string // the parameter's flag name, e.g. "n"
	Value string // the offending value
	Msg   string // what is allowed
}

// Error implements error.
func (e *ParamError) Error() string {
	return fmt.Sprintf("-%s=%s: %s", e.Name, e.Value, e.Msg)
}

// Unwrap returns ErrInvalidParams.
func (e *ParamError) Unwrap() error { return ErrInvalidParams }

// Limits that keep a run inside memory and int ranges.
const (
	maxTenants = 10_000_000
	maxModels  = 100_000
	// maxNamedModels bounds N·M and others·others-m.
	maxNamedModels = 50_000_000
)

// maxMemory bounds the memory a run may need, as memoryEstimate counts it.
const maxMemory = 16 << 30

// memoryEstimate is a rough upper bound of the memory a run needs, in
// bytes: some 2 KiB per named model live at once (W1's heap per tenant is
// 19.6 KiB at M=10), the W2 op tables (48 bytes per name_hit op, 8 per
// structure op: some 4 MB at ops-scale 1), and the heap's headroom
// (GOGC=100 lets it grow to twice the live heap).
func (p Params) memoryEstimate() int64 {
	models := int64(p.N)*int64(p.M) + int64(p.Others)*int64(p.OthersM) + int64(p.B)
	live := models*2048 + int64(p.OpsScale*4e6)
	return 2 * live
}

// Validate checks every parameter and returns a *ParamError for the first
// one out of range.
func (p Params) Validate() error {
	checks := []struct {
		name   string
		v, lo  int
		hi     int
		reason string
	}{
		{"n", p.N, 1, maxTenants, "need 1 ≤ N ≤ 10000000"},
		{"m", p.M, 1, maxModels, "need 1 ≤ M ≤ 100000"},
		{"churn", p.C, 0, math.MaxInt32, "need 0 ≤ C ≤ 2147483647"},
		{"sample", p.S, 1, math.MaxInt32, "need 1 ≤ S ≤ 2147483647"},
		{"big", p.B, 1, maxModels, "need 1 ≤ B ≤ 100000"},
		{"reps", p.R, 1, 1_000_000, "need 1 ≤ R ≤ 1000000"},
		{"warmup", p.W, 0, 1_000_000, "need 0 ≤ W ≤ 1000000"},
		{"others", p.Others, 0, maxTenants, "need 0 ≤ others ≤ 10000000"},
		{"others-m", p.OthersM, 1, maxModels, "need 1 ≤ others-m ≤ 100000"},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return &ParamError{Name: c.name, Value: fmt.Sprint(c.v), Msg: c.reason}
		}
	}
	if int64(p.N)*int64(p.M) > maxNamedModels {
		return &ParamError{Name: "n", Value: fmt.Sprint(p.N), Msg: fmt.Sprintf("N·M must be ≤ %d", maxNamedModels)}
	}
	if int64(p.Others)*int64(p.OthersM) > maxNamedModels {
		return &ParamError{Name: "others", Value: fmt.Sprint(p.Others), Msg: fmt.Sprintf("others·others-m must be ≤ %d", maxNamedModels)}
	}
	if !(p.OpsScale > 0) || p.OpsScale > 1e4 || math.IsInf(p.OpsScale, 0) {
		return &ParamError{Name: "ops-scale", Value: fmt.Sprint(p.OpsScale), Msg: "need 0 < ops-scale ≤ 10000"}
	}
	if b := p.memoryEstimate(); b > maxMemory {
		// Name the parameter behind the largest part of the estimate.
		name, value := "n", fmt.Sprint(p.N)
		switch parts := []float64{float64(p.N) * float64(p.M), float64(p.Others) * float64(p.OthersM), p.OpsScale * 4e6 / 2048}; {
		case parts[2] > parts[0] && parts[2] > parts[1]:
			name, value = "ops-scale", fmt.Sprint(p.OpsScale)
		case parts[1] > parts[0]:
			name, value = "others", fmt.Sprint(p.Others)
		}
		return &ParamError{Name: name, Value: value, Msg: fmt.Sprintf(
			"the run would need about %.0f GiB of memory (N·M and others·others-m models at some 2 KiB each, W2 tables at some 4 MB per unit of ops-scale); the limit is %d GiB",
			float64(b)/(1<<30), maxMemory>>30)}
	}
	if p.Define != DefineJSON && p.Define != DefineParsed {
		return &ParamError{Name: "define", Value: string(p.Define), Msg: `need "json" or "parsed"`}
	}
	return nil
}

// scaledOps returns round(ops·OpsScale), at least 1.
func (p Params) scaledOps(ops int) int {
	n := int(math.Round(float64(ops) * p.OpsScale))
	return max(1, n)
}

// warmupOps is the number of untimed warm-up ops of a lookup benchmark:
// min(ops, max(10, floor(ops/10))).
func warmupOps(ops int) int {
	return min(ops, max(10, ops/10))
}
