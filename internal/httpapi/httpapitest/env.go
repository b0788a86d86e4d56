package httpapitest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Secrets is an in-memory deploy.Secrets that remembers every value it was
// ever given, so a test can look for them where they must not be.
type Secrets struct {
	mu   sync.Mutex
	m    map[string]map[string][]byte
	seen [][]byte
}

var _ deploy.Secrets = (*Secrets)(nil)

func (s *Secrets) PutSecret(ctx context.Context, deploymentID, name string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[string][]byte{}
	}
	if s.m[deploymentID] == nil {
		s.m[deploymentID] = map[string][]byte{}
	}
	s.m[deploymentID][name] = bytes.Clone(value)
	s.seen = append(s.seen, bytes.Clone(value))
	return nil
}

func (s *Secrets) GetSecret(ctx context.Context, deploymentID, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[deploymentID][name]
	if !ok {
		return nil, deploy.NotFound("secret %s not found", name)
	}
	return bytes.Clone(v), nil
}

func (s *Secrets) DeleteSecrets(ctx context.Context, deploymentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, deploymentID)
	return nil
}

// Seen returns every secret value ever stored.
func (s *Secrets) Seen() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.seen...)
}

// Engine is a workflow.Engine that starts nothing: it records the
// executions it was asked to start. StartErr, when set, fails every start.
type Engine struct {
	StartErr error

	mu      sync.Mutex
	started map[string][]byte // name → input
	stopped []string
}

var _ workflow.Engine = (*Engine)(nil)

func (e *Engine) StartExecution(ctx context.Context, machine, name string, input []byte) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.StartErr != nil {
		return "", e.StartErr
	}
	if e.started == nil {
		e.started = map[string][]byte{}
	}
	if _, ok := e.started[name]; ok {
		return "", fmt.Errorf("fake engine: %s: %w", name, workflow.ErrExecutionExists)
	}
	e.started[name] = bytes.Clone(input)
	return "exec:" + machine + ":" + name, nil
}

// Started is the number of executions started.
func (e *Engine) Started() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.started)
}

func (e *Engine) DescribeExecution(ctx context.Context, id string) (workflow.Execution, error) {
	return workflow.Execution{}, workflow.ErrNotFound
}
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	return workflow.ErrTaskNotFound
}
func (e *Engine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return workflow.ErrTaskNotFound
}
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	return workflow.ErrTaskNotFound
}
func (e *Engine) StopExecution(ctx context.Context, id, errName, cause string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = append(e.stopped, id)
	return nil
}

// Logs is an in-memory httpapi.RunLogs that tests append to.
type Logs struct {
	mu   sync.Mutex
	logs map[string]*runLog
}

type runLog struct {
	data     []byte
	complete bool
	wake     chan struct{}
}

var _ httpapi.RunLogs = (*Logs)(nil)

func (l *Logs) get(runID string) *runLog {
	if l.logs == nil {
		l.logs = map[string]*runLog{}
	}
	r, ok := l.logs[runID]
	if !ok {
		r = &runLog{wake: make(chan struct{})}
		l.logs[runID] = r
	}
	return r
}

// Append adds p to the run's log and wakes its followers.
func (l *Logs) Append(runID string, p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.get(runID)
	r.data = append(r.data, p...)
	close(r.wake)
	r.wake = make(chan struct{})
}

// Complete marks the run's log complete.
func (l *Logs) Complete(runID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.get(runID)
	r.complete = true
	close(r.wake)
	r.wake = make(chan struct{})
}

func (l *Logs) ReadLog(ctx context.Context, deploymentID, runID string, offset int64, limit int) ([]byte, int64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.get(runID)
	size := int64(len(r.data))
	if offset >= size {
		return nil, size, r.complete, nil
	}
	end := min(offset+int64(limit), size)
	return bytes.Clone(r.data[offset:end]), size, r.complete, nil
}

