package installtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/infra/ansible"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner/ssh"
	secretfile "github.com/edendeploy/edendeploy/internal/secrets/file"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// Environment knobs of the install test.
const (
	// EnvPackages chooses how the servers get their Debian packages:
	// "layer" (default) pre-installs every package the roles ask for into a
	// cached template layer, so the roles' apt tasks find them present;
	// "proxy" starts from the bare template and lets the roles install them
	// through testhost's apt proxy. Both keep the proxy for `apt-get update`.
	EnvPackages = "EDEN_INSTALLTEST_PACKAGES"
	// EnvReport, when set, names a file the timings are appended to.
	EnvReport = "EDEN_INSTALLTEST_REPORT"
	// EnvInstallTest=0 skips the install test, for a CI that runs it as a
	// step of its own (make test-install) after make test.
	EnvInstallTest = "EDEN_INSTALL_TEST"
	// EnvProfile=1 enables Ansible's profile_tasks callback (from the
	// ansible.posix collection) and logs each step's slowest tasks.
	EnvProfile = "EDEN_INSTALLTEST_PROFILE"
)

// profiling reports whether EnvProfile asks for per-task times.
func profiling() bool { return os.Getenv(EnvProfile) == "1" }

// profileSummary returns the profile_tasks summary (its slowest tasks)
// that follows the last play recap of log, or "".
func profileSummary(log string) string {
	i := strings.LastIndex(log, "PLAY RECAP")
	if i < 0 {
		return ""
	}
	rest := log[i:]
	j := strings.Index(rest, "=====")
	if j < 0 {
		return ""
	}
	rest = rest[j:]
	if k := strings.Index(rest, "\n== step"); k >= 0 {
		rest = rest[:k]
	}
	return strings.TrimSpace(rest)
}

// ansibleDistribution is what Ansible's ansible_distribution fact says on
// servers of each distribution; the roles key their per-distribution vars
// by it.
var ansibleDistribution = map[testhost.Distro]string{
	testhost.Debian12:   "Debian",
	testhost.Ubuntu2404: "Ubuntu",
}

