package modelreg

import (
	"unsafe"

	"github.com/modelreg/modelreg/definition"
)

// withProps lays a model out in one allocation with its properties.
type withProps[M, P any] struct {
	m M
	p P // [n]definition.Property
}

// allocWith allocates an M and n properties (P is [n]definition.Property)
// together: they have the same lifetime, and one allocation costs less
// than two.
func allocWith[M, P any](n int) (*M, []definition.Property) {
	x := new(withProps[M, P])
	return &x.m, unsafe.Slice((*definition.Property)(unsafe.Pointer(&x.p)), n)
}

type props = definition.Property

// allocModel allocates an M (anonModel or namedModel) with room for n
// properties, exactly sized, in one allocation when n is small.
func allocModel[M any](n int) (*M, []definition.Property) {
	switch n {
	case 0:
		return new(M), nil
	case 1:
		return allocWith[M, [1]props](n)
	case 2:
		return allocWith[M, [2]props](n)
	case 3:
		return allocWith[M, [3]props](n)
	case 4:
		return allocWith[M, [4]props](n)
	case 5:
		return allocWith[M, [5]props](n)
	case 6:
		return allocWith[M, [6]props](n)
	case 7:
		return allocWith[M, [7]props](n)
	case 8:
		return allocWith[M, [8]props](n)
	}
	return new(M), make([]definition.Property, n)
}
