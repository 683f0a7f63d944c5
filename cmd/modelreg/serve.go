package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/server"
	"github.com/modelreg/modelreg/store"
	"github.com/modelreg/modelreg/store/postgres"
	"github.com/modelreg/modelreg/store/sqlite"
)

// serveConfig is the configuration of "modelreg serve".
type serveConfig struct {
	addr, data          string
	storeURL            string // a shared store (PostgreSQL) instead of data's SQLite file
	adminTokenFile      string
	resetAdmin          bool
	idleTimeout         time.Duration
	sweepInterval       time.Duration
	maxResident         int
	releaseMemoryAfter  int
	maxBody             int64
	maxInFlight         int
	maxTenantInFlight   int
	maxTenantRunning    int
	queueWait           time.Duration
	readHeaderTimeout   time.Duration
	readTimeout         time.Duration
	writeTimeout        time.Duration
	connIdleTimeout     time.Duration
	shutdownTimeout     time.Duration
	drainDelay          time.Duration
	logLevel            string
	accessLog           bool
	maxModels, maxDepth int
	maxTenantBytes      int64
	debugAddr           string
	metricsAddr         string
}

// envDefaults reads flag defaults from the environment, remembering the
// first value that does not parse (a usage error: a typo in the
// environment must not silently mean the default).
type envDefaults struct{ err error }

func (e *envDefaults) duration(key string, def time.Duration) time.Duration {
	return envValue(e, key, def, time.ParseDuration, "a duration (e.g. 90s, 15m)")
}

func (e *envDefaults) int(key string, def int) int {
	return envValue(e, key, def, strconv.Atoi, "an integer")
}

// envValue returns the environment variable key parsed with parse, or def
// when it is unset; a value that does not parse is recorded in e.
func envValue[T any](e *envDefaults, key string, def T, parse func(string) (T, error), what string) T {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%w: %s=%q: not %s", errUsage, key, v, what)
	}
	return x
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	var env envDefaults
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", envOr("MODELREG_ADDR", "127.0.0.1:8080"), "listen address (env MODELREG_ADDR); port 0 picks a free port")
	fs.StringVar(&c.data, "data", envOr("MODELREG_DATA", "./modelreg-data"), "data directory of the embedded SQLite store (env MODELREG_DATA)")
	fs.StringVar(&c.storeURL, "store", envOr("MODELREG_STORE", ""), "a PostgreSQL database shared by several replicas, as postgres://user@host:port/db?sslmode=...,\ninstead of --data (env MODELREG_STORE; give the password in PGPASSWORD or ~/.pgpass, not here:\nflags are visible to other users)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", envOr("MODELREG_ADMIN_TOKEN_FILE", ""), "read the admin token from this file (env MODELREG_ADMIN_TOKEN_FILE); MODELREG_ADMIN_TOKEN takes precedence")
	fs.BoolVar(&c.resetAdmin, "reset-admin-token", false, "generate and print a new admin token, replacing the stored one")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", env.duration("MODELREG_IDLE_TIMEOUT", 15*time.Minute), "unload a tenant from memory after this long without requests; 0 or less: never (env MODELREG_IDLE_TIMEOUT)")
	fs.DurationVar(&c.sweepInterval, "sweep-interval", 0, "how often to look for idle tenants and memory to return to the OS (default: idle-timeout/4, 1s to 1m; 1m with no idle timeout)")
	fs.IntVar(&c.maxResident, "max-resident-tenants", env.int("MODELREG_MAX_RESIDENT_TENANTS", 1000), "tenants held in memory at once; beyond it the least recently used idle ones are unloaded; 0: unlimited (env MODELREG_MAX_RESIDENT_TENANTS)")
	fs.IntVar(&c.releaseMemoryAfter, "release-memory-after", 100, "return free memory to the OS once this many fewer tenants are resident than at their peak since the last release, or none (at most once per sweep interval); 0: never")
	fs.Int64Var(&c.maxBody, "max-body", 1<<20, "largest request body in bytes (larger: 413)")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 256, "API requests served at once (more wait up to --queue-wait, then get 503)")
	fs.IntVar(&c.maxTenantInFlight, "max-tenant-in-flight", 0, "requests of one tenant's tokens served at once, more get 429 (0: a quarter of --max-in-flight; -1: no limit)")
	fs.IntVar(&c.maxTenantRunning, "max-tenant-running", 0, "requests of one tenant's tokens computing at once, more wait their turn (0: the number of CPUs the server uses; -1: no limit)")
	fs.DurationVar(&c.queueWait, "queue-wait", 100*time.Millisecond, "how long a request waits for a slot when --max-in-flight are busy; 0: not at all")
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 5*time.Second, "HTTP: time to read request headers")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "HTTP: time to read a whole request")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 30*time.Second, "HTTP: time to write a response")
	fs.DurationVar(&c.connIdleTimeout, "conn-idle-timeout", 2*time.Minute, "HTTP: how long an idle keep-alive connection stays open")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long to let in-flight requests finish")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "on SIGTERM/SIGINT, how long to keep serving with /readyz at 503 before closing the listener, so that load balancers stop sending requests first")
	fs.StringVar(&c.logLevel, "log-level", envOr("MODELREG_LOG_LEVEL", "info"), "debug, info, warn or error (env MODELREG_LOG_LEVEL)")
	fs.BoolVar(&c.accessLog, "access-log", false, "log every request (default: only server errors)")
	fs.IntVar(&c.maxModels, "max-models", 10000, "quota: named models per tenant")
	fs.Int64Var(&c.maxTenantBytes, "max-tenant-bytes", 64<<20, "quota: definition bytes per tenant")
	fs.IntVar(&c.maxDepth, "max-depth", maxDepthQuota, "quota: nesting depth of a definition (at most the default)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", envOr("MODELREG_METRICS_ADDR", ""), "serve /metrics on this separate address only, not on --addr, which tenants reach (env MODELREG_METRICS_ADDR)")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve net/http/pprof on this separate address (e.g. 127.0.0.1:6060); off by default, and without it the server does not sample allocations for heap profiles")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: modelreg serve [flags]\n\nRuns the HTTP API, on the SQLite store of --data, or on the PostgreSQL\ndatabase of --store that several replicas share. The admin token comes\nfrom MODELREG_ADMIN_TOKEN, or --admin-token-file, or is generated at the\nfirst start and printed once; a configured token revokes a generated one\n(the next start without one generates a new token).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if env.err != nil {
		return env.err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	dataSet := false
	fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "data" })
	if c.storeURL != "" && (dataSet || os.Getenv("MODELREG_DATA") != "") {
		return fmt.Errorf("%w: --store and --data name two different stores: give one", errUsage)
	}
	if err := c.check(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q", errUsage, c.logLevel)
	}
	if c.accessLog && level > slog.LevelInfo {
		return fmt.Errorf("%w: --access-log writes at the info level, which --log-level %s leaves out", errUsage, c.logLevel)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	return serve(ctx, c, log, stderr)
}

