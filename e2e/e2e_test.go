package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver, for the integrity check
)

// TestEveryEndpoint drives every route of the API over HTTP.
func TestEveryEndpoint(t *testing.T) {
	p := start(t, t.TempDir(), nil)

	p.must(200, "GET", "/healthz", "", "")
	p.must(200, "GET", "/readyz", "", "")

	// Tokens (admin) create the tenant.
	tok := p.token("acme")
	if !strings.HasPrefix(tok, "mrt_") || len(tok) != 64 {
		t.Errorf("token = %q", tok)
	}

	// Global scope: admin writes, everyone reads.
	p.must(403, "PUT", "/v1/global/models/User", tok, userDef)
	p.must(201, "PUT", "/v1/global/models/User", adminToken, userDef)
	p.must(200, "GET", "/v1/global/models/User", tok, "")
	p.must(200, "GET", "/v1/global/models", tok, "")
	p.must(200, "POST", "/v1/global/models/User/validate", tok, `{"email": "a@b"}`)
	p.must(422, "POST", "/v1/global/models/User/validate", tok, `{}`)
	p.must(200, "GET", "/v1/global/models/User/schema", tok, "")
	p.must(200, "POST", "/v1/global/lookup", tok, `{"properties": {"email": {"type": "string", "required": true}}}`)

	// Tenant models.
	r := p.must(201, "PUT", "/v1/tenants/acme/models/Customer", tok, customerDef)
	fp, rev := r.obj(t)["fingerprint"].(string), r.obj(t)["revision"].(float64)
	r = p.must(200, "PUT", "/v1/tenants/acme/models/Customer", tok, customerDef)
	if r.obj(t)["fingerprint"] != fp || r.obj(t)["revision"].(float64) <= rev {
		t.Errorf("replace: %s", r.body)
	}
	r = p.must(200, "GET", "/v1/tenants/acme/models/Customer", tok, "")
	if r.obj(t)["fingerprint"] != fp {
		t.Errorf("get: %s", r.body)
	}
	r = p.must(200, "GET", "/v1/tenants/acme/models", tok, "")
	if n := len(r.obj(t)["models"].([]any)); n != 2 { // Customer + global User
		t.Errorf("list: %s", r.body)
	}
	r = p.must(200, "POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"qty": "number", "sku": "string"}}`)
	if r.obj(t)["anonymous"] != true {
		t.Errorf("lookup: %s", r.body)
	}
	p.must(404, "POST", "/v1/tenants/acme/lookup", tok, `{"properties": {"zzz": "string"}}`)
	r = p.must(200, "POST", "/v1/tenants/acme/models/Customer/validate", tok, `{"name": "Ann", "age": "41", "owner": {"email": "x"}}`)
	if doc := r.obj(t)["document"].(map[string]any); doc["age"] != 41.0 {
		t.Errorf("coercion: %s", r.body)
	}
	r = p.must(422, "POST", "/v1/tenants/acme/models/Customer/validate", tok, `{"age": "old", "nope": 1}`)
	if r.problem() != "validation-failed" || len(r.obj(t)["violations"].([]any)) != 3 {
		t.Errorf("violations: %s", r.body)
	}
	p.must(200, "GET", "/v1/tenants/acme/models/Customer/schema", tok, "")
	r = p.must(200, "GET", "/v1/tenants/acme/stats", tok, "")
	if r.obj(t)["models"] != 1.0 {
		t.Errorf("stats: %s", r.body)
	}

	// Admin views.
	r = p.must(200, "GET", "/v1/tenants", adminToken, "")
	if n := len(r.obj(t)["tenants"].([]any)); n != 1 {
		t.Errorf("tenants: %s", r.body)
	}
	p.must(200, "GET", "/v1/stats", adminToken, "")
	if m := p.must(200, "GET", "/metrics", "", ""); !strings.Contains(string(m.body), "modelreg_http_requests_total") {
		t.Errorf("metrics lack request counts")
	}

	// Evict and delete.
	r = p.must(200, "POST", "/v1/tenants/acme/evict", adminToken, "")
	if r.obj(t)["evicted"] != true {
		t.Errorf("evict: %s", r.body)
	}
	p.must(200, "GET", "/v1/tenants/acme/models/Customer", tok, "") // transparent reload
	p.must(204, "DELETE", "/v1/tenants/acme/models/Customer", tok, "")
	p.must(204, "DELETE", "/v1/global/models/User", adminToken, "")
	p.must(201, "PUT", "/v1/tenants/acme/models/Customer", tok, customerDef)
	r = p.must(200, "DELETE", "/v1/tenants/acme", adminToken, "")
	rep := r.obj(t)
	for _, k := range []string{"tenant", "modelsRemoved", "mappingsRemoved", "cleanedModels", "duration"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("cleanup report lacks %q: %s", k, r.body)
		}
	}
	if rep["modelsRemoved"] != 3.0 || fmt.Sprint(rep["cleanedModels"]) != "[Customer]" {
		t.Errorf("cleanup report: %s", r.body)
	}
	p.must(401, "GET", "/v1/tenants/acme/models", tok, "")
	p.must(404, "GET", "/v1/tenants/acme/models", adminToken, "")
	if err := p.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, p.log())
	}
}

