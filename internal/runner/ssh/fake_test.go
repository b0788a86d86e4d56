package ssh_test

// Tests with a stand-in for ansible-playbook (a bash script that runs the
// bundle's "playbook" as a bash script): they need nothing but bash, and
// check what the runner gives Ansible and what it makes of what Ansible
// does, including the process-group handling.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner/ssh"
	"github.com/edendeploy/edendeploy/internal/testpeer"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// fakeAnsible runs the playbook (its last argument) with bash, passing it
// all the arguments.
const fakeAnsible = `#!/bin/bash
exec bash "${@: -1}" "$@"
`

func fakeEnv(t *testing.T, mod func(*ssh.Config)) *env {
	t.Helper()
	testpeer.LookPath(t, "bash")
	bin := filepath.Join(t.TempDir(), "ansible-playbook")
	if err := os.WriteFile(bin, []byte(fakeAnsible), 0o755); err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(c *ssh.Config) {
		c.AnsiblePlaybook = bin
		c.PATH = "/usr/local/bin:/usr/bin:/bin"
		if mod != nil {
			mod(c)
		}
	})
}

// okResults is a results file for the hosts, all fine.
func okResults(hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"host":%q,"ok":2,"changed":1,"failures":0,"unreachable":0,"skipped":0,"rescued":0,"ignored":0}`, h))
	}
	return `{"version":1,"hosts":[` + strings.Join(hs, ",") + `]}`
}

func TestWhatAnsibleGets(t *testing.T) {
	rec := t.TempDir()
	e := fakeEnv(t, func(c *ssh.Config) {
		c.ExtraVars = map[string]string{"eden_record_dir": "/srv/rec"}
		c.Callbacks = []string{"ansible.posix.profile_tasks"}
	})
	play := fmt.Sprintf(`