// maxDepthQuota is the largest --max-depth, the default. Every nested
// level of a structure keeps the canonical form of what it holds, so a
// deep structure keeps far more memory than the definition bytes the
// bytes quota counts: the depth quota may be lowered, not raised.
const maxDepthQuota = 32

// maxBodyLimit is the largest --max-body.
const maxBodyLimit = 1 << 30

// check refuses flag values out of range, as usage errors: a zero or
// negative limit or timeout would otherwise silently mean a default, or no
// limit at all. The values the help documents (0 for no idle timeout,
// no residency cap, no memory release, no queueing, the default sweep
// interval, no drain delay) are kept.
func (c *serveConfig) check() error {
	for _, v := range []struct {
		name string
		bad  bool
		want string
	}{
		{"data", c.storeURL == "" && strings.TrimSpace(c.data) == "", "a directory (it is created if needed)"},
		{"store", c.storeURL != "" && !isPostgresURL(c.storeURL), "a postgres:// or postgresql:// URL"},
		{"max-body", c.maxBody < 1 || c.maxBody > maxBodyLimit, fmt.Sprintf("1 to %d bytes", maxBodyLimit)},
		{"max-in-flight", c.maxInFlight < 1, "at least 1"},
		{"queue-wait", c.queueWait < 0, "0 or more"},
		{"max-tenant-in-flight", c.maxTenantInFlight < -1, "-1 (no limit), 0 (a quarter of --max-in-flight) or more"},
		{"max-tenant-running", c.maxTenantRunning < -1, "-1 (no limit), 0 (the CPUs used) or more"},
		{"sweep-interval", c.sweepInterval < 0, "0 (the default) or more"},
		{"max-resident-tenants", c.maxResident < 0, "0 (unlimited) or more"},
		{"release-memory-after", c.releaseMemoryAfter < 0, "0 (never) or more"},
		{"read-header-timeout", c.readHeaderTimeout <= 0, "more than 0"},
		{"read-timeout", c.readTimeout <= 0, "more than 0"},
		{"write-timeout", c.writeTimeout <= 0, "more than 0"},
		{"conn-idle-timeout", c.connIdleTimeout <= 0, "more than 0"},
		{"shutdown-timeout", c.shutdownTimeout <= 0, "more than 0"},
		{"drain-delay", c.drainDelay < 0, "0 or more"},
		{"max-models", c.maxModels < 1, "at least 1"},
		{"max-tenant-bytes", c.maxTenantBytes < 1, "at least 1"},
		{"max-depth", c.maxDepth < 1 || c.maxDepth > maxDepthQuota, fmt.Sprintf("between 1 and %d", maxDepthQuota)},
	} {
		if v.bad {
			return fmt.Errorf("%w: --%s must be %s", errUsage, v.name, v.want)
		}
	}
	return nil
}

