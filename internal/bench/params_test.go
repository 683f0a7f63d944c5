package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Params)
		field string
	}{
		{"zero tenants", func(p *Params) { p.N = 0 }, "n"},
		{"zero models", func(p *Params) { p.M = 0 }, "m"},
		{"negative churn", func(p *Params) { p.C = -1 }, "churn"},
		{"zero sample", func(p *Params) { p.S = 0 }, "sample"},
		{"zero big", func(p *Params) { p.B = 0 }, "big"},
		{"zero reps", func(p *Params) { p.R = 0 }, "reps"},
		{"negative warmup", func(p *Params) { p.W = -3 }, "warmup"},
		{"zero ops scale", func(p *Params) { p.OpsScale = 0 }, "ops-scale"},
		{"negative others", func(p *Params) { p.Others = -1 }, "others"},
		{"huge N·M", func(p *Params) { p.N, p.M = 10_000_000, 100 }, "n"},
		{"N·M beyond memory", func(p *Params) { p.N, p.M = 10_000_000, 5 }, "n"},
		{"others beyond memory", func(p *Params) { p.Others = 5_000_000 }, "others"},
		{"ops tables beyond memory", func(p *Params) { p.OpsScale = 10_000 }, "ops-scale"},
		{"bad define", func(p *Params) { p.Define = "yaml" }, "define"},
	}
	for _, tt := range tests {
		p := DefaultParams()
		tt.edit(&p)
		err := p.Validate()
		var pe *ParamError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: Validate() = %v, want a *ParamError", tt.name, err)
			continue
		}
		if pe.Name != tt.field {
			t.Errorf("%s: error names -%s, want -%s", tt.name, pe.Name, tt.field)
		}
	}
}

func TestScaledOps(t *testing.T) {
	p := DefaultParams()
	for _, tt := range []struct {
		scale    float64
		ops, out int
	}{{1, 50000, 50000}, {0.01, 200, 2}, {0.001, 200, 1}, {0.5, 5, 3}, {2, 200, 400}} {
		p.OpsScale = tt.scale
		if got := p.scaledOps(tt.ops); got != tt.out {
			t.Errorf("scale %v ops %d: %d, want %d", tt.scale, tt.ops, got, tt.out)
		}
	}
	for _, tt := range [][2]int{{1, 1}, {5, 5}, {50, 10}, {200, 20}, {50000, 5000}} {
		if got := warmupOps(tt[0]); got != tt[1] {
			t.Errorf("warmupOps(%d) = %d, want %d", tt[0], got, tt[1])
		}
	}
}

// TestParamsValidateMessages: the message of an out-of-range value states
// the range it is outside of.
func TestParamsValidateMessages(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Params)
		want string
	}{
		{"churn above int32", func(p *Params) { p.C = 1 << 31 }, "2147483647"},
		{"sample above int32", func(p *Params) { p.S = 1 << 31 }, "2147483647"},
	}
	for _, tt := range tests {
		p := DefaultParams()
		tt.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want a message with %q", tt.name, err, tt.want)
		}
	}
}
