package ssh_test

// Tests against real SSH hosts (internal/testhost: one network namespace and
// sshd per host, sharing this machine's filesystem) with the real
// ansible-playbook. They need root; without it or Ansible they skip (or fail
// under EDEN_REQUIRE_PEERS=1).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner/ssh"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// realEnv starts n SSH hosts and a runner with the real ansible-playbook;
// the test playbooks record under rec/<inventory_hostname>.
func realEnv(t testing.TB, n int, mod func(*ssh.Config), opts ...testhost.Option) (*env, *testhost.Cluster, string) {
	t.Helper()
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	c := testhost.Start(t, n, opts...)
	rec := t.TempDir()
	e := newEnv(t, func(cfg *ssh.Config) {
		// The hosts share this machine's /root: a remote temp dir of the
		// test's own keeps other Ansible runs on the machine out of its way.
		cfg.ExtraVars = map[string]string{"eden_record_dir": rec, "ansible_remote_tmp": filepath.Join(rec, ".remote-tmp")}
		if mod != nil {
			mod(cfg)
		}
	})
	return e, c, rec
}

func addrs(c *testhost.Cluster) []string {
	var out []string
	for _, h := range c.Hosts {
		out = append(out, h.Addr)
	}
	return out
}

const recordPlay = `
- name: Record where we ran
  hosts: all
  gather_facts: false
  tasks:
    - name: Make the host's record dir
      ansible.builtin.file:
        path: "{{ eden_record_dir }}/{{ inventory_hostname }}"
        state: directory
        mode: "0755"
    - name: Record the host name
      ansible.builtin.shell: hostname > "{{ eden_record_dir }}/{{ inventory_hostname }}/hostname"
    - name: Check the secret is readable on the control side
      ansible.builtin.assert:
        that: lookup('ansible.builtin.file', eden_secrets_dir + '/db-password') == 'pw'
`

func TestSSHThreeHostsAtOnce(t *testing.T) {
	e, c, rec := realEnv(t, 3, func(cfg *ssh.Config) { cfg.Heartbeat = 200 * time.Millisecond })
	d := e.putBundle(t, map[string]string{"site.yml": recordPlay, "secrets.json": `["db-password"]`}, c.PrivateKey, addrs(c)...)
	if err := e.secrets.PutSecret(context.Background(), "d-1", deploy.SecretDBPassword, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 2*time.Minute)
	t.Logf("3 hosts: step took %v, %d heartbeats", time.Since(start), e.sig.count("heartbeat"))
	if s.Kind != "success" || s.Outcome.Error != "" {
		t.Fatalf("signal %+v\nlog:\n%s", s, e.logText(t, "r-1"))
	}
	for i, h := range c.Hosts {
		r := s.Outcome.Results[i]
		if r.Host != h.Addr || r.OK != 3 || r.Changed != 2 || !r.Succeeded() {
			t.Errorf("result %+v", r)
		}
		got, err := os.ReadFile(filepath.Join(rec, h.Addr, "hostname"))
		if err != nil || strings.TrimSpace(string(got)) != h.Name {
			t.Errorf("%s recorded %q, %v; want its own hostname %s", h.Addr, got, err, h.Name)
		}
	}
	// Host keys were trusted on first use and pinned for the deployment.
	kh, err := os.ReadFile(filepath.Join(e.dir, "data", "known_hosts", "d-1"))
	if err != nil || strings.Count(string(kh), "\n") < 3 {
		t.Errorf("known_hosts after first contact: %q, %v", kh, err)
	}
	if log := e.logText(t, "r-1"); !strings.HasPrefix(log, "== step 2 eden on "+strings.Join(addrs(c), ", ")+" ==\n") ||
		!strings.Contains(log, "PLAY RECAP") || strings.Contains(log, "pw") && strings.Contains(log, "'pw'") {
		t.Errorf("log:\n%s", log)
	}
	if left := e.workDirs(t); len(left) != 0 {
		t.Errorf("run directories left: %v", left)
	}
}

