package modelreg

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestNameIndexModel checks nameIndex against a Go map, with a hash of
// a few bits so that probe runs, wrap-around and collisions are common.
func TestNameIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bits := rapid.IntRange(0, 4).Draw(t, "bits")
		hash := func(s string) uint64 {
			var h uint64 = 14695981039346656037
			for i := 0; i < len(s); i++ {
				h = (h ^ uint64(s[i])) * 1099511628211
			}
			return h & (1<<bits - 1) << 3 // many equal low bits
		}
		var x nameIndex
		ref := map[string]*Model{}
		names := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
			strings.Repeat("x", inlineName+1), strings.Repeat("y", inlineName+1), strings.Repeat("z", inlineName)})
		for i := range rapid.IntRange(1, 300).Draw(t, "ops") {
			name := names.Draw(t, "name")
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				m := &Model{name: name}
				old := x.put(hash(name), m)
				if old != ref[name] {
					t.Fatalf("op %d: put(%s) replaced %v, want %v", i, name, old, ref[name])
				}
				ref[name] = m
			case 1:
				old := x.del(hash(name), name)
				if old != ref[name] {
					t.Fatalf("op %d: del(%s) = %v, want %v", i, name, old, ref[name])
				}
				delete(ref, name)
			case 2:
				if got := x.get(hash(name), name); got != ref[name] {
					t.Fatalf("op %d: get(%s) = %v, want %v", i, name, got, ref[name])
				}
			}
			if x.len() != len(ref) {
				t.Fatalf("len %d, want %d", x.len(), len(ref))
			}
			for n, m := range ref {
				if got := x.get(hash(n), n); got != m {
					t.Fatalf("op %d: %s lost", i, n)
				}
			}
			seen := 0
			x.each(func(m *Model) {
				seen++
				if ref[m.name] != m {
					t.Fatalf("each: stale %s", m.name)
				}
			})
			if seen != len(ref) {
				t.Fatalf("each saw %d, want %d", seen, len(ref))
			}
		}
		if len(x.table()) > nameIndexMin && x.n*8 <= len(x.table()) {
			t.Fatalf("not shrunk: %d of %d", x.n, len(x.table()))
		}
	})
}

func TestNameIndexShrinks(t *testing.T) {
	var x nameIndex
	h := func(s string) uint64 { var v uint64; fmt.Sscanf(s, "m%d", &v); return v * 0x9E3779B97F4A7C15 }
	for i := range 10000 {
		n := fmt.Sprintf("m%d", i)
		x.put(h(n), &Model{name: n})
	}
	for i := range 9990 {
		n := fmt.Sprintf("m%d", i)
		if x.del(h(n), n) == nil {
			t.Fatalf("%s missing", n)
		}
	}
	if x.len() != 10 || len(x.table()) > 128 {
		t.Errorf("len %d, %d slots", x.len(), len(x.table()))
	}
}

// TestTenantContext checks that the tenant context behaves as a context
// built by context.WithValue: other values, cancellation and wrapping.
func TestTenantContext(t *testing.T) {
	type other struct{}
	base := context.WithValue(context.Background(), other{}, 7)
	ctx, cancel := context.WithCancel(WithTenant(base, "acme"))
	ctx = context.WithValue(ctx, other{}, 8)
	if id, ok := TenantFromContext(ctx); !ok || id != "acme" {
		t.Fatalf("tenant %q %v", id, ok)
	}
	if v := WithTenant(base, "x").Value(other{}); v != 7 {
		t.Fatalf("parent value %v", v)
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("not canceled")
	}
	//lint:ignore SA1012 a nil context stands for context.Background
	if id, ok := TenantFromContext(WithTenant(nil, "n")); !ok || id != "n" {
		t.Fatalf("nil parent: %q %v", id, ok)
	}
}
