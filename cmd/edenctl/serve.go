package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/localplane"
)

func serveCommand(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the local control plane: the API, the run engine and Ansible over SSH",
		Long: `Run the local control plane: the same HTTP API as on AWS, an embedded store
(bbolt), the run state machine on a local engine, and Ansible over SSH from
this machine. On its first start it prints an admin token, also kept (0600)
in <data dir>/admin.token. The web console is served at / beside the API
(--registration lets people register accounts there). SIGINT or SIGTERM stop it gracefully; runs still
running resume on the next start.

Schedules fire while it serves; slots missed while it was stopped fire
once on start (--missed-fires once) or not at all (skip).

With --roles test, the recording test roles install nothing: each host
records under --record-dir what it was given (for demos and tests).

Backups are pulled off the database servers to <data dir>/offsite and kept
as --backup-retention says (the servers keep the same). With
--backup-mirror-endpoint and --backup-mirror-bucket, an S3-compatible
endpoint gets a copy of each too, signed with $AWS_ACCESS_KEY_ID and
$AWS_SECRET_ACCESS_KEY.`,
		Example: `  edenctl serve
  edenctl serve --data-dir /srv/edendeploy --addr 127.0.0.1:9090
  edenctl serve --registration
  edenctl serve --roles test --record-dir /tmp/record
  edenctl serve --backup-retention 14d8w --backup-mirror-endpoint https://s3.example.org --backup-mirror-bucket eden-backups`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.dataDir, "data-dir", a.getenv("EDEN_DATA_DIR"), "where the store, secrets and logs are kept, a `DIR` (env EDEN_DATA_DIR; default $XDG_DATA_HOME/edendeploy or ~/.local/share/edendeploy)")
	fs.StringVar(&o.addr, "addr", envOr(a.getenv, "EDEN_ADDR", "127.0.0.1:8080"), "the `HOST:PORT` to serve the API on (env EDEN_ADDR)")
	fs.StringVar(&o.roles, "roles", "real", "the Ansible roles: real, or test (they record what they receive and install nothing)")
	fs.StringVar(&o.recordDir, "record-dir", "", "where the test roles record what each host received, a `DIR`")
	fs.DurationVar(&o.stepTimeout, "step-timeout", 60*time.Minute, "the longest one step of a run may take")
	fs.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "how often a running step must show it is alive")
	fs.BoolVar(&o.verbose, "verbose", false, "log at debug level")
	fs.StringVar(&o.ansiblePlaybook, "ansible-playbook", "", "the ansible-playbook `PATH` to run (default: the one on $PATH)")
	fs.StringVar(&o.backupRetention, "backup-retention", deploy.DefaultRetention.String(), "how many backups of each instance are kept: the newest of `NdMw` N days and M ISO weeks")
	fs.StringVar(&o.mirrorEndpoint, "backup-mirror-endpoint", "", "the `URL` of an S3-compatible endpoint that keeps a further copy of every backup")
	fs.StringVar(&o.mirrorBucket, "backup-mirror-bucket", "", "the mirror's `BUCKET`")
	fs.StringVar(&o.mirrorRegion, "backup-mirror-region", "us-east-1", "the mirror's `REGION`")
	fs.StringVar(&o.missedFires, "missed-fires", "once", "schedule slots missed while stopped: once (fire each such schedule once on start) or skip")
	fs.DurationVar(&o.webhookBackoff, "webhook-backoff", 0, "the wait after a webhook delivery's first failed attempt, doubling after each (default 10s)")
	fs.BoolVar(&o.registration, "registration", false, "let people register accounts in the web console (an admin approves each)")
	fs.StringVar(&o.runner, "runner", "ssh", "how steps run: ssh (Ansible over SSH), or instant (every step succeeds at once and nothing runs: for benchmarks of the control plane)")
	_ = cmd.MarkFlagDirname("data-dir")
	_ = cmd.MarkFlagDirname("record-dir")
	return cmd
}

// serveOptions are the flags of edenctl serve.
type serveOptions struct {
	dataDir, addr, roles, recordDir string
	stepTimeout, heartbeat          time.Duration
	verbose                         bool
	ansiblePlaybook                 string
	backupRetention                 string
	mirrorEndpoint, mirrorBucket    string
	mirrorRegion                    string
	missedFires                     string
	webhookBackoff                  time.Duration
	registration                    bool
	runner                          string
}

// serve runs the local control plane (assembled in internal/localplane)
// until interrupted (SIGINT or SIGTERM): then it stops taking requests,
// lets those in flight finish, and leaves running runs to resume on the
// next start.
func (a *app) serve(ctx context.Context, o serveOptions) error {
	if o.dataDir == "" {
		o.dataDir = a.defaultDataDir()
		if o.dataDir == "" {
			return usagef("serve needs --data-dir (or $EDEN_DATA_DIR, $XDG_DATA_HOME or $HOME)")
		}
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	cfg := localplane.Config{
		DataDir: o.dataDir, Addr: o.addr, Stdout: a.stdout, StepTimeout: o.stepTimeout, Heartbeat: o.heartbeat,
		AnsiblePlaybook: o.ansiblePlaybook, Registration: o.registration, MissedFires: o.missedFires, WebhookBackoff: o.webhookBackoff,
		Log: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})),
	}
	switch o.runner {
	case "ssh":
	case "instant":
		// Every step succeeds at once and nothing runs: benchmarks of the
		// control plane alone (make bench-compare).
		cfg.InstantRunner = true
		fmt.Fprintln(a.stderr, "edenctl: serving with the instant runner: every step succeeds at once and nothing is deployed (for benchmarks)")
	default:
		return usagef("--runner is ssh or instant, not %q", o.runner)
	}
	retention, err := deploy.ParseRetention(o.backupRetention)
	if err != nil {
		return usagef("--backup-retention: %v", err)
	}
	cfg.BackupRetention = retention
	if (o.mirrorEndpoint == "") != (o.mirrorBucket == "") {
		return usagef("--backup-mirror-endpoint and --backup-mirror-bucket go together")
	}
	if o.mirrorEndpoint != "" {
		cfg.BackupMirror = &localplane.Mirror{Endpoint: o.mirrorEndpoint, Bucket: o.mirrorBucket, Region: o.mirrorRegion,
			AccessKeyID: a.getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: a.getenv("AWS_SECRET_ACCESS_KEY")}
	}
	switch o.roles {
	case "real":
		if o.recordDir != "" {
			return usagef("--record-dir is for --roles test")
		}
	case "test":
		// The recording roles install nothing: for demos and tests.
		if o.recordDir == "" {
			return usagef("--roles test needs --record-dir, where the roles record what they receive")
		}
		cfg.Roles = localplane.TestRoles()
		cfg.ExtraVars = map[string]string{"eden_record_dir": o.recordDir}
		fmt.Fprintf(a.stderr, "edenctl: serving with the recording test roles: nothing is installed, each host records what it received under %s\n", o.recordDir)
	default:
		return usagef("--roles is real or test, not %q", o.roles)
	}
	return localplane.Run(ctx, cfg)
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
