package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
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

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
)

// server is one `edenctl serve` child process over a data directory that
// outlives it (so a restart finds its state).
type server struct {
	t         testing.TB
	bin       string
	dataDir   string
	recordDir string
	addr      string
	extraArgs []string
	cmd       *exec.Cmd
	logMu     sync.Mutex
	log       bytes.Buffer // everything the server printed, over all its lives
	done      chan struct{}
}

// buildEdenctl builds the binary under test once per test.
func buildEdenctl(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edenctl")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/edendeploy/edendeploy/cmd/edenctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build edenctl: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newServer(t testing.TB, bin string) *server {
	s := &server{t: t, bin: bin, dataDir: t.TempDir(), recordDir: t.TempDir(), addr: freeAddr(t)}
	t.Cleanup(func() { s.kill() })
	return s
}

// start starts the server and waits until it answers.
func (s *server) start() {
	s.t.Helper()
	args := []string{"serve", "--data-dir", s.dataDir, "--addr", s.addr,
		"--roles", "test", "--record-dir", s.recordDir, "--heartbeat", "2s"}
	s.cmd = exec.Command(s.bin, append(args, s.extraArgs...)...)
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dataDir}
	w := &lockedWriter{mu: &s.logMu, w: &s.log}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.addr + "/v1/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("edenctl serve exited at start:\n%s", s.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.t.Fatalf("edenctl serve did not answer in 20s:\n%s", s.output())
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// stop stops the server with SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("edenctl serve did not stop on SIGTERM in 30s")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("edenctl serve exited %d on SIGTERM", code)
	}
	s.cmd = nil
}

func (s *server) output() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

func (s *server) adminToken() string {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client speaks to the API as one user, validates every response against
// the OpenAPI document and keeps every response body (the security checks
// search them).
type client struct {
	t     testing.TB
	base  string
	token string
	doc   *openapitest.Doc
	mu    *sync.Mutex
	seen  *[][]byte
}

func (c client) as(token string) client { c.token = token; return c }

// do sends a request; pattern is the route's template for validation.
func (c client) do(method, path, pattern string, body any, header map[string]string) (int, http.Header, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	*c.seen = append(*c.seen, out)
	c.mu.Unlock()
	if pattern != "" {
		openapitest.ValidateResponse(c.t, c.doc, method, pattern, resp.StatusCode, resp.Header, out)
	}
	return resp.StatusCode, resp.Header, out
}

// must sends a request and decodes a response of status want into v.
func (c client) must(want int, method, path, pattern string, body, v any) http.Header {
	c.t.Helper()
	status, h, out := c.do(method, path, pattern, body, nil)
	if status != want {
		c.t.Fatalf("%s %s → %d, want %d: %s", method, path, status, want, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			c.t.Fatalf("%s %s: decode: %v: %s", method, path, err, out)
		}
	}
	return h
}

// waitRun polls the run until it ends, and its lifecycle action (if any)
// is completed (at most limit), and returns it.
func (c client) waitRun(dep, run string, limit time.Duration) *deploy.Run {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	var r deploy.Run
	for {
		c.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, "/v1/deployments/{id}/runs/{run}", nil, &r)
		// A run started by a lifecycle hook completes its action after it
		// ends (the state machine's CompleteLifecycle): wait for that too.
		if r.Status.Terminal() && (r.Lifecycle == nil || !r.Lifecycle.CompletedAt.IsZero()) {
			return &r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s still %s (lifecycle %+v) after %s (steps %+v)", run, r.Status, r.Lifecycle, limit, r.Steps)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createToken makes a token for user through the API (as an admin).
func (c client) createToken(user string) string {
	c.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	c.must(201, "POST", "/v1/tokens", "/v1/tokens", httpapi.TokenRequest{User: user, Name: user}, &out)
	return out.Token
}

// recorded reads what a test role recorded on host for play and role.
func recorded(t *testing.T, dir, host, play, role string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, host, play+"-"+role+".json"))
	if err != nil {
		t.Fatalf("no record of %s/%s on %s: %v", play, role, host, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// orderLog returns the lines the test roles appended on host.
func orderLog(t *testing.T, dir, host string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, host, "order.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

var idPattern = regexp.MustCompile(`/v1/deployments/([^/]+)`)

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

var jsonUnmarshal = json.Unmarshal
