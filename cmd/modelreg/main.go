// Command modelreg runs the modelreg service and talks to it.
//
//	modelreg serve                      run the HTTP API (embedded SQLite store)
//	modelreg define -f customer.json    define models from a file
//	modelreg bench                      run the in-process registry benchmark
//
// Run "modelreg help" for every command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usage is the text of "modelreg help".
const usage = `modelreg — a tenant-aware registry of data models.

Usage:
  modelreg <command> [flags] [arguments]

Server:
  serve          run the HTTP API on --addr (default 127.0.0.1:8080) with the
                 data in --data (default ./modelreg-data)

Client (talk to a server at --url / MODELREG_URL with --token / MODELREG_TOKEN;
choose the tenant with --tenant / MODELREG_TENANT or the global scope with --global):
  define -f FILE         define the model(s) in FILE (one definition, an array
                         of definitions, or a LoopBack models.json map)
  get NAME               show a model
  list                   list the models the scope sees
  delete NAME            delete a model
  lookup -f FILE         find the model whose structure is the properties map in FILE
  validate NAME -f FILE  validate and coerce the JSON document in FILE ("-": stdin)
  schema NAME            export a model as JSON Schema (draft 2020-12)
  stats                  tenant figures (with --tenant) or server figures (admin)
  tenants                list tenants (admin)
  cleanup                delete a tenant: store, memory and tokens (admin)
  evict                  unload a tenant from memory only (admin)
  token issue            issue a token for --tenant and print it (admin)
  token list             list the tokens of --tenant: ids and times (admin)
  token revoke ID        revoke one token of --tenant (admin)

Tools:
  backup         copy the store in --data to a new file, while a server runs
                 (restore: stop the server, delete modelreg.db-wal and -shm,
                 put the copy in place of modelreg.db)
  loadtest       drive a running server with validate requests; report throughput
                 and latency percentiles
  bench          run the in-process registry workload (WORKLOAD.md)
  help           show this text ("modelreg <command> -h" shows a command's flags)

Exit status: 0 done; 1 the request failed (the server answered with an error, or
a file could not be read or parsed); 2 a command-line mistake; 3 no answer from
the server (unreachable, connection failed or timed out).

Environment:
  MODELREG_ADDR, MODELREG_DATA, MODELREG_STORE, MODELREG_ADMIN_TOKEN,
  MODELREG_ADMIN_TOKEN_FILE, MODELREG_IDLE_TIMEOUT, MODELREG_MAX_RESIDENT_TENANTS,
  MODELREG_LOG_LEVEL, MODELREG_METRICS_ADDR (serve);
  MODELREG_URL, MODELREG_TOKEN, MODELREG_TENANT (client commands).
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		heapProfileOnlyForDebug()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the default way
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage error")

// run dispatches a command and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "bench":
		err = runBench(ctx, rest, stdout, stderr)
	case "loadtest":
		err = runLoadtest(ctx, rest, stdout, stderr)
	case "backup":
		err = runBackup(ctx, rest, stdout, stderr)
	case "define", "get", "list", "delete", "lookup", "validate", "schema", "stats", "tenants", "cleanup", "evict", "token":
		err = runClient(ctx, cmd, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "modelreg: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "modelreg %s: %v\n", cmd, err)
		return 2
	case errors.As(err, new(*noAnswerError)):
		fmt.Fprintf(stderr, "modelreg %s: %v\n", cmd, err)
		return 3
	default:
		fmt.Fprintf(stderr, "modelreg %s: %v\n", cmd, err)
		return 1
	}
}

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// parseFlags parses args with fs (whose errors are ContinueOnError): a
// mistake (already reported by fs, with the usage) is an errUsage error,
// -h is flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("get Customer --tenant acme") and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