rec=%q
printf '%%s\n' "$@" > $rec/args
env | sort > $rec/env
pwd > $rec/pwd
stat -c '%%a %%n' "$HOME" "$HOME/ssh_key" "$HOME/secrets" "$HOME/secrets/db-password" > $rec/modes
cat "$HOME/secrets/db-password" > $rec/secret
cat "$HOME/inventory.yml" > $rec/inventory
ls "$HOME/secrets" > $rec/secret-names
xv=$(sed -n 's/^@//p' <<<"$(printf '%%s\n' "$@" | grep '^@')"); cat "$xv" > $rec/extra_vars
cat "$HOME/ssh_key" > $rec/key
echo "PLAY [all] ***"
echo '%s' > "$EDEN_RESULTS_FILE"
`, rec, okResults("10.0.0.3", "web-1.example.org"))
	d := e.putBundle(t, map[string]string{"site.yml": play, "secrets.json": `["db-password"]`, "roles/x/tasks/main.yml": "- debug: msg=x\n"},
		[]byte("KEY WITHOUT NEWLINE"), "10.0.0.3", "web-1.example.org")
	if err := e.secrets.PutSecret(context.Background(), "d-1", deploy.SecretDBPassword, []byte("s3cr3t 'pw'")); err != nil {
		t.Fatal(err)
	}
	if err := e.secrets.PutSecret(context.Background(), "d-1", deploy.SecretAdminPassword, []byte("not listed")); err != nil {
		t.Fatal(err)
	}
	d.DryRun = true
	id, err := e.runner.Dispatch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "ssh-") {
		t.Errorf("command ID %q", id)
	}
	s := e.sig.wait(t, 30*time.Second)
	if s.Kind != "success" || s.Token != "token-1" || s.Outcome.Error != "" || len(s.Outcome.Results) != 2 || s.Outcome.LogKey != "runs/r-1.log" {
		t.Fatalf("signal %+v", s)
	}
	read := func(n string) string {
		b, err := os.ReadFile(filepath.Join(rec, n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	runDir := filepath.Join(e.dir, "data", "work", id)
	args := strings.Split(strings.TrimSpace(read("args")), "\n")
	wantArgs := []string{"-i", runDir + "/inventory.yml", "-u", "root", "--private-key", runDir + "/ssh_key",
		"-f", "2", "-e", "@" + runDir + "/extra_vars.json", "--check", "--diff", "site.yml"}
	if d := cmp.Diff(wantArgs, args); d != "" {
		t.Errorf("args (-want +got):\n%s", d)
	}
	var keys []string
	envVals := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(read("env")), "\n") {
		k, v, _ := strings.Cut(l, "=")
		envVals[k] = v
		if k != "PWD" && k != "SHLVL" && k != "_" && k != "OLDPWD" { // set by bash itself
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	wantKeys := []string{"ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_FORCE_COLOR", "ANSIBLE_HOST_KEY_CHECKING",
		"ANSIBLE_LOCAL_TEMP", "ANSIBLE_NOCOLOR", "ANSIBLE_RETRY_FILES_ENABLED", "ANSIBLE_SSH_ARGS", "ANSIBLE_SSH_CONTROL_PATH_DIR",
		"EDEN_RESULTS_FILE", "HOME", "LANG", "PATH", "PYTHONUNBUFFERED"}
	if d := cmp.Diff(wantKeys, keys); d != "" {
		t.Errorf("environment (-want +got): nothing else may be inherited\n%s", d)
	}
	kh := filepath.Join(e.dir, "data", "known_hosts", "d-1")
	for k, want := range map[string]string{"HOME": runDir, "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
		"ANSIBLE_LOCAL_TEMP": runDir + "/tmp", "ANSIBLE_CALLBACKS_ENABLED": "eden_results,ansible.posix.profile_tasks"} {
		if envVals[k] != want {
			t.Errorf("%s=%q, want %q", k, envVals[k], want)
		}
	}
	for _, want := range []string{"StrictHostKeyChecking=accept-new", "UserKnownHostsFile=" + kh} {
		if !strings.Contains(envVals["ANSIBLE_SSH_ARGS"], want) {
			t.Errorf("ANSIBLE_SSH_ARGS %q lacks %q", envVals["ANSIBLE_SSH_ARGS"], want)
		}
	}
	if got := strings.TrimSpace(read("pwd")); got != runDir+"/bundle" {
		t.Errorf("working dir %s", got)
	}
	wantModes := fmt.Sprintf("700 %s\n600 %s/ssh_key\n700 %s/secrets\n600 %s/secrets/db-password\n", runDir, runDir, runDir, runDir)
	if got := read("modes"); got != wantModes {
		t.Errorf("modes:\n%s\nwant:\n%s", got, wantModes)
	}
	if got := read("secret"); got != "s3cr3t 'pw'" {
		t.Errorf("secret %q", got)
	}
	if got := read("secret-names"); got != "db-password\n" {
		t.Errorf("secrets given: %q, want only the listed one", got)
	}
	if got := read("key"); got != "KEY WITHOUT NEWLINE\n" {
		t.Errorf("key file %q", got)
	}
	var xv map[string]string
	if err := json.Unmarshal([]byte(read("extra_vars")), &xv); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"eden_record_dir": "/srv/rec", "eden_secrets_dir": runDir + "/secrets"}, xv); d != "" {
		t.Errorf("extra vars (-want +got):\n%s", d)
	}
	var inv struct {
		All struct {
			Hosts map[string]map[string]string `json:"hosts"`
		} `json:"all"`
	}
	if err := json.Unmarshal([]byte(read("inventory")), &inv); err != nil || len(inv.All.Hosts) != 2 || inv.All.Hosts["web-1.example.org"]["ansible_host"] != "web-1.example.org" {
		t.Errorf("inventory %s: %v", read("inventory"), err)
	}
	if left := e.workDirs(t); len(left) != 0 {
		t.Errorf("run directories left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), "eden-cp-"+id[4:])); !os.IsNotExist(err) {
		t.Errorf("control path dir left: %v", err)
	}
	log := e.logText(t, "r-1")
	if !strings.HasPrefix(log, "== step 2 eden on 10.0.0.3, web-1.example.org (dry run) ==\nPLAY [all] ***\n") ||
		!strings.HasSuffix(log, "== step 2 eden succeeded ==\n") {
		t.Errorf("log:\n%s", log)
	}
	if strings.Contains(log, "s3cr3t") {
		t.Error("a secret reached the log")
	}
}

// TestFollowSeesLineBeforeNext: the playbook prints a line, then waits
// until the test has seen that line in the run log before printing the next
// one. Buffered output would deadlock (and fail on the step timeout); the
// measured pipe-to-follower latency is reported.
func TestFollowSeesLineBeforeNext(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "flag")
	e := fakeEnv(t, nil)
	play := fmt.Sprintf(`
for i in 1 2 3 4 5; do
  echo "tick $i $(date +%%s%%N)"
  while [ ! -e %[1]q.$i ]; do sleep 0.01; done
done
echo after
echo '%[2]s' > "$EDEN_RESULTS_FILE"
`, flag, okResults("10.0.0.3"))
	d := e.putBundle(t, map[string]string{"site.yml": play}, []byte("k\n"), "10.0.0.3")
	d.Timeout = 30 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow, err := e.log.Follow(ctx, "r-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(follow)
	var lat []time.Duration
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 3 && f[0] == "tick" {
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			lat = append(lat, time.Since(time.Unix(0, ns)))
			os.WriteFile(flag+"."+f[1], nil, 0o600)
		}
		if line == "after" {
			break
		}
	}
	if s := e.sig.wait(t, 30*time.Second); s.Outcome.Error != "" || len(lat) != 5 {
		t.Fatalf("outcome %+v, %d ticks seen", s, len(lat))
	}
	slices.Sort(lat)
	t.Logf("print-to-follower latency over 5 lines: min %v, median %v, max %v", lat[0], lat[2], lat[4])
}

func TestCancelKillsTheWholeGroup(t *testing.T) {
	e := fakeEnv(t, func(c *ssh.Config) { c.KillGrace = 300 * time.Millisecond })
	// The "playbook" ignores SIGTERM, so SIGKILL after the grace is needed;
	// its child sleeps in the background, as an ssh master would.
	play := `
