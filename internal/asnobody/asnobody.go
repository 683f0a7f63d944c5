//go:build unix

// Package asnobody runs a test again, in a child process, as user nobody.
// It is for tests of what a process may not write: root may write any
// file and any directory, so a test running as root checks such a refusal
// in a child that runs as nobody.
package asnobody

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// UID and GID are nobody's.
const UID, GID = 65534, 65534

// Run runs the tests of the running test binary named by the -test.run
// pattern run, in a child process as user nobody whose environment is
// this process's plus env, and fails t, with the child's output, if the
// child fails. The child runs a copy of the binary, in a directory of its
// own that nobody may search; every directory the child reaches must be
// searchable by others (see Searchable). Run skips t where a process
// cannot run as nobody.
func Run(t testing.TB, run string, env ...string) {
	t.Helper()
	binDir := t.TempDir()
	Searchable(t, binDir)
	bin := filepath.Join(binDir, filepath.Base(os.Args[0]))
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", run, "-test.v")
	cmd.Dir = binDir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: UID, Gid: GID}}
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
	case errors.Is(err, syscall.EPERM):
		t.Skipf("cannot run a process as nobody here: %v", err)
	default:
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
}

// Searchable lets others search dir and every directory above it, up to
// the temporary directory (t.TempDir makes them owner-only).
func Searchable(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
			t.Fatal(err)
		}
	}
}

// Give makes nobody the owner of the files that match pattern (see
// filepath.Glob).
func Give(t testing.TB, pattern string) {
	t.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := os.Chown(name, UID, GID); err != nil {
			t.Fatal(err)
		}
	}
}

// Writable lets anyone, nobody included, create files in dir, and search
// every directory above it (see Searchable).
func Writable(t testing.TB, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	Searchable(t, dir)
}
