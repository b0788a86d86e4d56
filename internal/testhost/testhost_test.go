package testhost_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sshOut runs the real ssh client (as a person or Ansible would) against h.
func sshOut(t *testing.T, c *testhost.Cluster, h *testhost.Host, remote string) (string, error) {
	t.Helper()
	args := append(c.SSHArgs(), c.User+"@"+h.Addr, remote)
	out, err := exec.Command("ssh", args...).CombinedOutput()
	return string(out), err
}

func TestStartThreeHosts(t *testing.T) {
	testpeer.LookPath(t, "ssh")
	begin := time.Now()
	c := testhost.Start(t, 3)
	t.Logf("timing: Start 3 shared hosts: %v", time.Since(begin))

	if len(c.Hosts) != 3 || c.User != "root" {
		t.Fatalf("got %d hosts, user %q", len(c.Hosts), c.User)
	}
	if fi, err := os.Stat(c.KeyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v %v", c.KeyPath, fi, err)
	}
	if !strings.Contains(string(c.PrivateKey), "OPENSSH PRIVATE KEY") {
		t.Fatalf("PrivateKey is not an OpenSSH key")
	}
	seen := map[string]bool{}
	for _, h := range c.Hosts {
		if seen[h.Addr] {
			t.Fatalf("address %s used twice", h.Addr)
		}
		seen[h.Addr] = true
		out, err := sshOut(t, c, h, "hostname; ip -4 -o addr show dev eth0")
		if err != nil {
			t.Fatalf("ssh %s: %v: %s", h.Name, err, out)
		}
		lines := strings.SplitN(out, "\n", 2)
		if strings.TrimSpace(lines[0]) != h.Name {
			t.Errorf("%s: hostname %q", h.Name, lines[0])
		}
		if !strings.Contains(out, " "+h.Addr+"/24 ") {
			t.Errorf("%s: eth0 does not carry %s: %s", h.Name, h.Addr, out)
		}
		for _, o := range c.Hosts {
			if o != h && strings.Contains(out, " "+o.Addr+"/") {
				t.Errorf("%s sees %s's address %s", h.Name, o.Name, o.Addr)
			}
		}
		// Run quotes its arguments: one argument stays one.
		got, err := h.Run(context.Background(), "printf", "%s|", "a b", "it's")
		if err != nil || string(got) != "a b|it's|" {
			t.Errorf("%s: Run = %q, %v", h.Name, got, err)
		}
	}
	if c.Host("h2") != c.Hosts[1] || c.Host("nope") != nil {
		t.Errorf("Host(name) lookup wrong")
	}
	// Hosts of a cluster reach each other.
	h1, h3 := c.Host("h1"), c.Host("h3")
	if out, err := h1.Exec(context.Background(), append(append([]string{"ssh"}, c.SSHArgs()...), "root@"+h3.Addr, "hostname")...); err != nil || strings.TrimSpace(string(out)) != "h3" {
		t.Errorf("h1 -> h3: %q %v", out, err)
	}
	// Nothing beyond the machine is reachable from inside.
	if out, err := h1.Exec(context.Background(), "ip", "route", "get", "192.0.2.1"); err != nil || !strings.Contains(string(out), "via "+strings.TrimSuffix(c.Gateway, ".1")+".254") {
		t.Errorf("route out of h1: %q %v", out, err)
	}
}

func TestUnreachableAndStop(t *testing.T) {
	c := testhost.Start(t, 2, testhost.Unreachable("h2"))
	h1, h2 := c.Host("h1"), c.Host("h2")
	if h2.Reachable || !h1.Reachable {
		t.Fatalf("Reachable: h1 %v h2 %v", h1.Reachable, h2.Reachable)
	}
	if len(c.Reachable()) != 1 {
		t.Fatalf("Reachable() = %v", c.Reachable())
	}
	assertRefused(t, h2)
	_, err := h2.Run(context.Background(), "true")
	var re *testhost.RunError
	if !errors.As(err, &re) || re.ExitCode() != 255 {
		t.Fatalf("Run on unreachable host: %v", err)
	}
	// Its namespace and address exist all the same.
	if out, err := h2.Exec(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(string(out), h2.Addr) {
		t.Fatalf("Exec on unreachable host: %q %v", out, err)
	}

	if _, err := h1.Run(context.Background(), "true"); err != nil {
		t.Fatal(err)
	}
	if err := h1.Stop(); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, h1)
	if err := h1.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if out, err := h1.Run(context.Background(), "hostname"); err != nil || strings.TrimSpace(string(out)) != "h1" {
		t.Fatalf("after restart: %q %v", out, err)
	}
}

