package testhost

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// templateIncludes are the packages debootstrap adds to minbase.
	templateIncludes = "openssh-server,python3,sudo,iproute2,ca-certificates,git"
	defaultMirror    = "http://deb.debian.org/debian"
	manifestFile     = "manifest.json"
	// debianSSHDConfig is the sshd config inside every Debian host.
	debianSSHDConfig = "/etc/ssh/edendeploy-testhost.conf"
	// EnvCache overrides where the templates and package layers are cached
	// (default: <module root>/.cache/testhost).
	EnvCache = "EDEN_TESTHOST_CACHE"
)

// debianInit runs in the host's new mount, PID, UTS and IPC namespaces (and
// its network namespace) with $1 = root, $2 = hostname, $3 = sshd config.
// sshd becomes PID 1: killing the unshare process above it kills the whole
// PID namespace, and with it everything the host runs.
const debianInit = `set -e
R=$1
mount -t tmpfs -o mode=755,size=512m tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
mount -t tmpfs -o mode=1777,size=2g tmpfs "$R/tmp"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$R/dev/shm"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
hostname "$2"
cd "$R"
exec chroot "$R" /usr/sbin/sshd -D -e -f "$3"
`

// cacheDir resolves where templates live: explicit, $EDEN_TESTHOST_CACHE,
// <module root>/.cache/testhost (what install.mk sets too, so that go test
// and make share one cache), or the user cache dir + edendeploy/testhost.
func cacheDir(explicit string) (string, error) {
	d := explicit
	if d == "" {
		d = os.Getenv(EnvCache)
	}
	if d == "" {
		if root := moduleRoot(); root != "" {
			d = filepath.Join(root, ".cache", "testhost")
		}
	}
	if d == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("testhost: no cache dir: %w", err)
		}
		d = filepath.Join(uc, "edendeploy", "testhost")
	}
	d, err := filepath.Abs(d)
	if err != nil {
		return "", fmt.Errorf("testhost: cache dir: %w", err)
	}
	if strings.ContainsAny(d, ":,") {
		return "", fmt.Errorf("testhost: cache dir %q must not contain ':' or ','", d)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("testhost: cache dir: %w", err)
	}
	return d, nil
}

// moduleRoot finds the directory of this project's go.mod above the working
// directory, or "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/edendeploy/edendeploy\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// aptSources are the archives of one distribution used for its templates,
// its hosts and the proxy's allow list.
type aptSources struct {
	Mirror   string // e.g. http://deb.debian.org/debian
	Security string // e.g. http://deb.debian.org/debian-security, or ""
	distro   Distro
}

func (s aptSources) hosts() []string {
	var hs []string
	for _, u := range []string{s.Mirror, s.Security} {
		if pu, err := url.Parse(u); err == nil && pu.Host != "" && !slices.Contains(hs, pu.Host) {
			hs = append(hs, pu.Host)
		}
	}
	return hs
}

// sourcesList is a one-line sources.list of the archives.
func (s aptSources) sourcesList() string {
	info := distros[s.distro]
	comps := strings.Join(info.components, " ")
	l := fmt.Sprintf("deb %s %s %s\ndeb %s %s-updates %s\n", s.Mirror, info.suite, comps, s.Mirror, info.suite, comps)
	if s.Security != "" {
		l += fmt.Sprintf("deb %s %s-security %s\n", s.Security, info.suite, comps)
	}
	return l
}

// machineAptSources reads the machine's own apt sources (one-line and deb822)
// for the Debian mirror; mirror, if set, wins.
func machineAptSources(mirror string) aptSources {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	for _, pat := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	suite := distros[Debian12].suite
	var s aptSources
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, e := range parseAptSources(string(b), strings.HasSuffix(f, ".sources")) {
			for _, su := range e.suites {
				switch {
				case s.Mirror == "" && su == suite:
					s.Mirror = e.uri
				case s.Security == "" && su == suite+"-security":
					s.Security = e.uri
				}
			}
		}
	}
	if mirror != "" {
		s.Mirror = mirror
	}
	if s.Mirror == "" {
		s.Mirror = defaultMirror
	}
	return s.plainHTTP()
}

// plainHTTP trims the URLs and turns https into http: the proxy speaks plain
// HTTP only (no CONNECT), so apt's https would fail through it.
func (s aptSources) plainHTTP() aptSources {
	s.Mirror = strings.TrimRight(s.Mirror, "/")
	s.Security = strings.TrimRight(s.Security, "/")
	if strings.HasPrefix(s.Mirror, "https://") {
		s.Mirror = "http://" + strings.TrimPrefix(s.Mirror, "https://")
	}
	if strings.HasPrefix(s.Security, "https://") {
		s.Security = "http://" + strings.TrimPrefix(s.Security, "https://")
	}
	return s
}

