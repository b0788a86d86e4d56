// Package testpeer decides what a test does when an outside peer it needs
// (ansible-playbook, SSH test hosts, dynalite, root privileges, ...) is missing.
//
// Plain `go test ./...` needs nothing but Go, so such a test skips with a
// message naming the peer. `make test` sets EDEN_REQUIRE_PEERS=1, which turns
// every such skip into a failure: CI can never pass by skipping.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// EnvRequire is the environment variable that makes missing peers fatal.
const EnvRequire = "EDEN_REQUIRE_PEERS"

// Required reports whether missing peers must fail the test run.
func Required() bool {
	v := os.Getenv(EnvRequire)
	return v != "" && v != "0" && v != "false"
}

// Missing skips the test, or fails it when peers are required, saying which
// peer is missing and why.
func Missing(t testing.TB, peer string, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("peer %s is required (%s=1) but missing: %s", peer, EnvRequire, reason)
	}
	t.Skipf("skipping: peer %s is missing: %s (set %s=1 to make this a failure)", peer, reason, EnvRequire)
}

// LookPath returns the path of the executable name, or calls Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, err.Error())
	}
	return p
}

// Root calls Missing unless the test runs as root (network namespaces,
// chroot and sshd need it).
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", "this test creates network namespaces and must run as root")
	}
}
