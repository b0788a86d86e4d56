package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edendeploy/edendeploy/internal/localplane"
)

// cmdServe runs the local control plane (assembled in internal/localplane)
// until interrupted (SIGINT or SIGTERM): then it stops taking requests,
// lets those in flight finish, and leaves running runs to resume on the
// next start.
func cmdServe(ctx context.Context, a *app, args []string) error {
	fs := a.flags("serve")
	dataDir := fs.String("data-dir", a.getenv("EDEN_DATA_DIR"), "")
	addr := fs.String("addr", envOr(a.getenv, "EDEN_ADDR", "127.0.0.1:8080"), "")
	roles := fs.String("roles", "real", "")
	recordDir := fs.String("record-dir", "", "")
	stepTimeout := fs.Duration("step-timeout", 60*time.Minute, "")
	heartbeat := fs.Duration("heartbeat", 30*time.Second, "")
	verbose := fs.Bool("verbose", false, "")
	ansiblePlaybook := fs.String("ansible-playbook", "", "")
	missedFires := fs.String("missed-fires", "once", "")
	webhookBackoff := fs.Duration("webhook-backoff", 0, "")
	if _, err := a.parse(fs, args, 0, 0, "[--data-dir DIR] [--addr HOST:PORT] [--roles real|test --record-dir DIR] [--step-timeout D] [--ansible-playbook PATH] [--missed-fires once|skip] [--webhook-backoff D] [--verbose]"); err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = a.defaultDataDir()
		if *dataDir == "" {
			return usagef("serve needs --data-dir (or $EDEN_DATA_DIR, $XDG_DATA_HOME or $HOME)")
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := localplane.Config{
		DataDir: *dataDir, Addr: *addr, Stdout: a.stdout, StepTimeout: *stepTimeout, Heartbeat: *heartbeat,
		AnsiblePlaybook: *ansiblePlaybook, MissedFires: *missedFires, WebhookBackoff: *webhookBackoff,
		Log: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})),
	}
	switch *roles {
	case "real":
		if *recordDir != "" {
			return usagef("--record-dir is for --roles test")
		}
	case "test":
		// The recording roles install nothing: for demos and tests.
		if *recordDir == "" {
			return usagef("--roles test needs --record-dir, where the roles record what they receive")
		}
		cfg.Roles = localplane.TestRoles()
		cfg.ExtraVars = map[string]string{"eden_record_dir": *recordDir}
		fmt.Fprintf(a.stderr, "edenctl: serving with the recording test roles: nothing is installed, each host records what it received under %s\n", *recordDir)
	default:
		return usagef("--roles is real or test, not %q", *roles)
	}
	return localplane.Run(ctx, cfg)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $XDG_DATA_HOME/edendeploy, or ~/.local/share/edendeploy.
func (a *app) defaultDataDir() string {
	if d := a.getenv("XDG_DATA_HOME"); d != "" {
		return d + "/edendeploy"
	}
	if h := a.getenv("HOME"); h != "" {
		return h + "/.local/share/edendeploy"
	}
	return ""
}