type aptEntry struct {
	uri    string
	suites []string
}

// parseAptSources parses one-line ("deb [opts] URI suite comps") or deb822
// ("Types: deb\nURIs: ...\nSuites: ...") sources, keeping "deb" entries.
func parseAptSources(text string, deb822 bool) []aptEntry {
	var out []aptEntry
	if !deb822 {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "deb" {
				continue
			}
			f = f[1:]
			if strings.HasPrefix(f[0], "[") {
				for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
					f = f[1:]
				}
				if len(f) > 0 {
					f = f[1:]
				}
			}
			if len(f) >= 2 {
				out = append(out, aptEntry{uri: f[0], suites: []string{f[1]}})
			}
		}
		return out
	}
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		var last string
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				if last != "" {
					fields[last] += " " + strings.TrimSpace(line)
				}
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		if !slices.Contains(strings.Fields(fields["types"]), "deb") {
			continue
		}
		if e := strings.ToLower(fields["enabled"]); e == "no" || e == "false" {
			continue
		}
		for _, u := range strings.Fields(fields["uris"]) {
			out = append(out, aptEntry{uri: u, suites: strings.Fields(fields["suites"])})
		}
	}
	return out
}

// layerManifest marks a complete cached layer.
type layerManifest struct {
	Kind     string    `json:"kind"`
	Distro   string    `json:"distro"`
	Suite    string    `json:"suite"`
	Mirror   string    `json:"mirror"`
	Includes string    `json:"includes,omitempty"`
	Packages []string  `json:"packages,omitempty"`
	Built    time.Time `json:"built"`
	Seconds  float64   `json:"seconds"`
}

// ensureLayers returns the overlay lower dirs, top first: the packages layer
// (if any) above the debootstrap template. Each is built once, under a lock,
// into a temporary dir that is renamed into place when complete.
func ensureLayers(ctx context.Context, cache string, srcs aptSources, pkgs []string, logw io.Writer) ([]string, error) {
	templateName := distros[srcs.distro].template
	tmpl := filepath.Join(cache, templateName)
	err := buildOnce(ctx, cache, templateName, logw, func(tmp string) (layerManifest, error) {
		return buildTemplate(ctx, tmp, srcs, logw)
	})
	if err != nil {
		return nil, err
	}
	lowers := []string{filepath.Join(tmpl, "root")}
	pkgs = normalizePackages(pkgs)
	if len(pkgs) == 0 {
		return lowers, nil
	}
	name := packagesLayerName(templateName, pkgs)
	err = buildOnce(ctx, cache, name, logw, func(tmp string) (layerManifest, error) {
		return buildPackages(ctx, tmp, lowers, srcs, pkgs, logw)
	})
	if err != nil {
		return nil, err
	}
	return append([]string{filepath.Join(cache, name, "upper")}, lowers...), nil
}

