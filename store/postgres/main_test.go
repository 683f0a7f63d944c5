package postgres

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: a store that was
// not closed keeps its pool's, and a Watch that did not end its
// connection's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
