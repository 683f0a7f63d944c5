package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/store/sqlite"
)

// TestServeFlagRanges: a limit or timeout out of range is a usage error
// (exit 2) naming the flag, not a silent default or no limit at all;
// the zeros the help documents are accepted.
func TestServeFlagRanges(t *testing.T) {
	t.Setenv("MODELREG_ADMIN_TOKEN", "serve-test-admin-token-0123")
	for _, args := range [][]string{
		{"--max-body", "0"}, {"--max-body", "-5"}, {"--max-body", "100000000000"},
		{"--max-in-flight", "0"}, {"--queue-wait", "-1s"}, {"--sweep-interval", "-1s"},
		{"--max-resident-tenants", "-1"}, {"--release-memory-after", "-1"},
		{"--read-header-timeout", "0"}, {"--read-timeout", "0"}, {"--write-timeout", "-1s"},
		{"--conn-idle-timeout", "0"}, {"--shutdown-timeout", "-1s"}, {"--drain-delay", "-1s"},
		{"--max-models", "0"}, {"--max-tenant-bytes", "0"}, {"--max-depth", "0"}, {"--max-depth", "33"},
		{"--access-log", "--log-level", "warn"}, {"--max-tenant-in-flight", "-2"}, {"--data", ""}, {"--data", " "},
	} {
		var out, errb bytes.Buffer
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // if it serves
		code := run(ctx, append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, args...), &out, &errb)
		cancel()
		if code != 2 || !strings.Contains(errb.String(), args[0]) {
			t.Errorf("%q: exit %d, stderr %s", args, code, errb.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "modelreg.db")); err == nil {
			t.Errorf("%q: the store was created", args)
		}
	}
	// Documented zeros: start, listen, stop.
	args := []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--queue-wait", "0", "--sweep-interval", "0",
		"--max-resident-tenants", "0", "--release-memory-after", "0", "--idle-timeout", "0", "--drain-delay", "0"}
	if code, stderr := serveUntilListening(args); code != 0 || !strings.Contains(stderr, `"listening"`) {
		t.Errorf("documented zeros: exit %d: %s", code, stderr)
	}
}

// TestServeAdminTokenChecked: an admin token that could never be sent in
// an Authorization header, or is too short, is a usage error; surrounding
// white space and a byte-order mark are not part of it.
func TestServeAdminTokenChecked(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
		bad       bool
	}{
		{"", "", false},
		{"  serve-test-admin-token-0123\n", "serve-test-admin-token-0123", false},
		{"\ufeffserve-test-admin-token-0123\r\n", "serve-test-admin-token-0123", false},
		{"  \n", "", true},
		{"short", "", true},
		{"serve-test-admin-token-0123\nsecond-line-token-4567", "", true},
		{"serve-test-admin-token-0123\x01", "", true},
		{"serve-test-admin-token-0123\x7f", "", true},
		{"serve-test admin-token-0123", "serve-test admin-token-0123", false}, // sendable
		{"serve-test-admin-tokén-0123", "serve-test-admin-tokén-0123", false},
	} {
		got, err := adminToken(tc.raw, "the token")
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%q: %q, %v", tc.raw, got, err)
		}
	}
	t.Setenv("MODELREG_ADMIN_TOKEN", "serve-test-admin-token-0123\nsecond-line-token-4567")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // if it serves
	defer cancel()
	if code := run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, &out, &errb); code != 2 {
		t.Errorf("a two-line token: exit %d, stderr %s", code, errb.String())
	}
}

// TestServeBindsBeforeGeneratingToken: a first start that cannot listen
// does not generate (and print, once) the admin token, so the next start
// still does.
func TestServeBindsBeforeGeneratingToken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Setenv("MODELREG_ADMIN_TOKEN", "")
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--data", dir, "--addr", busy.Addr().String()}, &out, &errb); code == 0 {
		t.Fatal("started on a busy port")
	}
	if strings.Contains(errb.String(), "generated the admin token") {
		t.Errorf("a start that could not listen generated the token:\n%s", errb.String())
	}
	if _, stderr := serveUntilListening([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}); !strings.Contains(stderr, "generated the admin token") {
		t.Errorf("the next start did not generate the token:\n%s", stderr)
	}
}

// TestServeStopDuringStart: a stop requested while the start waits for a
// store another process has locked ends the start at once, as a clean
// exit, not after the store's busy timeout (10 s) with a failure.
func TestServeStopDuringStart(t *testing.T) {
	t.Setenv("MODELREG_ADMIN_TOKEN", "serve-test-admin-token-0123")
	dir := t.TempDir()
	path := filepath.Join(dir, "modelreg.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	defer db.Exec(`ROLLBACK`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(ctx, []string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, &out, &errb)
	if d := time.Since(t0); code != 0 || d > 5*time.Second {
		t.Errorf("exit %d after %v: %s", code, d.Round(time.Millisecond), errb.String())
	}
}

// TestServeWarnsOfReadableTokenFile: an admin token file other users can
// read or write gets a warning at the start; a private one (execute bits
// aside) does not.
func TestServeWarnsOfReadableTokenFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	t.Setenv("MODELREG_ADMIN_TOKEN", "")
	for _, mode := range []os.FileMode{0o644, 0o620, 0o602, 0o600, 0o611} {
		file := filepath.Join(t.TempDir(), "admin")
		if err := os.WriteFile(file, []byte("serve-test-admin-token-0123\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		code, stderr := serveUntilListening([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-token-file", file})
		warned := strings.Contains(stderr, "other users can read or write the admin token file")
		if code != 0 || warned != (mode&0o066 != 0) {
			t.Errorf("mode %v: exit %d, warned %v: %s", mode, code, warned, stderr)
		}
	}
}

