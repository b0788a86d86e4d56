// Package testhost makes disposable SSH hosts on this machine, for tests that
// need real servers to run Ansible against.
//
// Two kinds of host, one API:
//
//   - Start: hosts that share the machine's filesystem. Each one is a network
//     namespace with its own address, its own UTS namespace (hostname = its
//     Name) and its own sshd. Well under a second for several hosts. Because
//     the filesystem is shared, a test role that records what it saw must
//     write under a per-host path (e.g. one named after inventory_hostname),
//     and nothing a play installs is private to one host.
//   - StartDebian and StartUbuntu: disposable Debian 12 or Ubuntu 24.04
//     servers (Kind Debian, Spec.Distro), each with its own root filesystem
//     (an overlay of a cached debootstrap template), its own network, PID,
//     mount, UTS and IPC namespaces, and sshd as PID 1. There is no init
//     system: packages installed inside start no daemons, and Ansible uses
//     the init.d scripts through its `service` fallback.
//
// Every cluster gets its own /24 in 10.231.0.0/16 and names that carry the
// creating process's PID, so parallel test processes and repeated runs do not
// collide, and Sweep can remove what a crashed run left behind. Hosts of one
// cluster reach each other (they share a bridge); the machine reaches all of
// them; nothing inside reaches beyond the machine (the default route leads to
// a namespace that does not forward). The machine-side address of the subnet
// (Cluster.Gateway, x.x.x.1) is where WithAptProxy listens.
//
// Templates and package layers are cached in $EDEN_TESTHOST_CACHE, by
// default <module root>/.cache/testhost: debian-bookworm and ubuntu-noble,
// each with its own -pkgs-<hash> layers. A second run builds nothing.
//
// Outside of go test (e.g. `make demo-hosts`), a command calls Create with a
// Spec{Dir: ..., Detached: true} and exits; a later one calls Load(dir) and
// Close. Sweep removes what a crashed test process left behind (Create calls
// it too). Create also installs an "unreachable 10.231.0.0/16" route on the
// machine, so that talking to a host of a closed cluster fails on the machine
// instead of leaving it through the default route.
//
// Everything needs root, iproute2, util-linux (nsenter, unshare) and
// openssh-server (sshd, ssh-keygen); StartDebian and StartUbuntu also need
// overlayfs, and debootstrap (only to build a template once; Ubuntu's build
// also needs dpkg-deb and the Ubuntu archive). The testing.TB wrappers
// report a missing prerequisite through testpeer.Missing; Create returns an
// error wrapping ErrMissing instead.
package testhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// Kind says what a host is made of.
type Kind int

const (
	// Shared hosts share the machine's filesystem (Start).
	Shared Kind = iota
	// Debian hosts have their own root filesystem of a Debian-family
	// distribution, Spec.Distro (StartDebian, StartUbuntu).
	Debian
)

func (k Kind) String() string {
	if k == Debian {
		return "debian"
	}
	return "shared"
}

// ErrMissing is wrapped by errors from Create when a prerequisite of this
// machine (root, a command, overlayfs) is missing rather than broken.
var ErrMissing = errors.New("testhost: prerequisite missing")

