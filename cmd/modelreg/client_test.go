package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// writeFile writes content to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestClientNeverShowsToken: neither a command's help nor the usage
// printed for a flag mistake shows the token, from the environment or
// from --token.
func TestClientNeverShowsToken(t *testing.T) {
	t.Setenv("MODELREG_TOKEN", "env-secret-token-123")
	for _, args := range [][]string{
		{"get", "-h"},
		{"list", "--token", "flag-secret-token-456", "--bogus"},
		{"loadtest", "-h"},
		{"loadtest", "--token", "flag-secret-token-456", "--bogus"},
	} {
		var out, errb bytes.Buffer
		run(context.Background(), args, &out, &errb)
		if s := out.String() + errb.String(); strings.Contains(s, "secret-token") {
			t.Errorf("%q printed the token:\n%s", args, s)
		}
	}
}

// recorder starts a server that answers every request with body and
// records note(request); seen returns what it recorded so far.
func recorder(t *testing.T, body string, note func(*http.Request) string) (srv *httptest.Server, seen func() []string) {
	var mu sync.Mutex
	var notes []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		notes = append(notes, note(r))
		mu.Unlock()
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(notes)
	}
}

// TestClientTokenFromEnv: the token still comes from MODELREG_TOKEN when
// --token is not given, and --token wins over it.
func TestClientTokenFromEnv(t *testing.T) {
	srv, auth := recorder(t, `{"models": []}`, func(r *http.Request) string { return r.Header.Get("Authorization") })
	t.Setenv("MODELREG_TOKEN", "from-env")
	for _, extra := range [][]string{nil, {"--token", "from-flag"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"list", "--tenant", "a", "--url", srv.URL}, extra...), &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	if want := []string{"Bearer from-env", "Bearer from-flag"}; fmt.Sprint(auth()) != fmt.Sprint(want) {
		t.Errorf("sent %q, want %q", auth(), want)
	}
}

// TestClientDotNames: "." and ".." are not model names or tenant ids; the
// client refuses them (usage, exit 2) and sends nothing, since a server
// would resolve the path to another resource: DELETE
// /v1/tenants/acme/models/.. is the tenant.
func TestClientDotNames(t *testing.T) {
	srv, seen := recorder(t, `{}`, func(r *http.Request) string { return r.Method + " " + r.URL.Path })
	for _, args := range [][]string{
		{"delete", "..", "--tenant", "acme"},
		{"get", ".", "--tenant", "acme"},
		{"stats", "--tenant", ".."},
		{"cleanup", "--tenant", "."},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(args, "--url", srv.URL, "--token", "x"), &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2; stdout %q", args, code, out.String())
		}
	}
	if got := seen(); len(got) > 0 {
		t.Errorf("requests sent: %v", got)
	}
}

// TestClientRedirectIsAnError: an answer that redirects (a front end
// moving http to https, a wrong --url) is an error. Go would repeat a PUT
// or DELETE answered with 301 as a GET and report the GET's answer as if
// the write had happened.
func TestClientRedirectIsAnError(t *testing.T) {
	real := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed: %s %s", r.Method, r.URL.Path)
		fmt.Fprint(w, `{"name": "User", "revision": 5, "fingerprint": "v1:old"}`)
	}))
	defer real.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, real.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer redir.Close()
	file := writeFile(t, "u.json", `{"name": "User", "properties": {"a": "string"}}`)
	for _, args := range [][]string{{"define", "-f", file}, {"delete", "User"}, {"get", "User"}} {
		var out, errb bytes.Buffer
		args = append(args, "--tenant", "acme", "--url", redir.URL, "--token", "x")
		if code := run(context.Background(), args, &out, &errb); code != 1 {
			t.Errorf("%s: exit %d, want 1; stdout %q", args[0], code, out.String())
		} else if !strings.Contains(errb.String(), "301") || !strings.Contains(errb.String(), "redirected to") {
			t.Errorf("%s: %s", args[0], errb.String())
		}
	}
}

// TestClientNonJSONAnswerIsAnError: a 2xx answer that is not JSON (a
// proxy's page, a --url that is not modelreg) is an error, not output.
func TestClientNonJSONAnswerIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>Welcome</html>")
	}))
	defer srv.Close()
	file := writeFile(t, "u.json", `{"name": "User", "properties": {"a": "string"}}`)
	for _, args := range [][]string{{"define", "-f", file}, {"get", "User"}, {"list"}, {"tenants"}} {
		var out, errb bytes.Buffer
		args = append(args, "--tenant", "acme", "--url", srv.URL, "--token", "x")
		if args[0] == "tenants" {
			args = []string{"tenants", "--url", srv.URL, "--token", "x"}
		}
		if code := run(context.Background(), args, &out, &errb); code != 1 || out.Len() > 0 {
			t.Errorf("%s: exit %d, stdout %q", args[0], code, out.String())
		} else if !strings.Contains(errb.String(), "not what a modelreg server sends") {
			t.Errorf("%s: %s", args[0], errb.String())
		}
	}
}

