package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/modelreg/modelreg/definition"
	"github.com/modelreg/modelreg/server"
)

// client talks to a modelreg server.
type client struct {
	base   string
	token  string
	hc     *http.Client
	stdout io.Writer
	// maxAnswer is the largest answer body read (0: defaultMaxAnswer).
	maxAnswer int64
}

// defaultMaxAnswer is the largest answer body a client reads.
const defaultMaxAnswer = 64 << 20

// apiError is a problem+json answer of the server.
type apiError struct {
	Status     int    `json:"status"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	Path       string `json:"path"`
	Violations []struct {
		Path, Code, Message string
	} `json:"violations"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, strings.TrimPrefix(e.Type, "urn:modelreg:problem:"))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	} else if e.Title != "" {
		b.WriteString(": " + e.Title)
	}
	for _, v := range e.Violations {
		p := v.Path
		if p == "" {
			p = "/"
		}
		fmt.Fprintf(&b, "\n  %s: %s: %s", p, v.Code, v.Message)
	}
	return b.String()
}

// do sends a request and returns the body of a 2xx answer, or an
// *apiError. A 2xx answer larger than the client reads is an error, never
// a body cut short.
func (c *client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &noAnswerError{err}
	}
	defer resp.Body.Close()
	limit := cmp.Or(c.maxAnswer, defaultMaxAnswer)
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1)) // +1: to tell a larger answer
	if err != nil {
		return nil, &noAnswerError{err}
	}
	over := int64(len(b)) > limit
	if over {
		b = b[:limit]
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Type == "" {
			e.Type = http.StatusText(resp.StatusCode)
			e.Detail = strings.TrimSpace(string(b))
			if loc := resp.Header.Get("Location"); resp.StatusCode < 400 && loc != "" {
				e.Detail = "redirected to " + loc + ", which the client does not follow (check --url)"
			}
		}
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
			e.Detail += " (set --token or MODELREG_TOKEN)"
		}
		return nil, e
	}
	if over {
		return nil, fmt.Errorf("the server's answer is larger than %d bytes, the most the client reads", limit)
	}
	return b, nil
}

// noAnswerError is a request that got no answer from the server: it could
// not be reached, or the connection failed or timed out (exit status 3).
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return "no answer from the server: " + e.err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

// show sends a request and prints the JSON body of its answer indented.
func (c *client) show(ctx context.Context, method, path string, body []byte) error {
	b, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	return c.printJSON(b)
}

// printJSON writes a JSON body indented. A body that is not JSON (a
// proxy's page, a --url that is not a modelreg server) is an error.
func (c *client) printJSON(b []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(b), "", "  "); err != nil {
		return notJSON(b)
	}
	out.WriteByte('\n')
	_, err := c.stdout.Write(out.Bytes())
	return err
}

// notJSON is the error for a successful answer whose body is not the JSON
// a modelreg server sends.
func notJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = append(b[:200:200], "..."...)
	}
	return fmt.Errorf("the server's answer is not what a modelreg server sends (check --url): %q", b)
}

func readInput(file string) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("%w: -f FILE is required", errUsage)
	}
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(file)
}

