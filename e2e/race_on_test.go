//go:build race

package e2e

// raceEnabled reports that the tests run with the race detector; the
// server binary is then built with it too (which also reuses the test
// build's cached packages).
const raceEnabled = true