func assertRefused(t *testing.T, h *testhost.Host) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, "22"), 2*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("%s: port 22 accepts connections", h.Name)
	}
	if !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("%s: want refused or timeout, got %v", h.Name, err)
	}
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestCloseLeavesNothing(t *testing.T) {
	testpeer.Root(t)
	if err := testhost.Prerequisites(testhost.Shared); err != nil {
		testpeer.Missing(t, "ssh test hosts", err.Error())
	}
	c, err := testhost.Create(ctxFor(t, time.Minute), testhost.Spec{N: 2, Unreachable: []string{"h2"}})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir
	// A session left open must not keep anything alive.
	sess := exec.Command("ssh", append(c.SSHArgs(), "root@"+c.Hosts[0].Addr, "sleep 300")...)
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	defer sess.Process.Kill()
	time.Sleep(300 * time.Millisecond)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	list := netnsList(t)
	for _, h := range c.Hosts {
		if strings.Contains(list, h.Netns) {
			t.Errorf("namespace %s survives Close: %s", h.Netns, list)
		}
	}
	addrs, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	if strings.Contains(string(addrs), " "+c.Gateway+"/") {
		t.Errorf("gateway address %s survives Close", c.Gateway)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir %s survives Close: %v", dir, err)
	}
	if err := sess.Wait(); err == nil {
		t.Errorf("ssh session survived Close")
	}
}

func TestDetachedLoadClose(t *testing.T) {
	testpeer.Root(t)
	if err := testhost.Prerequisites(testhost.Shared); err != nil {
		testpeer.Missing(t, "ssh test hosts", err.Error())
	}
	dir := filepath.Join(t.TempDir(), "demo")
	c, err := testhost.Create(ctxFor(t, time.Minute), testhost.Spec{N: 1, Dir: dir, Detached: true})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Hosts[0].Netns, "edt-0-") {
		t.Errorf("detached namespace %s does not carry PID 0", c.Hosts[0].Netns)
	}
	// Sweep leaves a detached cluster alone.
	if _, err := testhost.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Hosts[0].Run(context.Background(), "true"); err != nil {
		t.Fatal(err)
	}
	// Another process would do exactly this.
	l, err := testhost.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hosts[0].Addr != c.Hosts[0].Addr || l.KeyPath != c.KeyPath {
		t.Fatalf("Load: %+v", l.Hosts[0])
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(netnsList(t), c.Hosts[0].Netns) {
		t.Fatalf("namespace survives Close of the loaded cluster")
	}
	// Nothing may leave the machine for a torn-down subnet: 10.231/16 is
	// unreachable except where a live cluster has its /24.
	out, err := exec.Command("ip", "route", "get", c.Hosts[0].Addr).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No route to host") {
		t.Fatalf("route to a closed cluster's host: %s %v", out, err)
	}
	if _, err := l.Hosts[0].Run(context.Background(), "true"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Run on a closed cluster: %v", err)
	}
}

func TestSweepRemovesStaleNamespaces(t *testing.T) {
	testpeer.Root(t)
	testpeer.LookPath(t, "ip")
	// A PID that is certainly dead: a process that ran and was reaped.
	p := exec.Command("true")
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	stale := "edt-" + itoa(p.Process.Pid) + "-zzzzz-h1"
	live := "edt-" + itoa(os.Getpid()) + "-zzzzz-h1"
	for _, ns := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	removed, err := testhost.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list := netnsList(t)
	if strings.Contains(list, stale) {
		t.Errorf("stale %s not swept (removed %v)", stale, removed)
	}
	if !strings.Contains(list, live) {
		t.Errorf("live %s swept", live)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParallelClustersDoNotCollide(t *testing.T) {
	for _, name := range []string{"a", "b", "c"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := testhost.Start(t, 2)
			for _, h := range c.Hosts {
				if out, err := h.Run(context.Background(), "hostname"); err != nil || strings.TrimSpace(string(out)) != h.Name {
					t.Errorf("%s %s: %q %v", c.Subnet, h.Name, out, err)
				}
			}
		})
	}
}