// adminToken returns the admin token configured in raw (the environment
// variable's or the file's content, named by source), "" when raw is "".
// Surrounding white space and a byte-order mark are not part of it (a
// client's Authorization header is trimmed too, and editors add marks); a
// token holding a control character (a second line, say), which no
// Authorization header can carry, or shorter than
// server.MinAdminTokenLen, is a usage error.
func adminToken(raw, source string) (string, error) {
	if raw == "" {
		return "", nil
	}
	tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "\ufeff"))
	switch {
	case tok == "":
		return "", fmt.Errorf("%w: %s is blank", errUsage, source)
	case len(tok) < server.MinAdminTokenLen:
		return "", fmt.Errorf("%w: %s is shorter than %d bytes", errUsage, source, server.MinAdminTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 && tok[i] != '\t' || tok[i] == 0x7f {
			return "", fmt.Errorf("%w: %s holds a control character (byte %d), which an Authorization header cannot carry", errUsage, source, i)
		}
	}
	return tok, nil
}

func serve(ctx context.Context, c serveConfig, log *slog.Logger, stderr io.Writer) error {
	tok, err := adminToken(os.Getenv("MODELREG_ADMIN_TOKEN"), "MODELREG_ADMIN_TOKEN")
	if err != nil {
		return err
	}
	if tok == "" && c.adminTokenFile != "" {
		b, err := os.ReadFile(c.adminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token file: %w", err)
		}
		if tok, err = adminToken(string(b), "the admin token file "+c.adminTokenFile); err != nil {
			return err
		}
		if tok == "" {
			return fmt.Errorf("%w: the admin token file %s is empty", errUsage, c.adminTokenFile)
		}
		if fi, err := os.Stat(c.adminTokenFile); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o066 != 0 {
			log.Warn("other users can read or write the admin token file: make it private (chmod 600)",
				"file", c.adminTokenFile, "mode", fi.Mode().Perm().String())
		}
	}

	// A stop requested during the start (ctx done) ends it at once (a
	// store locked by another process is waited for up to its busy
	// timeout otherwise), as a clean exit: what the start did is
	// transactional.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			log.Info("stopped during the start", "err", err)
			return nil
		}
		return err
	}
	st, where, closeStore, err := openStore(ctx, c)
	if err != nil {
		return stopped(err)
	}
	defer func() {
		if err := closeStore(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()

	// The listeners are bound before an admin token is generated (and
	// printed, once): a start that cannot serve must not use that up.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn net.Listener
	if c.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	if c.debugAddr != "" {
		stopDebug, err := serveDebug(c.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	hash, generated, revoked, err := server.ResolveAdminToken(ctx, st, tok, c.resetAdmin)
	if err != nil {
		return stopped(err)
	}
	if revoked {
		// Said once, at the start that revoked it: the operator learns that
		// removing the configured token later does not bring the generated
		// one back.
		log.Warn("the configured admin token revoked the generated one, whose hash was in the store: " +
			"it no longer works, and a start without a configured token generates and prints a new one")
	}
	if generated != "" {
		fmt.Fprintf(stderr, "\nmodelreg: generated the admin token. It is shown this once and only its hash is\n"+
			"stored: keep it safe (or set MODELREG_ADMIN_TOKEN; --reset-admin-token makes a new one).\n\n"+
			"    %s\n\n", generated)
	}

	srv, err := server.New(ctx, server.Config{
		Store:          st,
		AdminTokenHash: hash,
		// A generated token's hash is in the store: follow what other
		// replicas do to it.
		FollowStoredAdminToken: tok == "",
		Logger:                 log,
		AccessLog:              c.accessLog,
		MaxBodyBytes:           c.maxBody,
		MaxInFlight:            c.maxInFlight,
		MaxTenantInFlight:      c.maxTenantInFlight,
		MaxTenantRunning:       c.maxTenantRunning,
		QueueWait:              off(c.queueWait),
		IdleTimeout:            off(c.idleTimeout),
		SweepInterval:          c.sweepInterval,
		MaxResidentTenants:     off(c.maxResident),
		ReleaseMemoryAfter:     off(c.releaseMemoryAfter),
		Policy:                 modelreg.Policy{MaxModels: c.maxModels, MaxBytes: c.maxTenantBytes, MaxDepth: c.maxDepth},
		MetricsElsewhere:       metricsLn != nil,
	})
	if err != nil {
		return stopped(err)
	}
	defer srv.Close()
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: c.writeTimeout}
		go ms.Serve(metricsLn)
		defer ms.Close()
		log.Info("metrics listening", "addr", metricsLn.Addr().String())
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: c.readHeaderTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.connIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("listening", append([]any{"addr", ln.Addr().String()}, append(where, "idle_timeout", c.idleTimeout.String())...)...)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Drain()
	if c.drainDelay > 0 {
		log.Info("shutting down: not ready, still serving", "drain_delay", c.drainDelay.String())
		t := time.NewTimer(c.drainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown timeout: closing remaining connections")
		hs.Close()
	} else if err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// isPostgresURL reports whether u is a URL that --store accepts.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openStore opens the store c names: the embedded SQLite database in the
// data directory, which it locks against a second server, or the shared
// PostgreSQL database of --store. where describes it for the logs (never
// with a password). close closes the store and lets go of the directory.
func openStore(ctx context.Context, c serveConfig) (st store.Store, where []any, close func() error, err error) {
	if c.storeURL != "" {
		pg, err := postgres.Open(ctx, c.storeURL)
		if err != nil {
			return nil, nil, nil, err
		}
		return pg, []any{"store", redactURL(c.storeURL)}, pg.Close, nil
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockDataDir(c.data)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(c.data, dbFile))
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return db, []any{"data", c.data}, func() error {
		defer unlock()
		return db.Close()
	}, nil
}

// redactURL returns u with its password, if any, replaced by "xxxxx".
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	// The password, and the client key's, may also be parameters.
	if q := p.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// off maps a flag's 0 or less, which turns a setting off (no idle
// timeout, no residency cap, no memory release, no queueing), to server.Config's
// negative value for off: there, zero selects the default.
func off[T int | time.Duration](v T) T {
	if v <= 0 {
		return -1
	}
	return v
}

// defaultMemProfileRate is the runtime's default runtime.MemProfileRate.
const defaultMemProfileRate = 512 << 10

// heapProfileOnlyForDebug turns off the runtime's sampling of allocations
// for heap profiles in a server process, unless GODEBUG sets
// memprofilerate; serveDebug turns it back on. A heap profile can be read
// only from the --debug-addr listener, and the runtime's records of the
// samples are never freed: sampled over a burst of tenant loads they
// kept some 300 KiB resident, 1.5% of a fresh server (BENCHMARKS.md,
// fourteenth series). Only main calls it, before anything else runs (the
// runtime reads the rate without synchronization).
func heapProfileOnlyForDebug() {
	if !memProfileRateSet() {
		runtime.MemProfileRate = 0
	}
}

// memProfileRateSet reports whether GODEBUG sets the runtime's
// memprofilerate, which the server then leaves alone.
func memProfileRateSet() bool { return strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") }

// serveDebug serves the pprof handlers on their own listener, never on the
// API's. The heap profile covers the allocations from its start on: it
// turns on the sampling that heapProfileOnlyForDebug turned off.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	if runtime.MemProfileRate == 0 && !memProfileRateSet() {
		runtime.MemProfileRate = defaultMemProfileRate
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	log.Info("debug server (pprof) listening", "addr", ln.Addr().String())
	return func() { hs.Close() }, nil
}
