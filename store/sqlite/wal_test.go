package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/store"
)

// TestWALShrinksAfterBurst: a burst of writes while a reader holds an old
// snapshot grows the write-ahead log past its usual size (the checkpoint
// cannot reset it); once the reader is done, the log goes back to at most
// walSizeLimit, rather than keep the burst's size on disk until Close.
func TestWALShrinksAfterBurst(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modelreg.db")
	st, err := Open(ctx, path, WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(i int) {
		t.Helper()
		// Each put's bytes differ from the last of its name: SQLite
		// writes only the overflow pages that changed when a row keeps
		// its size.
		def := []byte(`{"x":"` + strings.Repeat(string(rune('a'+i%26)), 64<<10) + `"}`)
		if _, _, err := st.PutModel(ctx, store.Model{Scope: "acme", Name: fmt.Sprint("M", i%50), Definition: def}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	// A reader holding a snapshot: checkpoints cannot reset the log.
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rtx, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM models`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for i := range 400 { // some 26 MiB
		put(i)
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	burst := walSize()
	if burst < 2*walSizeLimit {
		t.Fatalf("the burst grew the log to %d bytes only", burst)
	}
	rtx.Rollback()
	for i := range 200 {
		put(i)
	}
	if got := walSize(); got > walSizeLimit {
		t.Errorf("log of %d bytes after the burst (%d at its peak), want at most %d", got, burst, walSizeLimit)
	}
}
