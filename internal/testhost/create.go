package testhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// namePrefix starts every namespace and interface this package makes.
	namePrefix = "edt-"
	// subnetBase is the /16 that cluster subnets are taken from.
	subnetBase = "10.231"
	maxHosts   = 200
	sshdPath   = "/usr/sbin/sshd"
	stateFile  = "cluster.json"
)

// Prerequisites reports (wrapping ErrMissing) what this machine lacks to make
// hosts of kind k, or nil. Debootstrap is checked only when a template has to
// be built.
func Prerequisites(k Kind) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: must run as root (network namespaces, sshd, mounts)", ErrMissing)
	}
	cmds := []string{"ip", "ssh", "ssh-keygen", "unshare", "nsenter", sshdPath}
	if k == Debian {
		cmds = append(cmds, "chroot", "mount")
	}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install iproute2 openssh-server openssh-client util-linux): %v", ErrMissing, c, err)
		}
	}
	if k == Debian {
		fs, err := os.ReadFile("/proc/filesystems")
		if err != nil || !bytes.Contains(fs, []byte("\toverlay\n")) {
			// The module may still load on first mount; try before giving up.
			_ = exec.Command("modprobe", "overlay").Run()
			fs, _ = os.ReadFile("/proc/filesystems")
			if !bytes.Contains(fs, []byte("\toverlay\n")) {
				return fmt.Errorf("%w: overlayfs is not available in this kernel", ErrMissing)
			}
		}
	}
	return nil
}

