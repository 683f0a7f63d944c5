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
		}
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