func TestSSHUnreachableHost(t *testing.T) {
	e, c, _ := realEnv(t, 3, nil, testhost.Unreachable("h3"))
	d := e.putBundle(t, map[string]string{"site.yml": recordPlay, "secrets.json": `["db-password"]`}, c.PrivateKey, addrs(c)...)
	e.secrets.PutSecret(context.Background(), "d-1", deploy.SecretDBPassword, []byte("pw"))
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 2*time.Minute)
	bad := c.Host("h3").Addr
	if s.Kind != "success" || !strings.HasPrefix(s.Outcome.Error, "host unreachable: "+bad+": ") {
		t.Fatalf("signal %+v", s)
	}
	t.Logf("error: %s", s.Outcome.Error)
	for i, r := range s.Outcome.Results {
		switch {
		case i == 2 && (r.Unreachable != 1 || !strings.HasPrefix(r.Reason, "unreachable: ")):
			t.Errorf("unreachable host's result %+v", r)
		case i < 2 && (!r.Succeeded() || r.OK != 3):
			t.Errorf("reachable host's result %+v: the others must finish", r)
		}
	}
}

func TestSSHFailedTaskNamesTaskAndHost(t *testing.T) {
	e, c, _ := realEnv(t, 2, nil)
	bad := c.Hosts[1].Addr
	play := fmt.Sprintf(`
- hosts: all
  gather_facts: false
  tasks:
    - name: Break on purpose
      ansible.builtin.fail:
        msg: boom on this one
      when: inventory_hostname == %q
    - name: Carry on
      ansible.builtin.command: "true"
`, bad)
	d := e.putBundle(t, map[string]string{"site.yml": play}, c.PrivateKey, addrs(c)...)
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 2*time.Minute)
	if want := `task "Break on purpose" failed on ` + bad + `: boom on this one`; s.Outcome.Error != want {
		t.Fatalf("error %q, want %q", s.Outcome.Error, want)
	}
	if r := s.Outcome.Results; r[0].Failed != 0 || r[0].OK != 1 || r[1].Failed != 1 {
		t.Errorf("results %+v", r)
	}
}

// waitingPlay blocks every host on a flag file, so a test can stop the
// step while Ansible is busy, then release the remote side cleanly.
func waitingPlay(flag string) string {
	return fmt.Sprintf(`
- hosts: all
  gather_facts: false
  tasks:
    - name: Wait for the flag
      ansible.builtin.wait_for:
        path: %q
        timeout: 120
`, flag)
}

// waitForLine follows the run log until a line containing s.
func waitForLine(t *testing.T, e *env, runID, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := e.log.Follow(ctx, runID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return
		}
	}
	t.Fatalf("log never showed %q: %v", s, sc.Err())
}

func TestSSHCancelMidRun(t *testing.T) {
	e, c, _ := realEnv(t, 2, func(cfg *ssh.Config) { cfg.KillGrace = 2 * time.Second })
	flag := filepath.Join(t.TempDir(), "flag")
	t.Cleanup(func() { os.WriteFile(flag, nil, 0o600) }) // let the remote wait_for end
	d := e.putBundle(t, map[string]string{"site.yml": waitingPlay(flag)}, c.PrivateKey, addrs(c)...)
	id, err := e.runner.Dispatch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	waitForLine(t, e, "r-1", "TASK [Wait for the flag]")
	time.Sleep(500 * time.Millisecond) // let the forks connect
	procs := processesWith(id)         // ansible-playbook and its forks: the inventory path holds the ID
	if len(procs) == 0 {
		t.Fatal("no process of the step found")
	}
	pgid := pgidOf(procs[0])
	if m := groupMembers(pgid); len(m) < 2 {
		t.Fatalf("group %d: %v, want ansible-playbook with its workers", pgid, m)
	}
	if err := e.runner.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, time.Minute)
	if s.Kind != "success" || s.Outcome.Error != "cancelled" {
		t.Fatalf("signal %+v", s)
	}
	if m := groupMembers(pgid); len(m) != 0 {
		t.Errorf("processes left in the step's group %d: %v", pgid, m)
	}
	if p := processesWith(id); len(p) != 0 {
		t.Errorf("processes of the step left: %v", p)
	}
}