func normalizePackages(pkgs []string) []string {
	var out []string
	for _, p := range pkgs {
		for _, f := range strings.FieldsFunc(p, func(r rune) bool { return r == ',' || r == ' ' }) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// packagesLayerName names the packages layer of a template after a hash of
// its list.
func packagesLayerName(templateName string, pkgs []string) string {
	sum := sha256.Sum256([]byte(strings.Join(pkgs, "\n")))
	return templateName + "-pkgs-" + hex.EncodeToString(sum[:])[:12]
}

// buildOnce makes cache/name with build unless it exists (manifest present),
// holding cache/.name.lock so that only one process builds it.
func buildOnce(ctx context.Context, cache, name string, logw io.Writer, build func(tmp string) (layerManifest, error)) error {
	final := filepath.Join(cache, name)
	done := func() bool {
		_, err := os.Stat(filepath.Join(final, manifestFile))
		return err == nil
	}
	if done() {
		return nil
	}
	lf, err := os.OpenFile(filepath.Join(cache, "."+name+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("testhost: lock %s: %w", name, err)
	}
	defer lf.Close()
	waited := false
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !waited {
			fmt.Fprintf(logw, "testhost: waiting for another process building %s\n", final)
			waited = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testhost: waiting for %s: %w", name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	if done() {
		return nil
	}
	// Leftovers of builds that died (we hold the lock, so none is running).
	stale, _ := filepath.Glob(filepath.Join(cache, ".build-"+name+"-*"))
	for _, s := range stale {
		unmountAll(s)
		_ = os.RemoveAll(s)
	}
	_ = os.RemoveAll(final) // incomplete: no manifest
	tmp, err := os.MkdirTemp(cache, ".build-"+name+"-")
	if err != nil {
		return fmt.Errorf("testhost: build %s: %w", name, err)
	}
	start := time.Now()
	fmt.Fprintf(logw, "testhost: building %s (once; later runs reuse it)\n", final)
	m, err := build(tmp)
	if err != nil {
		unmountAll(tmp)
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("testhost: build %s: %w", name, err)
	}
	m.Built = time.Now().UTC()
	m.Seconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, manifestFile), b, 0o644); err != nil {
		return fmt.Errorf("testhost: build %s: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("testhost: build %s: %w", name, err)
	}
	fmt.Fprintf(logw, "testhost: built %s in %.1fs\n", final, m.Seconds)
	return nil
}

// buildTemplate debootstraps the distribution of srcs into tmp/root. For
// Ubuntu it first fetches the archive keyring (pinned by hash) and, when
// this machine's debootstrap has no script for the suite, names the one
// every Ubuntu suite shares.
func buildTemplate(ctx context.Context, tmp string, srcs aptSources, logw io.Writer) (layerManifest, error) {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return layerManifest{}, fmt.Errorf("%w: debootstrap not found (apt-get install debootstrap): %v", ErrMissing, err)
	}
	info := distros[srcs.distro]
	args := []string{"--variant=minbase", "--components=" + strings.Join(info.components, ","), "--include=" + templateIncludes}
	if info.keyring != nil {
		url := srcs.Mirror + "/" + info.keyring.Pool
		fmt.Fprintf(logw, "testhost: fetching the %s archive keyring %s\n", srcs.distro, url)
		kr, err := fetchKeyring(ctx, url, *info.keyring, tmp)
		if err != nil {
			return layerManifest{}, err
		}
		args = append(args, "--keyring="+kr)
	}
	root := filepath.Join(tmp, "root")
	args = append(args, info.suite, root, srcs.Mirror)
	if info.script != "" {
		if _, err := os.Stat(filepath.Join("/usr/share/debootstrap/scripts", info.suite)); err != nil {
			if _, err := os.Stat(info.script); err != nil {
				return layerManifest{}, fmt.Errorf("%w: debootstrap knows no %s and has no %s: %v", ErrMissing, info.suite, info.script, err)
			}
			args = append(args, info.script)
		}
	}
	logPath := filepath.Join(tmp, "debootstrap.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return layerManifest{}, err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Run(); err != nil {
		return layerManifest{}, fmt.Errorf("debootstrap: %w: %s", err, tail(logPath))
	}
	if info.keyring != nil {
		// The hosts carry the keyring as a package; the download was only
		// for debootstrap.
		_ = os.RemoveAll(filepath.Join(tmp, "keyring"))
		_ = os.Remove(filepath.Join(tmp, filepath.Base(info.keyring.Pool)))
	}
	// Clones must not share host keys: each host gets its own.
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return layerManifest{}, err
		}
	}
	if err := srcs.writeSources(root); err != nil {
		return layerManifest{}, err
	}
	_ = os.RemoveAll(filepath.Join(root, "var/cache/apt/archives"))
	_ = os.MkdirAll(filepath.Join(root, "var/cache/apt/archives/partial"), 0o755)
	return layerManifest{Kind: "debootstrap", Distro: srcs.distro.String(), Suite: info.suite, Mirror: srcs.Mirror, Includes: templateIncludes}, nil
}

