package testhost_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// play checks what a real role would rely on: SSH + Python, facts (hostname,
// default IPv4 address, distribution), become, file transfer, and a per-host
// path on the shared filesystem.
const play = `- hosts: all
  gather_facts: true
  become: true
  tasks:
    - ping:
    - assert:
        that:
          - ansible_hostname == inventory_hostname
          - ansible_default_ipv4.address == ansible_host
    - copy:
        dest: "{{ record_dir }}/{{ inventory_hostname }}.txt"
        content: "{{ ansible_default_ipv4.address }} {{ ansible_distribution }} {{ ansible_distribution_version }}\n"
`

func runPlaybook(t *testing.T, c *testhost.Cluster, recordDir string) {
	t.Helper()
	bin := testpeer.LookPath(t, "ansible-playbook")
	inv, err := c.WriteInventory()
	if err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(t.TempDir(), "play.yml")
	if err := os.WriteFile(pb, []byte(play), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), "vars.yml")
	if err := os.WriteFile(vars, []byte("record_dir: "+recordDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-i", inv, "-e", "@"+vars, "--forks", "10", pb)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home, "LC_ALL=C.UTF-8",
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=False",
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(home, "tmp"),
	}
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	kind := c.Kind.String()
	if c.Kind == testhost.Debian {
		kind = c.Distro.String()
	}
	t.Logf("timing: ansible-playbook on %d %s hosts: %v", len(c.Hosts), kind, time.Since(begin))
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "failed=0") || strings.Contains(string(out), "unreachable=1") {
		t.Fatalf("ansible-playbook:\n%s", out)
	}
}

func TestAnsibleSharedHosts(t *testing.T) {
	testpeer.LookPath(t, "ansible-playbook")
	c := testhost.Start(t, 3)
	// The hosts share this filesystem: each records under its own name.
	record := t.TempDir()
	runPlaybook(t, c, record)
	for _, h := range c.Hosts {
		b, err := os.ReadFile(filepath.Join(record, h.Name+".txt"))
		if f := strings.Fields(string(b)); err != nil || len(f) == 0 || f[0] != h.Addr {
			t.Errorf("%s recorded %q, %v", h.Name, b, err)
		}
	}
}

func TestAnsibleDistroHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a debootstrap template per distribution on first run")
	}
	forEachDistro(t, func(t *testing.T, dc distroCase) {
		testpeer.LookPath(t, "ansible-playbook")
		c := dc.start(t, 1)
		runPlaybook(t, c, "/root")
		// Ansible's own facts: the distribution the roles will see.
		b, err := os.ReadFile(filepath.Join(c.Hosts[0].Root, "root", "h1.txt"))
		if want := c.Hosts[0].Addr + " " + dc.ansible; err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("recorded %q, %v; want %q", b, err, want)
		}
	})
}
