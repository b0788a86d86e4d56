package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a run failed, or the API refused
	exitUsage  = 2
)

// app is one invocation: the global options and where output goes.
type app struct {
	endpoint string
	token    string
	output   string
	// quiet prints only IDs, one a line, whatever output says.
	quiet bool
	// contextName is --context: the context file's entry to use.
	contextName string
	// warnedMode is set once the context file's loose mode was reported.
	warnedMode bool
	// resolved is set once resolve ran.
	resolved bool

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	httpc          *http.Client
	// poll is how often a follower re-reads the run's status.
	poll time.Duration
	// now is the clock for elapsed times.
	now func() time.Time
}

// usageError is a mistake on the command line: exit 2 with the command's
// usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// runFailedError ends a command whose run did not succeed: exit 1.
type runFailedError struct{ status, reason string }

func (e *runFailedError) Error() string {
	if e.reason != "" {
		return "the run " + e.status + ": " + e.reason
	}
	return "the run " + e.status
}

// run is edenctl with its arguments, streams and environment: main's whole
// job, and what the tests call.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		httpc: &http.Client{}, poll: time.Second, now: time.Now}
	return a.main(ctx, args)
}

// main runs the command args name and turns its outcome into an exit code,
// printing what went wrong on stderr.
func (a *app) main(ctx context.Context, args []string) int {
	root := newRoot(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ue *usageError
	var rf *runFailedError
	var ae *apiError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(a.stderr, "edenctl: %s\n\n%s", ue.msg, cmd.UsageString())
		return exitUsage
	case errors.As(err, &rf):
		fmt.Fprintf(a.stderr, "edenctl: %s\n", rf)
		return exitFailed
	case errors.As(err, &ae):
		ae.print(a.stderr)
		return exitFailed
	}
	fmt.Fprintf(a.stderr, "edenctl: %v\n", err)
	return exitFailed
}

// resolve settles the global options once the command line is parsed:
// the endpoint and token (where), and the output format.
func (a *app) resolve() error {
	if a.resolved {
		return nil
	}
	a.resolved = true
	if err := a.where(); err != nil {
		return err
	}
	if a.output == "" {
		a.output = "table"
	}
	switch a.output {
	case "table", "json", "yaml":
	default:
		return usagef("--output must be table, json or yaml, not %q", a.output)
	}
	return nil
}

// resolveToken falls back to $XDG_CONFIG_HOME/edenctl/token (or
// ~/.config/edenctl/token) when neither --token nor EDEN_TOKEN gave one.
func (a *app) resolveToken() string {
	if a.token != "" {
		return a.token
	}
	dir := a.configDir()
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// configDir is $XDG_CONFIG_HOME/edenctl, or ~/.config/edenctl; "" when
// neither variable is set.
func (a *app) configDir() string {
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "edenctl")
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
