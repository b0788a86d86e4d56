// Package ssh is the local deploy.Runner: it runs ansible-playbook on this
// machine against the step's hosts over SSH, streams its output line by line
// into the run log, and signals the outcome through the step's task token
// (the contract is in package runner).
//
// Each step gets a private (0700) run directory under Config.DataDir/work:
// the extracted bundle, a JSON inventory of the step's hosts, the
// deployment's SSH key (0600), the secrets the bundle's secrets.json lists
// (0600 files in a 0700 secrets/ dir, passed as -e eden_secrets_dir), the
// callback plugin and its results file, and Ansible's local temp and home.
// The directory is removed when the step ends, whatever happens.
// Host keys are trusted on first use and then pinned, one known_hosts file
// per deployment under Config.DataDir/known_hosts.
//
// ansible-playbook runs in its own process group with an allow-listed
// environment (nothing inherited from the server's). Cancel and timeouts
// send SIGTERM to the whole group, then SIGKILL after a grace period; the
// group is killed again after Ansible exits, so no ssh master outlives it.
package ssh

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Config is what the runner needs; read once at start.
type Config struct {
	// DataDir holds run directories (work/) and known_hosts files
	// (known_hosts/<deploymentID>). Created 0700.
	DataDir  string
	Blobs    deploy.Blobs
	Secrets  deploy.Secrets
	Log      *runlog.Store
	Signaler runner.Signaler
	// AnsiblePlaybook is the program to run; default "ansible-playbook"
	// looked up in PATH.
	AnsiblePlaybook string
	// PATH is the only search path Ansible gets; default
	// /usr/local/bin:/usr/bin:/bin.
	PATH string
	// Heartbeat is how often a running step calls SendTaskHeartbeat;
	// default 30 s.
	Heartbeat time.Duration
	// KillGrace is how long a cancelled or timed-out Ansible gets between
	// SIGTERM and SIGKILL; default 5 s.
	KillGrace time.Duration
	// MaxForks bounds Ansible's forks (one per host up to it); default 50.
	MaxForks int
	// DefaultTimeout applies when Dispatch.Timeout is zero; default 30 min.
	DefaultTimeout time.Duration
	// ExtraVars are fixed extra vars of ours added to every run (e.g.
	// eden_record_dir for test roles). Never user values: extra vars are
	// evaluated by Jinja.
	ExtraVars map[string]string
	// Callbacks are more Ansible callback plugins to enable besides the
	// results plugin, by name; e.g. ansible.posix.profile_tasks puts each
	// task's time in the run log.
	Callbacks []string
	// Logger gets one line per step; default slog.Default().
	Logger *slog.Logger
}

// Runner runs steps with ansible-playbook over SSH. Safe for concurrent
// use; steps of different runs run side by side.
type Runner struct {
	cfg      Config
	playbook string

	mu   sync.Mutex
	cmds map[string]context.CancelCauseFunc
	wg   sync.WaitGroup
}

var _ deploy.Runner = (*Runner)(nil)

var (
	errCancelled = errors.New("cancelled")
	errShutdown  = errors.New("cancelled: the runner is shutting down")
)

// New checks cfg, fills its defaults and creates DataDir.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.DataDir == "":
		return nil, deploy.Invalid("data_dir", "runner/ssh: no data directory")
	case cfg.Blobs == nil || cfg.Secrets == nil || cfg.Log == nil || cfg.Signaler == nil:
		return nil, deploy.Invalid("", "runner/ssh: blobs, secrets, log and signaler are required")
	}
	for k := range cfg.ExtraVars {
		if !validVarName(k) {
			return nil, deploy.Invalid("extra_vars", "runner/ssh: invalid extra var name %q", k)
		}
	}
	for _, c := range cfg.Callbacks {
		if !validCallbackName(c) {
			return nil, deploy.Invalid("callbacks", "runner/ssh: invalid callback plugin name %q", c)
		}
	}
	// Ansible runs in the bundle's directory: every path it gets must be
	// absolute.
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("runner/ssh: data directory: %w", err)
	}
	cfg.DataDir = abs
	if cfg.PATH == "" {
		cfg.PATH = "/usr/local/bin:/usr/bin:/bin"
	}
	if cfg.AnsiblePlaybook == "" {
		cfg.AnsiblePlaybook = "ansible-playbook"
	}
	p := cfg.AnsiblePlaybook
	if !strings.Contains(p, "/") {
		// Look it up in the PATH Ansible will get, not in ours.
		found := ""
		for _, d := range filepath.SplitList(cfg.PATH) {
			if fi, err := os.Stat(filepath.Join(d, p)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				found = filepath.Join(d, p)
				break
			}
		}
		if found == "" {
			return nil, deploy.Invalid("ansible_playbook", "runner/ssh: %s not found in %s", p, cfg.PATH)
		}
		p = found
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = 5 * time.Second
	}
	if cfg.MaxForks <= 0 {
		cfg.MaxForks = 50
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "work"), filepath.Join(cfg.DataDir, "known_hosts")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("runner/ssh: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("runner/ssh: %w", err)
		}
	}
	return &Runner{cfg: cfg, playbook: p, cmds: map[string]context.CancelCauseFunc{}}, nil
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validCallbackName accepts a plugin name, plain or fully qualified
// (namespace.collection.name): dot-separated variable names.
func validCallbackName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !validVarName(part) {
			return false
		}
	}
	return true
}