trap '' TERM
sleep 300 &
sleep 301 &
echo "started $$"
wait
`
	d := e.putBundle(t, map[string]string{"site.yml": play}, []byte("k\n"), "10.0.0.3")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow, _ := e.log.Follow(ctx, "r-1", 0)
	defer follow.Close()
	id, err := e.runner.Dispatch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	pgid := 0
	sc := bufio.NewScanner(follow)
	for sc.Scan() {
		if pid, ok := strings.CutPrefix(sc.Text(), "started "); ok {
			n, _ := strconv.Atoi(pid)
			pgid = pgidOf(n)
			break
		}
	}
	if pgid == 0 || pgid == pgidOf(os.Getpid()) {
		t.Fatalf("playbook not in its own process group (pgid %d)", pgid)
	}
	if m := groupMembers(pgid); len(m) < 3 {
		t.Fatalf("group %d has %v, want the script and its two sleeps", pgid, m)
	}
	if err := e.runner.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	if s.Kind != "success" || s.Outcome.Error != "cancelled" {
		t.Fatalf("signal %+v", s)
	}
	if r := s.Outcome.Results; len(r) != 1 || r[0].Succeeded() || r[0].Reason != "cancelled" {
		t.Errorf("results %+v", r)
	}
	if m := groupMembers(pgid); len(m) != 0 {
		t.Errorf("processes left in group %d: %v", pgid, m)
	}
	if err := e.runner.Cancel(context.Background(), id); err != nil {
		t.Errorf("Cancel of an ended step: %v", err)
	}
	if left := e.workDirs(t); len(left) != 0 {
		t.Errorf("run directories left: %v", left)
	}
}

func TestTimeout(t *testing.T) {
	e := fakeEnv(t, func(c *ssh.Config) { c.KillGrace = 200 * time.Millisecond })
	d := e.putBundle(t, map[string]string{"site.yml": "echo working; sleep 300\n"}, []byte("k\n"), "10.0.0.3", "10.0.0.4")
	d.Timeout = 700 * time.Millisecond
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	if s.Kind != "success" || s.Outcome.Error != "timed out after 700ms" {
		t.Fatalf("signal %+v", s)
	}
	for _, r := range s.Outcome.Results {
		if r.Failed != 1 || r.Reason != "timed out after 700ms" {
			t.Errorf("result %+v", r)
		}
	}
	if log := e.logText(t, "r-1"); !strings.HasSuffix(log, "== step 2 eden failed: timed out after 700ms ==\n") {
		t.Errorf("log:\n%s", log)
	}
}

func TestHeartbeats(t *testing.T) {
	e := fakeEnv(t, func(c *ssh.Config) { c.Heartbeat = 50 * time.Millisecond })
	d := e.putBundle(t, map[string]string{"site.yml": "sleep 0.4; echo '" + okResults("10.0.0.3") + "' > \"$EDEN_RESULTS_FILE\"\n"}, []byte("k\n"), "10.0.0.3")
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	if s.Outcome.Error != "" {
		t.Fatalf("outcome %+v", s.Outcome)
	}
	if n := e.sig.count("heartbeat"); n < 3 {
		t.Errorf("%d heartbeats in 0.4 s at 50 ms, want at least 3", n)
	}
}

// A workflow that no longer waits (heartbeat answers task-not-found) stops
// the step.
func TestLostTaskStopsTheStep(t *testing.T) {
	e := fakeEnv(t, func(c *ssh.Config) { c.Heartbeat = 50 * time.Millisecond; c.KillGrace = 100 * time.Millisecond })
	e.sig.heartbeatErr = fmt.Errorf("asl: %w", workflow.ErrTaskNotFound)
	d := e.putBundle(t, map[string]string{"site.yml": "sleep 300\n"}, []byte("k\n"), "10.0.0.3")
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	if !strings.HasPrefix(s.Outcome.Error, "cancelled") {
		t.Fatalf("outcome %+v", s.Outcome)
	}
}

func TestRecapFallback(t *testing.T) {
	out, err := os.ReadFile("../testdata/default-output.txt")
	if err != nil {
		t.Fatal(err)
	}
	e := fakeEnv(t, nil)
	d := e.putBundle(t, map[string]string{"site.yml": "cat out.txt; exit 2\n", "out.txt": string(out)}, []byte("k\n"), "a", "b", "c")
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	want := deploy.StepOutcome{LogKey: "runs/r-1.log", Error: `task "boom" failed on a: exit status 3; output ends: bad thing`,
		Results: []deploy.HostResult{
			{Host: "a", OK: 3, Changed: 1, Failed: 1, Reason: `task "boom" failed: exit status 3; output ends: bad thing`},
			{Host: "b", OK: 4, Changed: 2, Failed: 1, Skipped: 1, Reason: `task "traceback" failed: exit status 1: TypeError: can only concatenate tuple (not "list") to tuple`},
			{Host: "c", Unreachable: 1, Reason: "unreachable: Failed to connect to the host via ssh: ssh: connect to host 192.0.2.1 port 22: Connection refused"},
		}}
	if d := cmp.Diff(want, s.Outcome); d != "" {
		t.Errorf("outcome from the recap (-want +got):\n%s", d)
	}
}

func TestAnsibleThatReportsNothingIsARunnerError(t *testing.T) {
	e := fakeEnv(t, nil)
	d := e.putBundle(t, map[string]string{"site.yml": "echo 'ERROR! the role x was not found' >&2; exit 1\n"}, []byte("k\n"), "10.0.0.3")
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 10*time.Second)
	if s.Kind != "failure" || s.ErrName != "RunnerError" || !strings.Contains(s.Cause, "without reporting on any host") ||
		!strings.Contains(s.Cause, "ERROR! the role x was not found") {
		t.Fatalf("signal %+v", s)
	}
}

// TestDispatchErrors: a step that cannot start returns an error, signals
// nothing and leaves no directory.
func TestDispatchErrors(t *testing.T) {
	e := fakeEnv(t, nil)
	good := e.putBundle(t, map[string]string{"site.yml": "true\n", "secrets.json": `["db-password"]`}, []byte("k\n"), "10.0.0.3")
	ctx := context.Background()
	badBundle := func(name string, b []byte) string {
		key := "d-1/bundles/" + name
		if err := e.blobs.PutBlob(ctx, key, b); err != nil {
			t.Fatal(err)
		}
		return key
	}
	tests := []struct {
		name string
		mod  func(d *deploy.Dispatch)
		kind deploy.Kind
	}{
		{"no token", func(d *deploy.Dispatch) { d.Token = "" }, deploy.KindInvalid},
		{"bad deployment id", func(d *deploy.Dispatch) { d.DeploymentID = "../../etc" }, deploy.KindInvalid},
		{"no hosts", func(d *deploy.Dispatch) { d.Hosts = nil }, deploy.KindInvalid},
		{"bad host", func(d *deploy.Dispatch) { d.Hosts = []deploy.DispatchHost{{Host: "-oProxyCommand=x"}} }, deploy.KindInvalid},
		{"bad playbook", func(d *deploy.Dispatch) { d.Playbook = "../x.yml" }, deploy.KindInvalid},
		{"bad user", func(d *deploy.Dispatch) { d.SSHUser = "-oProxyCommand=x" }, deploy.KindInvalid},
		{"missing bundle", func(d *deploy.Dispatch) { d.BundleKey = "d-1/nope.tar.gz" }, deploy.KindNotFound},
		{"playbook not in bundle", func(d *deploy.Dispatch) { d.Playbook = "other.yml" }, deploy.KindInvalid},
		{"secret missing", func(d *deploy.Dispatch) {}, deploy.KindNotFound}, // db-password was never stored
		{"dotdot in bundle", func(d *deploy.Dispatch) {
			d.BundleKey = badBundle("dotdot", tgz(t, map[string]string{"site.yml": "x", "../escape": "x"}))
		}, deploy.KindInvalid},
		{"not gzip", func(d *deploy.Dispatch) { d.BundleKey = badBundle("junk", []byte("junk")) }, deploy.KindInvalid},
		{"bad secrets.json", func(d *deploy.Dispatch) {
			d.BundleKey = badBundle("secrets", tgz(t, map[string]string{"site.yml": "x", "secrets.json": `["../../etc/shadow"]`}))
		}, deploy.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.mod(&d)
			id, err := e.runner.Dispatch(ctx, d)
			if err == nil || deploy.KindOf(err) != tt.kind {
				t.Fatalf("Dispatch = %q, %v; want kind %s", id, err, tt.kind)
			}
			if left := e.workDirs(t); len(left) != 0 {
				t.Errorf("run directories left: %v", left)
			}
		})
	}
	if n := len(e.sig.calls); n != 0 {
		t.Errorf("%d signals for steps that never started", n)
	}
}
