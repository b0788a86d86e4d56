package testhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// RunError is returned by Run and Exec when the command ran but failed (or
// could not be started); Stderr holds what it wrote there.
type RunError struct {
	Host   string
	Argv   []string
	Stderr string
	Err    error // *exec.ExitError for a non-zero exit status
}

func (e *RunError) Error() string {
	return fmt.Sprintf("testhost: %s: %s: %v: %s", e.Host, strings.Join(e.Argv, " "), e.Err, strings.TrimSpace(e.Stderr))
}

func (e *RunError) Unwrap() error { return e.Err }

// ExitCode returns the command's exit status, or -1 (ssh itself failing is 255).
func (e *RunError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Run runs argv on the host over SSH as root, the way Ansible reaches it, and
// returns its standard output. Each argument is quoted for the remote shell,
// so argv is never re-split. A failure is a *RunError.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("testhost: Run: empty argv")
	}
	if h.cluster.closed.Load() {
		return nil, fmt.Errorf("testhost: %s: Run: cluster is closed", h.Name)
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	c := h.cluster
	args := append(c.SSHArgs(), "-p", strconv.Itoa(h.Port), c.User+"@"+h.Addr, "--", strings.Join(quoted, " "))
	return h.capture(ctx, argv, "ssh", args...)
}

// Exec runs argv inside the host without SSH (works while it is stopped or
// unreachable): in its network and UTS namespaces for shared hosts, and in all
// its namespaces and its root for Debian hosts (which must be running). A
// failure is a *RunError.
func (h *Host) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("testhost: Exec: empty argv")
	}
	h.mu.Lock()
	var pid int
	if h.proc != nil {
		pid = h.proc.Pid
	}
	h.mu.Unlock()
	if h.cluster.Kind == Debian {
		if pid == 0 {
			return nil, fmt.Errorf("testhost: %s: Exec: Debian host is not running", h.Name)
		}
		inner, err := childPID(pid)
		if err != nil {
			return nil, fmt.Errorf("testhost: %s: Exec: %w", h.Name, err)
		}
		args := append([]string{"-t", strconv.Itoa(inner), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--"}, argv...)
		return h.capture(ctx, argv, "nsenter", args...)
	}
	args := append([]string{"--net=/run/netns/" + h.Netns}, "--")
	if pid != 0 {
		args = []string{"-t", strconv.Itoa(pid), "-n", "-u", "--"}
	}
	return h.capture(ctx, argv, "nsenter", append(args, argv...)...)
}

func (h *Host) capture(ctx context.Context, argv []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &RunError{Host: h.Name, Argv: argv, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// childPID returns the (first) child of pid: the PID 1 of a Debian host's
// PID namespace, as seen from the machine.
func childPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("process %d has no child", pid)
	}
	return strconv.Atoi(f[0])
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
