package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
)

var benchDef = []byte(`{"name":"Customer","properties":{"name":"string","age":"number"}}`)

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPutModel writes the models of one tenant, one at a time: the
// round trips of a write's transaction.
func BenchmarkPutModel(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	i := 0
	for b.Loop() {
		i++
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i%100), Definition: benchDef}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutModelParallel writes the models of 16 tenants from
// GOMAXPROCS goroutines: the writes of different tenants do not wait for
// each other.
func BenchmarkPutModelParallel(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, _, err := s.PutModel(ctx, store.Model{Scope: fmt.Sprint("t", i%16), Name: fmt.Sprint("M", i%100), Definition: benchDef}, store.Condition{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkModels100(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	for i := range 100 {
		if _, _, err := s.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: benchDef}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if list, err := s.Models(ctx, "acme"); err != nil || len(list) != 100 {
			b.Fatal(len(list), err)
		}
	}
}

// BenchmarkFeedRoundTrip writes a model through one store and waits until
// a second store's Watch reports it: a write's commit, then its
// notification's trip to another replica. What another replica may serve
// stale after a write is bounded by the part after the commit.
func BenchmarkFeedRoundTrip(b *testing.B) {
	ctx := context.Background()
	u := pgtest.URL(b)
	a, err := Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	w, err := Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	changes := make(chan store.Change, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Watch(wctx, func(c store.Change) { changes <- c }) }()
	defer func() {
		cancel()
		<-done
	}()
	if c := <-changes; c.Kind != store.Resync {
		b.Fatalf("first change %v, want a resync", c.Kind)
	}
	for b.Loop() {
		if _, _, err := a.PutModel(ctx, store.Model{Scope: "acme", Name: "M", Definition: benchDef}, store.Condition{}); err != nil {
			b.Fatal(err)
		}
		if c := <-changes; c.Kind != store.ModelChanged {
			b.Fatalf("reported %v, want a model change", c.Kind)
		}
	}
}
