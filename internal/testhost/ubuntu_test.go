package testhost_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
)

// osRelease reads /etc/os-release on h over SSH into its fields.
func osRelease(t *testing.T, h *testhost.Host) map[string]string {
	t.Helper()
	out, err := h.Run(ctxFor(t, time.Minute), "cat", "/etc/os-release")
	if err != nil {
		t.Fatalf("%s: os-release: %v", h.Name, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}

func TestStartUbuntu(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a debootstrap template of Ubuntu on first run")
	}
	begin := time.Now()
	c := testhost.StartUbuntu(t, 2)
	t.Logf("timing: StartUbuntu 2 hosts (template build included if not cached): %v", time.Since(begin))
	if c.Kind != testhost.Debian || c.Distro != testhost.Ubuntu2404 {
		t.Fatalf("cluster of %s %s", c.Kind, c.Distro)
	}
	ctx := ctxFor(t, 2*time.Minute)
	h1, h2 := c.Hosts[0], c.Hosts[1]

	// It is Ubuntu 24.04, over SSH.
	osr := osRelease(t, h1)
	if osr["ID"] != "ubuntu" || osr["VERSION_ID"] != "24.04" || osr["VERSION_CODENAME"] != "noble" {
		t.Fatalf("os-release: %v", osr)
	}
	if out, err := h1.Run(ctx, "hostname"); err != nil || strings.TrimSpace(string(out)) != h1.Name {
		t.Fatalf("hostname = %q, %v", out, err)
	}
	if out, err := h1.Run(ctx, "cat", "/proc/1/comm"); err != nil || strings.TrimSpace(string(out)) != "sshd" {
		t.Fatalf("PID 1 = %q, %v", out, err)
	}
	// Hosts of the cluster reach each other by name.
	if out, err := h1.Run(ctx, "getent", "hosts", h2.Name); err != nil || !strings.HasPrefix(string(out), h2.Addr+" ") {
		t.Errorf("h1 resolves h2 as %q, %v", out, err)
	}
	// Its apt reads deb822 sources from the Ubuntu archive only, with
	// updates and security, main and universe.
	out, err := h1.Run(ctx, "apt-get", "indextargets", "--no-release-info", "--format", "$(SITE) $(RELEASE) $(COMPONENT)", "Identifier: Packages")
	if err != nil {
		t.Fatalf("apt-get indextargets: %v", err)
	}
	for _, want := range []string{
		"http://archive.ubuntu.com/ubuntu noble main", "http://archive.ubuntu.com/ubuntu noble universe",
		"http://archive.ubuntu.com/ubuntu noble-updates universe", "http://security.ubuntu.com/ubuntu noble-security main",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("apt's index targets lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "debian") {
		t.Errorf("apt's index targets name Debian:\n%s", out)
	}

	// Writes stay in the host's overlay; the template carries no host key;
	// each clone has its own.
	if _, err := h1.Run(ctx, "sh", "-c", "echo mine > /etc/edt-marker"); err != nil {
		t.Fatal(err)
	}
	tmpl := templateRoot(t, testhost.Ubuntu2404)
	if _, err := os.Stat(filepath.Join(tmpl, "etc/edt-marker")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("write reached the template: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(tmpl, "etc/os-release")); err != nil || !strings.Contains(string(b), "VERSION_ID=\"24.04\"") {
		t.Fatalf("template os-release: %q, %v", b, err)
	}
	if keys, _ := filepath.Glob(filepath.Join(tmpl, "etc/ssh/ssh_host_*")); len(keys) != 0 {
		t.Fatalf("template carries host keys: %v", keys)
	}
	if out, err := h2.Run(ctx, "cat", "/etc/edt-marker"); err == nil {
		t.Fatalf("h2 sees h1's write: %q", out)
	}
	k1, _ := h1.Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	k2, _ := h2.Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if len(k1) == 0 || string(k1) == string(k2) {
		t.Fatalf("clones share a host key: %q %q", k1, k2)
	}

	// From the cache, a host starts fast.
	begin = time.Now()
	c3 := testhost.StartUbuntu(t, 1)
	t.Logf("timing: StartUbuntu 1 host from cache: %v", time.Since(begin))
	if osr := osRelease(t, c3.Hosts[0]); osr["VERSION_ID"] != "24.04" {
		t.Fatalf("second cluster: %v", osr)
	}

	root := h1.Root
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), root) {
		t.Fatalf("overlay %s still mounted after Close", root)
	}
}

func TestUbuntuAptThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads from the Ubuntu archive")
	}
	c := testhost.StartUbuntu(t, 1, testhost.WithAptProxy())
	h := c.Hosts[0]
	ctx := ctxFor(t, 5*time.Minute)
	begin := time.Now()
	out, err := h.Run(ctx, "apt-get", "update")
	if err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	for _, want := range []string{"archive.ubuntu.com/ubuntu noble-updates InRelease", "security.ubuntu.com/ubuntu noble-security InRelease"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("apt-get update did not fetch %s:\n%s", want, out)
		}
	}
	// cowsay is in universe.
	if out, err := h.Run(ctx, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", "cowsay"); err != nil {
		t.Fatalf("apt-get install: %v\n%s", err, out)
	}
	t.Logf("timing: apt-get update + install cowsay through the proxy: %v", time.Since(begin))
	if out, err := h.Run(ctx, "/usr/games/cowsay", "moo"); err != nil || !strings.Contains(string(out), "< moo >") {
		t.Fatalf("cowsay = %q, %v", out, err)
	}
	// The proxy of an Ubuntu cluster lets through the Ubuntu archive only.
	probe := `import sys, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sys.argv[1]}))
for url in sys.argv[2:]:
    try:
        o.open(urllib.request.Request(url, method="HEAD"), timeout=20)
        print(url, 200)
    except urllib.error.HTTPError as e:
        print(url, e.code)
`
	out, err = h.Run(ctx, "python3", "-c", probe, c.ProxyURL,
		"http://archive.ubuntu.com/ubuntu/dists/noble/Release", "http://deb.debian.org/debian/dists/bookworm/Release")
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	want := "http://archive.ubuntu.com/ubuntu/dists/noble/Release 200\nhttp://deb.debian.org/debian/dists/bookworm/Release 403\n"
	if string(out) != want {
		t.Fatalf("proxy answers:\n%s\nwant:\n%s", out, want)
	}
}

func TestUbuntuWithPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package layer on first run")
	}
	begin := time.Now()
	c := testhost.StartUbuntu(t, 1, testhost.WithPackages("hello", "cowsay"))
	t.Logf("timing: StartUbuntu with packages (layer build included if not cached): %v", time.Since(begin))
	h := c.Hosts[0]
	ctx := ctxFor(t, time.Minute)
	for _, p := range []string{"hello", "cowsay"} {
		out, err := h.Run(ctx, "dpkg-query", "-W", "-f", "${Status}", p)
		if err != nil || string(out) != "install ok installed" {
			t.Errorf("%s: %q, %v", p, out, err)
		}
	}
	if _, err := h.Run(ctx, "test", "-e", "/usr/sbin/policy-rc.d"); err == nil {
		t.Errorf("policy-rc.d left in the layer")
	}
	if osr := osRelease(t, h); osr["ID"] != "ubuntu" {
		t.Errorf("the layer's host is %v", osr)
	}
}
