package modelreg

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"pgregory.net/rapid"

	"github.com/modelreg/modelreg/definition"
)

// TestNameIndexModel checks nameIndex against a Go map, with a hash of
// a few bits so that probe runs, wrap-around, equal tags and collisions
// are common.
func TestNameIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bits := rapid.IntRange(0, 4).Draw(t, "bits")       // of the home slot
		tagBits := rapid.IntRange(0, 2).Draw(t, "tagBits") // of the tag
		hash := func(s string) uint64 {
			var h uint64 = 14695981039346656037
			for i := 0; i < len(s); i++ {
				h = (h ^ uint64(s[i])) * 1099511628211
			}
			// Many equal low bits, and few tags.
			return h&(1<<bits-1)<<3 | h>>(64-tagBits)<<40
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
				old := x.put(hash(name), m, hash)
				if old != ref[name] {
					t.Fatalf("op %d: put(%s) replaced %v, want %v", i, name, old, ref[name])
				}
				ref[name] = m
			case 1:
				old := x.del(hash(name), name, hash)
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
		if slots := x.slots(); slots > nameIndexMin && x.n*8 <= slots {
			t.Fatalf("not shrunk: %d of %d", x.n, slots)
		}
	})
}

// TestNameIndexComparesEveryByte checks that a name is told apart from
// one of the same length and hash that differs in any one byte, for every
// length around the inline compares' word boundaries.
func TestNameIndexComparesEveryByte(t *testing.T) {
	hash := func(string) uint64 { return 5 } // one home slot and one tag per length
	for n := 1; n <= inlineName+8; n++ {
		for p := range n {
			a := strings.Repeat("a", n)
			b := a[:p] + "b" + a[p+1:]
			var x nameIndex
			ma := &Model{name: a}
			x.put(hash(a), ma, hash)
			if got := x.get(hash(b), b); got != nil {
				t.Fatalf("len %d: %q found %q", n, b, got.name)
			}
			mb := &Model{name: b}
			if old := x.put(hash(b), mb, hash); old != nil {
				t.Fatalf("len %d: %q replaced %q", n, b, old.name)
			}
			if x.get(hash(a), a) != ma || x.get(hash(b), b) != mb {
				t.Fatalf("len %d, byte %d: names confused", n, p)
			}
		}
	}
}