func TestTenantTokenIsolation(t *testing.T) {
	p := start(t, t.TempDir(), nil)
	a, b := p.token("alpha"), p.token("beta")
	p.must(201, "PUT", "/v1/tenants/alpha/models/Customer", a, customerDef)
	p.must(201, "PUT", "/v1/tenants/beta/models/Secret", b, `{"properties": {"pin": "string"}}`)
	for _, path := range []string{"/models", "/models/Secret", "/stats"} {
		other := p.do("GET", "/v1/tenants/beta"+path, a, "")
		none := p.do("GET", "/v1/tenants/nobody"+path, a, "")
		if other.status != 404 || none.status != 404 ||
			strings.ReplaceAll(string(other.body), "beta", "X") != strings.ReplaceAll(string(none.body), "nobody", "X") {
			t.Errorf("%s: other tenant %d %s; missing tenant %d %s", path, other.status, other.body, none.status, none.body)
		}
	}
	p.must(404, "PUT", "/v1/tenants/beta/models/Secret", a, `{"properties": {}}`)
	p.must(200, "GET", "/v1/tenants/beta/models/Secret", b, "")
	// The structure of beta's model is not findable from alpha.
	p.must(404, "POST", "/v1/tenants/alpha/lookup", a, `{"properties": {"pin": "string"}}`)
	p.must(403, "GET", "/v1/tenants", a, "")
	p.must(401, "GET", "/v1/tenants/alpha/models", "mrt_0000000000000000_"+strings.Repeat("A", 43), "")
}

