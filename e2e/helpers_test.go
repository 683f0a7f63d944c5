// Package e2e holds end-to-end tests: they build the real modelreg binary,
// start it on a free loopback port with a temporary data directory, and
// drive it over HTTP (and through its own client commands).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the path of the modelreg binary built by TestMain.
var binary string

const adminToken = "e2e-admin-token-0123456789abcdef"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "modelreg-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "modelreg")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/modelreg/modelreg/cmd/modelreg")...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building modelreg:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running modelreg server.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	dir    string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

var listenRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// start runs "modelreg serve" on a free port with the data directory dir
// (none when dir is "": args name the store) and waits until it listens.
// env adds environment variables; with no MODELREG_ADMIN_TOKEN in env, the
// e2e admin token is used.
func start(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: dir, exited: make(chan struct{})}
	serve := []string{"serve", "--addr", "127.0.0.1:0"}
	if dir != "" {
		serve = append(serve, "--data", dir)
	}
	p.cmd = exec.Command(binary, append(serve, args...)...)
	p.cmd.Env = append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken)
	p.cmd.Env = append(p.cmd.Env, env...)
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		t.Fatalf("server exited at start: %v\n%s", p.err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill SIGKILLs the server (if running) and waits for it.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop SIGTERMs the server and waits for it to exit, returning its error.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not stop on SIGTERM:\n%s", p.log())
		return nil
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r resp) problem() string {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		return ""
	}
	var p struct{ Type string }
	json.Unmarshal(r.body, &p)
	return strings.TrimPrefix(p.Type, "urn:modelreg:problem:")
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (p *proc) req(ctx context.Context, method, path, token string, body []byte) (resp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return resp{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := httpClient.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, b}, err
}

// do sends a request and fails the test on a transport error.
func (p *proc) do(method, path, token, body string) resp {
	p.t.Helper()
	var b []byte
	if body != "" || method == "PUT" || method == "POST" {
		b = []byte(body)
	}
	r, err := p.req(context.Background(), method, path, token, b)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", method, path, err, p.log())
	}
	return r
}

// must is do with an expected status.
func (p *proc) must(status int, method, path, token, body string) resp {
	p.t.Helper()
	r := p.do(method, path, token, body)
	if r.status != status {
		p.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

// cli runs a client command of the binary against the server.
func (p *proc) cli(token string, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MODELREG_URL="+p.url, "MODELREG_TOKEN="+token, "MODELREG_TENANT=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (p *proc) token(tenant string) string {
	p.t.Helper()
	return p.must(201, "POST", "/v1/tenants/"+tenant+"/tokens", adminToken, "").obj(p.t)["token"].(string)
}

// metric returns the value of one Prometheus sample line (name with its
// labels, exactly as exposed), or 0 when absent.
func (p *proc) metric(sample string) float64 {
	p.t.Helper()
	r := p.must(200, "GET", "/metrics", "", "")
	for _, line := range strings.Split(string(r.body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

const customerDef = `{"name": "Customer", "strict": true, "properties": {
	"name": {"type": "string", "required": true},
	"age": "number",
	"address": {"street": "string", "city": "string"},
	"tags": ["string"],
	"orders": [{"sku": "string", "qty": "number"}],
	"owner": "User"}}`

const userDef = `{"name": "User", "properties": {"email": {"type": "string", "required": true}}}`

// execCommand prepares the binary with args and the e2e admin token.
func execCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken)
	return cmd
}