// clientUsage is each client command's synopsis and description, and the
// flags it uses besides --url, --token and --timeout.
var clientUsage = map[string]struct {
	synopsis, doc string
	flags         []string
}{
	"define":   {"define -f FILE", "Define the model(s) in FILE: one definition (which names its model), an array of definitions, or a LoopBack models.json map", []string{"tenant", "global", "f"}},
	"get":      {"get NAME", "Show the model NAME as the scope sees it", []string{"tenant", "global"}},
	"list":     {"list", "List the models the scope sees", []string{"tenant", "global"}},
	"delete":   {"delete NAME", "Delete the model NAME of the scope", []string{"tenant", "global"}},
	"lookup":   {"lookup -f FILE", "Find the model whose structure is the properties map in FILE", []string{"tenant", "global", "f"}},
	"validate": {"validate NAME -f FILE", "Validate and coerce the JSON document in FILE against the model NAME", []string{"tenant", "global", "f"}},
	"schema":   {"schema NAME", "Export the model NAME as JSON Schema (draft 2020-12)", []string{"tenant", "global"}},
	"stats":    {"stats", "Show a tenant's figures (with --tenant or MODELREG_TENANT), or the server's (admin; --tenant \"\" overrides MODELREG_TENANT)", []string{"tenant"}},
	"tenants":  {"tenants", "List the tenants (admin)", nil},
	"cleanup":  {"cleanup", "Delete the tenant: its models and tokens, in the store and in memory (admin)", []string{"tenant"}},
	"evict":    {"evict", "Unload the tenant from memory; the store keeps it (admin)", []string{"tenant"}},
	"token":    {"token issue|list|revoke ID", "Issue an access token for the tenant and print it, once; list the tenant's tokens (ids and times); or revoke the token ID (admin)", []string{"tenant"}},
}