// TestClientCommandLine: what the client sends, and its exit status, for
// the command lines a user gets wrong or half right.
func TestClientCommandLine(t *testing.T) {
	srv, seen := recorder(t, `{"models": [], "tenants": []}`, func(r *http.Request) string { return r.Method + " " + r.URL.Path })
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // its address now refuses connections
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"type": "urn:modelreg:problem:unauthorized", "status": 401, "detail": "send a token: Authorization: Bearer <token>"}`)
	}))
	defer unauthorized.Close()
	empty := writeFile(t, "empty.json", `[]`)
	bare := writeFile(t, "bare.json", `{"street": "string"}`)
	for _, c := range []struct {
		env  string // MODELREG_TENANT
		args []string
		code int
		sent string // the request sent, if any
		err  string // in stderr
	}{
		// MODELREG_TENANT stands for --tenant where --tenant applies,
		// and neither --global nor a command without a tenant sees it.
		{"t1", []string{"list", "--global"}, 0, "GET /v1/global/models", ""},
		{"t1", []string{"list"}, 0, "GET /v1/tenants/t1/models", ""},
		{"t1", []string{"list", "--tenant", "t2"}, 0, "GET /v1/tenants/t2/models", ""},
		{"..", []string{"tenants"}, 0, "GET /v1/tenants", ""},
		{"t1", []string{"stats"}, 0, "GET /v1/tenants/t1/stats", ""},
		{"t1", []string{"stats", "--tenant", ""}, 0, "GET /v1/stats", ""},
		// A flag the command does not take is refused, not ignored.
		{"", []string{"cleanup", "--tenant", "other", "--global"}, 2, "", "takes no --global"},
		{"", []string{"tenants", "--tenant", "t1"}, 2, "", "takes no --tenant"},
		{"", []string{"stats", "--global"}, 2, "", "takes no --global"},
		{"", []string{"token", "issue", "--tenant", "t1", "--global"}, 2, "", "takes no --global"},
		{"", []string{"get", "Customer", "--tenant", "t1", "-f", "/nonexistent"}, 2, "", "takes no --f"},
		// An empty model name is no name.
		{"", []string{"delete", "", "--tenant", "t1"}, 2, "", `"" is not a model name`},
		{"", []string{"validate", "", "--tenant", "t1", "-f", empty}, 2, "", `"" is not a model name`},
		// A file that defines nothing, or is a bare properties map.
		{"", []string{"define", "--tenant", "t1", "-f", empty}, 1, "", "defines no model"},
		{"", []string{"define", "--tenant", "t1", "-f", bare}, 1, "", `"lookup -f FILE" takes a bare properties map`},
		// --url must be a server's address.
		{"", []string{"list", "--tenant", "t1", "--url", "127.0.0.1:8080"}, 2, "", "not an http:// or https:// URL"},
		{"", []string{"list", "--tenant", "t1", "--url", "localhost:8080"}, 2, "", "not an http:// or https:// URL"},
		{"", []string{"list", "--tenant", "t1", "--url", ""}, 2, "", "not an http:// or https:// URL"},
		{"", []string{"list", "--tenant", "t1", "--url", "http://127.0.0.1:8080?x=1"}, 2, "", "query or fragment"},
		{"", []string{"list", "--tenant", "t1", "--url", "http://127.0.0.1:8080/#f"}, 2, "", "query or fragment"},
		{"", []string{"loadtest", "--token", "x", "--url", "127.0.0.1:8080"}, 2, "", "not an http:// or https:// URL"},
		{"", []string{"loadtest", "--token", "x", "--warmup", "-1s"}, 2, "", "--warmup not negative"},
		// No answer at all: exit 3.
		{"", []string{"list", "--tenant", "t1", "--url", closed.URL}, 3, "", "no answer from the server"},
		// A 401 to a request sent without a token says where one goes.
		{"", []string{"list", "--tenant", "t1", "--url", unauthorized.URL, "--token", ""}, 1, "", "(set --token or MODELREG_TOKEN)"},
	} {
		t.Setenv("MODELREG_TENANT", c.env)
		t.Setenv("MODELREG_TOKEN", "")
		before := len(seen())
		args := c.args
		if !slices.Contains(args, "--url") {
			args = append(slices.Clone(args), "--url", srv.URL)
		}
		if !slices.Contains(args, "--token") {
			args = append(args, "--token", "x")
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		var sent string
		if got := seen(); len(got) > before {
			sent = strings.Join(got[before:], ", ")
		}
		if code != c.code || sent != c.sent || !strings.Contains(errb.String(), c.err) {
			t.Errorf("MODELREG_TENANT=%q %q: exit %d, sent %q, stderr %q; want exit %d, sent %q, stderr with %q",
				c.env, c.args, code, sent, errb.String(), c.code, c.sent, c.err)
		}
	}
}

// TestClientHelpShowsDefaults: a command's help shows each flag's
// default, not a value given before -h.
func TestClientHelpShowsDefaults(t *testing.T) {
	var out, errb bytes.Buffer
	run(context.Background(), []string{"list", "--url", "http://example.invalid:1", "--timeout", "5s", "--tenant", "zz", "-h"}, &out, &errb)
	help := out.String() + errb.String()
	if strings.Contains(help, "example.invalid") || strings.Contains(help, `"zz"`) || !strings.Contains(help, "(default 30s)") ||
		!strings.Contains(help, `(default "http://127.0.0.1:8080")`) {
		t.Errorf("help:\n%s", help)
	}
}

// TestDefineLargeModelsJSON: the size limit applies to each definition
// (the server's), not to a models.json holding many.
func TestDefineLargeModelsJSON(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		fmt.Fprintf(w, `{"name": %q, "revision": 1, "fingerprint": "v1:x"}`, path.Base(r.URL.Path))
	}))
	defer srv.Close()
	m := map[string]any{}
	for i := range 20 {
		m[fmt.Sprintf("Big%d", i)] = map[string]any{"description": strings.Repeat("x", 60000), "properties": map[string]string{"a": "string"}}
	}
	b, _ := json.Marshal(m)
	file := writeFile(t, "models.json", string(b))
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"define", "-f", file, "--tenant", "a", "--url", srv.URL, "--token", "x"}, &out, &errb); code != 0 || n != 20 {
		t.Errorf("%d-byte models.json of 20 definitions: exit %d, %d sent: %s", len(b), code, n, errb.String())
	}
}

// TestLookupFileNotJSON: a lookup file that is not JSON is reported as
// such, not with a position in the request the client builds from it.
func TestLookupFileNotJSON(t *testing.T) {
	file := writeFile(t, "empty.json", "")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"lookup", "-f", file, "--tenant", "a", "--url", "http://127.0.0.1:1", "--token", "x"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "empty.json is not JSON") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// TestDefineLeavesDepthToTheServer: the client does not refuse a
// definition nested deeper than the parser's default limit: the server's
// limit follows its depth quota, which it judges.
func TestDefineLeavesDepthToTheServer(t *testing.T) {
	srv, seen := recorder(t, `{"name": "Deep", "fingerprint": "v1:x", "revision": 1}`, func(r *http.Request) string { return r.Method + " " + r.URL.Path })
	def := `{"name": "Deep", "properties": ` + strings.Repeat(`{"n": {"type": `, 20) + `{"leaf": "string"}` + strings.Repeat(`}}`, 20) + `}`
	file := writeFile(t, "deep.json", def)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"define", "-f", file, "--tenant", "acme", "--url", srv.URL, "--token", "x"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := seen(); fmt.Sprint(got) != "[PUT /v1/tenants/acme/models/Deep]" {
		t.Errorf("sent %v", got)
	}
}

// TestTokenListAndRevoke: token list and token revoke ID call the admin
// routes of the tenant's tokens; an id that is not a path segment is a
// usage error, sent nowhere.
func TestTokenListAndRevoke(t *testing.T) {
	srv, seen := recorder(t, `{"tenant": "acme", "tokens": []}`, func(r *http.Request) string { return r.Method + " " + r.URL.EscapedPath() })
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"token", "list"}, 0, `"tokens"`},
		{[]string{"token", "revoke", "0123456789abcdef"}, 0, "revoked 0123456789abcdef"},
		{[]string{"token", "revoke", ".."}, 2, ""},
		{[]string{"token", "revoke"}, 2, ""},
		{[]string{"token", "list", "extra"}, 2, ""},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(tc.args, "--tenant", "acme", "--url", srv.URL, "--token", "x"), &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%v: exit %d, out %q, err %q", tc.args, code, out.String(), errb.String())
		}
	}
	if got := fmt.Sprint(seen()); got != "[GET /v1/tenants/acme/tokens DELETE /v1/tenants/acme/tokens/0123456789abcdef]" {
		t.Errorf("sent %s", got)
	}
}

// TestClientAnswerOverLimit: an answer larger than the client reads is
// reported as such, not cut at the limit and then taken for an answer
// that is not a modelreg server's.
func TestClientAnswerOverLimit(t *testing.T) {
	body := `{"models": [` + strings.Repeat(`{"name": "M"},`, 100) + `{"name": "M"}]}`
	srv, _ := recorder(t, body, func(*http.Request) string { return "" })
	for _, tc := range []struct {
		max     int64
		wantErr string
	}{
		{int64(len(body)), ""},
		{int64(len(body)) - 1, "larger than"},
	} {
		var out bytes.Buffer
		c := &client{base: srv.URL, hc: srv.Client(), stdout: &out, maxAnswer: tc.max}
		err := c.show(context.Background(), "GET", "/v1/global/models", nil)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("limit %d: %v", tc.max, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("limit %d: error %v, want one saying %q", tc.max, err, tc.wantErr)
		}
	}
}
