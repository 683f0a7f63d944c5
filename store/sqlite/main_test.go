package sqlite

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (a store that was
// not closed keeps its connection goroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