// Create makes the hosts described by spec and waits until every reachable
// host's sshd accepts TCP connections. On error it returns what it made so far
// together with the error (the caller must still Close it), or nil when
// nothing was made. Close tears everything down.
func Create(ctx context.Context, spec Spec) (c *Cluster, err error) {
	if spec.N < 1 || spec.N > maxHosts {
		return nil, fmt.Errorf("testhost: %d hosts asked for, want 1..%d", spec.N, maxHosts)
	}
	names := make([]string, spec.N)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i+1)
	}
	for _, u := range spec.Unreachable {
		if !slices.Contains(names, u) {
			return nil, fmt.Errorf("testhost: unreachable host %q is not one of h1..h%d", u, spec.N)
		}
	}
	if spec.Detached && spec.Dir == "" {
		return nil, errors.New("testhost: a detached cluster needs an explicit Dir")
	}
	if spec.Kind != Debian && spec.Distro != Debian12 {
		return nil, fmt.Errorf("testhost: %s hosts share this machine's filesystem: they take no distribution (%s)", spec.Kind, spec.Distro)
	}
	if _, err := spec.Distro.info(); err != nil {
		return nil, err
	}
	if err := Prerequisites(spec.Kind); err != nil {
		return nil, err
	}
	logw := spec.Log
	if logw == nil {
		logw = discard{}
	}
	// What a crashed earlier run left would only get in the way.
	if _, err := Sweep(ctx); err != nil {
		fmt.Fprintf(logw, "testhost: sweep: %v\n", err)
	}

	var lowers []string
	var srcs aptSources
	if spec.Kind == Debian {
		srcs, lowers, err = layers(ctx, spec, logw)
		if err != nil {
			return nil, err
		}
	}

	ownDir := false
	if spec.Dir == "" {
		spec.Dir, err = os.MkdirTemp("", "edt-cluster-")
		if err != nil {
			return nil, fmt.Errorf("testhost: %w", err)
		}
		ownDir = true
	}
	if spec.Dir, err = filepath.Abs(spec.Dir); err != nil {
		return nil, fmt.Errorf("testhost: %w", err)
	}
	if strings.ContainsAny(spec.Dir, ":,") {
		return nil, fmt.Errorf("testhost: dir %q must not contain ':' or ','", spec.Dir)
	}
	if err := os.MkdirAll(spec.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("testhost: %w", err)
	}

	if err := guardRoute(ctx); err != nil {
		return nil, err
	}
	octet, unlock, err := allocSubnet()
	if err != nil {
		return nil, err
	}
	c = &Cluster{
		User:    "root",
		Subnet:  fmt.Sprintf("%s.%d.0/24", subnetBase, octet),
		Gateway: fmt.Sprintf("%s.%d.1", subnetBase, octet),
		Dir:     spec.Dir,
		Kind:    spec.Kind,
		Distro:  spec.Distro,
		tag:     randomTag(),
		owner:   os.Getpid(),
		ownDir:  ownDir,
		unlock:  unlock,
	}
	if spec.Detached {
		c.owner = 0
	}
	for i, n := range names {
		h := &Host{
			Name:      n,
			Addr:      fmt.Sprintf("%s.%d.%d", subnetBase, octet, i+2),
			Port:      22,
			Netns:     c.nsName(n),
			Root:      "/",
			Reachable: !slices.Contains(spec.Unreachable, n),
			cluster:   c,
		}
		h.dir = filepath.Join(c.Dir, h.Netns)
		if spec.Kind == Debian {
			h.Root = filepath.Join(h.dir, "root")
		}
		c.Hosts = append(c.Hosts, h)
	}
	// From here on, a failure returns c so that the caller's Close removes
	// whatever was made; the state file lets another process do it too.
	defer func() {
		if err == nil || spec.Detached {
			if werr := c.save(lowers, srcs, spec); werr != nil && err == nil {
				err = werr
			}
		}
	}()

	if err := c.makeKey(ctx); err != nil {
		return c, err
	}
	if err := c.makeNetwork(ctx); err != nil {
		return c, err
	}
	if spec.AptProxy {
		p, err := startAptProxy(c.Gateway, srcs.hosts())
		if err != nil {
			return c, err
		}
		c.proxy = p
		c.ProxyURL = "http://" + p.addr
	}
	for _, h := range c.Hosts {
		if err := os.MkdirAll(h.dir, 0o700); err != nil {
			return c, fmt.Errorf("testhost: %w", err)
		}
		if spec.Kind == Debian {
			if err := h.prepareRoot(ctx, lowers, srcs); err != nil {
				return c, err
			}
		}
	}
	// Start every sshd, then wait for all of them at once.
	var wg sync.WaitGroup
	errs := make([]error, len(c.Hosts))
	for i, h := range c.Hosts {
		if !h.Reachable {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.start(ctx, spec.Detached)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, nil
}

// PrepareTemplates builds (once) the cached template and package layer that
// Create needs for spec (Kind Debian; Distro, Packages, CacheDir, Mirror and
// Log are read), without making hosts. Builds of different templates may run
// at the same time, from goroutines or processes; one of the same template
// waits for the other. A missing prerequisite is an error wrapping
// ErrMissing.
func PrepareTemplates(ctx context.Context, spec Spec) error {
	if spec.Kind != Debian {
		return fmt.Errorf("testhost: %s hosts have no template", spec.Kind)
	}
	if _, err := spec.Distro.info(); err != nil {
		return err
	}
	if err := Prerequisites(spec.Kind); err != nil {
		return err
	}
	logw := spec.Log
	if logw == nil {
		logw = discard{}
	}
	_, _, err := layers(ctx, spec, logw)
	return err
}

// layers resolves spec's archives and cache and returns the overlay lower
// dirs (top first), building what is not cached yet.
func layers(ctx context.Context, spec Spec, logw io.Writer) (aptSources, []string, error) {
	srcs, err := aptSourcesFor(spec.Distro, spec.Mirror)
	if err != nil {
		return aptSources{}, nil, err
	}
	cache, err := cacheDir(spec.CacheDir)
	if err != nil {
		return aptSources{}, nil, err
	}
	lowers, err := ensureLayers(ctx, cache, srcs, spec.Packages, logw)
	if err != nil {
		return aptSources{}, nil, err
	}
	return srcs, lowers, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// nsName is the network namespace of host name: edt-<owner PID>-<tag>-<name>.
func (c *Cluster) nsName(name string) string {
	return fmt.Sprintf("%s%d-%s-%s", namePrefix, c.owner, c.tag, name)
}

func (c *Cluster) hubName() string { return c.nsName("hub") }

// uplink is the machine-side interface (at most 15 characters).
func (c *Cluster) uplink() string { return namePrefix + c.tag }

func randomTag() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// guardRoute makes 10.231.0.0/16 unreachable on the machine, except for the
// /24 of each live cluster (more specific routes win): a test that talks to a
// host after its cluster is gone must fail here, not send packets out through
// the machine's default route.
func guardRoute(ctx context.Context) error {
	_, err := run(ctx, "ip", "route", "replace", "unreachable", subnetBase+".0.0/16")
	if err != nil {
		return fmt.Errorf("testhost: guard route: %w", err)
	}
	return nil
}

// lockDir holds one lock file per subnet; a held flock means "in use", and
// the kernel releases it when the holder dies.
func lockDir() string {
	for _, d := range []string{"/run/edendeploy-testhost", filepath.Join(os.TempDir(), "edendeploy-testhost")} {
		if os.MkdirAll(d, 0o755) == nil {
			return d
		}
	}
	return os.TempDir()
}

// allocSubnet picks a free third octet in 10.231.0.0/16 at random: one whose
// lock file is not held and that no interface on the machine uses (detached
// clusters outlive their lock).
func allocSubnet() (int, func(), error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return 0, nil, fmt.Errorf("testhost: ip addr show: %w", err)
	}
	used := string(out)
	dir := lockDir()
	start, _ := rand.Int(rand.Reader, big.NewInt(256))
	for i := range 256 {
		o := (int(start.Int64()) + i) % 256
		if strings.Contains(used, fmt.Sprintf(" %s.%d.", subnetBase, o)) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("subnet-%d.lock", o)), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return 0, nil, fmt.Errorf("testhost: subnet lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return o, func() { f.Close() }, nil
	}
	return 0, nil, fmt.Errorf("testhost: no free subnet in %s.0.0/16", subnetBase)
}

// run runs a command and returns its stdout; the error carries stderr.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (c *Cluster) makeKey(ctx context.Context) error {
	c.KeyPath = filepath.Join(c.Dir, "id_ed25519")
	if _, err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edendeploy-testhost", "-f", c.KeyPath); err != nil {
		return fmt.Errorf("testhost: client key: %w", err)
	}
	var err error
	if c.PrivateKey, err = os.ReadFile(c.KeyPath); err != nil {
		return fmt.Errorf("testhost: client key: %w", err)
	}
	pub, err := os.ReadFile(c.KeyPath + ".pub")
	if err != nil {
		return fmt.Errorf("testhost: client key: %w", err)
	}
	if err := os.WriteFile(c.authorizedKeys(), pub, 0o600); err != nil {
		return fmt.Errorf("testhost: authorized_keys: %w", err)
	}
	return nil
}

