package server

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestAPIDocMatchesRoutes checks that docs/api.md documents exactly the
// routes the server registers (one "### `METHOD /path`" heading each) and
// exactly the problem types it can return, with their status.
func TestAPIDocMatchesRoutes(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t)

	var documented []string
	for _, m := range regexp.MustCompile("(?m)^### `([A-Z]+ /[^`]*)`$").FindAllSubmatch(doc, -1) {
		documented = append(documented, string(m[1]))
	}
	registered := ts.srv.Routes()
	slices.Sort(documented)
	slices.Sort(registered)
	for _, r := range registered {
		if _, ok := slices.BinarySearch(documented, r); !ok {
			t.Errorf("route %q is registered but not documented in docs/api.md", r)
		}
	}
	for i, d := range documented {
		if _, ok := slices.BinarySearch(registered, d); !ok {
			t.Errorf("docs/api.md documents %q, which the server does not register", d)
		}
		if i > 0 && documented[i-1] == d {
			t.Errorf("docs/api.md documents %q twice", d)
		}
	}

	// Every documented route is really routed (not a 404 or 405 of the mux).
	for _, r := range registered {
		method, path, _ := cut(r)
		path = regexp.MustCompile(`\{tenant\}`).ReplaceAllString(path, "acme")
		path = regexp.MustCompile(`\{name\}`).ReplaceAllString(path, "Customer")
		resp := ts.do(method, path, "", nil)
		if pt := resp.problemType(); pt == "not-found" || pt == "method-not-allowed" {
			t.Errorf("%s: %d %s", r, resp.status, resp.body)
		}
	}

	rows := regexp.MustCompile("(?m)^\\| `(urn:modelreg:problem:[a-z-]+)` \\| ([0-9]{3}) \\|").FindAllSubmatch(doc, -1)
	docTypes := map[string]int{}
	for _, m := range rows {
		st, _ := strconv.Atoi(string(m[2]))
		docTypes[string(m[1])] = st
	}
	for _, p := range ProblemTypes() {
		st, ok := docTypes[string(p.Type)]
		switch {
		case !ok:
			t.Errorf("problem type %s is not documented", p.Type)
		case st != p.Status:
			t.Errorf("problem type %s: documented status %d, server uses %d", p.Type, st, p.Status)
		}
		delete(docTypes, string(p.Type))
	}
	for typ := range docTypes {
		t.Errorf("docs/api.md documents problem type %s, which the server does not have", typ)
	}
}

func cut(route string) (method, path string, ok bool) {
	for i := range route {
		if route[i] == ' ' {
			return route[:i], route[i+1:], true
		}
	}
	return "", route, false
}