// buildPackages installs pkgs with chroot apt-get (from the machine's own
// network namespace) on an overlay of lowers; the overlay's upper dir
// becomes the layer.
func buildPackages(ctx context.Context, tmp string, lowers []string, srcs aptSources, pkgs []string, logw io.Writer) (layerManifest, error) {
	upper, work, merged := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return layerManifest{}, err
		}
	}
	if err := mountOverlay(lowers, upper, work, merged); err != nil {
		return layerManifest{}, err
	}
	defer func() {
		_ = syscall.Unmount(merged, 0)
	}()
	// No daemon may start inside the chroot while installing.
	policy := filepath.Join(merged, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return layerManifest{}, err
	}
	if err := srcs.writeSources(merged); err != nil {
		return layerManifest{}, err
	}
	script := `set -e
R=$1; shift
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"
mkdir -p "$R/run/lock"
[ -e "$R/etc/resolv.conf" ] || : > "$R/etc/resolv.conf"
mount --bind /etc/resolv.conf "$R/etc/resolv.conf"
chroot "$R" apt-get update
chroot "$R" apt-get install -y "$@"
chroot "$R" apt-get clean
`
	logPath := filepath.Join(tmp, "apt.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return layerManifest{}, err
	}
	defer lf.Close()
	args := append([]string{"--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "sh", "-c", script, "sh", merged}, pkgs...)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
	cmd.Stdout, cmd.Stderr = lf, lf
	fmt.Fprintf(logw, "testhost: installing %s into a template layer\n", strings.Join(pkgs, " "))
	if err := cmd.Run(); err != nil {
		return layerManifest{}, fmt.Errorf("chroot apt-get install: %w: %s", err, tail(logPath))
	}
	if err := os.Remove(policy); err != nil {
		return layerManifest{}, err
	}
	if err := syscall.Unmount(merged, 0); err != nil {
		return layerManifest{}, fmt.Errorf("umount %s: %w", merged, err)
	}
	_ = os.RemoveAll(work)
	_ = os.Remove(merged)
	return layerManifest{Kind: "packages", Distro: srcs.distro.String(), Suite: distros[srcs.distro].suite, Mirror: srcs.Mirror, Packages: pkgs}, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return strings.TrimSpace(string(b))
}

func mountOverlay(lowers []string, upper, work, target string) error {
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), upper, work)
	if err := syscall.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("testhost: mount overlay on %s (%s): %w", target, opts, err)
	}
	return nil
}

// unmountAll lazily unmounts every mount at or below dir (leftovers).
func unmountAll(dir string) {
	for _, m := range mountsUnder(dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	return mountPoints(func(mp string) bool { return mp == dir || strings.HasPrefix(mp, dir+"/") })
}

// mountPoints lists the mount points for which match is true, deepest
// (longest) first, so that unmounting them in order works.
func mountPoints(match func(string) bool) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if mp := unescapeMount(f[4]); match(mp) {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// prepareRoot mounts the host's overlay and writes what makes it this host:
// hostname, hosts, its own SSH host key, the cluster's key for root, sshd's
// config and (with the proxy) apt's proxy setting.
func (h *Host) prepareRoot(ctx context.Context, lowers []string, srcs aptSources) error {
	upper, work := filepath.Join(h.dir, "upper"), filepath.Join(h.dir, "work")
	for _, d := range []string{upper, work, h.Root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
	}
	if err := mountOverlay(lowers, upper, work, h.Root); err != nil {
		return fmt.Errorf("testhost: %s: %w", h.Name, err)
	}
	h.mounted = true
	c := h.cluster
	pub, err := os.ReadFile(c.KeyPath + ".pub")
	if err != nil {
		return fmt.Errorf("testhost: %s: %w", h.Name, err)
	}
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"etc/hostname", 0o644, h.Name + "\n"},
		{"etc/hosts", 0o644, c.hostsFile()},
		{"etc/resolv.conf", 0o644, noDNS},
		{"root/.ssh/authorized_keys", 0o600, string(pub)},
		{strings.TrimPrefix(debianSSHDConfig, "/"), 0o644,
			sshdConfig(h, "/etc/ssh/ssh_host_ed25519_key", "/root/.ssh/authorized_keys", "/run/sshd.pid")},
	}
	for p, data := range srcs.sourcesFiles() {
		files = append(files, struct {
			path string
			mode os.FileMode
			data string
		}{p, 0o644, data})
	}
	if c.ProxyURL != "" {
		files = append(files, struct {
			path string
			mode os.FileMode
			data string
		}{"etc/apt/apt.conf.d/01edendeploy-proxy", 0o644, fmt.Sprintf("Acquire::http::Proxy %q;\nAcquire::https::Proxy \"DIRECT\";\n", c.ProxyURL)})
	}
	for _, f := range files {
		p := filepath.Join(h.Root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
		_ = os.Remove(p) // resolv.conf may be a dangling symlink
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
	}
	key := filepath.Join(h.Root, "etc/ssh/ssh_host_ed25519_key")
	if _, err := os.Stat(key); err != nil {
		if _, err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@"+h.Name, "-f", key); err != nil {
			return fmt.Errorf("testhost: %s: host key: %w", h.Name, err)
		}
	}
	return nil
}

// unmount removes the overlay of a Debian host; its processes must be gone.
func (h *Host) unmount() error {
	if !h.mounted {
		return nil
	}
	var err error
	for range 50 {
		if err = syscall.Unmount(h.Root, 0); err == nil || errors.Is(err, syscall.EINVAL) {
			h.mounted = false
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if derr := syscall.Unmount(h.Root, syscall.MNT_DETACH); derr == nil {
		h.mounted = false
		return nil
	}
	return fmt.Errorf("testhost: %s: umount %s: %w", h.Name, h.Root, err)
}