func (c *Cluster) authorizedKeys() string { return filepath.Join(c.Dir, "authorized_keys") }

// makeNetwork builds, for subnet S:
//
//	machine: edt-<tag> (S.1) ── veth ── hub ns: bridge br0 (S.254, no forwarding)
//	                                             ├─ veth ── host ns h1: eth0 (S.2)
//	                                             └─ veth ── host ns h2: eth0 (S.3) ...
//
// Every veth has one end in the hub, so deleting the hub namespace removes
// every interface on the machine side too. Hosts route by default to S.254,
// which drops what is not for the subnet: no way out, yet Ansible's
// default-IPv4 facts work.
func (c *Cluster) makeNetwork(ctx context.Context) error {
	hub := c.hubName()
	prefix := strings.TrimSuffix(c.Subnet, "0/24")
	steps := [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "addr", "add", prefix + "254/24", "dev", "br0"},
		{"-n", hub, "link", "set", "br0", "up"},
		{"link", "add", c.uplink(), "type", "veth", "peer", "name", "up0", "netns", hub},
		{"addr", "add", c.Gateway + "/24", "dev", c.uplink()},
		{"link", "set", c.uplink(), "up"},
		{"-n", hub, "link", "set", "up0", "master", "br0", "up"},
	}
	for i, h := range c.Hosts {
		v := "v" + strconv.Itoa(i+1)
		steps = append(steps,
			[]string{"netns", "add", h.Netns},
			[]string{"-n", hub, "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", h.Netns},
			[]string{"-n", hub, "link", "set", v, "master", "br0", "up"},
			[]string{"-n", h.Netns, "link", "set", "lo", "up"},
			[]string{"-n", h.Netns, "addr", "add", h.Addr + "/24", "dev", "eth0"},
			[]string{"-n", h.Netns, "link", "set", "eth0", "up"},
			[]string{"-n", h.Netns, "route", "add", "default", "via", prefix + "254"},
		)
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return fmt.Errorf("testhost: network: %w", err)
		}
	}
	return nil
}