// TestCLI drives the server through the binary's own client commands.
func TestCLI(t *testing.T) {
	p := start(t, t.TempDir(), nil)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(token string, args ...string) string {
		t.Helper()
		out, errOut, err := p.cli(token, "", args...)
		if err != nil {
			t.Fatalf("modelreg %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	tok := strings.TrimSpace(run(adminToken, "token", "issue", "--tenant", "acme"))
	if !strings.HasPrefix(tok, "mrt_") {
		t.Fatalf("token issue printed %q", tok)
	}
	// A LoopBack models.json-style file with two models.
	models := write("models.json", `[`+customerDef+`, `+userDef+`]`)
	out := run(tok, "define", "--tenant", "acme", "-f", models)
	if !regexp.MustCompile(`(?m)^Customer\trevision [0-9]+\tv1:[0-9a-f]{64}\nUser\trevision [0-9]+\tv1:[0-9a-f]{64}$`).MatchString(out) {
		t.Errorf("define printed %q", out)
	}
	if out := run(tok, "get", "Customer", "--tenant", "acme"); !strings.Contains(out, `"fingerprint": "v1:`) {
		t.Errorf("get printed %q", out)
	}
	if out := run(tok, "list", "--tenant", "acme"); strings.Count(out, `"scope"`) != 2 {
		t.Errorf("list printed %q", out)
	}
	props := write("props.json", `{"street": "string", "city": "string"}`)
	if out := run(tok, "lookup", "--tenant", "acme", "-f", props); !strings.Contains(out, `"anonymous": true`) {
		t.Errorf("lookup printed %q", out)
	}
	doc := write("doc.json", `{"name": "Ann", "age": "3", "owner": {"email": "e"}}`)
	if out := run(tok, "validate", "Customer", "--tenant", "acme", "-f", doc); !strings.Contains(out, `"age": 3`) {
		t.Errorf("validate printed %q", out)
	}
	if out := run(tok, "schema", "Customer", "--tenant", "acme"); !strings.Contains(out, "2020-12") {
		t.Errorf("schema printed %q", out)
	}
	if out := run(tok, "stats", "--tenant", "acme"); !strings.Contains(out, `"models": 2`) {
		t.Errorf("stats printed %q", out)
	}
	if out := run(adminToken, "stats"); !strings.Contains(out, `"registry"`) {
		t.Errorf("global stats printed %q", out)
	}
	if out := run(adminToken, "tenants"); !strings.Contains(out, `"tenant": "acme"`) {
		t.Errorf("tenants printed %q", out)
	}
	if out := run(adminToken, "evict", "--tenant", "acme"); !strings.Contains(out, `"evicted": true`) {
		t.Errorf("evict printed %q", out)
	}
	run(tok, "delete", "User", "--tenant", "acme")
	if out := run(adminToken, "cleanup", "--tenant", "acme"); !strings.Contains(out, `"modelsRemoved": 3`) {
		t.Errorf("cleanup printed %q", out)
	}

	// Errors: a problem is printed and the exit status is 1; usage is 2.
	bad := write("bad.json", `{"name": "Customer", "properties": {"x": "String", "age": "wat"}}`)
	_, errOut, err := p.cli(adminToken, "", "define", "--tenant", "acme", "-f", bad)
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 1 || !strings.Contains(errOut, "properties.age") {
		t.Errorf("define of a bad file: %v %q", err, errOut)
	}
	_, errOut, err = p.cli(adminToken, `{"name": 1}`, "validate", "User", "--global", "-f", "-")
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 1 || !strings.Contains(errOut, "404 model-not-found") {
		t.Errorf("validate against a missing model: %v %q", err, errOut)
	}
	_, _, err = p.cli(adminToken, "", "get")
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 2 {
		t.Errorf("get without a scope: %v", err)
	}
	if out, _, err := p.cli("", "", "help"); err != nil || !strings.Contains(out, "modelreg serve") && !strings.Contains(out, "serve ") {
		t.Errorf("help: %v %q", err, out)
	}
}

// TestCrashDurability SIGKILLs the server in the middle of a stream of
// concurrent writes, restarts it, and checks that every acknowledged
// definition is there, and that everything there is a whole definition
// that some client sent.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		p := start(t, dir, nil)
		tok := p.token("crash")
		type write struct {
			name, body, fingerprint string
		}
		var (
			mu    sync.Mutex
			acked = map[string]write{} // name -> last acknowledged write
			sent  = map[string]bool{}  // every body sent (acknowledged or not)
			stop  atomic.Bool
			wg    sync.WaitGroup
			n     atomic.Int64
		)
		ctx, cancel := context.WithCancel(context.Background())
		for w := range 4 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					// Each writer creates new models and rewrites a few
					// hot ones, so both inserts and replacements are
					// in flight when the server dies.
					name := fmt.Sprintf("R%dW%dN%d", round, w, i)
					if i%3 == 0 {
						name = fmt.Sprintf("Hot%d", i%5)
					}
					body := fmt.Sprintf(`{"name": %q, "properties": {"w%d": "string", "i%d": "number", "nested": {"round": {"type": "number", "default": %d}, "pad": {"type": "string", "default": %q}}}}`,
						name, w, i, round, strings.Repeat("x", i%200))
					mu.Lock()
					sent[body] = true
					mu.Unlock()
					r, err := p.req(ctx, "PUT", "/v1/tenants/crash/models/"+name, tok, []byte(body))
					if err != nil {
						return // the server died: this write is not acknowledged
					}
					if r.status != 200 && r.status != 201 {
						t.Errorf("write %s: %d %s", name, r.status, r.body)
						return
					}
					var m struct{ Fingerprint string }
					json.Unmarshal(r.body, &m)
					mu.Lock()
					// Writes to one name from different writers race; the
					// store orders them. Keep every acknowledged version.
					acked[name+"\x00"+body] = write{name, body, m.Fingerprint}
					mu.Unlock()
					n.Add(1)
				}
			})
		}
		// Let a few hundred writes be acknowledged, then kill -9.
		deadline := time.Now().Add(20 * time.Second)
		for n.Load() < 150 && time.Now().Before(deadline) && p.alive() {
			time.Sleep(5 * time.Millisecond)
		}
		p.kill()
		stop.Store(true)
		cancel()
		wg.Wait()
		if n.Load() < 20 {
			t.Fatalf("only %d writes acknowledged before the kill", n.Load())
		}
		// The crashed database is intact (checked on a copy, so that the
		// restart below recovers the original itself).
		integrityCheck(t, dir)

		q := start(t, dir, nil)
		r := q.must(200, "GET", "/v1/tenants/crash/models", tok, "")
		var list struct {
			Models []struct {
				Name, Fingerprint string
			}
		}
		json.Unmarshal(r.body, &list)
		have := map[string]string{}
		for _, m := range list.Models {
			have[m.Name] = m.Fingerprint
		}
		// Every acknowledged write is there: for a name written once, that
		// version; for a hot name, some version (a later, possibly
		// unacknowledged, write may have replaced it).
		for _, w := range acked {
			fp, ok := have[w.name]
			if !ok {
				t.Errorf("round %d: acknowledged model %s lost", round, w.name)
				continue
			}
			if !strings.HasPrefix(w.name, "Hot") && fp != w.fingerprint {
				t.Errorf("round %d: %s has fingerprint %s, acknowledged %s", round, w.name, fp, w.fingerprint)
			}
		}
		// Everything stored is a whole definition that was sent.
		for name := range have {
			g := q.must(200, "GET", "/v1/tenants/crash/models/"+name, tok, "")
			var m struct{ Definition json.RawMessage }
			json.Unmarshal(g.body, &m)
			var def struct {
				Name       string
				Properties map[string]any
			}
			if err := json.Unmarshal(m.Definition, &def); err != nil || def.Name != name || len(def.Properties) != 3 {
				t.Errorf("round %d: stored %s is not a whole definition: %s", round, name, g.body)
			}
		}
		mu.Lock()
		t.Logf("round %d: %d writes acknowledged, %d sent, %d models after restart", round, n.Load(), len(sent), len(have))
		mu.Unlock()
		if err := q.stop(t); err != nil {
			t.Errorf("clean stop: %v", err)
		}
	}
}

