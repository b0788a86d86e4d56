// Package lambdarun builds a Lambda function for this machine and invokes
// it under the Lambda runtime interface emulator (aws-lambda-rie), the
// emulator `sam local invoke` runs in its container: the bootstrap binary
// talks to the same Runtime API as on Lambda.
//
// The emulator's Runtime API listens on 127.0.0.1:9001, a fixed port, so
// one invocation runs at a time on a machine: Invoke holds a file lock
// (os.TempDir()/edendeploy-rie.lock) while its emulator runs.
package lambdarun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// RIEVersion is the emulator version lambda.mk installs.
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// RIEPackage is the emulator's main package.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// InstallRIE installs the emulator into dir (go install) unless it is
// there, and returns its path.
func InstallRIE(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", RIEPackage+"@"+RIEVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdarun: go install %s: %v\n%s", RIEPackage, err, out)
	}
	return bin, nil
}

// Build builds the function package pkg (e.g. ./functions/api) of the
// module at root into out/bootstrap for goarch ("" is this machine's),
// as lambda.mk does: static, lambda.norpc, stripped.
func Build(ctx context.Context, root, pkg, out, goarch string) (string, error) {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	bin := filepath.Join(out, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdarun: go build %s: %v\n%s", pkg, err, b)
	}
	return bin, nil
}

// Result is one invocation.
type Result struct {
	// Response is the function's answer (or Lambda's error object).
	Response []byte
	// ColdStart is from the emulator's start of the bootstrap process to the
	// first response: process start, init and the invocation.
	ColdStart time.Duration
	// Init is the init duration the emulator reports.
	Init time.Duration
	// Log is everything the emulator and the function wrote.
	Log string
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// Invoke starts the emulator on bootstrap with exactly env (plus PATH),
// sends event once, and stops the emulator.
func Invoke(ctx context.Context, rie, bootstrap string, env []string, event []byte) (*Result, error) {
	unlock, err := lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if rie, err = filepath.Abs(rie); err != nil {
		return nil, err
	}
	var logs bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "./bootstrap")
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambdarun: start %s: %w", rie, err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		// The emulator and the bootstrap it started: their own group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}()
	if err := waitListening(ctx, addr, done); err != nil {
		return nil, fmt.Errorf("lambdarun: %w\n%s", err, logs.String())
	}
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lambdarun: invoke: %w\n%s", err, logs.String())
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return nil, err
	}
	time.Sleep(20 * time.Millisecond) // let the emulator write its report
	r := &Result{Response: body, ColdStart: elapsed, Log: logs.String()}
	if m := initReport.FindStringSubmatch(r.Log); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		r.Init = time.Duration(ms * float64(time.Millisecond))
	}
	return r, nil
}

func waitListening(ctx context.Context, addr string, done <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("emulator exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("emulator not listening on %s", addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lock takes the machine-wide emulator lock (its Runtime API port is fixed).
func lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "edendeploy-rie.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