func TestSSHTimeout(t *testing.T) {
	e, c, _ := realEnv(t, 1, func(cfg *ssh.Config) { cfg.KillGrace = time.Second })
	flag := filepath.Join(t.TempDir(), "flag")
	t.Cleanup(func() { os.WriteFile(flag, nil, 0o600) })
	d := e.putBundle(t, map[string]string{"site.yml": waitingPlay(flag)}, c.PrivateKey, addrs(c)...)
	d.Timeout = 4 * time.Second
	id, err := e.runner.Dispatch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, time.Minute)
	if s.Outcome.Error != "timed out after 4s" || s.Outcome.Results[0].Succeeded() {
		t.Fatalf("outcome %+v", s.Outcome)
	}
	if p := processesWith(id); len(p) != 0 {
		t.Errorf("processes of the step left: %v", p)
	}
}

func TestSSHDryRun(t *testing.T) {
	e, c, rec := realEnv(t, 2, nil)
	play := `
- hosts: all
  gather_facts: false
  tasks:
    - name: Write a file
      ansible.builtin.copy:
        dest: "{{ eden_record_dir }}/{{ inventory_hostname }}.txt"
        content: "hello\n"
        mode: "0644"
`
	d := e.putBundle(t, map[string]string{"site.yml": play}, c.PrivateKey, addrs(c)...)
	d.DryRun = true
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	s := e.sig.wait(t, 2*time.Minute)
	if s.Outcome.Error != "" {
		t.Fatalf("outcome %+v", s.Outcome)
	}
	for _, r := range s.Outcome.Results {
		if r.Changed != 1 {
			t.Errorf("result %+v: check mode must report the change", r)
		}
		if _, err := os.Stat(filepath.Join(rec, r.Host+".txt")); !os.IsNotExist(err) {
			t.Errorf("check mode created %s.txt: %v", r.Host, err)
		}
	}
	if log := e.logText(t, "r-1"); !strings.Contains(log, "+hello") || !strings.Contains(log, "(dry run)") {
		t.Errorf("dry-run log lacks the diff or the mode:\n%s", log)
	}
}

// hugePlay prints a list of n 100-character items: Ansible's debug output
// puts each on its own line (about 110 bytes a line).
func hugePlay(n int) string {
	return fmt.Sprintf(`
- hosts: all
  gather_facts: false
  tasks:
    - name: Print many lines
      ansible.builtin.debug:
        var: lines
      vars:
        lines: "{{ ['%s'] * %d }}"
`, strings.Repeat("x", 100), n)
}

// TestSSHHugeLogBoundedMemory: a 100,000-line log is streamed to the run
// log, never held: the live heap of this process stays flat while it is
// written.
func TestSSHHugeLogBoundedMemory(t *testing.T) {
	e, c, _ := realEnv(t, 1, nil)
	d := e.putBundle(t, map[string]string{"site.yml": hugePlay(100_000)}, c.PrivateKey, addrs(c)...)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	if _, err := e.runner.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	var peak uint64
	var s signal
sample:
	for {
		select {
		case s = <-e.sig.ends:
			break sample
		case <-time.After(100 * time.Millisecond):
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if s.Outcome.Error != "" {
		t.Fatalf("outcome %+v", s.Outcome)
	}
	size, _ := e.log.Size("r-1")
	f, _ := e.log.Follow(context.Background(), "r-1", 0)
	e.log.Close("r-1")
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines++
	}
	f.Close()
	growth := int64(peak) - int64(base)
	t.Logf("log: %d lines, %d bytes; live heap before %d, peak while streaming %d (growth %d)", lines, size, base, peak, growth)
	if lines < 100_000 {
		t.Fatalf("log has %d lines, want at least 100000", lines)
	}
	if raceEnabled {
		t.Log("race detector on: heap bound not checked")
	} else if growth > 4<<20 {
		t.Errorf("live heap grew by %d bytes for a %d-byte log: output is being held", growth, size)
	}
}
