//go:build unix

package sqlite

import "syscall"

// dirWritable reports whether this process may create files in the
// directory dir: its permissions allow it, and its file system is not
// mounted read-only.
func dirWritable(dir string) bool {
	const wOK, xOK = 0x2, 0x1 // access(2)'s W_OK and X_OK
	return syscall.Access(dir, wOK|xOK) == nil
}
