package postgres

import (
	"context"
	"testing"

	"github.com/modelreg/modelreg/internal/pgtest"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/storetest"
)

// open opens a store on a new database of the test server.
func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}
