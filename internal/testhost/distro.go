package testhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Distro is the distribution of hosts with their own root filesystem
// (Kind Debian). The zero value is Debian 12.
type Distro int

const (
	// Debian12 is Debian 12 "bookworm", from the Debian mirror in this
	// machine's own apt sources.
	Debian12 Distro = iota
	// Ubuntu2404 is Ubuntu 24.04 LTS "noble" (main and universe), from the
	// Ubuntu archive.
	Ubuntu2404
)

// String names the distribution as "debian-12" or "ubuntu-24.04".
func (d Distro) String() string {
	if info, ok := distros[d]; ok {
		return info.id + "-" + info.versionID
	}
	return fmt.Sprintf("distro(%d)", int(d))
}

// ID is the distribution's ID in /etc/os-release ("debian", "ubuntu").
func (d Distro) ID() string { return distros[d].id }

// VersionID is the distribution's VERSION_ID in /etc/os-release ("12",
// "24.04").
func (d Distro) VersionID() string { return distros[d].versionID }

// distroInfo is what building and running hosts of one distribution needs.
type distroInfo struct {
	id, versionID string
	// template is the cached debootstrap template's directory name; its
	// package layers are named after it.
	template string
	suite    string
	// components of the archive: in debootstrap, the hosts' sources and
	// therefore in what the packages layer can install.
	components []string
	// mirror and security are the default archives; Debian's come from the
	// machine's own apt sources when it has them.
	mirror, security string
	// sourcesFile is where the hosts' apt sources live (deb822 when it ends
	// in .sources); sources.list then holds only a pointer to it.
	sourcesFile string
	// keyringFile is the archive keyring inside the hosts, for deb822's
	// Signed-By.
	keyringFile string
	// script is the debootstrap script to use when debootstrap has none of
	// the suite's name (debootstrap 1.0.128 in Debian 12 predates noble;
	// every Ubuntu suite since gutsy uses the same script).
	script string
	// keyring is the .deb with the archive keys debootstrap checks against,
	// when this machine has no package that installs them; nil: debootstrap's
	// default keyring.
	keyring *keyringDeb
}

// keyringDeb is an archive keyring shipped in a .deb, pinned by hash.
type keyringDeb struct {
	// Pool is the .deb's path below the archive's URL.
	Pool string
	// SHA256 of the .deb: a download with another hash is refused.
	SHA256 string
	// Keyring is the keyring file's path inside the .deb.
	Keyring string
}

// ubuntuKeyring carries the Ubuntu archive's signing keys. Debian 12 has no
// ubuntu-keyring package, so the template build fetches Ubuntu's own and
// checks it against this hash before debootstrap trusts it.
var ubuntuKeyring = keyringDeb{
	Pool:    "pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb",
	SHA256:  "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8",
	Keyring: "usr/share/keyrings/ubuntu-archive-keyring.gpg",
}

var distros = map[Distro]distroInfo{
	Debian12: {
		id: "debian", versionID: "12",
		template:    "debian-bookworm",
		suite:       "bookworm",
		components:  []string{"main"},
		mirror:      defaultMirror,
		sourcesFile: "etc/apt/sources.list",
	},
	Ubuntu2404: {
		id: "ubuntu", versionID: "24.04",
		template:    "ubuntu-noble",
		suite:       "noble",
		components:  []string{"main", "universe"},
		mirror:      "http://archive.ubuntu.com/ubuntu",
		security:    "http://security.ubuntu.com/ubuntu",
		sourcesFile: "etc/apt/sources.list.d/ubuntu.sources",
		keyringFile: "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
		script:      "/usr/share/debootstrap/scripts/gutsy",
		keyring:     &ubuntuKeyring,
	},
}

func (d Distro) info() (distroInfo, error) {
	info, ok := distros[d]
	if !ok {
		return distroInfo{}, fmt.Errorf("testhost: unknown distribution %d (want Debian12 or Ubuntu2404)", int(d))
	}
	return info, nil
}

// aptSourcesFor returns the archives for hosts of distribution d: Debian's
// from this machine's apt sources, Ubuntu's archive otherwise; mirror, if
// set, replaces the main archive.
func aptSourcesFor(d Distro, mirror string) (aptSources, error) {
	info, err := d.info()
	if err != nil {
		return aptSources{}, err
	}
	if d == Debian12 {
		s := machineAptSources(mirror)
		s.distro = d
		return s, nil
	}
	s := aptSources{Mirror: info.mirror, Security: info.security, distro: d}
	if mirror != "" {
		s.Mirror = mirror
	}
	return s.plainHTTP(), nil
}

// sourcesFiles are the hosts' apt source files (root-relative path →
// content). Debian 12 uses one-line sources.list; Ubuntu 24.04 uses deb822
// in sources.list.d/ubuntu.sources, as its own images do, and keeps a
// sources.list that only points there.
func (s aptSources) sourcesFiles() map[string]string {
	info := distros[s.distro]
	if !strings.HasSuffix(info.sourcesFile, ".sources") {
		return map[string]string{info.sourcesFile: s.sourcesList()}
	}
	comps := strings.Join(info.components, " ")
	var b strings.Builder
	fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\nSigned-By: %s\n",
		s.Mirror, info.suite, info.suite, comps, info.keyringFile)
	if s.Security != "" {
		fmt.Fprintf(&b, "\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\nSigned-By: %s\n",
			s.Security, info.suite, comps, info.keyringFile)
	}
	return map[string]string{
		"etc/apt/sources.list": "# testhost: the sources are in /" + info.sourcesFile + "\n",
		info.sourcesFile:       b.String(),
	}
}

// writeSources writes the apt source files into root.
func (s aptSources) writeSources(root string) error {
	for p, data := range s.sourcesFiles() {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// keyringMaxBytes bounds the keyring download (the pinned .deb is ~30 KB).
const keyringMaxBytes = 4 << 20

// fetchKeyring downloads the keyring .deb from url into dir, refuses it
// unless its SHA-256 is k.SHA256, unpacks it with dpkg-deb and returns the
// path of the keyring file.
func fetchKeyring(ctx context.Context, url string, k keyringDeb, dir string) (string, error) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return "", fmt.Errorf("%w: dpkg-deb not found (apt-get install dpkg): %v", ErrMissing, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("keyring %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// The archive is a peer like debootstrap: a machine that cannot reach
		// it skips (or, under EDEN_REQUIRE_PEERS=1, fails) the tests that
		// need it.
		return "", fmt.Errorf("%w: the archive is not reachable from this machine: %v", ErrMissing, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("keyring %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, keyringMaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("keyring %s: %w", url, err)
	}
	if len(body) > keyringMaxBytes {
		return "", fmt.Errorf("keyring %s: larger than %d bytes", url, keyringMaxBytes)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != k.SHA256 {
		return "", fmt.Errorf("keyring %s: SHA-256 %s, want %s: refusing it", url, got, k.SHA256)
	}
	deb := filepath.Join(dir, filepath.Base(k.Pool))
	if err := os.WriteFile(deb, body, 0o644); err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	unpacked := filepath.Join(dir, "keyring")
	if _, err := run(ctx, "dpkg-deb", "-x", deb, unpacked); err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	p := filepath.Join(unpacked, k.Keyring)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("keyring: %s holds no %s: %w", filepath.Base(deb), k.Keyring, err)
	}
	return p, nil
}
