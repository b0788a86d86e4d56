package main

import (
	"context"
	"errors"
	"flag"
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

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	httpc          *http.Client
	// poll is how often a follower re-reads the run's status.
	poll time.Duration
	// now is the clock for elapsed times.
	now func() time.Time
}

// usageError is a mistake on the command line: exit 2 with usage.
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

const usage = `usage: edenctl [global flags] <command> [arguments]

commands:
  deployment create -f SPEC.yaml [--dry-run] [--wait]
  deployment list
  deployment show ID
  deployment delete ID
  instance add DEPLOYMENT TYPE [--url URL] [--dry-run] [--wait]
  task run DEPLOYMENT INSTANCE TASK [--confirm NAME] [--dry-run] [--wait]
      TASK is clean, pull, restart, backup or deploy
  config get DEPLOYMENT INSTANCE
  config set DEPLOYMENT INSTANCE KEY=VALUE... [--dry-run] [--wait]
  config edit DEPLOYMENT INSTANCE [--dry-run] [--wait]
  runs DEPLOYMENT
  run show DEPLOYMENT RUN
  run cancel DEPLOYMENT RUN
  logs [-f] DEPLOYMENT RUN
  token create --user USER [--admin] [--name NAME]
  schedule add DEPLOYMENT INSTANCE TASK --cron "EXPR" [--tz ZONE]
      TASK is backup, pull, restart, reconfigure or clean (not of prod)
  schedule list DEPLOYMENT
  schedule pause|resume|delete DEPLOYMENT SCHEDULE
  webhook add DEPLOYMENT URL        prints the signing secret, once
  webhook list DEPLOYMENT
  webhook delete DEPLOYMENT WEBHOOK
  webhook deliveries DEPLOYMENT WEBHOOK
  serve [--data-dir DIR] [--addr HOST:PORT] [--roles real|test --record-dir DIR] [--missed-fires once|skip]
      the local control plane (env EDEN_DATA_DIR, EDEN_ADDR); test roles install nothing

global flags (also accepted after the command):
  --endpoint URL   the API (env EDEN_ENDPOINT; default http://127.0.0.1:8080)
  --token TOKEN    the bearer token (env EDEN_TOKEN, or $XDG_CONFIG_HOME/edenctl/token)
  --output FORMAT  table, json or yaml (default table)

exit status: 0 success, 1 a run failed or the API refused, 2 usage error
`

// command is one subcommand.
type command struct {
	name string
	run  func(ctx context.Context, a *app, args []string) error
}

func commands() map[string][]command {
	return map[string][]command{
		"deployment": {{"create", cmdDeploymentCreate}, {"list", cmdDeploymentList}, {"show", cmdDeploymentShow}, {"delete", cmdDeploymentDelete}},
		"instance":   {{"add", cmdInstanceAdd}},
		"task":       {{"run", cmdTaskRun}},
		"config":     {{"get", cmdConfigGet}, {"set", cmdConfigSet}, {"edit", cmdConfigEdit}},
		"run":        {{"show", cmdRunShow}, {"cancel", cmdRunCancel}},
		"token":      {{"create", cmdTokenCreate}},
		"schedule": {{"add", cmdScheduleAdd}, {"list", cmdScheduleList}, {"pause", cmdSchedulePause},
			{"resume", cmdScheduleResume}, {"delete", cmdScheduleDelete}},
		"webhook": {{"add", cmdWebhookAdd}, {"list", cmdWebhookList}, {"delete", cmdWebhookDelete}, {"deliveries", cmdWebhookDeliveries}},
		// Groups of one command take no subcommand name.
		"runs":  {{"", cmdRuns}},
		"logs":  {{"", cmdLogs}},
		"serve": {{"", cmdServe}},
	}
}

// run is edenctl with its arguments, streams and environment: main's whole
// job, and what the tests call.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		httpc: &http.Client{}, poll: time.Second, now: time.Now}
	return a.main(ctx, args)
}

func (a *app) main(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	var ue *usageError
	var rf *runFailedError
	var ae *apiError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(a.stdout, usage)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "edenctl: %s\n\n%s", ue.msg, usage)
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

func (a *app) dispatch(ctx context.Context, args []string) error {
	// Global flags before the command.
	fs := a.flags("edenctl")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) == 0 {
		return usagef("no command given")
	}
	if args[0] == "help" {
		return flag.ErrHelp
	}
	group, ok := commands()[args[0]]
	if !ok {
		return usagef("unknown command %q", args[0])
	}
	if len(group) == 1 && group[0].name == "" {
		return group[0].run(ctx, a, args[1:])
	}
	if len(args) < 2 {
		return usagef("%s needs a subcommand", args[0])
	}
	for _, c := range group {
		if c.name == args[1] {
			return c.run(ctx, a, args[2:])
		}
	}
	return usagef("unknown command %q %q", args[0], args[1])
}

// flags returns a flag set with the global flags bound to a, so that they
// are accepted before and after a command.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.endpoint, "endpoint", a.endpointDefault(), "")
	fs.StringVar(&a.token, "token", a.tokenDefault(), "")
	fs.StringVar(&a.output, "output", a.outputDefault(), "")
	return fs
}

func (a *app) endpointDefault() string {
	if a.endpoint != "" {
		return a.endpoint
	}
	if v := a.getenv("EDEN_ENDPOINT"); v != "" {
		return v
	}
	return "http://127.0.0.1:8080"
}

func (a *app) outputDefault() string {
	if a.output != "" {
		return a.output
	}
	return "table"
}

func (a *app) tokenDefault() string {
	if a.token != "" {
		return a.token
	}
	return a.getenv("EDEN_TOKEN")
}

// resolveToken falls back to $XDG_CONFIG_HOME/edenctl/token (or
// ~/.config/edenctl/token) when neither --token nor EDEN_TOKEN gave one.
func (a *app) resolveToken() string {
	if a.token != "" {
		return a.token
	}
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	b, err := os.ReadFile(filepath.Join(dir, "edenctl", "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// parse parses a command's flags and positional arguments in any order and
// checks the number of positional arguments (max < 0: no limit).
func (a *app) parse(fs *flag.FlagSet, args []string, min, max int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch a.output {
	case "table", "json", "yaml":
	default:
		return nil, usagef("--output must be table, json or yaml, not %q", a.output)
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		return nil, usagef("usage: edenctl %s %s", fs.Name(), names)
	}
	return pos, nil
}

// runFlags are the flags of every command that starts a run.
type runFlags struct{ dryRun, wait bool }

func (rf *runFlags) bind(fs *flag.FlagSet) {
	fs.BoolVar(&rf.dryRun, "dry-run", false, "")
	fs.BoolVar(&rf.wait, "wait", false, "")
}
