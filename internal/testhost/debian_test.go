package testhost_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
)

// distroCase is a distribution of Debian-kind hosts and what its hosts
// show. The tests of such hosts run once per case, in a subtest named
// after the distribution.
type distroCase struct {
	distro testhost.Distro
	start  func(testing.TB, int, ...testhost.Option) *testhost.Cluster
	// codename is VERSION_CODENAME in os-release; /etc/debian_version starts
	// with debianVersion.
	codename, debianVersion string
	// ansible is the distribution and version as Ansible's facts name them.
	ansible string
	// indexTargets are among apt's index targets ("SITE RELEASE
	// COMPONENT"); foreign is in none of them.
	indexTargets []string
	foreign      string
	// Through the apt proxy: apt-get update's output has every one of
	// updated; pkg installs, and running argv prints something with want.
	updated []string
	pkg     string
	argv    []string
	want    string
	// probe goes through the proxy, which answers each request with its
	// code.
	probe []probeRequest
}

type probeRequest struct {
	method, url string
	code        int
}

var distroCases = []distroCase{
	{
		distro: testhost.Debian12, start: testhost.StartDebian,
		codename: "bookworm", debianVersion: "12.", ansible: "Debian 12",
		// The mirror comes from this machine's apt sources: match the
		// suites only.
		indexTargets: []string{" bookworm main", " bookworm-updates main"},
		foreign:      "ubuntu",
		updated:      []string{" bookworm InRelease", " bookworm-updates InRelease"},
		pkg:          "hello", argv: []string{"hello"}, want: "Hello",
		// Anything but GET/HEAD to the mirror is refused.
		probe: []probeRequest{
			{"GET", "http://example.com/", 403},
			{"POST", "http://deb.debian.org/debian/", 403},
			{"DELETE", "http://deb.debian.org/debian/", 403},
		},
	},
	{
		distro: testhost.Ubuntu2404, start: testhost.StartUbuntu,
		codename: "noble", debianVersion: "trixie/sid", ansible: "Ubuntu 24.04",
		// deb822 sources from the Ubuntu archive only, with updates and
		// security, main and universe.
		indexTargets: []string{
			"http://archive.ubuntu.com/ubuntu noble main", "http://archive.ubuntu.com/ubuntu noble universe",
			"http://archive.ubuntu.com/ubuntu noble-updates universe", "http://security.ubuntu.com/ubuntu noble-security main",
		},
		foreign: "debian",
		updated: []string{"archive.ubuntu.com/ubuntu noble-updates InRelease", "security.ubuntu.com/ubuntu noble-security InRelease"},
		// cowsay is in universe.
		pkg: "cowsay", argv: []string{"/usr/games/cowsay", "moo"}, want: "< moo >",
		// The proxy of an Ubuntu cluster lets through the Ubuntu archive
		// only.
		probe: []probeRequest{
			{"HEAD", "http://archive.ubuntu.com/ubuntu/dists/noble/Release", 200},
			{"HEAD", "http://deb.debian.org/debian/dists/bookworm/Release", 403},
		},
	},
}

// forEachDistro runs test once per distribution, as a subtest.
func forEachDistro(t *testing.T, test func(t *testing.T, dc distroCase)) {
	for _, dc := range distroCases {
		t.Run(dc.distro.String(), func(t *testing.T) { test(t, dc) })
	}
}

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