func runClient(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("MODELREG_URL", "http://127.0.0.1:8080"), "server URL (env MODELREG_URL)")
	token := fs.String("token", "", "bearer token (env MODELREG_TOKEN)") // the env is read after parsing: never shown as a default
	tenant := fs.String("tenant", "", "tenant id (env MODELREG_TENANT)") // the env is read after parsing, for the commands that take a tenant
	global := fs.Bool("global", false, "use the global scope instead of a tenant")
	file := fs.String("f", "", `input file ("-": standard input)`)
	timeout := fs.Duration("timeout", 30*time.Second, "request timeout")
	fs.Usage = func() {
		u := clientUsage[cmd]
		fmt.Fprintf(fs.Output(), "usage: modelreg %s [flags]\n\n%s.\n\nflags:\n", u.synopsis, u.doc)
		// Only the flags the command uses.
		all := fs
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(all.Output())
		all.VisitAll(func(f *flag.Flag) {
			switch {
			case f.Name == "token":
				fs.String(f.Name, "", f.Usage) // never the token itself
			case slices.Contains(u.flags, f.Name) || f.Name == "url" || f.Name == "timeout":
				fs.Var(f.Value, f.Name, f.Usage)
				fs.Lookup(f.Name).DefValue = f.DefValue // not a value given before -h
			}
		})
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	// A flag the command does not use is a mistake, not something to
	// ignore (cleanup --global would otherwise delete the tenant).
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name := range set {
		if name != "url" && name != "token" && name != "timeout" && !slices.Contains(clientUsage[cmd].flags, name) {
			return fmt.Errorf("%w: modelreg %s takes no --%s", errUsage, cmd, name)
		}
	}
	if *token == "" {
		*token = os.Getenv("MODELREG_TOKEN")
	}
	// MODELREG_TENANT stands for --tenant, unless --tenant or --global is given.
	if !set["tenant"] && !*global && slices.Contains(clientUsage[cmd].flags, "tenant") {
		*tenant = os.Getenv("MODELREG_TENANT")
	}
	baseURL, err := serverURL(*base)
	if err != nil {
		return err
	}
	c := &client{base: baseURL, token: *token, stdout: stdout, hc: &http.Client{
		Timeout: *timeout,
		// A redirect is an error: Go would repeat a PUT or DELETE
		// answered with 301 as a GET and report the GET's answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}

	if *tenant != "" {
		if err := pathSegment("tenant id", *tenant); err != nil {
			return err
		}
	}
	scope := func() (string, error) {
		switch {
		case *global && *tenant != "":
			return "", fmt.Errorf("%w: --global and --tenant exclude each other", errUsage)
		case *global:
			return "/v1/global", nil
		case *tenant != "":
			return "/v1/tenants/" + url.PathEscape(*tenant), nil
		}
		return "", fmt.Errorf("%w: choose a scope with --tenant ID (or MODELREG_TENANT) or --global", errUsage)
	}
	tenantPath := func() (string, error) {
		if *tenant == "" {
			return "", fmt.Errorf("%w: --tenant ID (or MODELREG_TENANT) is required", errUsage)
		}
		return "/v1/tenants/" + url.PathEscape(*tenant), nil
	}
	name := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("%w: expected one model name", errUsage)
		}
		if err := pathSegment("model name", pos[0]); err != nil {
			return "", err
		}
		return url.PathEscape(pos[0]), nil
	}
	noArgs := func() error {
		if len(pos) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
		}
		return nil
	}
	// scopeNoArgs is scope() for a command that takes no arguments.
	scopeNoArgs := func() (string, error) {
		sc, err := scope()
		if err != nil {
			return "", err
		}
		return sc, noArgs()
	}
	// scopeName is scope() and name() for a command on one model.
	scopeName := func() (sc, n string, err error) {
		if sc, err = scope(); err != nil {
			return "", "", err
		}
		n, err = name()
		return sc, n, err
	}

	switch cmd {
	case "define":
		sc, err := scopeNoArgs()
		if err != nil {
			return err
		}
		data, err := readInput(*file)
		if err != nil {
			return err
		}
		return c.define(ctx, sc, data)
	case "get", "delete", "schema":
		sc, n, err := scopeName()
		if err != nil {
			return err
		}
		switch cmd {
		case "get":
			return c.show(ctx, "GET", sc+"/models/"+n, nil)
		case "schema":
			return c.show(ctx, "GET", sc+"/models/"+n+"/schema", nil)
		}
		if _, err := c.do(ctx, "DELETE", sc+"/models/"+n, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", pos[0])
		return nil
	case "list":
		sc, err := scopeNoArgs()
		if err != nil {
			return err
		}
		return c.show(ctx, "GET", sc+"/models", nil)
	case "lookup":
		sc, err := scopeNoArgs()
		if err != nil {
			return err
		}
		data, err := readInput(*file)
		if err != nil {
			return err
		}
		// The server would place a syntax error in the body built here.
		var raw json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			src := *file
			if src == "-" {
				src = "the standard input"
			}
			return fmt.Errorf("%s is not JSON: %w", src, err)
		}
		body := append(append([]byte(`{"properties": `), bytes.TrimSpace(data)...), '}')
		return c.show(ctx, "POST", sc+"/lookup", body)
	case "validate":
		sc, n, err := scopeName()
		if err != nil {
			return err
		}
		data, err := readInput(*file)
		if err != nil {
			return err
		}
		return c.show(ctx, "POST", sc+"/models/"+n+"/validate", data)
	case "stats":
		if err := noArgs(); err != nil {
			return err
		}
		path := "/v1/stats"
		if *tenant != "" {
			path = "/v1/tenants/" + url.PathEscape(*tenant) + "/stats"
		}
		return c.show(ctx, "GET", path, nil)
	case "tenants":
		if err := noArgs(); err != nil {
			return err
		}
		return c.tenants(ctx)
	case "cleanup", "evict":
		tp, err := tenantPath()
		if err != nil {
			return err
		}
		if err := noArgs(); err != nil {
			return err
		}
		method, path := "DELETE", tp
		if cmd == "evict" {
			method, path = "POST", tp+"/evict"
		}
		return c.show(ctx, method, path, nil)
	case "token":
		usage := fmt.Errorf("%w: expected \"token issue\", \"token list\" or \"token revoke ID\", with --tenant", errUsage)
		if len(pos) == 0 {
			return usage
		}
		tp, err := tenantPath()
		if err != nil {
			return err
		}
		switch {
		case pos[0] == "list" && len(pos) == 1:
			return c.show(ctx, "GET", tp+"/tokens", nil)
		case pos[0] == "revoke" && len(pos) == 2:
			if err := pathSegment("token id", pos[1]); err != nil {
				return err
			}
			if _, err := c.do(ctx, "DELETE", tp+"/tokens/"+url.PathEscape(pos[1]), nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %s\n", pos[1])
			return nil
		case pos[0] != "issue" || len(pos) != 1:
			return usage
		}
		b, err := c.do(ctx, "POST", tp+"/tokens", nil)
		if err != nil {
			return err
		}
		var t struct{ Token string }
		if err := json.Unmarshal(b, &t); err != nil || t.Token == "" {
			return fmt.Errorf("unexpected answer: %s", b)
		}
		fmt.Fprintln(stdout, t.Token)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// pathSegment refuses a tenant id or model name that would not be one
// segment of a request's path: "." and ".." (which a server would resolve
// to another resource, such as the tenant itself). Every other string is
// escaped, and the server judges it.
func pathSegment(what, s string) error {
	if s == "" || s == "." || s == ".." {
		return fmt.Errorf("%w: %q is not a %s", errUsage, s, what)
	}
	return nil
}

// serverURL checks a --url (or MODELREG_URL) and returns it without a
// trailing slash, ready for a request path to be appended.
func serverURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return "", fmt.Errorf("%w: --url %q is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080", errUsage, s)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "", fmt.Errorf("%w: --url %q has a query or fragment: give the server's address only", errUsage, s)
	}
	return strings.TrimRight(s, "/"), nil
}

