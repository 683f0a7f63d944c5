//go:build race

package server

// raceEnabled reports that the race detector is on: heavy tests scale down.
const raceEnabled = true
