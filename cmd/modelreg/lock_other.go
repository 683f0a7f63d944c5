//go:build !unix

package main

// lockDataDir does nothing on systems without flock.
func lockDataDir(dir string) (unlock func(), err error) { return func() {}, nil }