// step is one dispatched step, prepared and running.
type step struct {
	d       deploy.Dispatch
	id      string
	dir     string // the run directory
	cpDir   string // ssh control sockets: short path, outside dir
	hosts   []string
	timeout time.Duration
}

// Dispatch prepares the step's run directory (bundle, inventory, key,
// secrets), starts ansible-playbook and returns its command ID without
// waiting for it. When it returns an error nothing was started and nothing
// will be signalled: an Invalid dispatch, a bundle or secret that is
// missing (NotFound) or unsafe, or Ansible that would not start. Once it
// returned an ID, exactly one SendTaskSuccess or SendTaskFailure follows.
func (r *Runner) Dispatch(ctx context.Context, d deploy.Dispatch) (string, error) {
	if err := checkDispatch(d); err != nil {
		return "", err
	}
	id := newCommandID()
	s := &step{d: d, id: id, dir: filepath.Join(r.cfg.DataDir, "work", id),
		cpDir: filepath.Join(os.TempDir(), "eden-cp-"+id[4:]), timeout: d.Timeout}
	if s.timeout <= 0 {
		s.timeout = r.cfg.DefaultTimeout
	}
	for _, h := range d.Hosts {
		s.hosts = append(s.hosts, h.Host)
	}
	if err := r.prepare(ctx, s); err != nil {
		s.cleanup()
		return "", fmt.Errorf("runner/ssh: dispatch step %d of run %s: %w", d.StepIndex, d.RunID, err)
	}
	runCtx, cancel := context.WithCancelCause(context.Background())
	cmd, out, err := r.start(s)
	if err != nil {
		cancel(nil)
		s.cleanup()
		return "", fmt.Errorf("runner/ssh: dispatch step %d of run %s: %w", d.StepIndex, d.RunID, err)
	}
	r.mu.Lock()
	r.cmds[id] = cancel
	r.mu.Unlock()
	if err := r.remember(s, cmd.Process.Pid); err != nil {
		// Without the record a crash would leave the step unreported until
		// its heartbeat times out; the step itself can still run.
		r.cfg.Logger.Warn("could not record an in-flight step", "command_id", id, "err", err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.cmds, id)
			r.mu.Unlock()
			cancel(nil)
		}()
		r.run(runCtx, s, cmd, out)
	}()
	return id, nil
}

// Cancel stops the step: SIGTERM to Ansible's process group, SIGKILL after
// the grace period; its outcome (Error "cancelled") is signalled as usual.
// An unknown or ended command is not an error.
func (r *Runner) Cancel(ctx context.Context, commandID string) error {
	r.mu.Lock()
	cancel := r.cmds[commandID]
	r.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
	return nil
}

// Shutdown cancels every running step and waits until their outcomes are
// signalled and their directories removed, or ctx ends.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	for _, c := range r.cmds {
		c(errShutdown)
	}
	r.mu.Unlock()
	return r.Wait(ctx)
}

// Wait waits until no step runs, or ctx ends.
func (r *Runner) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func checkDispatch(d deploy.Dispatch) error {
	switch {
	case d.Token == "":
		return deploy.Invalid("token", "runner/ssh: no task token")
	case len(d.Hosts) == 0:
		return deploy.Invalid("hosts", "runner/ssh: no hosts")
	case !deploy.SafeID(d.DeploymentID): // it names the known_hosts file
		return deploy.Invalid("deployment_id", "runner/ssh: invalid deployment ID %q", d.DeploymentID)
	case !deploy.SafeID(d.RunID):
		return deploy.Invalid("run_id", "runner/ssh: invalid run ID %q", d.RunID)
	case !playbook.SafeName(d.Playbook):
		return deploy.Invalid("playbook", "runner/ssh: invalid playbook name %q", d.Playbook)
	case d.SSHUser == "" || strings.ContainsAny(d.SSHUser, " \t\n'\"\\@:/") || strings.HasPrefix(d.SSHUser, "-"):
		return deploy.Invalid("ssh_user", "runner/ssh: invalid SSH user %q", d.SSHUser)
	}
	for i, h := range d.Hosts {
		if err := deploy.ValidateHost(fmt.Sprintf("hosts[%d]", i), h.Host); err != nil {
			return err
		}
	}
	return nil
}

