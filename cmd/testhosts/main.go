// Command testhosts makes disposable SSH test hosts on this machine (as
// root: network namespaces with their own address and sshd) for the demo
// in the README, and removes them again:
//
//	testhosts up   -dir .cache/demo/hosts -n 3    # prints the hosts, writes a 3-tier spec
//	testhosts down -dir .cache/demo/hosts
//
// The hosts share this machine's filesystem: they are for the recording
// test roles, not for installing Eden (see internal/installtest for that).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/edendeploy/edendeploy/internal/testhost"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testhosts:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg + " (usage: testhosts up|down -dir DIR [-n N])" }

func run(args []string) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".cache/demo/hosts", "directory that holds the cluster's state and key")
	n := fs.Int("n", 3, "number of hosts (up)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "up":
		return up(ctx, abs, *n)
	case "down":
		return down(abs)
	}
	return usageError{"unknown command " + args[0]}
}

func up(ctx context.Context, dir string, n int) error {
	if n < 3 {
		return usageError{"a 3-tier demo needs at least 3 hosts"}
	}
	if c, err := testhost.Load(dir); err == nil {
		fmt.Printf("hosts already up in %s: %d hosts (testhosts down -dir %s removes them)\n", dir, len(c.Hosts), dir)
		return writeSpec(dir, c)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c, err := testhost.Create(ctx, testhost.Spec{N: n, Dir: dir, Detached: true})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return err
	}
	for _, h := range c.Hosts {
		fmt.Printf("host %s at %s (ssh -i %s root@%s)\n", h.Name, h.Addr, c.KeyPath, h.Addr)
	}
	return writeSpec(dir, c)
}

// writeSpec writes a 3-tier deployment spec for the hosts: db, eden, and
// webserver on the first three, the rest as further eden servers.
func writeSpec(dir string, c *testhost.Cluster) error {
	roles := []string{"db", "eden", "webserver"}
	spec := "# A 3-tier demo deployment on local test hosts (made by testhosts up).\n" +
		"name: Demo relief\nadmin_email: admin@example.org\ntemplate: default\n" +
		"ssh_user: " + c.User + "\nssh_private_key_file: " + c.KeyPath + "\n" +
		"instance:\n  type: prod\nservers:\n"
	for i, h := range c.Hosts {
		role := "eden"
		if i < len(roles) {
			role = roles[i]
		}
		spec += fmt.Sprintf("  - host: %s\n    role: %s\n", h.Addr, role)
	}
	p := filepath.Join(dir, "3-tier.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o600); err != nil {
		return err
	}
	fmt.Printf("spec written to %s\n", p)
	return nil
}

func down(dir string) error {
	c, err := testhost.Load(dir)
	if err != nil {
		return fmt.Errorf("no hosts in %s: %w", dir, err)
	}
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Printf("hosts in %s removed\n", dir)
	return os.RemoveAll(dir)
}
