//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
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
			return nil, fmt.Errorf("data directory %s is in use by another modelreg server (or by a backup, see modelreg backup): %w", dir, err)
		}
	}
	return func() { f.Close(); d.Close() }, nil
}

// shareDataDir takes a shared lock on the data directory and on its LOCK
// file, if there is one: while it holds them, no server holds or takes
// lockDataDir's. It writes nothing in the directory, so it works in one
// this user cannot write.
func shareDataDir(dir string) (unlock func(), err error) {
	var locked []*os.File
	unlock = func() {
		for _, f := range locked {
			f.Close()
		}
	}
	for i, p := range []string{dir, filepath.Join(dir, "LOCK")} {
		f, err := os.Open(p)
		if i == 1 && errors.Is(err, fs.ErrNotExist) {
			break // no server ever ran here; a server of this version locks dir
		}
		if err != nil {
			unlock()
			return nil, err
		}
		locked = append(locked, f)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
			unlock()
			return nil, fmt.Errorf("data directory %s is in use by a modelreg server: %w", dir, err)
		}
	}
	return unlock, nil
}