func newCommandID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ssh-" + hex.EncodeToString(b[:])
}

func (s *step) cleanup() {
	os.RemoveAll(s.dir)
	os.RemoveAll(s.cpDir)
}

func (s *step) path(elem ...string) string { return filepath.Join(append([]string{s.dir}, elem...)...) }

// prepare fills the run directory.
func (r *Runner) prepare(ctx context.Context, s *step) error {
	d := s.d
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		return err
	}
	for _, sub := range []string{"bundle", "secrets", "tmp", "callback_plugins"} {
		if err := os.Mkdir(s.path(sub), 0o700); err != nil {
			return err
		}
	}
	if err := os.Mkdir(s.cpDir, 0o700); err != nil {
		return err
	}
	tgz, err := r.cfg.Blobs.GetBlob(ctx, d.BundleKey)
	if err != nil {
		return fmt.Errorf("get bundle %s: %w", d.BundleKey, err)
	}
	// The run directory is 0700: what the bundle holds stays private.
	if err := playbook.Extract(tgz, s.path("bundle")); err != nil {
		return deploy.Invalid("bundle_key", "unsafe or broken bundle %s: %v", d.BundleKey, err)
	}
	if fi, err := os.Stat(s.path("bundle", filepath.FromSlash(d.Playbook))); err != nil || !fi.Mode().IsRegular() {
		return deploy.Invalid("playbook", "bundle %s has no playbook %s", d.BundleKey, d.Playbook)
	}
	key, err := r.cfg.Secrets.GetSecret(ctx, d.DeploymentID, deploy.SecretSSHKey)
	if err != nil {
		return fmt.Errorf("get SSH key of %s: %w", d.DeploymentID, err)
	}
	if len(key) > 0 && key[len(key)-1] != '\n' {
		key = append(key, '\n') // OpenSSH refuses a key file without a final newline
	}
	if err := os.WriteFile(s.path("ssh_key"), key, 0o600); err != nil {
		return err
	}
	names, err := secretNames(s.path("bundle", "secrets.json"))
	if err != nil {
		return err
	}
	for _, n := range names {
		v, err := r.cfg.Secrets.GetSecret(ctx, d.DeploymentID, n)
		if err != nil {
			return fmt.Errorf("get secret %s of %s: %w", n, d.DeploymentID, err)
		}
		if err := os.WriteFile(s.path("secrets", n), v, 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.path("callback_plugins", runner.CallbackFile), runner.CallbackPlugin, 0o600); err != nil {
		return err
	}
	inv, err := inventory(s.hosts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.path("inventory.yml"), inv, 0o600); err != nil {
		return err
	}
	vars := map[string]string{}
	for k, v := range r.cfg.ExtraVars {
		vars[k] = v
	}
	vars["eden_secrets_dir"] = s.path("secrets")
	vb, err := json.Marshal(vars)
	if err != nil {
		return err
	}
	return os.WriteFile(s.path("extra_vars.json"), vb, 0o600)
}

// secretNames reads the bundle's secrets.json (a JSON array of secret
// names); a bundle without one needs no secrets.
func secretNames(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, deploy.Invalid("bundle", "secrets.json is not a JSON array of names: %v", err)
	}
	for _, n := range names {
		if n == deploy.SecretSSHKey || !playbook.SafeName(n) || strings.Contains(n, "/") || strings.HasPrefix(n, ".") {
			return nil, deploy.Invalid("bundle", "secrets.json names an invalid secret %q", n)
		}
	}
	return names, nil
}

// inventory is YAML (written as JSON, which is YAML) so every host name is
// quoted by the encoder, whatever it holds.
func inventory(hosts []string) ([]byte, error) {
	hs := map[string]map[string]string{}
	for _, h := range hosts {
		hs[h] = map[string]string{"ansible_host": h}
	}
	return json.MarshalIndent(map[string]any{"all": map[string]any{"hosts": hs}}, "", "  ")
}