func (l *Logs) WaitLog(ctx context.Context, deploymentID, runID string, size int64) error {
	for {
		l.mu.Lock()
		r := l.get(runID)
		if int64(len(r.data)) > size || r.complete {
			l.mu.Unlock()
			return nil
		}
		wake := r.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Clock is a fake clock that moves one millisecond each time it is read, so
// that IDs and listings are ordered. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the time and moves the clock on.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	}
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Env is the API wired to a real control.Service and auth.Tokens over the
// fakes, with three users' tokens.
type Env struct {
	Clock   *Clock
	Store   *Store
	Secrets *Secrets
	Engine  *Engine
	Logs    *Logs
	Service *control.Service
	Tokens  *auth.Tokens
	API     *httpapi.API
	// LogOutput holds everything the API and the service logged (slog
	// text).
	LogOutput *SyncBuffer

	// Bearer tokens of alice and bob (users) and root (admin).
	Alice, Bob, Root string
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Option changes the API's configuration before it is built.
type Option func(*httpapi.Config)

// New returns a new Env.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	e := &Env{Clock: &Clock{}, Secrets: &Secrets{}, Engine: &Engine{}, Logs: &Logs{}, LogOutput: &SyncBuffer{}}
	e.Store = NewStore(e.Clock.Now)
	log := slog.New(slog.NewTextHandler(e.LogOutput, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := control.New(control.Config{Store: e.Store, Secrets: e.Secrets, Workflow: e.Engine, Machine: "run", Now: e.Clock.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e.Service = svc
	e.Tokens, err = auth.NewTokens(e.Store, e.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []struct {
		into  *string
		user  string
		admin bool
	}{{&e.Alice, "alice", false}, {&e.Bob, "bob", false}, {&e.Root, "root", true}} {
		if *u.into, err = e.Tokens.Create(ctx, u.user, u.admin, "test"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := httpapi.Config{Service: svc, Auth: e.Tokens, Idempotency: e.Store, Logs: e.Logs, Tokens: e.Tokens, Log: log, Now: e.Clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	e.API, err = httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Do sends a request to the API in-process and returns the response.
// header holds extra headers; a non-empty body is sent as JSON.
func (e *Env) Do(method, path, token, body string, header ...string) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, req)
	return rec
}

// SSHKey is the private key the sample specs send.
const SSHKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtestkeymaterial0123456789\n-----END OPENSSH PRIVATE KEY-----\n"

// AllInOneSpec returns the JSON body of a valid all-in-one deployment on
// host.
func AllInOneSpec(name, host string) string {
	return fmt.Sprintf(`{"name":%q,"admin_email":"admin@example.org","servers":[{"host":%q,"role":"all"}],"instance":{"type":"prod"},"ssh_private_key":%q}`,
		name, host, SSHKey)
}

// FinishRun moves a run to status (and its deployment's instance with
// it), as the workflow would.
func (e *Env) FinishRun(t testing.TB, deploymentID, runID string, status deploy.RunStatus) {
	t.Helper()
	ctx := context.Background()
	r, err := e.Store.GetRun(ctx, deploymentID, runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status == deploy.RunQueued && status == deploy.RunSucceeded {
		if err := r.MoveTo(deploy.RunRunning, e.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		if err := e.Store.UpdateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.MoveTo(status, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	for i := range r.Steps {
		if status == deploy.RunSucceeded {
			r.Steps[i].Status = deploy.StepSucceeded
			for _, h := range r.Steps[i].Hosts {
				r.Steps[i].Results = append(r.Steps[i].Results, deploy.HostResult{Host: h, OK: 10, Changed: 3})
			}
		}
	}
	if err := e.Store.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	d, err := e.Store.GetDeployment(ctx, deploymentID)
	if err != nil {
		t.Fatal(err)
	}
	d.ObserveRun(r, e.Clock.Now())
	if err := e.Store.UpdateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
}
