package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
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
		{[]string{"get", "-h"}, 0, "", "usage: modelreg get"},
		{[]string{"get", "X", "--global", "--url", "http://127.0.0.1:1"}, 1, "", "connection refused"},
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