// env is the whole environment Ansible gets.
func (r *Runner) env(s *step) []string {
	knownHosts := filepath.Join(r.cfg.DataDir, "known_hosts", s.d.DeploymentID)
	sshArgs := strings.Join([]string{
		"-o ControlMaster=auto", "-o ControlPersist=60s",
		"-o StrictHostKeyChecking=accept-new",
		"-o UserKnownHostsFile=" + knownHosts,
		"-o GlobalKnownHostsFile=/dev/null",
		"-o IdentitiesOnly=yes", "-o BatchMode=yes", "-o ConnectTimeout=10",
	}, " ")
	return []string{
		"PATH=" + r.cfg.PATH,
		"HOME=" + s.dir,
		"LANG=C.UTF-8",
		"PYTHONUNBUFFERED=1",
		"ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_HOST_KEY_CHECKING=1",
		"ANSIBLE_SSH_ARGS=" + sshArgs,
		"ANSIBLE_SSH_CONTROL_PATH_DIR=" + s.cpDir,
		"ANSIBLE_LOCAL_TEMP=" + s.path("tmp"),
		"ANSIBLE_CALLBACK_PLUGINS=" + s.path("callback_plugins"),
		"ANSIBLE_CALLBACKS_ENABLED=" + strings.Join(append([]string{runner.CallbackName}, r.cfg.Callbacks...), ","),
		runner.ResultsEnv + "=" + s.path("results.json"),
	}
}

func (r *Runner) args(s *step) []string {
	forks := min(len(s.hosts), r.cfg.MaxForks)
	a := []string{
		"-i", s.path("inventory.yml"),
		"-u", s.d.SSHUser,
		"--private-key", s.path("ssh_key"),
		"-f", fmt.Sprint(forks),
		"-e", "@" + s.path("extra_vars.json"),
	}
	if s.d.DryRun {
		a = append(a, "--check", "--diff")
	}
	return append(a, filepath.FromSlash(s.d.Playbook))
}

// start launches ansible-playbook in its own process group, its stdout and
// stderr on one pipe.
func (r *Runner) start(s *step) (*exec.Cmd, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// The context of the process itself is never cancelled: stopping is
	// done by signalling the group (see run), not by killing the leader only.
	cmd := exec.CommandContext(context.Background(), r.playbook, r.args(s)...)
	cmd.Dir = s.path("bundle")
	cmd.Env = r.env(s)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, nil, fmt.Errorf("start ansible-playbook: %w", err)
	}
	pw.Close()
	return cmd, pr, nil
}

// run waits for Ansible while streaming its output, stops it on cancel or
// timeout, and signals the outcome.
func (r *Runner) run(ctx context.Context, s *step, cmd *exec.Cmd, out *os.File) {
	d := s.d
	defer s.cleanup()
	log := r.cfg.Logger.With("run_id", d.RunID, "deployment_id", d.DeploymentID, "step", d.StepIndex, "command_id", s.id)
	r.appendLog(d.RunID, header(d))

	var scan runner.RecapScanner
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		r.stream(d.RunID, out, &scan)
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	beat := time.NewTicker(r.cfg.Heartbeat)
	defer beat.Stop()
	pgid := cmd.Process.Pid

	var abort string
	var waitErr error
	var kill <-chan time.Time
	stop := func(why string) {
		if abort != "" {
			return
		}
		abort = why
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		kill = time.After(r.cfg.KillGrace)
	}
	done := ctx.Done()
wait:
	for {
		select {
		case waitErr = <-exited:
			break wait
		case <-done:
			done = nil
			why := "cancelled"
			if c := context.Cause(ctx); c != nil && c != context.Canceled {
				why = c.Error()
			}
			stop(why)
		case <-timer.C:
			stop(fmt.Sprintf("timed out after %v", s.timeout))
		case <-kill:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-beat.C:
			hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.cfg.Signaler.SendTaskHeartbeat(hctx, d.Token)
			cancel()
			if errors.Is(err, workflow.ErrTaskNotFound) {
				// Nobody waits for this step any more (the workflow timed
				// out or was stopped): stop working for nobody.
				stop("cancelled: the workflow no longer waits for this step")
			} else if err != nil {
				log.Warn("heartbeat failed", "err", err)
			}
		}
	}
	// Whatever is left of the group (ssh control masters, stray children)
	// goes with Ansible, and is gone before the step's end is told.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroupGone(pgid, 5*time.Second)
	// Read what is left in the pipe; a grandchild that escaped the group
	// and still holds it must not hang us.
	_ = out.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-streamed
	out.Close()

	code := -1
	var ee *exec.ExitError
	if waitErr == nil {
		code = 0
	} else if errors.As(waitErr, &ee) {
		code = ee.ExitCode()
	}
	res, resErr := readResults(s.path("results.json"))
	if res == nil {
		res = scan.Results() // the recap fallback
	}
	// The secrets and the key go before anyone hears the step ended.
	s.cleanup()
	logKey := d.LogKey
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res == nil && abort == "" {
		cause := fmt.Sprintf("ansible-playbook ended (%s) without reporting on any host", exitText(waitErr))
		if resErr != nil && !errors.Is(resErr, os.ErrNotExist) {
			cause += "; results: " + resErr.Error()
		}
		if last := scan.LastError(); last != "" {
			cause += ": " + last
		}
		r.appendLog(d.RunID, []byte(fmt.Sprintf("== step %d %s could not run: %s ==\n", d.StepIndex+1, d.StepName, cause)))
		log.Error("step could not run", "cause", cause)
		if err := signalRetry(sctx, func(ctx context.Context) error {
			return runner.SignalRunnerError(ctx, r.cfg.Signaler, d.Token, cause)
		}); err != nil && !errors.Is(err, workflow.ErrTaskNotFound) {
			log.Error("signal failure", "err", err)
			return
		}
		r.forget(s.id)
		return
	}
	o := runner.Outcome(s.hosts, res, runner.Ending{Abort: abort, ExitCode: code}, logKey)
	r.appendLog(d.RunID, footer(d, o))
	log.Info("step ended", "error", o.Error, "exit", code)
	if err := signalRetry(sctx, func(ctx context.Context) error {
		return runner.SignalOutcome(ctx, r.cfg.Signaler, d.Token, o)
	}); err != nil && !errors.Is(err, workflow.ErrTaskNotFound) {
		// Kept in flight: Recover reports it after a restart.
		log.Error("signal outcome", "err", err)
		return
	}
	r.forget(s.id)
}