// noDNS is every host's resolv.conf: no name server (lookups fail at once
// on 127.0.0.1:53 instead of timing out on an unreachable one).
const noDNS = "# testhost: no DNS, this host has no route out; names are in /etc/hosts\n"

// hostsFile is every host's /etc/hosts: localhost and the cluster's hosts.
func (c *Cluster) hostsFile() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, o := range c.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", o.Addr, o.Name)
	}
	return b.String()
}

// sshdConfig is the per-host sshd configuration; paths are as sshd sees them.
func sshdConfig(h *Host, hostKey, authKeys, pidFile string) string {
	return fmt.Sprintf(`# edendeploy testhost %s
Port %d
ListenAddress %s
AddressFamily inet
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 200:30:400
MaxSessions 200
MaxAuthTries 10
LoginGraceTime 30
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
AcceptEnv LANG LC_*
LogLevel INFO
Subsystem sftp internal-sftp
`, h.Name, h.Port, h.Addr, hostKey, authKeys, pidFile)
}

// start launches the host's sshd (or, for Debian hosts, the namespaces with
// sshd as PID 1) and waits until it accepts TCP connections.
func (h *Host) start(ctx context.Context, detached bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil {
		return nil
	}
	c := h.cluster
	var args []string
	if c.Kind == Debian {
		args = []string{"netns", "exec", h.Netns,
			"unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child", "--propagation", "private",
			"sh", "-c", debianInit, "sh", h.Root, h.Name, debianSSHDConfig}
	} else {
		hostKey := filepath.Join(h.dir, "ssh_host_ed25519_key")
		if _, err := os.Stat(hostKey); err != nil {
			if _, err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.Name, "-f", hostKey); err != nil {
				return fmt.Errorf("testhost: %s: host key: %w", h.Name, err)
			}
		}
		cfg := filepath.Join(h.dir, "sshd_config")
		conf := sshdConfig(h, hostKey, c.authorizedKeys(), filepath.Join(h.dir, "sshd.pid"))
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
		hostsPath, resolvPath := filepath.Join(h.dir, "hosts"), filepath.Join(h.dir, "resolv.conf")
		if err := os.WriteFile(hostsPath, []byte(c.hostsFile()), 0o644); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
		if err := os.WriteFile(resolvPath, []byte(noDNS), 0o644); err != nil {
			return fmt.Errorf("testhost: %s: %w", h.Name, err)
		}
		// ip netns exec gives sshd its own mount namespace (a slave of the
		// machine's), where this host gets its own /etc/hosts (its name and
		// its peers') and a resolv.conf without DNS: the machine's name server
		// is out of reach, and each lookup would stall ~10 s (Ansible's fqdn
		// fact). Root's ~/.bashrc is masked there too: bash reads it for every
		// SSH command, and interactive setup such as pyenv's rehash lock can
		// stall sessions for a minute.
		script := `hostname "$1" && mount --bind "$3" /etc/hosts && ` +
			`{ [ ! -e /etc/resolv.conf ] || mount --bind "$4" /etc/resolv.conf; } && ` +
			`{ [ ! -f /root/.bashrc ] || mount --bind /dev/null /root/.bashrc; } && ` +
			`exec ` + sshdPath + ` -D -e -f "$2"`
		args = []string{"netns", "exec", h.Netns, "unshare", "--uts",
			"sh", "-c", script, "sh", h.Name, cfg, hostsPath, resolvPath}
	}
	logf, err := os.OpenFile(filepath.Join(h.dir, "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("testhost: %s: %w", h.Name, err)
	}
	defer logf.Close()
	// Not CommandContext: the host outlives the context of Create.
	cmd := exec.Command("ip", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// If the test process dies, so do its hosts' sshds (and, through
		// unshare --kill-child, everything inside a Debian host).
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testhost: %s: start sshd: %w", h.Name, err)
	}
	h.proc = cmd.Process
	h.waitErr = make(chan error, 1)
	go func() { h.waitErr <- cmd.Wait() }()
	h.Reachable = true
	return h.waitPort(ctx, 20*time.Second, true)
}

