package testhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDistroNames(t *testing.T) {
	tests := []struct {
		d               Distro
		str, id, verID  string
		suite, template string
	}{
		{Debian12, "debian-12", "debian", "12", "bookworm", "debian-bookworm"},
		{Ubuntu2404, "ubuntu-24.04", "ubuntu", "24.04", "noble", "ubuntu-noble"},
	}
	for _, tt := range tests {
		info, err := tt.d.info()
		if err != nil {
			t.Fatal(err)
		}
		if tt.d.String() != tt.str || tt.d.ID() != tt.id || tt.d.VersionID() != tt.verID || info.suite != tt.suite || info.template != tt.template {
			t.Errorf("%d: %s %s %s %s %s", tt.d, tt.d, tt.d.ID(), tt.d.VersionID(), info.suite, info.template)
		}
	}
	if _, err := Distro(7).info(); err == nil || !strings.Contains(err.Error(), "unknown distribution 7") {
		t.Errorf("Distro(7): %v", err)
	}
	var zero Spec
	if zero.Distro != Debian12 {
		t.Errorf("the zero Spec's distribution is %s, want Debian 12", zero.Distro)
	}
}

func TestCreateRefusesBadDistro(t *testing.T) {
	// Both are refused before anything on the machine is touched.
	for _, spec := range []Spec{
		{N: 1, Kind: Debian, Distro: 7},
		{N: 1, Kind: Shared, Distro: Ubuntu2404},
	} {
		c, err := Create(context.Background(), spec)
		if c != nil || err == nil {
			t.Errorf("Create(%+v) = %v, %v; want an error", spec, c, err)
		}
	}
	if err := PrepareTemplates(context.Background(), Spec{Kind: Shared}); err == nil {
		t.Errorf("PrepareTemplates of shared hosts: no error")
	}
}

func TestUbuntuSources(t *testing.T) {
	s, err := aptSourcesFor(Ubuntu2404, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.hosts(), []string{"archive.ubuntu.com", "security.ubuntu.com"}; !slices.Equal(got, want) {
		t.Errorf("proxy allows %v, want %v", got, want)
	}
	files := s.sourcesFiles()
	want := `Types: deb
URIs: http://archive.ubuntu.com/ubuntu
Suites: noble noble-updates
Components: main universe
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://security.ubuntu.com/ubuntu
Suites: noble-security
Components: main universe
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
`
	if got := files["etc/apt/sources.list.d/ubuntu.sources"]; got != want {
		t.Errorf("ubuntu.sources:\n%s\nwant:\n%s", got, want)
	}
	if l := files["etc/apt/sources.list"]; strings.Contains(l, "deb ") {
		t.Errorf("sources.list repeats the sources: %q", l)
	}
	// What apt reads back is what was meant (the same parser reads the
	// machine's sources).
	got := parseAptSources(files["etc/apt/sources.list.d/ubuntu.sources"], true)
	if len(got) != 2 || got[0].uri != "http://archive.ubuntu.com/ubuntu" || !slices.Equal(got[1].suites, []string{"noble-security"}) {
		t.Errorf("parsed back: %+v", got)
	}

	// A mirror replaces the archive; https becomes http for the proxy.
	m, err := aptSourcesFor(Ubuntu2404, "https://mirror.example.org/ubuntu/")
	if err != nil {
		t.Fatal(err)
	}
	if m.Mirror != "http://mirror.example.org/ubuntu" || !slices.Contains(m.hosts(), "mirror.example.org") || slices.Contains(m.hosts(), "archive.ubuntu.com") {
		t.Errorf("with a mirror: %+v, proxy allows %v", m, m.hosts())
	}
}

func TestDebianSources(t *testing.T) {
	s, err := aptSourcesFor(Debian12, "http://m.example.org/debian")
	if err != nil {
		t.Fatal(err)
	}
	files := s.sourcesFiles()
	if len(files) != 1 {
		t.Fatalf("Debian source files: %v", files)
	}
	l := files["etc/apt/sources.list"]
	if !strings.HasPrefix(l, "deb http://m.example.org/debian bookworm main\ndeb http://m.example.org/debian bookworm-updates main\n") {
		t.Errorf("sources.list:\n%s", l)
	}
	if slices.Contains(s.hosts(), "archive.ubuntu.com") {
		t.Errorf("a Debian proxy allows the Ubuntu archive: %v", s.hosts())
	}
}

func TestFetchKeyring(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not found")
	}
	// A keyring .deb of our own, built as the real one is laid out.
	src := t.TempDir()
	kr := filepath.Join(src, "usr/share/keyrings/test-archive-keyring.gpg")
	if err := os.MkdirAll(filepath.Dir(kr), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kr, []byte("keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := "Package: test-keyring\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
	if err := os.WriteFile(filepath.Join(src, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(t.TempDir(), "test-keyring_1_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", src, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v: %s", err, out)
	}
	body, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ubuntu/pool/k.deb" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	k := keyringDeb{Pool: "pool/k.deb", SHA256: hex.EncodeToString(sum[:]), Keyring: "usr/share/keyrings/test-archive-keyring.gpg"}

	got, err := fetchKeyring(context.Background(), srv.URL+"/ubuntu/pool/k.deb", k, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != "keys" {
		t.Fatalf("keyring %s: %q, %v", got, b, err)
	}

	// Another file under the same name is refused, and nothing is unpacked.
	bad := k
	bad.SHA256 = strings.Repeat("0", 64)
	dir := t.TempDir()
	if _, err := fetchKeyring(context.Background(), srv.URL+"/ubuntu/pool/k.deb", bad, dir); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("wrong hash: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused keyring left %v", ents)
	}
	if _, err := fetchKeyring(context.Background(), srv.URL+"/ubuntu/pool/missing.deb", k, t.TempDir()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing keyring: %v", err)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	root := moduleRoot()
	if root == "" {
		t.Fatal("no module root above the working directory")
	}
	t.Setenv(EnvCache, "")
	got, err := cacheDir("")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, ".cache", "testhost"); got != want {
		t.Errorf("default cache dir %s, want %s (what install.mk sets)", got, want)
	}
	other := t.TempDir()
	t.Setenv(EnvCache, other)
	if got, err := cacheDir(""); err != nil || got != other {
		t.Errorf("with %s=%s: %s, %v", EnvCache, other, got, err)
	}
	if got, err := cacheDir(filepath.Join(other, "x")); err != nil || got != filepath.Join(other, "x") {
		t.Errorf("explicit: %s, %v", got, err)
	}
}
