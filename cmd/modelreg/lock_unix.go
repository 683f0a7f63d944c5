//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on the data directory, so that two
// servers never share one store (each would cache it in its own memory).
// It locks the directory itself, which no one deletes by mistake for a
// stale lock file, and the LOCK file in it, which servers of earlier
// versions lock. The locks go with the process: LOCK is never stale.
func lockDataDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		d.Close()
		return nil, err
	}
	for _, l := range []*os.File{d, f} {
		if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			d.Close()
			f.Close()
			return nil, fmt.Errorf("data directory %s is in use by another modelreg server: %w", dir, err)
		}
	}
	return func() { f.Close(); d.Close() }, nil
}
