//go:build unix

package sqlite

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenRefusesReadOnlyDatabase checks that Open fails on a database
// file it cannot write, rather than opening it read-only and failing
// every write afterwards while reads (and a readiness check) pass. Root
// writes any file, so as root the test runs its check in a child process
// as user nobody.
func TestOpenRefusesReadOnlyDatabase(t *testing.T) {
	if path := os.Getenv("MODELREG_TEST_READONLY_DB"); path != "" {
		// The child: report through the exit status.
		st, err := Open(context.Background(), path)
		switch {
		case err == nil:
			st.Close()
			os.Exit(3)
		case !errors.Is(err, ErrReadOnly):
			t.Logf("error: %v", err)
			os.Exit(4)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "modelreg.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		st, err := Open(context.Background(), path)
		if err == nil {
			st.Close()
			t.Fatal("opened a database it cannot write")
		}
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("error %v, want ErrReadOnly", err)
		}
		return
	}
	// As root: the directory writable by nobody (SQLite creates the
	// -wal and -shm files there), the database file not.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary, where nobody may run it.
	bin := filepath.Join(dir, "sqlite.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestOpenRefusesReadOnlyDatabase$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MODELREG_TEST_READONLY_DB="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(err, syscall.EPERM):
		t.Skipf("cannot run a process as nobody here: %v", err)
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		t.Fatalf("opened a database it cannot write:\n%s", out)
	default:
		t.Fatalf("child: %v\n%s", err, out)
	}
}
