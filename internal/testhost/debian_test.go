package testhost_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
)

func TestStartDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a debootstrap template on first run")
	}
	begin := time.Now()
	c := testhost.StartDebian(t, 1)
	t.Logf("timing: StartDebian 1 host (template build included if not cached): %v", time.Since(begin))
	h := c.Hosts[0]
	ctx := ctxFor(t, 2*time.Minute)

	out, err := h.Run(ctx, "cat", "/etc/debian_version")
	if err != nil || !strings.HasPrefix(string(out), "12.") {
		t.Fatalf("debian_version = %q, %v", out, err)
	}
	if out, err := h.Run(ctx, "hostname"); err != nil || strings.TrimSpace(string(out)) != h.Name {
		t.Fatalf("hostname = %q, %v", out, err)
	}
	// Its own PID namespace: sshd is PID 1 and the machine's processes are
	// not visible.
	if out, err := h.Run(ctx, "cat", "/proc/1/comm"); err != nil || strings.TrimSpace(string(out)) != "sshd" {
		t.Fatalf("PID 1 = %q, %v", out, err)
	}
	// Writes stay in this host's overlay.
	if _, err := h.Run(ctx, "sh", "-c", "echo mine > /etc/edt-marker && rm /etc/debian_version && echo 13 > /etc/debian_version"); err != nil {
		t.Fatal(err)
	}
	cache := templateRoot(t, testhost.Debian12)
	if _, err := os.Stat(filepath.Join(cache, "etc/edt-marker")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write reached the template: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(cache, "etc/debian_version")); !strings.HasPrefix(string(b), "12.") {
		t.Fatalf("template debian_version = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(h.Root, "etc/edt-marker")); string(b) != "mine\n" {
		t.Fatalf("host root marker = %q", b)
	}
	// Exec reaches the same host without SSH.
	if out, err := h.Exec(ctx, "cat", "/etc/edt-marker"); err != nil || string(out) != "mine\n" {
		t.Fatalf("Exec = %q, %v", out, err)
	}
	// Each clone has its own host key.
	if _, err := os.Stat(filepath.Join(cache, "etc/ssh/ssh_host_ed25519_key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("template carries a host key: %v", err)
	}

	// From cache, a second cluster starts fast.
	begin = time.Now()
	c2 := testhost.StartDebian(t, 2)
	t.Logf("timing: StartDebian 2 hosts from cache: %v", time.Since(begin))
	for _, h := range c2.Hosts {
		if out, err := h.Run(ctx, "cat", "/etc/edt-marker"); err == nil {
			t.Fatalf("%s sees another host's write: %q", h.Name, out)
		}
	}
	k1, _ := c2.Hosts[0].Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	k2, _ := c2.Hosts[1].Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if len(k1) == 0 || string(k1) == string(k2) {
		t.Fatalf("clones share a host key: %q %q", k1, k2)
	}

	// Stop kills everything inside; Start brings sshd back on the same root.
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, h)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := h.Run(ctx, "cat", "/etc/edt-marker"); err != nil || string(out) != "mine\n" {
		t.Fatalf("after restart: %q, %v", out, err)
	}
	root := h.Root
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), root) {
		t.Fatalf("overlay %s still mounted after Close", root)
	}
}

// templateRoot is the cached template's root filesystem of distribution d.
func templateRoot(t *testing.T, d testhost.Distro) string {
	t.Helper()
	root, err := testhost.TemplateRoot("", d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/os-release")); err != nil {
		t.Fatalf("template of %s: %v", d, err)
	}
	return root
}

func TestDebianAptThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads from the Debian mirror")
	}
	c := testhost.StartDebian(t, 1, testhost.WithAptProxy())
	h := c.Hosts[0]
	ctx := ctxFor(t, 5*time.Minute)
	if c.ProxyURL == "" || !strings.HasPrefix(c.ProxyURL, "http://"+c.Gateway+":") {
		t.Fatalf("ProxyURL = %q", c.ProxyURL)
	}
	begin := time.Now()
	if out, err := h.Run(ctx, "apt-get", "update"); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, err := h.Run(ctx, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", "hello"); err != nil {
		t.Fatalf("apt-get install: %v\n%s", err, out)
	}
	t.Logf("timing: apt-get update + install hello through the proxy: %v", time.Since(begin))
	if out, err := h.Run(ctx, "hello"); err != nil || !strings.Contains(string(out), "Hello") {
		t.Fatalf("hello = %q, %v", out, err)
	}
	// The proxy refuses anything but GET/HEAD to the mirror.
	probe := `import sys, urllib.request
p = urllib.request.ProxyHandler({"http": sys.argv[1]})
o = urllib.request.build_opener(p)
for method, url in [("GET", "http://example.com/"), ("POST", sys.argv[2]), ("DELETE", sys.argv[2])]:
    try:
        o.open(urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None), timeout=10)
        print(method, url, "allowed")
    except urllib.error.HTTPError as e:
        print(method, url, e.code)
`
	out, err := h.Run(ctx, "python3", "-c", probe, c.ProxyURL, "http://deb.debian.org/debian/")
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if strings.Contains(string(out), "allowed") || strings.Count(string(out), " 403") != 3 {
		t.Fatalf("proxy let through:\n%s", out)
	}
}

func TestDebianWithPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package layer on first run")
	}
	begin := time.Now()
	c := testhost.StartDebian(t, 1, testhost.WithPackages("hello", "cowsay"))
	t.Logf("timing: StartDebian with packages (layer build included if not cached): %v", time.Since(begin))
	h := c.Hosts[0]
	ctx := ctxFor(t, time.Minute)
	out, err := h.Run(ctx, "dpkg-query", "-W", "-f", "${Status}", "hello")
	if err != nil || string(out) != "install ok installed" {
		t.Fatalf("hello: %q, %v", out, err)
	}
	// No daemons ran during the build, and policy-rc.d is gone again.
	if _, err := h.Run(ctx, "test", "-e", "/usr/sbin/policy-rc.d"); err == nil {
		t.Fatalf("policy-rc.d left in the layer")
	}
	_ = context.Background
}

func TestDebianEdenPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package layer of PostgreSQL, PostGIS, nginx and uWSGI on first run")
	}
	begin := time.Now()
	c := testhost.StartDebian(t, 1, testhost.WithPackages(testhost.EdenPackages...))
	t.Logf("timing: StartDebian with EdenPackages (layer build included if not cached): %v", time.Since(begin))
	ctx := ctxFor(t, time.Minute)
	for _, bin := range []string{"/usr/lib/postgresql/15/bin/postgres", "/usr/sbin/nginx", "/usr/bin/uwsgi", "/usr/sbin/cron"} {
		if _, err := c.Hosts[0].Run(ctx, "test", "-x", bin); err != nil {
			t.Errorf("%s missing: %v", bin, err)
		}
	}
}