// waitPort polls a TCP connect to Addr:Port until its outcome is the one
// awaited: accepted if open, refused (or failed) otherwise. Awaiting open
// also stops when sshd exits; either way it gives up once limit passes or
// ctx ends, with an error that says what it waited for.
//
// Awaiting a closed port matters after Stop: a killed sshd leaves the
// namespace (and `ip netns pids`) a moment before the kernel closes its
// files, listening socket included; under load that moment is long enough
// for a connection to get through.
func (h *Host) waitPort(ctx context.Context, limit time.Duration, open bool) error {
	deadline := time.Now().Add(limit)
	target := net.JoinHostPort(h.Addr, strconv.Itoa(h.Port))
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	for {
		conn, err := d.DialContext(ctx, "tcp", target)
		if err == nil {
			conn.Close()
		}
		if (err == nil) == open {
			return nil
		}
		if open {
			select {
			case werr := <-h.waitErr:
				h.waitErr <- werr // keep it for Stop
				return fmt.Errorf("testhost: %s: sshd exited (%v): %s", h.Name, werr, h.logTail())
			default:
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if open {
				return fmt.Errorf("testhost: %s: sshd not listening on %s: %v: %s", h.Name, target, err, h.logTail())
			}
			return fmt.Errorf("testhost: %s: %s still accepts connections after its processes were killed", h.Name, target)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *Host) logTail() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "sshd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// state is what Load needs to tear a cluster down from another process.
type state struct {
	Cluster  *Cluster
	Tag      string
	Owner    int
	OwnDir   bool
	Hosts    []hostState
	Lowers   []string `json:",omitempty"`
	Detached bool
}

type hostState struct {
	Host    *Host
	PID     int
	Mounted bool
}

func (c *Cluster) save(lowers []string, _ aptSources, spec Spec) error {
	st := state{Cluster: c, Tag: c.tag, Owner: c.owner, OwnDir: c.ownDir, Lowers: lowers, Detached: spec.Detached}
	for _, h := range c.Hosts {
		hs := hostState{Host: h, Mounted: h.mounted}
		if h.proc != nil {
			hs.PID = h.proc.Pid
		}
		st.Hosts = append(st.Hosts, hs)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("testhost: save state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("testhost: save state: %w", err)
	}
	return nil
}

// Load returns the cluster that Create made in dir (normally a Detached one,
// from another process), so that the caller can use it or Close it.
// Stop/Start of its hosts work only in the creating process.
func Load(dir string) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("testhost: load %s: %w", dir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.Cluster == nil {
		return nil, fmt.Errorf("testhost: load %s: bad state file: %v", dir, err)
	}
	c := st.Cluster
	c.tag, c.owner, c.ownDir = st.Tag, st.Owner, st.OwnDir
	c.Hosts = nil
	for _, hs := range st.Hosts {
		h := hs.Host
		h.cluster = c
		h.dir = filepath.Join(c.Dir, h.Netns)
		h.mounted = hs.Mounted
		if hs.PID > 0 {
			if p, err := os.FindProcess(hs.PID); err == nil && p.Signal(syscall.Signal(0)) == nil {
				h.proc = p
			}
		}
		c.Hosts = append(c.Hosts, h)
	}
	return c, nil
}

// Close tears the cluster down: it kills every process in the hosts'
// namespaces, unmounts Debian hosts' filesystems, deletes the namespaces (and
// with them every veth), stops the apt proxy and removes Dir if Create made
// it. It is safe to call more than once and keeps going past errors, which it
// joins.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		var errs []error
		if c.proxy != nil {
			c.proxy.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, h := range c.Hosts {
			if err := h.stop(ctx); err != nil {
				errs = append(errs, err)
			}
			if err := h.unmount(); err != nil {
				errs = append(errs, err)
			}
			if err := deleteNetns(ctx, h.Netns); err != nil {
				errs = append(errs, err)
			}
		}
		if c.tag != "" {
			// Deleting the hub would remove the uplink too, but only once the
			// kernel gets round to it; remove it now so its address is free.
			if _, err := os.Stat("/sys/class/net/" + c.uplink()); err == nil {
				if _, err := run(ctx, "ip", "link", "del", c.uplink()); err != nil {
					errs = append(errs, err)
				}
			}
			if err := deleteNetns(ctx, c.hubName()); err != nil {
				errs = append(errs, err)
			}
		}
		if c.unlock != nil {
			c.unlock()
		}
		if c.ownDir && len(errs) == 0 {
			if err := os.RemoveAll(c.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		c.closeErr = errors.Join(errs...)
		if c.closeErr != nil {
			c.closeErr = fmt.Errorf("testhost: close: %w", c.closeErr)
		}
	})
	return c.closeErr
}

// Stop makes the host unreachable mid-test: its sshd (for Debian hosts:
// everything running inside it) is killed, while its namespace, address and
// files stay, so that new connections are refused. Start brings it back.
func (h *Host) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.stop(ctx)
}

// Start restarts the sshd of a stopped or unreachable host and waits until it
// accepts connections. It works only in the process that created the cluster.
func (h *Host) Start(ctx context.Context) error {
	return h.start(ctx, h.cluster.owner == 0)
}

func (h *Host) stop(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Reachable = false
	wasRunning := h.proc != nil
	if h.proc != nil {
		_ = h.proc.Signal(syscall.SIGKILL)
		if h.waitErr != nil {
			select {
			case <-h.waitErr:
			case <-time.After(10 * time.Second):
			}
		}
		h.proc = nil
	}
	// Sessions (and daemons a play started) are not children of the process
	// above on shared hosts: kill whatever is left in the namespace.
	if err := killNetnsProcs(ctx, h.Netns); err != nil {
		return err
	}
	if !wasRunning {
		return nil
	}
	return h.waitPort(ctx, 5*time.Second, false)
}

// killNetnsProcs SIGKILLs every process in network namespace ns and waits
// (briefly) until they are gone.
func killNetnsProcs(ctx context.Context, ns string) error {
	for attempt := 0; attempt < 100; attempt++ {
		out, err := run(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			if strings.Contains(err.Error(), "No such file") || strings.Contains(err.Error(), "Invalid") {
				return nil
			}
			return fmt.Errorf("testhost: %w", err)
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("testhost: processes in %s survive SIGKILL", ns)
}

func deleteNetns(ctx context.Context, ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
		return fmt.Errorf("testhost: %w", err)
	}
	return nil
}