// TestGracefulShutdown sends SIGTERM while a request is being received and
// checks that it completes before the server exits, and that new
// connections are refused once it is gone.
func TestGracefulShutdown(t *testing.T) {
	p := start(t, t.TempDir(), nil)
	tok := p.token("acme")
	p.must(201, "PUT", "/v1/tenants/acme/models/User", tok, userDef)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", p.url+"/v1/tenants/acme/models/User/validate", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		r, err := httpClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		done <- result{status: r.StatusCode, body: string(b)}
	}()
	pw.Write([]byte(`{"email": `))
	// The request is in flight once the server counts it (with the
	// /metrics request asking): not after a fixed time, which a busy
	// machine could spend before the server even accepted its connection.
	for deadline := time.Now().Add(20 * time.Second); p.metric("modelreg_http_requests_in_flight") < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the request never reached the server:\n%s", p.log())
		}
	}
	p.cmd.Process.Signal(os.Interrupt) // SIGINT behaves as SIGTERM
	p.waitLog(t, 0, regexp.MustCompile(`"msg":"shutting down`), 20*time.Second)
	// Once it shuts down, a server that did not wait for the request would
	// exit at once: give it the time to.
	time.Sleep(300 * time.Millisecond)
	if !p.alive() {
		t.Fatalf("server exited with a request in flight:\n%s", p.log())
	}
	pw.Write([]byte(`"a@b.c"}`))
	pw.Close()
	res := <-done
	if res.err != nil || res.status != 200 || !strings.Contains(res.body, "a@b.c") {
		t.Errorf("in-flight request: %d %q %v", res.status, res.body, res.err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after its last request")
	}
	if p.err != nil {
		t.Errorf("exit status: %v\n%s", p.err, p.log())
	}
	if !strings.Contains(p.log(), "shutting down") || !strings.Contains(p.log(), `"msg":"stopped"`) {
		t.Errorf("shutdown not logged:\n%s", p.log())
	}
	if _, err := p.req(context.Background(), "GET", "/healthz", "", nil); err == nil {
		t.Errorf("server still answers after exit")
	}
}