// define sends each definition of a file. A file that is one definition
// is sent verbatim; an array or a LoopBack models.json map (even of one
// definition) is split, and each definition sent in its normalized form.
func (c *client) define(ctx context.Context, scope string, data []byte) error {
	// The size limit is the server's, for each definition it is sent; a
	// models.json map of many may be larger.
	// Nesting too: the server's follows its depth quota, which it judges.
	lim := definition.Limits{MaxBytes: max(len(data), definition.DefaultMaxBytes), MaxDepth: server.StoredMaxNesting}
	defs, err := definition.ParseAll(data, lim)
	if err != nil {
		if errors.Is(err, definition.ErrInvalidName) && strings.Contains(err.Error(), "missing model name") {
			// The parser's hint for a bare properties map names a Go
			// function; the command line's is this one.
			return errors.New(`the file is not a valid definition: it names no model (a file for define is {"name": "Customer", "properties": {...}}, an array of them, or a models.json map; "lookup -f FILE" takes a bare properties map)`)
		}
		return fmt.Errorf("the file is not a valid definition: %w", err)
	}
	if len(defs) == 0 {
		return errors.New("the file defines no model")
	}
	// A file that is one definition is sent as it is; from an array or a
	// map (even of one), each definition is sent normalized.
	_, notOne := definition.Parse(data, lim)
	for _, d := range defs {
		body := data
		if len(defs) > 1 || notOne != nil {
			if body, err = d.MarshalJSON(); err != nil {
				return err
			}
		}
		b, err := c.do(ctx, "PUT", scope+"/models/"+url.PathEscape(d.Name), body)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		var m struct {
			Name        string
			Fingerprint string
			Revision    int64
		}
		if json.Unmarshal(b, &m) != nil || m.Name == "" || m.Fingerprint == "" {
			return fmt.Errorf("%s: %w", d.Name, notJSON(b))
		}
		fmt.Fprintf(c.stdout, "%s\trevision %d\t%s\n", m.Name, m.Revision, m.Fingerprint)
	}
	return nil
}

// tenants prints every tenant, following the pages.
func (c *client) tenants(ctx context.Context) error {
	path := "/v1/tenants?limit=1000"
	var all []json.RawMessage
	for path != "" {
		b, err := c.do(ctx, "GET", path, nil)
		if err != nil {
			return err
		}
		var page struct {
			Tenants []json.RawMessage
			Next    string
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return notJSON(b)
		}
		all = append(all, page.Tenants...)
		path = page.Next
	}
	if all == nil {
		all = []json.RawMessage{}
	}
	b, err := json.Marshal(map[string]any{"tenants": all})
	if err != nil {
		return err
	}
	return c.printJSON(b)
}
