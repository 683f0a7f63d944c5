package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/modelreg/modelreg/store"
)

func TestMemoryConformance(t *testing.T) {
	Run(t, func(t *testing.T) store.Store { return NewMemory(nil) })
}

func TestMemoryFeed(t *testing.T) {
	RunFeed(t, func(t *testing.T) (a, b store.Store) {
		m := NewMemory(nil)
		return m, m.Replica()
	})
}

func TestMemoryWatchClosed(t *testing.T) {
	m := NewMemory(nil)
	r := m.Replica()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Watch(context.Background(), func(store.Change) { t.Error("a closed store reported a change") }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch of a closed store: %v, want ErrClosed", err)
	}
	if _, err := m.Models(context.Background(), store.Global); err != nil {
		t.Errorf("closing a replica closed the other: %v", err)
	}

	// Closing the store ends a Watch in progress.
	done := make(chan error, 1)
	resync := make(chan bool)
	go func() {
		done <- m.Watch(context.Background(), func(c store.Change) {
			if c.Kind == store.Resync {
				close(resync)
			}
		})
	}()
	<-resync
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch when its store was closed: %v, want ErrClosed", err)
	}
}
