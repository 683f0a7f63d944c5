//go:build unix

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/internal/asnobody"
	"github.com/modelreg/modelreg/store"
)

// TestOpenRefusesReadOnlyDatabase checks that Open fails on a database
// file it cannot write, rather than opening it read-only and failing
// every write afterwards while reads (and a readiness check) pass. Root
// writes any file, so as root the test runs its check in a child process
// as user nobody.
func TestOpenRefusesReadOnlyDatabase(t *testing.T) {
	if path := os.Getenv("MODELREG_TEST_READONLY_DB"); path != "" {
		checkOpenReadOnly(t, path) // the child
		return
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
		checkOpenReadOnly(t, path)
		return
	}
	// As root: the directory writable by nobody (SQLite creates the
	// -wal and -shm files there), the database file not.
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	asnobody.Run(t, "^TestOpenRefusesReadOnlyDatabase$", "MODELREG_TEST_READONLY_DB="+path)
}

// TestOpenRefusesReadOnlyDirectory: Open fails with ErrReadOnly, naming
// the database and what to fix, when what stops it from writing is the
// directory: SQLite cannot create the -shm file beside a database and its
// -wal file there, nor can Open create a new database. As root (which
// writes any directory) the check runs in a child process as user nobody,
// in a directory of root's that nobody may read but not write.
func TestOpenRefusesReadOnlyDirectory(t *testing.T) {
	if path := os.Getenv("MODELREG_TEST_READONLY_DIR_DB"); path != "" {
		checkOpenReadOnly(t, path, dirSays(path)) // the child
		return
	}
	for _, tc := range []struct {
		name string
		// fill puts what the test needs in dir, writable by owner.
		fill func(t *testing.T, path string)
	}{
		{"wal without shm", func(t *testing.T, path string) {
			walWithoutShm(t, path, 5)
		}},
		{"new database", func(t *testing.T, path string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dataDirDB(t)
			dir := filepath.Dir(path)
			tc.fill(t, path)
			names, _ := filepath.Glob(path + "*")
			if os.Getuid() != 0 {
				readOnlyDir(t, dir)
				checkOpenReadOnly(t, path, dirSays(path))
			} else {
				// The files nobody's, so that only the directory is in
				// the way.
				asnobody.Give(t, path+"*")
				asnobody.Searchable(t, dir)
				asnobody.Run(t, "^TestOpenRefusesReadOnlyDirectory$", "MODELREG_TEST_READONLY_DIR_DB="+path)
			}
			// Nothing was created.
			if after, _ := filepath.Glob(path + "*"); len(after) != len(names) {
				t.Errorf("files %q after Open, want %q", after, names)
			}
		})
	}
}