// signalRetry tries a signal three times; a task the workflow no longer
// knows is not retried.
func signalRetry(ctx context.Context, send func(context.Context) error) error {
	var err error
	for i := range 3 {
		if err = send(ctx); err == nil || errors.Is(err, workflow.ErrTaskNotFound) {
			return err
		}
		select {
		case <-time.After(time.Duration(i+1) * time.Second):
		case <-ctx.Done():
			return err
		}
	}
	return err
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func readResults(p string) (*runner.Results, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return runner.ParseResults(b)
}

// maxLine caps one log line; a longer line is split.
const maxLine = 64 << 10

// stream appends every line of out to the run log as soon as it is read.
func (r *Runner) stream(runID string, out io.Reader, scan *runner.RecapScanner) {
	br := bufio.NewReaderSize(out, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' { // a partial last line, or one over maxLine
				line = append(bytes.Clone(line), '\n')
			}
			r.appendLog(runID, line)
			scan.Line(string(line[:len(line)-1]))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (r *Runner) appendLog(runID string, b []byte) {
	if err := r.cfg.Log.Append(runID, b); err != nil {
		r.cfg.Logger.Warn("run log append failed", "run_id", runID, "err", err)
	}
}

func header(d deploy.Dispatch) []byte {
	hosts := make([]string, len(d.Hosts))
	for i, h := range d.Hosts {
		hosts[i] = h.Host
	}
	mode := ""
	if d.DryRun {
		mode = " (dry run)"
	}
	return []byte(fmt.Sprintf("== step %s %s on %s%s ==\n", stepNumber(d), d.StepName, strings.Join(hosts, ", "), mode))
}

// stepNumber is "2/3", or "2" when the dispatch does not say how many
// steps the run has.
func stepNumber(d deploy.Dispatch) string {
	if d.StepCount > 0 {
		return fmt.Sprintf("%d/%d", d.StepIndex+1, d.StepCount)
	}
	return fmt.Sprint(d.StepIndex + 1)
}

func footer(d deploy.Dispatch, o deploy.StepOutcome) []byte {
	if o.Error != "" {
		return []byte(fmt.Sprintf("== step %s %s failed: %s ==\n", stepNumber(d), d.StepName, o.Error))
	}
	return []byte(fmt.Sprintf("== step %s %s succeeded ==\n", stepNumber(d), d.StepName))
}

// waitGroupGone waits, at most limit, until no live process of group pgid
// is left: SIGKILL is delivered at once, but a dying process stays in
// /proc for a moment.
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a process of group pgid that is not a zombie
// is left.
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// After the ")" that ends the command name: state, ppid, pgrp.
		st := string(b)
		f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[0] != "X" && f[2] == want {
			return true
		}
	}
	return false
}
