// Command edenctl is Eden Deploy's command-line client, and with `edenctl
// serve` its local control plane.
//
//	edenctl [--endpoint URL] [--token T] [--output table|json|yaml] <command> ...
//
// Its commands are a tree of github.com/spf13/cobra commands (root.go),
// one file per command or group; `edenctl <command> --help` tells about
// each. Exit codes: 0 success, 1 a run failed or the API refused, 2 a
// usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
