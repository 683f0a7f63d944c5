//go:build race

package modelreg_test

const raceEnabled = true
