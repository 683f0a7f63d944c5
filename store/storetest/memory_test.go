package storetest

import (
	"testing"

	"github.com/modelreg/modelreg/store"
)

func TestMemoryConformance(t *testing.T) {
	Run(t, func(t *testing.T) store.Store { return NewMemory(nil) })
}