func TestNameIndexShrinks(t *testing.T) {
	var x nameIndex
	h := func(s string) uint64 { var v uint64; fmt.Sscanf(s, "m%d", &v); return v * 0x9E3779B97F4A7C15 }
	for i := range 10000 {
		n := fmt.Sprintf("m%d", i)
		x.put(h(n), &Model{name: n}, h)
	}
	for i := range 9990 {
		n := fmt.Sprintf("m%d", i)
		if x.del(h(n), n, h) == nil {
			t.Fatalf("%s missing", n)
		}
	}
	if slots := x.slots(); x.len() != 10 || slots > 128 {
		t.Errorf("len %d, %d slots", x.len(), slots)
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

type cacheTestKey struct{}

// TestNameCache checks lookups through long-lived tenant contexts, which
// cache their scope's name table, against lookups through fresh ones,
// across definitions that grow and shrink the tables, removals, tenant
// cleanups and re-creations, and global models of the same names.
func TestNameCache(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := New()
		bg := context.Background()
		tenants := []string{"a", "b"}
		long := map[string][]context.Context{}
		for _, id := range tenants {
			long[id] = []context.Context{WithTenant(bg, id), context.WithValue(WithTenant(bg, id), cacheTestKey{}, 1)}
		}
		name := func(i int) string { return fmt.Sprintf("Model%d", i) }
		define := func(ctx context.Context, n string) {
			d, err := definition.Parse([]byte(`{"name": "`+n+`", "properties": {"a": "string"}}`), definition.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Define(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		for i := range rapid.IntRange(1, 300).Draw(t, "ops") {
			id := rapid.SampledFrom(tenants).Draw(t, "tenant")
			n := name(rapid.IntRange(0, 40).Draw(t, "name"))
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2:
				define(WithTenant(bg, id), n)
			case 3:
				define(bg, n)
			case 4:
				r.RemoveModel(WithTenant(bg, id), n)
			case 5:
				if rapid.IntRange(0, 3).Draw(t, "cleanup") == 0 {
					if _, err := r.CleanupTenant(bg, id); err != nil {
						t.Fatal(err)
					}
				}
			default:
				want, wantOK := r.FindByName(WithTenant(bg, id), n)
				for j, ctx := range long[id] {
					got, ok := r.FindByName(ctx, n)
					if got != want || ok != wantOK {
						t.Fatalf("op %d: FindByName(%s, %s) through long-lived context %d = %v, %v; a fresh context finds %v, %v", i, id, n, j, got, ok, want, wantOK)
					}
					// With no change since, the context's cache is the
					// scope's current table, so the next lookup takes
					// the fast path.
					tv := tenantValueFrom(ctx)
					s := r.lookupScope(id)
					if c := tv.names.load(); s != nil && s.named.len() > 0 && (c == nil || !s.named.current(c)) {
						t.Fatalf("op %d: context %d does not cache its scope's table", i, j)
					}
				}
			}
		}
	})
}

// TestKeptContextSkipsDeadScope covers two cleanups of one tenant at
// once. The first marks the scope dead and takes it out of the tenant
// index, and only then retires its name table; the second finds no scope
// in between and returns at once. Its caller must not find the tenant's
// models then, not even through a context that cached the table. (Other
// lookups read-lock the scope, so they wait for the first cleanup.)
func TestKeptContextSkipsDeadScope(t *testing.T) {
	r := New()
	bg := context.Background()
	ctx := WithTenant(bg, "t")
	m, err := r.DefineJSON(ctx, []byte(`{"name": "A", "properties": {"a": "string"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.FindByName(ctx, "A"); !ok || got != m {
		t.Fatalf("FindByName = %v, %v before any cleanup", got, ok)
	}
	// The first cleanup, up to where it lets go of the tenant index (see
	// Registry.cleanup).
	s, sh := r.lookupScope("t"), r.shard("t")
	sh.mu.Lock()
	s.mu.Lock()
	s.dead.Store(true)
	sh.removeScope("t")
	sh.mu.Unlock()
	defer s.mu.Unlock()

	rep, err := r.CleanupTenant(bg, "t")
	if err != nil || rep.ModelsRemoved != 0 {
		t.Fatalf("second cleanup: %+v, %v", rep, err)
	}
	for _, c := range []struct {
		what string
		ctx  context.Context
	}{{"the kept context", ctx}, {"a fresh context", WithTenant(bg, "t")}} {
		if got, ok := r.FindByName(c.ctx, "A"); ok {
			t.Errorf("FindByName through %s found %s of %q after a cleanup returned", c.what, got.Name(), got.Tenant())
		}
	}
}

// The fields a name lookup reads are the first 64 bytes of a scope and of
// a tenant context, and both structs are a multiple of 64 bytes long, so
// that the allocator puts each of them in one cache line.
func TestLookupLayout(t *testing.T) {
	var s scope
	var c tenantCtx
	for _, tt := range []struct {
		what      string
		size, end uintptr
	}{
		{"scope", unsafe.Sizeof(s), unsafe.Offsetof(s.touched) + unsafe.Sizeof(s.touched)},
		{"tenantCtx", unsafe.Sizeof(c), unsafe.Offsetof(c.names) + unsafe.Sizeof(c.names)},
	} {
		if tt.size%64 != 0 || tt.end > 64 {
			t.Errorf("%s: %d bytes long, lookup fields end at byte %d", tt.what, tt.size, tt.end)
		}
	}
}

// TestNameTableAligned checks that the tags of tables of every size start
// on a cache line, so that sixteen tags are one line, and that a small
// table's slots do too, two to a line, none straddling two.
func TestNameTableAligned(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is sized for 64-bit platforms")
	}
	h := func(s string) uint64 { var v uint64; fmt.Sscanf(s, "m%d", &v); return v * 0x9E3779B97F4A7C15 }
	var x nameIndex
	for i := range 5000 {
		n := fmt.Sprintf("m%d", i)
		x.put(h(n), &Model{name: n}, h)
		tab := x.table()
		if p := uintptr(unsafe.Pointer(&tab.tags[0])); p%64 != 0 {
			t.Fatalf("a table of %d slots at %p has its tags at %#x", x.slots(), tab, p)
		}
		if len(tab.slots) == nameIndexMin {
			if &tab.tags[0] != &tab.small[0] || &tab.slots[0] != &tab.inline[0] {
				t.Fatal("a small table's tags or slots are not its own")
			}
			if p := uintptr(unsafe.Pointer(&tab.slots[0])); p%64 != 0 {
				t.Fatalf("a small table at %p has its slots at %#x", tab, p)
			}
		}
	}
}

// slots returns the number of slots of x's table.
func (x *nameIndex) slots() int {
	if t := x.table(); t != nil {
		return len(t.slots)
	}
	return 0
}