// Spec says what Create makes. The zero value (plus N) is a cluster of
// shared hosts named h1..hN.
type Spec struct {
	Kind Kind
	// Distro of Debian-kind hosts; the zero value is Debian 12. Shared hosts
	// take none.
	Distro Distro
	// N is the number of hosts, named h1..hN.
	N int
	// Unreachable names hosts that get a namespace and an address but no sshd:
	// connecting to them is refused.
	Unreachable []string
	// Dir holds keys, sshd configs, logs and (for Debian hosts) overlay
	// upper dirs. Empty: a new temporary directory that Close removes.
	Dir string
	// Detached clusters outlive the creating process: their names carry no
	// PID, so Sweep leaves them alone; another process destroys them with
	// Load(Dir) and Close. Pass an explicit Dir.
	Detached bool
	// AptProxy starts a forward proxy for apt (GET/HEAD to the hosts of the
	// distribution's archives only: the Debian mirror, or the Ubuntu archive
	// and security hosts) on Gateway and points each host's apt at it. It
	// lives in the creating process and stops with Close.
	AptProxy bool
	// Packages are installed into a second cached template layer (Debian-kind
	// hosts only, one layer per distribution and list), so roles that install
	// them find them present.
	Packages []string
	// CacheDir holds the templates and package layers. Empty:
	// $EDEN_TESTHOST_CACHE, else <module root>/.cache/testhost, else the user
	// cache dir + /edendeploy/testhost.
	CacheDir string
	// Mirror is the distribution's main archive for debootstrap, the hosts'
	// apt sources and the proxy's allow list. Empty: for Debian, the first
	// Debian mirror in this machine's apt sources, else
	// http://deb.debian.org/debian; for Ubuntu, http://archive.ubuntu.com/ubuntu
	// (security updates come from http://security.ubuntu.com/ubuntu).
	Mirror string
	// Log receives progress lines (template builds). Nil: discarded.
	Log io.Writer
}

// Option changes a Spec for Start and StartDebian.
type Option func(*Spec)

// Unreachable makes the named hosts (e.g. "h3") have an address but no sshd.
func Unreachable(names ...string) Option {
	return func(s *Spec) { s.Unreachable = append(s.Unreachable, names...) }
}

// WithAptProxy lets the hosts' apt reach their distribution's archives
// through a filtering proxy on the cluster's gateway address.
func WithAptProxy() Option { return func(s *Spec) { s.AptProxy = true } }

// WithPackages pre-installs packages of the hosts' distribution into a cached
// template layer (the "fast path": an apt task in a role becomes a no-op).
func WithPackages(pkgs ...string) Option {
	return func(s *Spec) { s.Packages = append(s.Packages, pkgs...) }
}

// EdenPackages is what Eden's roles install on a 3-tier or all-in-one
// server. Pass it as WithPackages(EdenPackages...) so that every test shares
// one cached layer (layers are named after a hash of the list).
var EdenPackages = []string{
	"cron", "git", "nginx", "postgis", "postgresql", "python3-psycopg2",
	"uwsgi", "uwsgi-plugin-python3",
}

// WithMirror overrides the distribution's main archive URL.
func WithMirror(url string) Option { return func(s *Spec) { s.Mirror = url } }

// WithCacheDir overrides where templates and package layers are cached.
func WithCacheDir(dir string) Option { return func(s *Spec) { s.CacheDir = dir } }

// WithDistro makes Debian-kind hosts of distribution d (StartDebian with
// WithDistro(Ubuntu2404) is StartUbuntu).
func WithDistro(d Distro) Option { return func(s *Spec) { s.Distro = d } }

// WithLog sends progress lines (template builds) to w.
func WithLog(w io.Writer) Option { return func(s *Spec) { s.Log = w } }

