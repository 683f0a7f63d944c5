//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/internal/asnobody"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/sqlite"
)

// TestBackupOfReadOnlyDataDir: modelreg backup copies the store of a data
// directory its user cannot write (no server running: SQLite's -wal and
// -shm files are missing, and it cannot create them) with every model,
// and the copy restores; while a server holds the data directory's lock,
// it fails with sqlite.ErrBackupReadOnlyDir and says what to do. As root
// (which writes any directory), the backups run in a child process as
// user nobody, in a directory of root's.
func TestBackupOfReadOnlyDataDir(t *testing.T) {
	if data := os.Getenv("MODELREG_TEST_BACKUP_DATA"); data != "" {
		// The child.
		checkReadOnlyBackup(t, data, os.Getenv("MODELREG_TEST_BACKUP_OUT"), os.Getenv("MODELREG_TEST_BACKUP_LOCKED") != "")
		return
	}
	ctx := context.Background()
	const n = 12
	data := stoppedDataDir(t, n)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "copy.db")
	backup := func(locked bool) {
		t.Helper()
		if os.Getuid() != 0 {
			checkReadOnlyBackup(t, data, out, locked)
			return
		}
		env := []string{"MODELREG_TEST_BACKUP_DATA=" + data, "MODELREG_TEST_BACKUP_OUT=" + out}
		if locked {
			env = append(env, "MODELREG_TEST_BACKUP_LOCKED=1")
		}
		asnobody.Run(t, "^TestBackupOfReadOnlyDataDir$", env...)
	}
	if os.Getuid() != 0 {
		if err := os.Chmod(data, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(data, 0o755) })
	} else {
		// Files of nobody's, as if nobody ran the server, in a
		// directory of root's.
		asnobody.Give(t, filepath.Join(data, "*"))
		asnobody.Searchable(t, data)
		asnobody.Writable(t, outDir)
	}

	// A server holds the data directory.
	unlock, err := lockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	backup(true)
	unlock()

	backup(false)
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, %v; want mode 0600", fi, err)
	}
	if names, _ := filepath.Glob(filepath.Join(data, dbFile+"*")); len(names) != 1 {
		t.Errorf("files %q in the data directory after the backup, want the database alone", names)
	}
	// Restore into a new data directory; a server starts on it.
	restored := t.TempDir()
	if err := os.Rename(out, filepath.Join(restored, dbFile)); err != nil {
		t.Fatal(err)
	}
	unlock, err = lockDataDir(restored)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	st, err := sqlite.Open(ctx, filepath.Join(restored, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	models, err := st.Models(ctx, "acme")
	if err != nil || len(models) != n {
		t.Fatalf("the restored store holds %d models (%v), want %d", len(models), err, n)
	}
	if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: "New", Definition: []byte(`{}`)}, store.Condition{}); err != nil {
		t.Errorf("a write to the restored store: %v", err)
	}
}

// checkReadOnlyBackup runs modelreg backup of data to out, in a directory
// this user cannot write, and checks that it fails while a server holds
// the data directory (locked), and succeeds otherwise.
func checkReadOnlyBackup(t *testing.T, data, out string, locked bool) {
	t.Helper()
	var stdout bytes.Buffer
	err := runBackup(context.Background(), []string{"--data", data, "--out", out}, &stdout, io.Discard)
	if !locked {
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if !strings.Contains(stdout.String(), "backed up") {
			t.Errorf("backup said %q", stdout.String())
		}
		return
	}
	if !errors.Is(err, sqlite.ErrBackupReadOnlyDir) {
		t.Fatalf("backup while a server holds the data directory: %v, want ErrBackupReadOnlyDir", err)
	}
	for _, want := range []string{"in use by a modelreg server", data, "try again once it runs, or run the backup as the user the server runs as"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed backup left %s: %v", out, err)
	}
}

// TestBackupOfReadOnlyDataDirUnreadableLOCK: a server creates LOCK
// readable by its own user only; modelreg backup by another user, who
// cannot write the data directory (no server running), cannot lock it and
// says so, not that a server is starting, and leaves no copy.
func TestBackupOfReadOnlyDataDirUnreadableLOCK(t *testing.T) {
	if data := os.Getenv("MODELREG_TEST_BACKUP_LOCK_DATA"); data != "" {
		// The child.
		checkUnreadableLOCKBackup(t, data, os.Getenv("MODELREG_TEST_BACKUP_LOCK_OUT"))
		return
	}
	data := stoppedDataDir(t, 1)
	// The database is readable by others; LOCK stays as the server made it.
	if err := os.Chmod(filepath.Join(data, dbFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if os.Getuid() != 0 {
		// This user's own LOCK: made unreadable, as another user's is.
		if err := os.Chmod(filepath.Join(data, "LOCK"), 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(data, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(data, 0o755) })
		checkUnreadableLOCKBackup(t, data, out)
		return
	}
	asnobody.Searchable(t, data)
	asnobody.Writable(t, filepath.Dir(out))
	asnobody.Run(t, "^TestBackupOfReadOnlyDataDirUnreadableLOCK$", "MODELREG_TEST_BACKUP_LOCK_DATA="+data, "MODELREG_TEST_BACKUP_LOCK_OUT="+out)
}

func checkUnreadableLOCKBackup(t *testing.T, data, out string) {
	t.Helper()
	err := runBackup(context.Background(), []string{"--data", data, "--out", out}, io.Discard, io.Discard)
	if !errors.Is(err, sqlite.ErrBackupReadOnlyDir) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("backup with LOCK unreadable: %v, want ErrBackupReadOnlyDir and fs.ErrPermission", err)
	}
	for _, want := range []string{filepath.Join(data, "LOCK"), "let this user read them, or run the backup as the user the server runs as"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "server starting") {
		t.Errorf("error %q says a server is starting; none is", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed backup left %s: %v", out, err)
	}
}

// stoppedDataDir returns a new data directory where a server ran and
// stopped, leaving its LOCK file and a store of n models of tenant acme,
// M0, M1 and so on.
func stoppedDataDir(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(data, dbFile))
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
	unlock, err := lockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	return data
}
