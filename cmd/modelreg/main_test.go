package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/definition"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"help"}, 0, "run the HTTP API", ""},
		{[]string{"--help"}, 0, "Usage:", ""},
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"serve", "extra"}, 2, "", "unexpected argument"},
		{[]string{"serve", "--log-level", "loud"}, 2, "", "--log-level"},
		{[]string{"get", "Customer"}, 2, "", "choose a scope"},
		{[]string{"get", "--tenant", "a", "--global", "X"}, 2, "", "exclude each other"},
		{[]string{"define", "--global"}, 2, "", "-f FILE is required"},
		{[]string{"token", "revoke", "--tenant", "a"}, 2, "", "token issue"},
		{[]string{"cleanup"}, 2, "", "--tenant ID"},
		{[]string{"loadtest"}, 2, "", "--token"},
		{[]string{"get", "-h"}, 0, "", "usage: modelreg get NAME"},
		{[]string{"token", "-h"}, 0, "", "usage: modelreg token issue"},
		{[]string{"get", "Customer", "--tenant", "a", "--bogus"}, 2, "", "modelreg get: usage error: flag provided but not defined"},
		{[]string{"serve", "--bogus"}, 2, "", "modelreg serve: usage error"},
		{[]string{"loadtest", "extra", "--token", "x"}, 2, "", "unexpected argument"},
		{[]string{"get", "X", "--global", "--url", "http://127.0.0.1:1"}, 3, "", "connection refused"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			t.Setenv("MODELREG_TENANT", "")
			t.Setenv("MODELREG_TOKEN", "")
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.inStdout) || !strings.Contains(errb.String(), tc.inStderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args   []string
		pos    string
		tenant string
		global bool
	}{
		{[]string{"Customer", "--tenant", "acme"}, "[Customer]", "acme", false},
		{[]string{"--tenant", "acme", "Customer"}, "[Customer]", "acme", false},
		{[]string{"a", "--global", "b"}, "[a b]", "", true},
		{[]string{"--", "--tenant"}, "[--tenant]", "", false},
		{nil, "[]", "", false},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		tenant := fs.String("tenant", "", "")
		global := fs.Bool("global", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || fmt.Sprint(pos) != tc.pos && !(len(pos) == 0 && tc.pos == "[]") || *tenant != tc.tenant || *global != tc.global {
			t.Errorf("%q: pos %v tenant %q global %v err %v", tc.args, pos, *tenant, *global, err)
		}
	}
}

// TestServeEnvMistake: an environment value that does not parse is a
// usage error, not the default.
func TestServeEnvMistake(t *testing.T) {
	for _, kv := range [][2]string{{"MODELREG_IDLE_TIMEOUT", "30"}, {"MODELREG_MAX_RESIDENT_TENANTS", "abc"}} {
		t.Run(kv[0], func(t *testing.T) {
			t.Setenv(kv[0], kv[1])
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"serve", "--data", t.TempDir()}, &out, &errb); code != 2 || !strings.Contains(errb.String(), kv[0]) {
				t.Errorf("exit %d, stderr %s", code, errb.String())
			}
		})
	}
}

// TestDefineSendsEachDefinition: a file that is one definition is sent as
// it is; each definition of an array or a models.json map, even of one,
// is sent on its own, named.
func TestDefineSendsEachDefinition(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // path -> body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = string(b)
		mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"name": %q, "revision": 1, "fingerprint": "v1:x"}`, path.Base(r.URL.Path))
	}))
	defer srv.Close()
	single := `{"name": "S", "properties": {"a": "string"}}`
	for _, tc := range []struct {
		name, file string
		want       map[string]string // model -> a property it must have
	}{
		{"one definition", single, map[string]string{"S": "a"}},
		{"map of one", `{"E": {"name": "E", "properties": {"x": "string"}}}`, map[string]string{"E": "x"}},
		{"array of one", `[{"name": "F", "properties": {"y": "string"}}]`, map[string]string{"F": "y"}},
		{"map of two", `{"G": {"properties": {"g": "string"}}, "H": {"properties": {"h": "string"}}}`, map[string]string{"G": "g", "H": "h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(got)
			mu.Unlock()
			file := filepath.Join(t.TempDir(), "m.json")
			if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"define", "-f", file, "--tenant", "t", "--url", srv.URL, "--token", "x"}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(tc.want) {
				t.Fatalf("sent %v", got)
			}
			for name, prop := range tc.want {
				body := got["/v1/tenants/t/models/"+name]
				d, err := definition.Parse([]byte(body), definition.Limits{})
				if err != nil || d.Name != name {
					t.Fatalf("%s: sent %s (%v)", name, body, err)
				}
				if _, ok := d.Object.Property(prop); !ok || len(d.Properties) != 1 {
					t.Errorf("%s: sent %s, want its one property %q", name, body, prop)
				}
			}
			if tc.name == "one definition" && got["/v1/tenants/t/models/S"] != single {
				t.Errorf("a single definition was not sent as it is: %s", got["/v1/tenants/t/models/S"])
			}
		})
	}
}

// TestClientHelpListsItsFlags: a client command's help lists the flags it
// uses, not the others'.
func TestClientHelpListsItsFlags(t *testing.T) {
	for cmd := range clientUsage {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{cmd, "-h"}, &out, &errb); code != 0 {
			t.Fatalf("%s -h: exit %d", cmd, code)
		}
		help := errb.String()
		for _, f := range []string{"tenant", "global", "f"} {
			uses := slices.Contains(clientUsage[cmd].flags, f)
			if strings.Contains(help, "  -"+f+" ") || strings.Contains(help, "  -"+f+"\n") {
				if !uses {
					t.Errorf("%s -h lists -%s, which it does not use", cmd, f)
				}
			} else if uses {
				t.Errorf("%s -h does not list -%s", cmd, f)
			}
		}
	}
}

// TestHelpListsEveryEnvironmentVariable: every environment variable a
// command's flags read (its help says "env MODELREG_…") is in the
// Environment section of "modelreg help".
func TestHelpListsEveryEnvironmentVariable(t *testing.T) {
	_, env, ok := strings.Cut(usage, "\nEnvironment:\n")
	if !ok {
		t.Fatal("modelreg help has no Environment section")
	}
	for _, cmd := range []string{"serve", "backup", "loadtest", "list"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{cmd, "-h"}, &out, &errb); code != 0 {
			t.Fatalf("%s -h: exit %d", cmd, code)
		}
		for _, v := range regexp.MustCompile(`MODELREG_[A-Z_]+`).FindAllString(out.String()+errb.String(), -1) {
			if !regexp.MustCompile(`\b` + v + `\b`).MatchString(env) {
				t.Errorf("%s -h mentions %s, which modelreg help's Environment section leaves out", cmd, v)
			}
		}
	}
}