// TestServeConfiguredTokenRevokesGenerated: a start with
// MODELREG_ADMIN_TOKEN revokes the generated admin token, and says so; the
// next start without it generates and prints a new token rather than
// bringing the old one back.
func TestServeConfiguredTokenRevokesGenerated(t *testing.T) {
	dir := t.TempDir()
	start := func(configured string) string {
		t.Helper()
		t.Setenv("MODELREG_ADMIN_TOKEN", configured)
		code, stderr := serveUntilListening([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"})
		if code != 0 || !strings.Contains(stderr, `"listening"`) {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return stderr
	}
	generated := regexp.MustCompile(`mra_[A-Za-z0-9_-]{43}`)
	first := generated.FindString(start(""))
	if first == "" {
		t.Fatal("the first start printed no admin token")
	}
	const revokedMsg = "revoked the generated one"
	if log := start("serve-test-admin-token-0123"); !strings.Contains(log, revokedMsg) {
		t.Errorf("a configured token's start does not say it revoked the generated one:\n%s", log)
	}
	if log := start("serve-test-admin-token-0123"); strings.Contains(log, revokedMsg) {
		t.Errorf("the next configured start revoked again:\n%s", log)
	}
	if second := generated.FindString(start("")); second == "" || second == first {
		t.Errorf("a start without the configured token printed %q, want a new token (the first was %q)", second, first)
	}
}

// serveUntilListening runs the serve command line args until the server
// says that it listens, then stops it, and returns its exit code and what
// it wrote to stderr. A server that never says so is stopped after a
// minute. (A fixed time to serve would end a start that a busy machine
// makes slow before it listens.)
func serveUntilListening(args []string) (code int, stderr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &stopAtWriter{stop: cancel, at: []byte(`"listening"`)}
	code = run(ctx, args, io.Discard, w)
	w.mu.Lock()
	defer w.mu.Unlock()
	return code, w.buf.String()
}

// stopAtWriter keeps what is written to it, and calls stop once it holds
// at.
type stopAtWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	at   []byte
	stop func()
}

func (w *stopAtWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), w.at) {
		w.stop()
	}
	return len(p), nil
}

// TestServeStoreFlag: --store names a PostgreSQL database instead of the
// data directory's SQLite file; both at once, or another kind of URL, is
// a usage error; the logs never show the URL's password.
func TestServeStoreFlag(t *testing.T) {
	t.Setenv("MODELREG_ADMIN_TOKEN", "serve-test-admin-token-0123")
	for _, tc := range []struct {
		args []string
		env  string // MODELREG_DATA
		want string
	}{
		{[]string{"--store", "postgres://localhost/x", "--data", t.TempDir()}, "", "--store and --data"},
		{[]string{"--store", "postgres://localhost/x"}, t.TempDir(), "--store and --data"},
		{[]string{"--store", "/var/lib/modelreg.db"}, "", "postgres://"},
		{[]string{"--store", "mysql://localhost/x"}, "", "postgres://"},
	} {
		t.Setenv("MODELREG_DATA", tc.env)
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q (MODELREG_DATA=%q): exit %d, stderr %s; want exit 2 and %q", tc.args, tc.env, code, errb.String(), tc.want)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"postgres://modelreg:s3cret@db.example:5432/modelreg?sslmode=require", "postgres://modelreg:xxxxx@db.example:5432/modelreg?sslmode=require"},
		{"postgresql://db.example/modelreg", "postgresql://db.example/modelreg"},
		// libpq and pgx take the password, and the client key's, as
		// parameters too.
		{"postgres://db.example/modelreg?sslmode=require&password=s3cret", "postgres://db.example/modelreg?password=xxxxx&sslmode=require"},
		{"postgres://u@db.example/modelreg?sslpassword=s3cret&sslkey=k.pem", "postgres://u@db.example/modelreg?sslkey=k.pem&sslpassword=xxxxx"},
	} {
		if got := redactURL(tc.url); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// A server samples allocations for heap profiles only when it serves them
// (--debug-addr), and a rate set in GODEBUG is left as it is.
func TestHeapProfilingOnlyWithDebugAddr(t *testing.T) {
	saved := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = saved })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GODEBUG", "")
	runtime.MemProfileRate = defaultMemProfileRate
	heapProfileOnlyForDebug()
	if runtime.MemProfileRate != 0 {
		t.Fatalf("without --debug-addr: MemProfileRate %d, want 0", runtime.MemProfileRate)
	}
	stop, err := serveDebug("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if runtime.MemProfileRate != defaultMemProfileRate {
		t.Fatalf("with --debug-addr: MemProfileRate %d, want %d", runtime.MemProfileRate, defaultMemProfileRate)
	}

	for _, rate := range []int{0, 1} {
		t.Setenv("GODEBUG", fmt.Sprintf("gctrace=0,memprofilerate=%d", rate))
		runtime.MemProfileRate = rate
		heapProfileOnlyForDebug()
		stop, err := serveDebug("127.0.0.1:0", log)
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if runtime.MemProfileRate != rate {
			t.Errorf("GODEBUG=memprofilerate=%d: MemProfileRate %d after the start of a debug server", rate, runtime.MemProfileRate)
		}
	}
}
