package modelreg

import (
	"testing"
	"unsafe"
)

// TestModelAllocSizes pins the sizes the allocator is asked for by the
// workload's models (WORKLOAD.md §2): a named model of seven properties
// with its definition fits the 1 KiB size class, and an anonymous model
// of two properties the 416-byte class. The allocator puts an 8-byte
// header in front of an object over 512 bytes that holds pointers, so the
// named model has 1016 bytes. One more word in Model moves both up a class
// (1152 and 448 bytes, about 5% more heap per tenant), so this test makes
// that a decision rather than an accident.
func TestModelAllocSizes(t *testing.T) {
	const header = 8
	for _, c := range []struct {
		name  string
		size  uintptr
		class uintptr
	}{
		{"named model, 7 properties", unsafe.Sizeof(withProps[namedModel, [7]props]{}), 1024},
		{"anonymous model, 2 properties", unsafe.Sizeof(withProps[anonModel, [2]props]{}), 416},
	} {
		need := c.size
		if need > 512 {
			need += header
		}
		if need > c.class {
			t.Errorf("%s: %d bytes to allocate, over the %d-byte size class", c.name, need, c.class)
		}
	}
}