func TestStartDistro(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a debootstrap template per distribution on first run")
	}
	forEachDistro(t, func(t *testing.T, dc distroCase) {
		begin := time.Now()
		c := dc.start(t, 2)
		t.Logf("timing: start 2 %s hosts (template build included if not cached): %v", dc.distro, time.Since(begin))
		if c.Kind != testhost.Debian || c.Distro != dc.distro {
			t.Fatalf("cluster of %s %s", c.Kind, c.Distro)
		}
		ctx := ctxFor(t, 2*time.Minute)
		h1, h2 := c.Hosts[0], c.Hosts[1]

		// It is the distribution asked for, over SSH.
		osr := osRelease(t, h1)
		if osr["ID"] != dc.distro.ID() || osr["VERSION_ID"] != dc.distro.VersionID() || osr["VERSION_CODENAME"] != dc.codename {
			t.Fatalf("os-release: %v", osr)
		}
		if out, err := h1.Run(ctx, "cat", "/etc/debian_version"); err != nil || !strings.HasPrefix(string(out), dc.debianVersion) {
			t.Fatalf("debian_version = %q, %v", out, err)
		}
		if out, err := h1.Run(ctx, "hostname"); err != nil || strings.TrimSpace(string(out)) != h1.Name {
			t.Fatalf("hostname = %q, %v", out, err)
		}
		// Its own PID namespace: sshd is PID 1 and the machine's processes
		// are not visible.
		if out, err := h1.Run(ctx, "cat", "/proc/1/comm"); err != nil || strings.TrimSpace(string(out)) != "sshd" {
			t.Fatalf("PID 1 = %q, %v", out, err)
		}
		// Hosts of the cluster reach each other by name.
		if out, err := h1.Run(ctx, "getent", "hosts", h2.Name); err != nil || !strings.HasPrefix(string(out), h2.Addr+" ") {
			t.Errorf("h1 resolves h2 as %q, %v", out, err)
		}
		// Its apt reads its own distribution's archives.
		out, err := h1.Run(ctx, "apt-get", "indextargets", "--no-release-info", "--format", "$(SITE) $(RELEASE) $(COMPONENT)", "Identifier: Packages")
		if err != nil {
			t.Fatalf("apt-get indextargets: %v", err)
		}
		for _, want := range dc.indexTargets {
			if !strings.Contains(string(out), want) {
				t.Errorf("apt's index targets lack %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), dc.foreign) {
			t.Errorf("apt's index targets name %s:\n%s", dc.foreign, out)
		}

		// Writes stay in the host's overlay, even to a file of the template.
		if _, err := h1.Run(ctx, "sh", "-c", "echo mine > /etc/edt-marker && rm /etc/debian_version && echo 13 > /etc/debian_version"); err != nil {
			t.Fatal(err)
		}
		tmpl := templateRoot(t, dc.distro)
		if _, err := os.Stat(filepath.Join(tmpl, "etc/edt-marker")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("write reached the template: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(tmpl, "etc/debian_version")); !strings.HasPrefix(string(b), dc.debianVersion) {
			t.Fatalf("template debian_version = %q", b)
		}
		if b, err := os.ReadFile(filepath.Join(tmpl, "etc/os-release")); err != nil || !strings.Contains(string(b), fmt.Sprintf("VERSION_ID=%q", dc.distro.VersionID())) {
			t.Fatalf("template os-release: %q, %v", b, err)
		}
		if b, _ := os.ReadFile(filepath.Join(h1.Root, "etc/edt-marker")); string(b) != "mine\n" {
			t.Fatalf("host root marker = %q", b)
		}
		// Exec reaches the same host without SSH.
		if out, err := h1.Exec(ctx, "cat", "/etc/edt-marker"); err != nil || string(out) != "mine\n" {
			t.Fatalf("Exec = %q, %v", out, err)
		}
		if out, err := h2.Run(ctx, "cat", "/etc/edt-marker"); err == nil {
			t.Fatalf("h2 sees h1's write: %q", out)
		}

		// From the cache, a host starts fast.
		begin = time.Now()
		c2 := dc.start(t, 1)
		t.Logf("timing: start 1 %s host from cache: %v", dc.distro, time.Since(begin))
		h3 := c2.Hosts[0]
		if osr := osRelease(t, h3); osr["VERSION_ID"] != dc.distro.VersionID() {
			t.Fatalf("second cluster: %v", osr)
		}
		if out, err := h3.Run(ctx, "cat", "/etc/edt-marker"); err == nil {
			t.Fatalf("another cluster's host sees h1's write: %q", out)
		}
		// The template carries no host key; each clone has its own.
		if keys, _ := filepath.Glob(filepath.Join(tmpl, "etc/ssh/ssh_host_*")); len(keys) != 0 {
			t.Fatalf("template carries host keys: %v", keys)
		}
		k1, _ := h1.Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
		k2, _ := h2.Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
		k3, _ := h3.Run(ctx, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
		if len(k1) == 0 || len(k2) == 0 || string(k1) == string(k2) || string(k1) == string(k3) || string(k2) == string(k3) {
			t.Fatalf("clones share a host key: %q %q %q", k1, k2, k3)
		}

		// Stop kills everything inside; Start brings sshd back on the same
		// root.
		if err := h1.Stop(); err != nil {
			t.Fatal(err)
		}
		assertRefused(t, h1)
		if err := h1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if out, err := h1.Run(ctx, "cat", "/etc/edt-marker"); err != nil || string(out) != "mine\n" {
			t.Fatalf("after restart: %q, %v", out, err)
		}

		root := h1.Root
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mounts), root) {
			t.Fatalf("overlay %s still mounted after Close", root)
		}
	})
}

func TestProxyServesApt(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads from the Debian mirror and the Ubuntu archive")
	}
	// Each request's method, URL and answer, one a line.
	const probe = `import sys, urllib.error, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sys.argv[1]}))
for method, url in zip(sys.argv[2::2], sys.argv[3::2]):
    try:
        r = o.open(urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None), timeout=20)
        print(method, url, r.status)
    except urllib.error.HTTPError as e:
        print(method, url, e.code)
`
	forEachDistro(t, func(t *testing.T, dc distroCase) {
		c := dc.start(t, 1, testhost.WithAptProxy())
		h := c.Hosts[0]
		ctx := ctxFor(t, 5*time.Minute)
		if c.ProxyURL == "" || !strings.HasPrefix(c.ProxyURL, "http://"+c.Gateway+":") {
			t.Fatalf("ProxyURL = %q", c.ProxyURL)
		}
		begin := time.Now()
		out, err := h.Run(ctx, "apt-get", "update")
		if err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		for _, want := range dc.updated {
			if !strings.Contains(string(out), want) {
				t.Errorf("apt-get update did not fetch %s:\n%s", want, out)
			}
		}
		if out, err := h.Run(ctx, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "--no-install-recommends", dc.pkg); err != nil {
			t.Fatalf("apt-get install: %v\n%s", err, out)
		}
		t.Logf("timing: apt-get update + install %s through the proxy: %v", dc.pkg, time.Since(begin))
		if out, err := h.Run(ctx, dc.argv...); err != nil || !strings.Contains(string(out), dc.want) {
			t.Fatalf("%s = %q, %v", dc.argv[0], out, err)
		}

		args := []string{"python3", "-c", probe, c.ProxyURL}
		var want strings.Builder
		for _, r := range dc.probe {
			args = append(args, r.method, r.url)
			fmt.Fprintf(&want, "%s %s %d\n", r.method, r.url, r.code)
		}
		out, err = h.Run(ctx, args...)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if string(out) != want.String() {
			t.Fatalf("proxy answers:\n%s\nwant:\n%s", out, want.String())
		}
	})
}

func TestPackagesInLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package layer per distribution on first run")
	}
	forEachDistro(t, func(t *testing.T, dc distroCase) {
		begin := time.Now()
		c := dc.start(t, 1, testhost.WithPackages("hello", "cowsay"))
		t.Logf("timing: start a %s host with packages (layer build included if not cached): %v", dc.distro, time.Since(begin))
		h := c.Hosts[0]
		ctx := ctxFor(t, time.Minute)
		for _, p := range []string{"hello", "cowsay"} {
			out, err := h.Run(ctx, "dpkg-query", "-W", "-f", "${Status}", p)
			if err != nil || string(out) != "install ok installed" {
				t.Errorf("%s: %q, %v", p, out, err)
			}
		}
		// No daemons ran during the build, and policy-rc.d is gone again.
		if _, err := h.Run(ctx, "test", "-e", "/usr/sbin/policy-rc.d"); err == nil {
			t.Errorf("policy-rc.d left in the layer")
		}
		if osr := osRelease(t, h); osr["ID"] != dc.distro.ID() {
			t.Errorf("the layer's host is %v", osr)
		}
	})
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
