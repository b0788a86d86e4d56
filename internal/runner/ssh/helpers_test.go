package ssh_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner/ssh"
	secretfile "github.com/edendeploy/edendeploy/internal/secrets/file"
)

// signal is one call a fakeSignaler received.
type signal struct {
	Kind    string // success, failure, heartbeat
	Token   string
	Outcome deploy.StepOutcome
	ErrName string
	Cause   string
}

// fakeSignaler records calls; ends receives each success or failure.
type fakeSignaler struct {
	mu           sync.Mutex
	calls        []signal
	ends         chan signal
	heartbeatErr error
}

func newSignaler() *fakeSignaler { return &fakeSignaler{ends: make(chan signal, 16)} }

func (f *fakeSignaler) SendTaskSuccess(_ context.Context, token string, output []byte) error {
	s := signal{Kind: "success", Token: token}
	if err := json.Unmarshal(output, &s.Outcome); err != nil {
		return err
	}
	f.record(s)
	f.ends <- s
	return nil
}

func (f *fakeSignaler) SendTaskFailure(_ context.Context, token, name, cause string) error {
	s := signal{Kind: "failure", Token: token, ErrName: name, Cause: cause}
	f.record(s)
	f.ends <- s
	return nil
}

func (f *fakeSignaler) SendTaskHeartbeat(_ context.Context, token string) error {
	f.record(signal{Kind: "heartbeat", Token: token})
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heartbeatErr
}

func (f *fakeSignaler) record(s signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeSignaler) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// wait returns the step's end signal, failing the test after limit.
func (f *fakeSignaler) wait(t testing.TB, limit time.Duration) signal {
	t.Helper()
	select {
	case s := <-f.ends:
		return s
	case <-time.After(limit):
		t.Fatalf("no outcome signalled within %v", limit)
		return signal{}
	}
}

// env is one test's runner with its stores.
type env struct {
	dir     string
	blobs   *blobfs.Store
	secrets *secretfile.Store
	log     *runlog.Store
	sig     *fakeSignaler
	runner  *ssh.Runner
}

func newEnv(t testing.TB, mod func(*ssh.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, sig: newSignaler()}
	var err error
	if e.blobs, err = blobfs.Open(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if e.secrets, err = secretfile.Open(filepath.Join(dir, "secrets")); err != nil {
		t.Fatal(err)
	}
	if e.log, err = runlog.Open(filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
	cfg := ssh.Config{
		DataDir:  filepath.Join(dir, "data"),
		Blobs:    e.blobs,
		Secrets:  e.secrets,
		Log:      e.log,
		Signaler: e.sig,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	if e.runner, err = ssh.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.runner.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

// workDirs lists what is left in the runner's work directory.
func (e *env) workDirs(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, "data", "work"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range ents {
		out = append(out, x.Name())
	}
	return out
}

// tgz builds a bundle from name → content; names ending in ".sh" are
// executable.
func tgz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.HasSuffix(n, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// putBundle stores a bundle and the deployment's SSH key, and returns a
// dispatch of it to hosts.
func (e *env) putBundle(t testing.TB, files map[string]string, key []byte, hosts ...string) deploy.Dispatch {
	t.Helper()
	ctx := context.Background()
	if err := e.blobs.PutBlob(ctx, "d-1/bundles/r-1/step-0.tar.gz", tgz(t, files)); err != nil {
		t.Fatal(err)
	}
	if err := e.secrets.PutSecret(ctx, "d-1", deploy.SecretSSHKey, key); err != nil {
		t.Fatal(err)
	}
	d := deploy.Dispatch{
		DeploymentID: "d-1", RunID: "r-1", StepIndex: 1, StepName: "eden",
		BundleKey: "d-1/bundles/r-1/step-0.tar.gz", Playbook: "site.yml",
		Token: "token-1", Timeout: time.Minute, SSHUser: "root", LogKey: "runs/r-1.log",
	}
	for _, h := range hosts {
		d.Hosts = append(d.Hosts, deploy.DispatchHost{Host: h})
	}
	return d
}

func (e *env) logText(t testing.TB, runID string) string {
	t.Helper()
	var out []byte
	for off := int64(0); ; {
		b, err := e.log.ReadRange(runID, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return string(out)
		}
		out = append(out, b...)
		off += int64(len(b))
	}
}

// groupMembers returns the PIDs of live processes in process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state ppid pgrp.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// processesWith returns PIDs of live processes whose command line contains s.
func processesWith(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if f := strings.Fields(string(st)[strings.LastIndexByte(string(st), ')')+1:]); len(f) > 0 && f[0] == "Z" {
				continue
			}
			out = append(out, pid)
		}
	}
	return out
}

// pgidOf returns the process group of pid, or 0.
func pgidOf(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(f[2])
	return n
}
