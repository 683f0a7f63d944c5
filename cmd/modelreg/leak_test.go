package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any leaves a goroutine behind:
// serve, the client commands and loadtest start servers, connections and
// workers that must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