// TestDrainDelay checks serve --drain-delay: after SIGTERM the server
// keeps serving for the delay with /readyz at 503 (and Retry-After), so
// that a load balancer stops sending it requests, then exits.
//
// What the server does within the delay is asserted only of requests
// answered (or refused) before the delay could have ended, counted from
// just before the signal: a busy machine can spend a short delay before
// the test even sends them. Then the test starts again with a longer one.
func TestDrainDelay(t *testing.T) {
	for delay := 2 * time.Second; !drainDelayOnce(t, delay); delay *= 4 {
		if delay >= 32*time.Second {
			t.Fatalf("the machine was too slow to see a drain delay of %v", delay)
		}
		t.Logf("the drain delay of %v ended before the test could see it: again with a longer one", delay)
	}
}

// drainDelayOnce runs TestDrainDelay with a drain delay of delay, and
// reports whether the test saw the server within it.
func drainDelayOnce(t *testing.T, delay time.Duration) bool {
	p := start(t, t.TempDir(), nil, "--drain-delay", delay.String())
	tok := p.token("acme")
	p.must(201, "PUT", "/v1/tenants/acme/models/User", tok, userDef)
	p.must(200, "GET", "/readyz", "", "")
	signaled := time.Now() // the delay starts after this
	p.cmd.Process.Signal(syscall.SIGTERM)
	// within reports whether the delay can not yet have ended.
	within := func() bool { return time.Since(signaled) < delay }
	for {
		// The server logs this once it is not ready.
		drained := strings.Contains(p.log(), `"msg":"shutting down: not ready`)
		r, err := p.req(context.Background(), "GET", "/readyz", "", nil)
		if err != nil {
			if within() {
				t.Fatalf("/readyz after SIGTERM, within the drain delay: %v\n%s", err, p.log())
			}
			p.stop(t)
			return false
		}
		if r.status == 503 {
			if r.header.Get("Retry-After") == "" {
				t.Errorf("/readyz 503 without Retry-After")
			}
			break
		}
		if drained {
			t.Fatalf("/readyz %d %s, asked after the server logged that it was not ready", r.status, r.body)
		}
		if r.status != 200 {
			t.Fatalf("/readyz after SIGTERM: %d %s", r.status, r.body)
		}
		if time.Since(signaled) > time.Minute {
			t.Fatalf("/readyz still %d a minute after SIGTERM", r.status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := p.req(context.Background(), "GET", "/v1/tenants/acme/models/User", tok, nil) // still serving
	if err != nil || r.status != 200 {
		if within() {
			t.Fatalf("a request within the drain delay: %d %s %v", r.status, r.body, err)
		}
		p.stop(t)
		return false
	}
	select {
	case <-p.exited:
	case <-time.After(delay + 20*time.Second):
		t.Fatal("server did not exit after its drain delay")
	}
	if p.err != nil {
		t.Errorf("exit status: %v\n%s", p.err, p.log())
	}
	return true
}

// TestGeneratedAdminToken starts without an admin token: one is generated,
// printed once, and works across restarts; only its hash is stored.
func TestGeneratedAdminToken(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, []string{"MODELREG_ADMIN_TOKEN="})
	m := regexp.MustCompile(`mra_[A-Za-z0-9_-]{43}`).FindString(p.log())
	if m == "" {
		t.Fatalf("no generated admin token printed:\n%s", p.log())
	}
	p.must(201, "POST", "/v1/tenants/acme/tokens", m, "")
	p.must(401, "GET", "/v1/stats", adminToken, "")
	p.stop(t)

	q := start(t, dir, []string{"MODELREG_ADMIN_TOKEN="})
	if strings.Contains(q.log(), "mra_") {
		t.Errorf("the admin token was printed again")
	}
	q.must(200, "GET", "/v1/stats", m, "")
	q.stop(t)
	b, _ := os.ReadFile(filepath.Join(dir, "modelreg.db"))
	if strings.Contains(string(b), m) {
		t.Errorf("the admin token is stored in clear")
	}

	// A token file works too, and a data directory is used by one server only.
	file := filepath.Join(t.TempDir(), "admin")
	os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600)
	r := start(t, dir, []string{"MODELREG_ADMIN_TOKEN="}, "--admin-token-file", file)
	r.must(200, "GET", "/v1/stats", "from-a-file-0123456789", "")
	r.must(401, "GET", "/v1/stats", m, "")
	out, errOut, err := runBinary("serve", "--addr", "127.0.0.1:0", "--data", dir)
	if err == nil || !strings.Contains(errOut, "in use by another modelreg server") {
		t.Errorf("second server on one data dir: %v %q %q", err, out, errOut)
	}
	// Also once its LOCK file was deleted, taken for a stale one.
	if err := os.Remove(filepath.Join(dir, "LOCK")); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = runBinary("serve", "--addr", "127.0.0.1:0", "--data", dir)
	if err == nil || !strings.Contains(errOut, "in use by another modelreg server") {
		t.Errorf("second server on one data dir whose LOCK was deleted: %v %q %q", err, out, errOut)
	}
}

// runBinary runs the binary to its end, or kills it after a minute (a
// serve that should have refused to start).
func runBinary(args ...string) (string, string, error) {
	var out, errb strings.Builder
	cmd := execCommand(args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	t := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !t.Stop() {
		err = fmt.Errorf("still running after a minute: %w", err)
	}
	return out.String(), errb.String(), err
}

// TestReloadKeepsFingerprints evicts and restarts: models come back from
// the store with the same fingerprints and definitions.
func TestReloadKeepsFingerprints(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, nil, "--idle-timeout", "1s", "--sweep-interval", "100ms")
	tok := p.token("acme")
	p.must(201, "PUT", "/v1/global/models/User", adminToken, userDef)
	names := []string{"Customer"}
	p.must(201, "PUT", "/v1/tenants/acme/models/Customer", tok, customerDef)
	for i := range 30 {
		name := fmt.Sprint("Model", i)
		names = append(names, name)
		p.must(201, "PUT", "/v1/tenants/acme/models/"+name, tok,
			fmt.Sprintf(`{"strict": "filter", "properties": {"p%d": {"type": "String", "required": true, "default": "x"}, "n": {"a": ["date"], "b": {"c": "geopoint"}}, "ref": "Customer"}}`, i))
	}
	snapshot := func(q *proc) map[string]string {
		out := map[string]string{}
		for _, n := range names {
			r := q.must(200, "GET", "/v1/tenants/acme/models/"+n, tok, "")
			m := r.obj(t)
			out[n] = fmt.Sprint(m["fingerprint"], m["revision"], string(mustJSON(m["definition"])), string(mustJSON(m["canonical"])))
		}
		return out
	}
	before := snapshot(p)
	compare := func(what string, after map[string]string) {
		for _, n := range names {
			if before[n] != after[n] {
				t.Errorf("%s: %s changed:\n%s\n%s", what, n, before[n], after[n])
			}
		}
	}
	// Idle unload by the janitor, then a transparent reload. The test
	// waits for the tenant to be unloaded, not for one more unload: a busy
	// machine may pause the test past the idle time before it looks.
	const unloadsIdle, loadsOK = `modelreg_tenant_unloads_total{reason="idle"}`, `modelreg_tenant_loads_total{result="ok"}`
	deadline := time.Now().Add(20 * time.Second)
	for p.metric("modelreg_resident_tenants") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle tenant was never unloaded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.metric(unloadsIdle) < 1 {
		t.Fatal("no tenant resident, yet no idle unload counted")
	}
	unloads, loads := p.metric(unloadsIdle), p.metric(loadsOK)
	compare("after idle unload", snapshot(p))
	// One load, and one more for each idle unload a pause of the test
	// between its requests may have caused meanwhile.
	extra := p.metric(unloadsIdle) - unloads
	if got := p.metric(loadsOK) - loads; got < 1 || got > 1+extra {
		t.Errorf("%v loads after the unload (%v more idle unloads meanwhile), want 1", got, extra)
	}
	p.stop(t)
	q := start(t, dir, nil)
	compare("after restart", snapshot(q))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestStampedeOverHTTP evicts a tenant and sends many concurrent first
// requests: the server loads it once. The tenant's requests all compute at
// once (--max-tenant-running -1): otherwise only as many as the server's
// CPUs would be first requests.
func TestStampedeOverHTTP(t *testing.T) {
	p := start(t, t.TempDir(), nil, "--max-tenant-running", "-1")
	tok := p.token("acme")
	for i := range 50 {
		p.must(201, "PUT", fmt.Sprint("/v1/tenants/acme/models/M", i), tok, fmt.Sprintf(`{"properties": {"a%d": "string", "b": {"c": ["number"]}}}`, i))
	}
	for round := range 3 {
		p.must(200, "POST", "/v1/tenants/acme/evict", adminToken, "")
		before := p.metric(`modelreg_tenant_loads_total{result="ok"}`)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var bad atomic.Int64
		for i := range 40 {
			wg.Go(func() {
				<-start
				r, err := p.req(context.Background(), "POST", fmt.Sprint("/v1/tenants/acme/models/M", i%50, "/validate"), tok, []byte(`{"b": {"c": [1, "2"]}}`))
				if err != nil || r.status != 200 {
					bad.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if bad.Load() > 0 {
			t.Errorf("round %d: %d requests failed", round, bad.Load())
		}
		if got := p.metric(`modelreg_tenant_loads_total{result="ok"}`) - before; got != 1 {
			t.Errorf("round %d: %v loads for 40 concurrent first requests, want 1", round, got)
		}
	}
}

// TestBadInputNeverKillsServer throws malformed input at the server:
// each gets the right problem, and the server stays up.
func TestBadInputNeverKillsServer(t *testing.T) {
	p := start(t, t.TempDir(), nil, "--max-body", "65536")
	tok := p.token("acme")
	p.must(201, "PUT", "/v1/tenants/acme/models/User", tok, userDef)
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	tests := []struct {
		method, path, body string
		status             int
		problem            string
	}{
		{"PUT", "/v1/tenants/acme/models/A", `{"properties": {"a": `, 400, "malformed-json"},
		{"PUT", "/v1/tenants/acme/models/A", `{"properties": ` + deep + `}`, 400, "invalid-definition"},
		{"PUT", "/v1/tenants/acme/models/A", `{"properties": {"a": "` + strings.Repeat("x", 70000) + `"}}`, 413, "payload-too-large"},
		{"PUT", "/v1/tenants/acme/models/has%20space", `{}`, 400, "invalid-model-name"},
		{"PUT", "/v1/tenants/acme/models/A", "\xff\xfe{}", 400, "malformed-json"},
		{"POST", "/v1/tenants/acme/models/User/validate", deep, 422, "validation-failed"},
		{"POST", "/v1/tenants/acme/models/User/validate", `{"email": "a", "email": "b"}`, 422, "validation-failed"},
		{"POST", "/v1/tenants/acme/lookup", deep, 400, "invalid-request"},
		{"POST", "/v1/tenants/acme/lookup", `{"properties": ` + deep + `}`, 400, "invalid-definition"},
		{"GET", "/v1/tenants/ac%2Fme/models", "", 400, "invalid-tenant-id"},
		{"GET", "/v1/tenants/nobody/models", "", 404, "tenant-not-found"},
		{"DELETE", "/v1/tenants/nobody", "", 404, "tenant-not-found"},
	}
	for _, tc := range tests {
		token := tok
		if strings.Contains(tc.path, "nobody") {
			token = adminToken
		}
		r := p.do(tc.method, tc.path, token, tc.body)
		if r.status != tc.status || r.problem() != tc.problem {
			t.Errorf("%s %s %.40q: %d %q, want %d %q: %.200s", tc.method, tc.path, tc.body, r.status, r.problem(), tc.status, tc.problem, r.body)
		}
	}
	// Raw garbage on the socket.
	for _, garbage := range []string{"\x00\x01\x02\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 100000) + "\r\n\r\n", "POST /v1/global/lookup HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(garbage))
		io.Copy(io.Discard, c)
		c.Close()
	}
	p.must(200, "GET", "/healthz", "", "")
	p.must(200, "GET", "/v1/tenants/acme/models/User", tok, "")
	if !p.alive() {
		t.Fatal("server died")
	}
	if strings.Contains(p.log(), "panic") {
		t.Errorf("server log mentions a panic:\n%s", p.log())
	}
}

// integrityCheck copies the database files of a data directory as they
// are (WAL included) and runs SQLite's integrity check on the copy.
func integrityCheck(t *testing.T, dataDir string) {
	t.Helper()
	cp := t.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(dataDir, "modelreg.db"+suffix))
		if err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, "modelreg.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cp, "modelreg.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity check after the kill: %q, %v", res, err)
	}
}

// TestBackupRestore: modelreg backup copies the store while the server
// runs; a server started on a data directory holding only the copy serves
// the same models and tokens, and an If-Match taken from a write the
// restore forgot matches none of its later writes.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, nil)
	tok := p.token("acme")
	for i := range 3 {
		p.must(201, "PUT", fmt.Sprintf("/v1/tenants/acme/models/M%d", i), tok, `{"properties": {"a": "string"}}`)
	}
	copyFile := filepath.Join(t.TempDir(), "copy.db")
	if out, errOut, err := runBinary("backup", "--data", dir, "--out", copyFile); err != nil {
		t.Fatalf("backup: %v %s %s", err, out, errOut)
	}
	p.must(201, "PUT", "/v1/tenants/acme/models/After", tok, `{"properties": {"a": "string"}}`) // not in the copy
	forgotten := p.must(200, "PUT", "/v1/tenants/acme/models/M0", tok, `{"properties": {"b": "string"}}`).header.Get("ETag")
	p.stop(t)

	restored := t.TempDir()
	b, err := os.ReadFile(copyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "modelreg.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	q := start(t, restored, nil)
	defer q.stop(t)
	for i := range 3 {
		q.must(200, "GET", fmt.Sprintf("/v1/tenants/acme/models/M%d", i), tok, "")
	}
	q.must(404, "GET", "/v1/tenants/acme/models/After", tok, "")
	// As many writes as were forgotten: counters that went back with the
	// copy would now give the forgotten write's revision again.
	q.must(201, "PUT", "/v1/tenants/acme/models/After", tok, `{"properties": {"c": "string"}}`)
	q.must(200, "PUT", "/v1/tenants/acme/models/M0", tok, `{"properties": {"c": "string"}}`)
	req, _ := http.NewRequest("PUT", q.url+"/v1/tenants/acme/models/M0", strings.NewReader(`{"properties": {"d": "string"}}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("If-Match", forgotten)
	r, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 412 {
		t.Errorf("PUT with If-Match: %s, a revision given before the restore: %d, want 412", forgotten, r.StatusCode)
	}
}

// TestMetricsOnTheirOwnAddress: with --metrics-addr, /metrics is served
// there, and the API's address, which tenants reach, answers it with 404.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	p := start(t, t.TempDir(), nil, "--metrics-addr", "127.0.0.1:0")
	defer p.stop(t)
	m := regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no metrics address in the log: %s", p.log())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "modelreg_http_requests_in_flight") {
		t.Errorf("GET /metrics on --metrics-addr: %d %.200s", resp.StatusCode, b)
	}
	p.must(404, "GET", "/metrics", "", "")
}
