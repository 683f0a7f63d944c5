package modelreg

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/modelreg/modelreg/definition"
)

// TestDroppedCompilerKeepsNoModels: a model defined with DefineJSON may
// keep its parse's element Types, which point into the compiler's scratch
// storage; a compiler dropped from the pool (after an unusually large
// definition) must not leave that storage holding the last definition, or
// the first model keeps the models of another, cleaned-up tenant
// reachable.
func TestDroppedCompilerKeepsNoModels(t *testing.T) {
	r := New()
	c := r.getCompiler()
	define := func(tenant, js string) *Model {
		t.Helper()
		c.r = r // as getCompiler
		def, err := definition.ParseScratch([]byte(js), r.limits, &c.scratch)
		if err != nil {
			t.Fatal(err)
		}
		c.ownsTypes = true
		m, err := r.define(WithTenant(context.Background(), tenant), def, c, true)
		if err != nil {
			t.Fatal(err)
		}
		r.putCompiler(c) // as DefineJSON
		return m
	}
	a := define("x", `{"name": "A", "properties": {"tags": ["string"], "o": {"y": [{"z": "date"}]}}}`)
	// Over 256 KiB of canonical form: putCompiler drops the compiler.
	d := define("y", `{"name": "D", "properties": {"items": [{"sku": "string"}], "big": {"type": "string", "default": "`+strings.Repeat("b", 300<<10)+`"}}}`)
	c = nil
	w := weak.Make(d.Nested()[0])
	d = nil
	if _, err := r.CleanupTenant(context.Background(), "y"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && w.Value() != nil; i++ {
		runtime.GC()
	}
	if w.Value() != nil {
		t.Error("a model of tenant x keeps an anonymous model of cleaned-up tenant y reachable")
	}
	runtime.KeepAlive(a)
}
