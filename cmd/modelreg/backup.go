package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/modelreg/modelreg/store/sqlite"
)

// dbFile is the name of the store's database in a data directory.
const dbFile = "modelreg.db"

// runBackup copies the store of a data directory to a new file, while a
// server may be using it (see sqlite.Backup).
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("MODELREG_DATA", "./modelreg-data"), "data directory of the store to copy (env MODELREG_DATA)")
	out := fs.String("out", "", "the copy: a new file (it must not exist), readable by its owner only")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: modelreg backup --out FILE [--data DIR]

Copies the store in --data to the new file --out, consistent as of the
start of the copy, while a server may be running on it. To restore: stop
the server, delete modelreg.db-wal and modelreg.db-shm in the data
directory, and put the copy in place of modelreg.db.

A user who cannot write the data directory can back it up while a server
runs on it, or while none does: the backup then locks it, as a server
does, and a server started meanwhile fails until the backup is done.
To lock it, that user must be able to read the data directory and its
LOCK file, which a server creates readable by its own user only.

flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: backup takes no arguments, got %q", errUsage, fs.Args())
	case strings.TrimSpace(*out) == "":
		return fmt.Errorf("%w: --out is required: the file to write the copy to", errUsage)
	case strings.TrimSpace(*data) == "":
		return fmt.Errorf("%w: --data must be a directory", errUsage)
	}
	db := filepath.Join(*data, dbFile)
	err := sqlite.Backup(ctx, db, *out)
	if errors.Is(err, sqlite.ErrBackupReadOnlyDir) {
		// SQLite wants to create the -wal or -shm file, which a running
		// server keeps, and this user cannot write the data directory:
		// read the files themselves, holding the lock a server takes,
		// so that none runs meanwhile.
		unlock, lerr := shareDataDir(*data)
		switch {
		case errors.Is(lerr, syscall.EWOULDBLOCK):
			return fmt.Errorf("%w: %v, yet SQLite's -wal or -shm file is missing there (is the server starting?): try again once it runs, or run the backup as the user the server runs as", sqlite.ErrBackupReadOnlyDir, lerr)
		case lerr != nil:
			// A server creates LOCK readable by its own user only.
			return fmt.Errorf("%w: the backup must lock the data directory and its LOCK file, as a server does, so that none starts meanwhile, and cannot: %w: let this user read them, or run the backup as the user the server runs as", sqlite.ErrBackupReadOnlyDir, lerr)
		}
		defer unlock()
		err = sqlite.BackupStopped(ctx, db, *out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", db, *out)
	return nil
}