// Cluster is a set of SSH test hosts made for one test, torn down by
// t.Cleanup (or Close) even when the test fails.
type Cluster struct {
	Hosts []*Host
	// User to log in as: always "root".
	User string
	// KeyPath is the private key file (0600, ed25519) generated for this
	// cluster; every host accepts it.
	KeyPath string
	// PrivateKey is the same key in OpenSSH format.
	PrivateKey []byte
	// Subnet is the cluster's /24, e.g. "10.231.7.0/24".
	Subnet string
	// Gateway is the machine's own address on the subnet, e.g. "10.231.7.1".
	Gateway string
	// Dir holds keys, configs and logs of this cluster.
	Dir string
	// Kind of every host in the cluster.
	Kind Kind
	// Distro of every host, for Kind Debian.
	Distro Distro
	// ProxyURL is the apt proxy ("http://10.231.7.1:PORT") when AptProxy
	// was asked for, else empty.
	ProxyURL string

	tag       string
	owner     int // PID in the names; 0 for detached clusters
	ownDir    bool
	unlock    func()
	proxy     *aptProxy
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Host is one SSH test host.
type Host struct {
	// Name is e.g. "h1", also its hostname (each host has its own UTS
	// namespace).
	Name string
	// Addr is the host's IPv4 address, reachable from this machine and from
	// the other hosts of the cluster, e.g. "10.231.7.2".
	Addr string
	// Port is sshd's port: 22.
	Port int
	// Netns is the name of the host's network namespace (ip netns list).
	Netns string
	// Root is the host's root filesystem as seen from the machine ("/" for
	// shared hosts, the merged overlay for Debian-kind hosts).
	Root string
	// Reachable is false for hosts made Unreachable or stopped.
	Reachable bool

	cluster *Cluster
	dir     string // per-host files on the machine
	mu      sync.Mutex
	proc    *os.Process // sshd (shared) or unshare (Debian); nil when stopped
	waitErr chan error
	mounted bool
}

// Start creates n hosts that share the machine's filesystem (network
// namespace + veth + own sshd per host) and tears them down with t.Cleanup.
// A missing prerequisite skips the test via testpeer.Missing (or fails it
// when EDEN_REQUIRE_PEERS=1).
func Start(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	return start(t, Spec{Kind: Shared, N: n}, opts)
}

// StartDebian creates n disposable Debian 12 servers, each with its own root
// filesystem (overlay of a cached debootstrap template), own network, PID,
// mount, UTS and IPC namespaces and sshd. The first call on a machine builds
// the template (about a minute), later ones start a host in well under a
// second.
func StartDebian(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	return start(t, Spec{Kind: Debian, N: n}, opts)
}

// StartUbuntu creates n disposable Ubuntu 24.04 servers, as StartDebian does
// Debian ones, from a template of their own (built once, about a minute, from
// the Ubuntu archive).
func StartUbuntu(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	return start(t, Spec{Kind: Debian, Distro: Ubuntu2404, N: n}, opts)
}

func start(t testing.TB, spec Spec, opts []Option) *Cluster {
	t.Helper()
	for _, o := range opts {
		o(&spec)
	}
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	if spec.Log == nil {
		spec.Log = tbWriter{t}
	}
	if err := Prerequisites(spec.Kind); err != nil {
		testpeer.Missing(t, "ssh test hosts", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := Create(ctx, spec)
	if c != nil {
		// Registered before any check so that teardown runs whatever happens.
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("testhost: teardown: %v", err)
			}
		})
	}
	if errors.Is(err, ErrMissing) {
		testpeer.Missing(t, "ssh test hosts", err.Error())
	}
	if err != nil {
		t.Fatalf("testhost: %v", err)
	}
	return c
}

type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Host returns the host with the given name, or nil.
func (c *Cluster) Host(name string) *Host {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Reachable returns the hosts whose sshd runs.
func (c *Cluster) Reachable() []*Host {
	var out []*Host
	for _, h := range c.Hosts {
		if h.Reachable {
			out = append(out, h)
		}
	}
	return out
}

// SSHArgs returns the ssh options (before user@host) that log in to any host
// of the cluster with its key, without host key checks or prompts.
func (c *Cluster) SSHArgs() []string {
	return []string{
		"-i", c.KeyPath,
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=5",
		"-o", "LogLevel=ERROR",
	}
}

// Inventory returns an Ansible INI inventory with every host of the cluster
// (unreachable ones too) in group "all", addressed by ansible_host, logging
// in as root with the cluster's key. Write it to a file for -i.
func (c *Cluster) Inventory() string {
	var b strings.Builder
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d\n", h.Name, h.Addr, h.Port)
	}
	fmt.Fprintf(&b, "\n[all:vars]\nansible_user=%s\nansible_ssh_private_key_file=%s\n", c.User, c.KeyPath)
	fmt.Fprintf(&b, "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes'\n")
	fmt.Fprintf(&b, "ansible_python_interpreter=/usr/bin/python3\n")
	return b.String()
}

// WriteInventory writes Inventory to Dir/inventory.ini and returns its path.
func (c *Cluster) WriteInventory() (string, error) {
	p := filepath.Join(c.Dir, "inventory.ini")
	if err := os.WriteFile(p, []byte(c.Inventory()), 0o600); err != nil {
		return "", fmt.Errorf("testhost: write inventory: %w", err)
	}
	return p, nil
}
