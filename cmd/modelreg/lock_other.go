//go:build !unix

package main

import (
	"errors"
	"fmt"
)

// lockDataDir does nothing on systems without flock.
func lockDataDir(dir string) (unlock func(), err error) { return func() {}, nil }

// shareDataDir fails on systems without flock: whether a server uses the
// data directory cannot be known.
func shareDataDir(dir string) (unlock func(), err error) {
	return nil, fmt.Errorf("cannot lock the data directory %s on this system: %w", dir, errors.ErrUnsupported)
}