// checkOpenReadOnly checks that Open of path fails with ErrReadOnly,
// naming path and saying each of says.
func checkOpenReadOnly(t *testing.T, path string, says ...string) {
	t.Helper()
	st, err := Open(context.Background(), path)
	if err == nil {
		st.Close()
		t.Fatal("opened a database it cannot write")
	}
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("error %v, want ErrReadOnly", err)
	}
	for _, want := range append([]string{path}, says...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// dirSays is what Open's error says of a directory it cannot write.
func dirSays(path string) string {
	return "must be able to write the directory " + filepath.Dir(path)
}

// walWithoutShm makes a database at path with n models, the first half
// in the database file, the others only in its -wal file (not checkpointed
// into the database file), and no -shm file: the files of a server that
// crashed, copied without -shm.
func walWithoutShm(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n / 2 {
		if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: []byte(`{}`)}, store.Condition{}); err != nil {
			st.Close()
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil { // checkpoints the log
		t.Fatal(err)
	}
	if st, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	for i := n / 2; i < n; i++ {
		if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: []byte(`{}`)}, store.Condition{}); err != nil {
			st.Close()
			t.Fatal(err)
		}
	}
	// The files as they are while the store is open (its Close would
	// checkpoint the log into the database file).
	saved := map[string][]byte{}
	for _, s := range []string{"", "-wal"} {
		if saved[s], err = os.ReadFile(path + s); err != nil {
			st.Close()
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	for s, b := range saved {
		if err := os.WriteFile(path+s, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if len(saved["-wal"]) == 0 {
		t.Fatal("no log to test with")
	}
}

// readOnlyDir takes the write permission of dir away until the test ends
// (for a user other than root).
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
}

// TestBackupOfReadOnlyDirectory: in a directory this user cannot write,
// with the -shm file missing (no server running), Backup fails with
// ErrBackupReadOnlyDir and leaves no file, and BackupStopped copies every
// model, those only in the -wal file included, without writing in the
// directory; the copy restores as the same store. As root the backups run
// in a child process as user nobody.
func TestBackupOfReadOnlyDirectory(t *testing.T) {
	if path := os.Getenv("MODELREG_TEST_BACKUP_RO_DB"); path != "" {
		checkBackupReadOnly(t, path, os.Getenv("MODELREG_TEST_BACKUP_RO_OUT")) // the child
		return
	}
	ctx := context.Background()
	const n = 7
	for _, tc := range []struct {
		name string
		fill func(t *testing.T, path string)
	}{
		{"closed", func(t *testing.T, path string) {
			st, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i), Definition: []byte(`{}`)}, store.Condition{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"wal without shm", func(t *testing.T, path string) {
			walWithoutShm(t, path, n)
			// Some models are in the log only: a copy of the database
			// file alone would miss them.
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got int
			if err := db.QueryRow(`SELECT count(*) FROM models`).Scan(&got); err != nil || got != n/2 {
				t.Fatalf("the database file alone holds %d models (%v), want %d", got, err, n/2)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := dataDirDB(t)
			dir := filepath.Dir(path)
			tc.fill(t, path)
			before, err := filesOf(path)
			if err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			out := filepath.Join(outDir, "copy.db")
			if os.Getuid() != 0 {
				readOnlyDir(t, dir)
				checkBackupReadOnly(t, path, out)
			} else {
				asnobody.Give(t, path+"*")
				asnobody.Searchable(t, dir)
				asnobody.Writable(t, outDir)
				asnobody.Run(t, "^TestBackupOfReadOnlyDirectory$", "MODELREG_TEST_BACKUP_RO_DB="+path, "MODELREG_TEST_BACKUP_RO_OUT="+out)
			}
			if after, err := filesOf(path); err != nil || !sameFiles(before, after) {
				t.Errorf("the backups changed the database's files: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(outDir, "*")); len(left) != 1 || left[0] != out {
				t.Errorf("files %q beside the copy, want it alone", left)
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("the copy: %v, %v; want mode 0600", fi, err)
			}
			// Restore: the copy as the database of a new data directory.
			restored := filepath.Join(t.TempDir(), "modelreg.db")
			if err := os.Rename(out, restored); err != nil {
				t.Fatal(err)
			}
			st, err := Open(ctx, restored)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			models, err := st.Models(ctx, "acme")
			if err != nil || len(models) != n {
				t.Fatalf("the restored store holds %d models (%v), want %d", len(models), err, n)
			}
			for i, m := range models {
				if want := fmt.Sprint("M", i); m.Name != want {
					t.Errorf("model %d is %q, want %q", i, m.Name, want)
				}
			}
			if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: "New", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
				t.Errorf("a write to the restored store: %v", err)
			}
		})
	}
}

// checkBackupReadOnly checks that Backup of the database at path, in a
// directory this user cannot write, fails with ErrBackupReadOnlyDir and
// writes nothing, and that BackupStopped copies it to out.
func checkBackupReadOnly(t *testing.T, path, out string) {
	t.Helper()
	ctx := context.Background()
	err := Backup(ctx, path, out)
	if !errors.Is(err, ErrBackupReadOnlyDir) {
		t.Fatalf("Backup: %v, want ErrBackupReadOnlyDir", err)
	}
	for _, want := range []string{path, "who may write " + filepath.Dir(path)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the failed Backup left %s: %v", out, err)
	}
	if err := BackupStopped(ctx, path, out); err != nil {
		t.Fatalf("BackupStopped: %v", err)
	}
}

// dataDirDB returns the path of a database not created yet, in a data
// directory of its own (others may read it: the tests hand it to nobody).
func dataDirDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "modelreg.db")
}