// rolePackages is every package the roles install on a server of distro,
// read from the roles' own lists (so the layer follows the roles):
// common_packages, postgresql_packages, nginx_packages, nginx_acme_packages and uwsgi_packages,
// with postgresql_version the major that postgresql_versions gives for the
// server's ansible_distribution (Debian 12: 15, Ubuntu 24.04: 16).
func rolePackages(t testing.TB, distro testhost.Distro) []string {
	t.Helper()
	var vars struct {
		Common   []string          `yaml:"common_packages"`
		Postgres []string          `yaml:"postgresql_packages"`
		Versions map[string]string `yaml:"postgresql_versions"`
		Nginx    []string          `yaml:"nginx_packages"`
		ACME     []string          `yaml:"nginx_acme_packages"`
		UWSGI    []string          `yaml:"uwsgi_packages"`
	}
	for _, f := range []string{
		"roles/common/defaults/main.yml", "roles/postgresql/vars/main.yml",
		"roles/nginx/defaults/main.yml", "roles/uwsgi/defaults/main.yml",
	} {
		b, err := fs.ReadFile(ansible.Files, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &vars); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for name, l := range map[string][]string{"common_packages": vars.Common, "postgresql_packages": vars.Postgres, "nginx_packages": vars.Nginx, "uwsgi_packages": vars.UWSGI} {
		if len(l) == 0 {
			t.Fatalf("the roles define no %s", name)
		}
	}
	name := ansibleDistribution[distro]
	major := vars.Versions[name]
	if name == "" || major == "" {
		t.Fatalf("roles/postgresql/vars/main.yml: postgresql_versions names no PostgreSQL major for %s (%q): %v", distro, name, vars.Versions)
	}
	var pkgs []string
	for _, p := range slices.Concat(vars.Common, vars.Postgres, vars.Nginx, vars.ACME, vars.UWSGI) {
		p = strings.ReplaceAll(p, "{{ postgresql_version }}", major)
		if strings.Contains(p, "{{") {
			t.Fatalf("package %q: the harness knows only {{ postgresql_version }}", p)
		}
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	return slices.Compact(pkgs)
}

// serverOptions are the testhost options of servers of distro, with the
// package strategy of EnvPackages.
func serverOptions(t testing.TB, distro testhost.Distro) []testhost.Option {
	t.Helper()
	opts := []testhost.Option{testhost.WithDistro(distro), testhost.WithAptProxy()}
	switch mode := os.Getenv(EnvPackages); mode {
	case "", "layer":
		opts = append(opts, testhost.WithPackages(rolePackages(t, distro)...))
	case "proxy":
	default:
		t.Fatalf("%s=%q: use layer or proxy", EnvPackages, mode)
	}
	return opts
}

// servers starts n Debian 12 servers for one deployment.
func servers(t *testing.T, n int) *testhost.Cluster {
	t.Helper()
	return distroServers(t, n, testhost.Debian12)
}

// distroServers starts n servers of distro for one deployment, with the
// package strategy of EnvPackages, and checks that they are what was asked
// for.
func distroServers(t *testing.T, n int, distro testhost.Distro) *testhost.Cluster {
	t.Helper()
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	testpeer.LookPath(t, "git")
	begin := time.Now()
	c := testhost.StartDebian(t, n, serverOptions(t, distro)...)
	t.Logf("timing: %d %s servers ready in %v (packages: %s)", n, distro, time.Since(begin).Round(time.Millisecond), packageMode())
	for _, h := range c.Hosts {
		id, version := osRelease(t, h)
		if id != distro.ID() || version != distro.VersionID() {
			t.Fatalf("%s runs %s %s, want %s", h.Name, id, version, distro)
		}
	}
	return c
}

// osRelease returns ID and VERSION_ID of h's /etc/os-release, as h's own
// programs (and Ansible's facts) read it.
func osRelease(t testing.TB, h *testhost.Host) (id, version string) {
	t.Helper()
	for _, l := range strings.Split(sh(t, h, "cat", "/etc/os-release"), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "ID":
			id = strings.Trim(v, `"`)
		case "VERSION_ID":
			version = strings.Trim(v, `"`)
		}
	}
	return id, version
}

// prepareServers builds the cached templates and package layers of the
// servers that the subtests (name → distribution) which go test's -run
// selects will start, all at the same time, before the deployments need
// them one after the other: cold, the builds are mostly waiting on the
// archives, so two overlap well even on two cores. A build that fails is
// only logged: the deployment that needs it fails (or skips) with the same
// error when it starts its servers.
func prepareServers(t *testing.T, subtests map[string]testhost.Distro) {
	t.Helper()
	if os.Geteuid() != 0 {
		return // the deployments skip (or fail) on their own
	}
	var distros []testhost.Distro
	for name, d := range subtests {
		if selected(name) && !slices.Contains(distros, d) {
			distros = append(distros, d)
		}
	}
	if len(distros) == 0 {
		return
	}
	slices.Sort(distros)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	begin := time.Now()
	var wg sync.WaitGroup
	for _, d := range distros {
		spec := testhost.Spec{Kind: testhost.Debian, Log: logWriter{t, d.String()}}
		for _, o := range serverOptions(t, d) {
			o(&spec)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if err := testhost.PrepareTemplates(ctx, spec); err != nil {
				t.Logf("%s: preparing the template: %v", d, err)
				return
			}
			t.Logf("timing: %s template and packages ready in %v", d, time.Since(start).Round(time.Millisecond))
		}()
	}
	wg.Wait()
	t.Logf("timing: templates of %v ready in %v", distros, time.Since(begin).Round(time.Millisecond))
}

// selected reports whether go test's -run pattern selects the subtest name
// of the running top-level test. Only the pattern's second element is
// read: a template built in vain is only time lost.
func selected(name string) bool {
	f := flag.Lookup("test.run")
	if f == nil {
		return true
	}
	elems := splitRunPattern(f.Value.String())
	if len(elems) < 2 {
		return true
	}
	re, err := regexp.Compile(elems[1])
	return err != nil || re.MatchString(name)
}

// splitRunPattern splits a -run pattern at the slashes that go test splits
// it at: those outside brackets and parentheses, not escaped.
func splitRunPattern(p string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		case '/':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}

// logWriter logs each write as a line of t's log, prefixed.
type logWriter struct {
	t      testing.TB
	prefix string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + ": " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func packageMode() string {
	if m := os.Getenv(EnvPackages); m != "" {
		return m
	}
	return "layer"
}

func freePort(t testing.TB, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// signal is what the runner reported at the end of a step.
type signal struct {
	kind    string // success or failure
	outcome deploy.StepOutcome
	cause   string
}

// signaler is the fake workflow: it hands each step's end to whoever waits
// for its token.
type signaler struct {
	mu    sync.Mutex
	ends  map[string]chan signal
	beats int
}

func newSignaler() *signaler { return &signaler{ends: map[string]chan signal{}} }

func (s *signaler) ch(token string) chan signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ends[token]
	if !ok {
		c = make(chan signal, 1)
		s.ends[token] = c
	}
	return c
}

func (s *signaler) SendTaskSuccess(_ context.Context, token string, output []byte) error {
	var o deploy.StepOutcome
	if err := json.Unmarshal(output, &o); err != nil {
		return err
	}
	s.ch(token) <- signal{kind: "success", outcome: o}
	return nil
}

func (s *signaler) SendTaskFailure(_ context.Context, token, name, cause string) error {
	s.ch(token) <- signal{kind: "failure", cause: name + ": " + cause}
	return nil
}

func (s *signaler) SendTaskHeartbeat(context.Context, string) error {
	s.mu.Lock()
	s.beats++
	s.mu.Unlock()
	return nil
}

// plane is the part of the control plane a run goes through: the
// deployment, its secrets and bundles in their local stores, the SSH
// runner and the fake workflow.
type plane struct {
	t       *testing.T
	d       *deploy.Deployment
	c       *testhost.Cluster
	blobs   *blobfs.Store
	secrets *secretfile.Store
	log     *runlog.Store
	sig     *signaler
	runner  *ssh.Runner
	label   string // "all-in-one" or "3-tier", for timings
	// offsite is where backups are pulled to, as edenctl serve's data
	// directory holds them (the runner's eden_backup_pull_dir).
	offsite string
	// packages is how the servers got their packages (packageMode(), or
	// "none" on a bare server), for timings.
	packages string
	// onlySteps, when set, names the only steps runs dispatch; the others
	// are skipped (a web server's checks need no Eden behind it).
	onlySteps []string

	timings []timing
}

// timing is how long one step of one run took, and what it changed.
type timing struct {
	Deployment string        `json:"deployment"`
	Run        string        `json:"run"`
	Step       string        `json:"step"`
	Took       time.Duration `json:"took_ns"`
	Changed    int           `json:"changed"`
}

// Secrets of the test deployments: values that need quoting everywhere.
var testSecrets = map[string]string{
	deploy.SecretDBPassword:    `db pass 'with" quotes\ and {{ braces }} $HOME`,
	deploy.SecretAdminPassword: `admin "pass" 'x' {{ y }}`,
	// No ':' here: web2py reads a key holding one as "<digest>:<key>"
	// (Eden Deploy's generated keys are URL-safe base64).
	deploy.SecretHMACKey: `hmac 'key"\n{{ z }}`,
}

func newPlane(t *testing.T, label string, c *testhost.Cluster, d *deploy.Deployment) *plane {
	t.Helper()
	if c.Distro != testhost.Debian12 {
		label = c.Distro.String() + "/" + label // "ubuntu-24.04/all-in-one"
	}
	dir := t.TempDir()
	p := &plane{t: t, d: d, c: c, sig: newSignaler(), label: label, packages: packageMode(), offsite: filepath.Join(dir, "offsite")}
	var err error
	if p.blobs, err = blobfs.Open(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if p.secrets, err = secretfile.Open(filepath.Join(dir, "secrets")); err != nil {
		t.Fatal(err)
	}
	if p.log, err = runlog.Open(filepath.Join(dir, "logs")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, v := range testSecrets {
		if err := p.secrets.PutSecret(ctx, d.ID, name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.secrets.PutSecret(ctx, d.ID, deploy.SecretSSHKey, c.PrivateKey); err != nil {
		t.Fatal(err)
	}
	var callbacks []string
	if profiling() {
		callbacks = []string{"ansible.posix.profile_tasks"}
	}
	p.runner, err = ssh.New(ssh.Config{
		DataDir: filepath.Join(dir, "runner"), Blobs: p.blobs, Secrets: p.secrets, Log: p.log, Signaler: p.sig,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Callbacks: callbacks,
		ExtraVars: map[string]string{"eden_backup_pull_dir": p.offsite},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.runner.Shutdown(ctx); err != nil {
			t.Errorf("runner shutdown: %v", err)
		}
	})
	return p
}

// run makes the run req asks for as the control plane would (CheckRun,
// NewRun), then renders, stores and dispatches each step in plan order,
// waiting for each outcome before the next, as the state machine does. A
// failed step fails the test with the end of the run's log. The label
// names the run in the timings.
func (p *plane) run(label string, req deploy.RunRequest) *deploy.Run {
	p.t.Helper()
	r := p.start(label, req)
	if failure := p.steps(label, r); failure != "" {
		p.t.Fatalf("%s", failure)
	}
	p.end(r, deploy.RunSucceeded)
	return r
}

// runFailing is run for a run that must fail: it returns the error of the
// step that failed, as the run reports it (the test fails if none does).
func (p *plane) runFailing(label string, req deploy.RunRequest) string {
	p.t.Helper()
	r := p.start(label, req)
	failure := p.steps(label, r)
	if failure == "" {
		p.t.Fatalf("%s succeeded, want it to fail", label)
	}
	p.end(r, deploy.RunFailed)
	for _, s := range r.Steps {
		if s.Status == deploy.StepFailed {
			return s.Error
		}
	}
	return failure
}

func (p *plane) start(label string, req deploy.RunRequest) *deploy.Run {
	t := p.t
	t.Helper()
	d := p.d
	if req.Requester == "" {
		req.Requester = "installtest"
	}
	if err := d.CheckRun(req, nil); err != nil {
		t.Fatalf("%s: CheckRun: %v", label, err)
	}
	now := time.Now()
	r, err := d.NewRun(deploy.NewID("r-", now), req, now)
	if err != nil {
		t.Fatalf("%s: NewRun: %v", label, err)
	}
	if req.Kind == deploy.RunReconfigure {
		r.Settings = d.Instance(req.Instance).Settings
	}
	if err := r.MoveTo(deploy.RunRunning, now); err != nil {
		t.Fatal(err)
	}
	d.ObserveRun(r, now)
	return r
}

func (p *plane) end(r *deploy.Run, status deploy.RunStatus) {
	p.t.Helper()
	if err := r.MoveTo(status, time.Now()); err != nil {
		p.t.Fatal(err)
	}
	p.d.ObserveRun(r, time.Now())
}

// runSteps renders and dispatches every step of r in turn through the SSH
// runner, failing the test at the first step that fails. Called again with
// the same run, it is what a retried step does: the same bundle again.
func (p *plane) runSteps(label string, r *deploy.Run) {
	p.t.Helper()
	if failure := p.steps(label, r); failure != "" {
		p.t.Fatalf("%s", failure)
	}
}

// steps is runSteps, returning the failure (with the end of the run's
// log) of the first step that fails instead of failing the test.
func (p *plane) steps(label string, r *deploy.Run) string {
	t := p.t
	t.Helper()
	d := p.d
	for i := range r.Steps {
		step := &r.Steps[i]
		if p.onlySteps != nil && !slices.Contains(p.onlySteps, step.Name) {
			step.Status = deploy.StepSkipped
			continue
		}
		b, err := playbook.Render(playbook.Input{Deployment: d, Run: r, Step: i}, playbook.Options{})
		if err != nil {
			t.Fatalf("%s: render step %d: %v", label, i, err)
		}
		tgz, err := b.TarGz()
		if err != nil {
			t.Fatal(err)
		}
		step.BundleKey = fmt.Sprintf("%s/bundles/%s/step-%d.tar.gz", d.ID, r.ID, i)
		step.LogKey = "runs/" + r.ID + ".log"
		ctx := context.Background()
		if err := p.blobs.PutBlob(ctx, step.BundleKey, tgz); err != nil {
			t.Fatal(err)
		}
		disp := deploy.Dispatch{
			DeploymentID: d.ID, RunID: r.ID, StepIndex: i, StepName: step.Name,
			BundleKey: step.BundleKey, Playbook: step.Playbook,
			Token: r.ID + "/" + strconv.Itoa(i), Timeout: 20 * time.Minute,
			SSHUser: d.SSHUser, LogKey: step.LogKey, DryRun: r.DryRun,
		}
		for _, h := range step.Hosts {
			disp.Hosts = append(disp.Hosts, deploy.DispatchHost{Host: h})
		}
		begin := time.Now()
		step.StartedAt = begin
		if step.CommandID, err = p.runner.Dispatch(ctx, disp); err != nil {
			t.Fatalf("%s: dispatch step %s: %v", label, step.Name, err)
		}
		var s signal
		select {
		case s = <-p.sig.ch(disp.Token):
		case <-time.After(25 * time.Minute):
			t.Fatalf("%s: step %s: no outcome signalled", label, step.Name)
		}
		took := time.Since(begin)
		step.FinishedAt = time.Now()
		if s.kind != "success" || s.outcome.Error != "" {
			step.Status, step.Error, step.Results = deploy.StepFailed, s.cause+s.outcome.Error, s.outcome.Results
			return fmt.Sprintf("%s: step %s failed: %s\n--- end of the run log ---\n%s", label, step.Name, step.Error, p.logTail(r.ID, 150))
		}
		step.Status, step.Results = deploy.StepSucceeded, s.outcome.Results
		changed := 0
		for _, hr := range s.outcome.Results {
			changed += hr.Changed
		}
		p.timings = append(p.timings, timing{Deployment: p.label, Run: label, Step: step.Name, Took: took, Changed: changed})
		t.Logf("timing: %s %s step %s on %s: %v, changed=%d", p.label, label, step.Name, strings.Join(step.Hosts, ","), took.Round(100*time.Millisecond), changed)
		if profiling() {
			t.Logf("slowest tasks of %s %s step %s:\n%s", p.label, label, step.Name, profileSummary(p.logText(r.ID)))
		}
	}
	return ""
}

// changedTasks lists every host of r that reported changes, with the task
// names that changed them (from the run log), for a helpful failure.
func (p *plane) requireNoChange(r *deploy.Run, label string) {
	p.t.Helper()
	for _, s := range r.Steps {
		for _, hr := range s.Results {
			if hr.Changed != 0 || !hr.Succeeded() {
				p.t.Errorf("%s: step %s host %s: changed=%d failed=%d, want changed=0 on a second run\n%s",
					label, s.Name, hr.Host, hr.Changed, hr.Failed, changedLines(p.logText(r.ID)))
			}
		}
	}
}

// changedLines keeps the task headers and "changed:" lines of a log.
func changedLines(log string) string {
	var out []string
	var task string
	for _, l := range strings.Split(log, "\n") {
		switch {
		case strings.HasPrefix(l, "TASK ["):
			task = l
		case strings.HasPrefix(l, "changed:"):
			out = append(out, task, "  "+l)
		}
	}
	return strings.Join(out, "\n")
}

func (p *plane) logText(runID string) string {
	var out []byte
	for off := int64(0); ; {
		b, err := p.log.ReadRange(runID, off, 1<<20)
		if err != nil || len(b) == 0 {
			return string(out)
		}
		out = append(out, b...)
		off += int64(len(b))
	}
}

func (p *plane) logTail(runID string, n int) string {
	lines := strings.Split(p.logText(runID), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// report logs the timings as one summary line and appends them to
// $EDEN_INSTALLTEST_REPORT when set.
func (p *plane) report() {
	t := p.t
	var parts []string
	for _, x := range p.timings {
		parts = append(parts, fmt.Sprintf("%s/%s=%.1fs(changed=%d)", x.Run, x.Step, x.Took.Seconds(), x.Changed))
	}
	t.Logf("timing summary %s [packages=%s]: %s", p.label, p.packages, strings.Join(parts, " "))
	if path := os.Getenv(EnvReport); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer f.Close()
		for _, x := range p.timings {
			fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%.1f\t%d\n", time.Now().UTC().Format(time.RFC3339), p.packages, x.Deployment, x.Run+"/"+x.Step, x.Took.Seconds(), x.Changed)
		}
	}
}

// sh runs a command on a host over SSH and returns its output; failure
// fails the test.
func sh(t testing.TB, h *testhost.Host, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := h.Run(ctx, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", h.Name, err, out)
	}
	return string(out)
}

// shErr runs a command that is expected to fail and returns its error.
func shErr(h *testhost.Host, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := h.Run(ctx, argv...)
	return string(out), err
}

// config reads an instance's 000_config.py as Eden's first model does (Python
// executes it, here against a settings object that records what it is
// given) and returns the resulting settings and FINISHED_EDITING_CONFIG_FILE.
func config(t testing.TB, h *testhost.Host, home string) (map[string]any, bool) {
	t.Helper()
	const prog = `import json, sys
class Section(dict):
    def __getattr__(self, k):
        if k.startswith("__"):
            raise AttributeError(k)
        if k not in self:
            self[k] = Section()
        return self[k]
    def __setattr__(self, k, v):
        self[k] = v
    def __call__(self, *args, **kwargs):
        return None
settings = Section()
env = {"settings": settings}
path = sys.argv[1] + "/applications/eden/models/000_config.py"
exec(compile(open(path).read(), path, "exec"), env)
print(json.dumps({"settings": settings, "finished": env.get("FINISHED_EDITING_CONFIG_FILE")}))
`
	out := sh(t, h, "python3", "-c", prog, home)
	var v struct {
		Settings map[string]any `json:"settings"`
		Finished bool           `json:"finished"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("000_config.py of %s: %v: %s", home, err, out)
	}
	return v.Settings, v.Finished
}

// setting looks up a dotted key in settings read by config.
func setting(s map[string]any, key string) any {
	var cur any = s
	for _, k := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// pgConnect runs, on host h, a psycopg2 connection to the instance's
// database with the deployment's password, and returns what it printed or
// the error.
func pgConnect(h *testhost.Host, dbHost, db, user string) (string, error) {
	const prog = `import os, sys, psycopg2
c = psycopg2.connect(host=sys.argv[1], dbname=sys.argv[2], user=sys.argv[3], password=os.environ["EDT_PW"], connect_timeout=5)
cur = c.cursor()
cur.execute("SELECT current_user, postgis_version()")
print(*cur.fetchone())
`
	return shErr(h, "env", "EDT_PW="+testSecrets[deploy.SecretDBPassword], "python3", "-c", prog, dbHost, db, user)
}

// psql runs SQL as postgres on the db host and returns its unaligned output.
func psql(t testing.TB, h *testhost.Host, db, sql string) string {
	t.Helper()
	return strings.TrimSpace(sh(t, h, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql))
}

// uwsgiPIDs returns the PIDs of the instance's uWSGI processes on h.
func uwsgiPIDs(t testing.TB, h *testhost.Host, typ deploy.InstanceType) []string {
	t.Helper()
	out, err := shErr(h, "pgrep", "-f", "apps-enabled/"+string(typ)+".ini")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}
