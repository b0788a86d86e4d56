// Package localplane assembles Eden Deploy's local control plane, the one
// `edenctl serve` runs: the bbolt store, the local ASL engine running
// statemachine/run.asl.json (its journal in the same file), the SSH runner
// with run logs on disk, directory blobs, 0600-file secrets, and the HTTP
// API with local bearer tokens — all in one process, all data in one
// directory. The web console (internal/console) is served at "/" beside
// the API:
//
//	<data>/edendeploy.db   deployments, runs, tokens, accounts, idempotency keys, schedules
//	                       and their fires, webhooks and their deliveries, workflow journal
//	<data>/blobs/          rendered bundles
//	<data>/secrets/        database and admin passwords, HMAC and SSH keys (0600)
//	<data>/logs/           run logs
//	<data>/runner/         per-step working directories and known_hosts
//	<data>/offsite/        backups kept off the database servers, pulled over
//	                       the runner's SSH connection: backups/<deployment>/<type>/<dump>
//	<data>/fleet.json      the local fleet: group tags and instance addresses
//	                       that lifecycle events refer to (admin API)
//	<data>/admin.token     the first admin token (0600), written on first start
//
// Schedules fire from the store (trigger/local); run ends and abandoned
// lifecycle actions are delivered to webhooks by the notify state machine
// on the same engine (internal/notify).
//
// On start it resumes every execution that was running when the process
// last stopped; on shutdown it stops taking requests, lets requests in
// flight finish, and leaves running executions to resume next time.
package localplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/auth"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/console"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	localfleet "github.com/edendeploy/edendeploy/internal/fleet/local"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/runcost"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner/instant"
	"github.com/edendeploy/edendeploy/internal/runner/ssh"
	secretfile "github.com/edendeploy/edendeploy/internal/secrets/file"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	"github.com/edendeploy/edendeploy/internal/tasks"
	triggerlocal "github.com/edendeploy/edendeploy/internal/trigger/local"
	"github.com/edendeploy/edendeploy/internal/workflow"
	"github.com/edendeploy/edendeploy/internal/workflow/asl"
	"github.com/edendeploy/edendeploy/statemachine"
)

// Config configures the local control plane.
type Config struct {
	// DataDir holds everything the plane keeps (see the package doc).
	DataDir string
	// Addr is the listen address; default 127.0.0.1:8080.
	Addr string
	// Stdout gets the greeting: the URL and, on first start, the admin
	// token. Default os.Stdout.
	Stdout io.Writer
	Log    *slog.Logger
	// Roles, when set, replaces the real Ansible roles (tests and demos use
	// ansible.TestRoles(), which only record what they receive).
	Roles fs.FS
	// ExtraVars are fixed extra vars of ours for every Ansible run (e.g.
	// eden_record_dir for the test roles). Never user values.
	ExtraVars map[string]string
	// StepTimeout bounds one step; default 60 minutes.
	StepTimeout time.Duration
	// Retention is how long finished runs are kept; default 90 days.
	Retention time.Duration
	// Heartbeat is how often a running step heartbeats; default 30 s.
	Heartbeat time.Duration
	// AnsiblePlaybook is the ansible-playbook to run; default the one in
	// /usr/local/bin:/usr/bin:/bin.
	AnsiblePlaybook string
	// BackupRetention is how many backups are kept, on the database
	// servers and off them; zero means deploy.DefaultRetention.
	BackupRetention deploy.Retention
	// BackupMirror, when set, gets a further copy of every backup.
	BackupMirror *Mirror
	// MissedFires is the policy for schedule slots missed while the plane
	// was down: "once" (default) or "skip" (trigger/local).
	MissedFires string
	// WebhookBackoff is the wait after a webhook delivery's first failed
	// attempt (doubling after each later one); default notify's 10 s.
	WebhookBackoff time.Duration
	// Registration lets anyone register a local account from the web
	// console (or POST /v1/accounts); an admin approves it before it may
	// sign in. Off by default.
	Registration bool
	// BcryptCost is the cost of account password hashes; default
	// bcrypt's (tests lower it).
	BcryptCost int
	// InstantRunner replaces Ansible over SSH with a runner that completes
	// every step at once, running nothing (internal/runner/instant): for
	// benchmarks of the control plane alone.
	InstantRunner bool
}

// Plane is a running local control plane.
type Plane struct {
	cfg     Config
	store   *bolt.Store
	engine  *asl.Engine
	runner  *ssh.Runner     // nil with InstantRunner
	instant *instant.Runner // nil without
	logs    *runlog.Store
	tokens  *auth.Tokens
	sched   *triggerlocal.Scheduler
	handler http.Handler
	log     *slog.Logger
	// sweep stops the journal's sweeper; swept is closed when it has.
	sweep, swept chan struct{}
}

// New opens (or creates) the data directory and assembles the plane. Runs
// that were in flight when the plane last stopped resume.
func New(ctx context.Context, cfg Config) (p *Plane, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("localplane: a data directory is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 60 * time.Minute
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 90 * 24 * time.Hour
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("localplane: data directory: %w", err)
	}
	cfg.DataDir = abs
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("localplane: data directory: %w", err)
	}
	p = &Plane{cfg: cfg, log: cfg.Log}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.store, err = bolt.Open(filepath.Join(cfg.DataDir, "edendeploy.db"), bolt.Options{Retention: cfg.Retention}); err != nil {
		return nil, err
	}
	blobs, err := blobfs.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, err
	}
	secrets, err := secretfile.Open(filepath.Join(cfg.DataDir, "secrets"))
	if err != nil {
		return nil, err
	}
	if p.logs, err = runlog.Open(filepath.Join(cfg.DataDir, "logs")); err != nil {
		return nil, err
	}

	// The engine and the runner signal each other: the runner reports a
	// step's end to the engine, the engine's tasks dispatch to the runner.
	signals := &lateSignaler{}
	bk, err := newBackups(cfg, p.store)
	if err != nil {
		return nil, err
	}
	extraVars := map[string]string{PullDirVar: offsiteDir(cfg.DataDir)}
	for k, v := range cfg.ExtraVars {
		extraVars[k] = v
	}
	var run deploy.Runner
	if cfg.InstantRunner {
		p.instant = instant.New(signals, cfg.Log)
		run = p.instant
	} else {
		if p.runner, err = ssh.New(ssh.Config{
			DataDir: filepath.Join(cfg.DataDir, "runner"), Blobs: blobs, Secrets: secrets, Log: p.logs,
			Signaler: signals, ExtraVars: extraVars, Heartbeat: cfg.Heartbeat, AnsiblePlaybook: cfg.AnsiblePlaybook,
			DefaultTimeout: cfg.StepTimeout, Logger: cfg.Log,
		}); err != nil {
			return nil, err
		}
		run = p.runner
	}
	lifecycleDone := &lifecycleRecorder{log: cfg.Log}
	// Notices of run ends start the notify state machine on the engine
	// (late: the engine is built below, after the task functions).
	late := &lateEngine{}
	notifier := &notify.Notifier{Publisher: &notify.WorkflowPublisher{Engine: late, Machine: statemachine.NotifyMachine},
		Deployments: p.store, BaseURL: "http://" + cfg.Addr, Log: cfg.Log}
	runEnded := func(ctx context.Context, r *deploy.Run) {
		p.closeLog(r.ID)
		notifier.RunEnded(ctx, r)
	}
	tk, err := tasks.New(tasks.Config{
		Store: p.store, Blobs: blobs, Runner: run,
		Renderer:  playbook.Renderer{Options: playbook.Options{Roles: cfg.Roles, Backups: playbook.BackupOptions{Retention: cfg.BackupRetention}}},
		Lifecycle: lifecycleDone, Backups: bk,
		StepTimeout: cfg.StepTimeout, Log: cfg.Log,
		RunEnded: runEnded,
		LifecycleCompleted: func(ctx context.Context, r *deploy.Run, result string) {
			if result == "ABANDON" {
				notifier.LifecycleAbandoned(ctx, r.DeploymentID, *r.Lifecycle, r, "")
			}
		},
	})
	if err != nil {
		return nil, err
	}
	deliveries, err := notify.NewDeliveries(notify.DeliveryConfig{Webhooks: p.store, Secrets: secrets, Backoff: cfg.WebhookBackoff, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	reg := asl.NewRegistry()
	subs := map[string]string{}
	handlers := tk.Handlers()
	for name, fn := range deliveries.Handlers() {
		handlers[name] = fn
	}
	for name, fn := range handlers {
		if err := reg.Register(name, fn); err != nil {
			return nil, fmt.Errorf("localplane: register %s: %w", name, err)
		}
		subs[name] = name
	}
	journal, err := asl.NewBoltJournal(p.store.DB(), "workflow-")
	if err != nil {
		return nil, err
	}
	// The engine's commits share the store's transactions (group commit).
	journal.CommitWith(p.store.Update)
	// Each run gets the transitions its execution made once it has ended.
	cost := &runcost.Recorder{Runs: p.store, Log: cfg.Log}
	ended := func(x workflow.Execution) {
		if x.Machine != statemachine.RunMachine {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := cost.Record(ctx, x.Input, x.Transitions); err != nil {
			cfg.Log.Error("could not record a run's transitions", "execution", x.ID, "err", err)
		}
	}
	if p.engine, err = asl.New(asl.Config{Registry: reg, Journal: journal, Substitutions: subs, Logger: cfg.Log, OnEnd: ended}); err != nil {
		return nil, err
	}
	if err := p.engine.Load(statemachine.RunMachine, statemachine.Run); err != nil {
		return nil, fmt.Errorf("localplane: load the run state machine: %w", err)
	}
	if err := p.engine.Load(statemachine.NotifyMachine, statemachine.Notify); err != nil {
		return nil, fmt.Errorf("localplane: load the notify state machine: %w", err)
	}
	signals.set(p.engine)
	late.set(p.engine)
	firer := &lateFirer{}
	if p.sched, err = triggerlocal.New(triggerlocal.Config{Store: p.store, Firer: firer, Policy: triggerlocal.Policy(cfg.MissedFires), Log: cfg.Log}); err != nil {
		return nil, fmt.Errorf("localplane: %w", err)
	}

	svc, err := control.New(control.Config{
		Store: p.store, Secrets: secrets, Blobs: blobs, Workflow: p.engine, Runner: run,
		Machine: statemachine.RunMachine, Log: cfg.Log, Backups: bk,
		RunEnded:  runEnded,
		Schedules: p.store, Webhooks: p.store, Trigger: p.sched, Self: []string{"http://" + cfg.Addr},
	})
	if err != nil {
		return nil, err
	}
	firer.set(svc)
	if p.tokens, err = auth.NewTokens(p.store, time.Now); err != nil {
		return nil, err
	}
	accounts, err := auth.NewAccounts(auth.AccountsConfig{Store: p.store, Tokens: p.tokens, Registration: cfg.Registration, BcryptCost: cfg.BcryptCost})
	if err != nil {
		return nil, err
	}
	fleet := localfleet.Open(filepath.Join(cfg.DataDir, "fleet.json"))
	api, err := httpapi.New(httpapi.Config{
		Service: svc, Auth: p.tokens, Idempotency: p.store, Tokens: p.tokens,
		Logs: &runLogs{logs: p.logs, runs: p.store}, Log: cfg.Log,
		Lifecycle: &lifecycle.Handler{Fleet: fleet, Scaler: svc, Completer: lifecycleDone, Log: cfg.Log,
			Abandoned: func(ctx context.Context, depID string, a deploy.LifecycleAction, reason string) {
				notifier.LifecycleAbandoned(ctx, depID, a, nil, reason)
			}},
		Fleet:     fleet,
		Backups:   svc,
		Accounts:  accounts,
		Schedules: svc,
		Webhooks:  svc,
	})
	if err != nil {
		return nil, err
	}
	web, err := console.New(console.Config{Plane: "local", Local: &console.Local{Accounts: true, Registration: cfg.Registration}})
	if err != nil {
		return nil, err
	}
	p.handler = console.Mount(api, web)
	p.sweepJournal(journal, cfg.Retention)
	n, err := p.engine.Resume(ctx)
	if err != nil {
		return nil, fmt.Errorf("localplane: resume runs: %w", err)
	}
	if n > 0 {
		cfg.Log.InfoContext(ctx, "resumed runs that were in flight", "count", n)
	}
	// Steps whose Ansible ran when the plane last stopped are dispatched
	// again (the state machine retries on RunnerLost).
	if p.runner == nil {
		return p, nil
	}
	if lost, err := p.runner.Recover(ctx); err != nil {
		cfg.Log.ErrorContext(ctx, "could not report every lost step; they fail when their heartbeat times out", "err", err)
	} else if lost > 0 {
		cfg.Log.InfoContext(ctx, "steps lost by the last stop are dispatched again", "count", lost)
	}
	return p, nil
}

// Handler is the HTTP API under /v1 and the web console beside it.
func (p *Plane) Handler() http.Handler { return p.handler }

// Serve greets on Stdout and serves the API on cfg.Addr until ctx ends;
// then it stops taking requests, waits (up to 20 s) for those in flight,
// and closes the plane. Running executions resume on the next start.
func (p *Plane) Serve(ctx context.Context) error {
	defer p.close()
	ln, err := net.Listen("tcp", p.cfg.Addr)
	if err != nil {
		return fmt.Errorf("localplane: listen: %w", err)
	}
	if err := p.greet(ctx, "http://"+ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Schedules fire while the plane serves; the first pass applies the
	// missed-fire policy.
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); p.sched.Run(schedCtx) }()
	defer func() { stopSched(); <-schedDone }()
	select {
	case err := <-errc:
		return fmt.Errorf("localplane: serve: %w", err)
	case <-ctx.Done():
	}
	p.log.Info("shutting down: no new requests; runs in flight resume on the next start")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	return nil
}

// greet prints the URL and, the first time, creates and prints the admin
// token (also kept in <data>/admin.token, 0600).
func (p *Plane) greet(ctx context.Context, url string) error {
	fmt.Fprintf(p.cfg.Stdout, "Eden Deploy is serving on %s (data in %s)\n", url, p.cfg.DataDir)
	fmt.Fprintf(p.cfg.Stdout, "Web console: %s/\n", url)
	path := filepath.Join(p.cfg.DataDir, "admin.token")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	token, err := p.tokens.Create(ctx, "admin", true, "first admin token")
	if err != nil {
		return fmt.Errorf("localplane: create the admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("localplane: keep the admin token: %w", err)
	}
	fmt.Fprintf(p.cfg.Stdout, "First start: an admin token was created (kept in %s):\n\n    export EDEN_TOKEN=%s\n\n", path, token)
	return nil
}

func (p *Plane) closeLog(runID string) {
	if err := p.logs.Close(runID); err != nil {
		p.log.Warn("could not close a run log", "run", runID, "err", err)
	}
}

// journalSweep is how often ended executions older than the retention
// leave the engine's journal.
const journalSweep = time.Hour

// sweepJournal forgets, now and then every journalSweep, the executions
// that ended longer than retention ago, as the store forgets their runs:
// the journal does not grow with every run ever made.
func (p *Plane) sweepJournal(j *asl.BoltJournal, retention time.Duration) {
	p.sweep, p.swept = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.swept)
		t := time.NewTicker(journalSweep)
		defer t.Stop()
		for {
			if n, err := j.Sweep(time.Now().Add(-retention)); err != nil {
				p.log.Error("could not sweep the workflow journal", "err", err)
			} else if n > 0 {
				p.log.Info("ended executions left the workflow journal", "count", n, "retention", retention)
			}
			select {
			case <-p.sweep:
				return
			case <-t.C:
			}
		}
	}()
}

// close stops the engine first (executions stay RUNNING in the journal),
// then the runner (Ansible processes end; their signals find no engine, so
// the steps are dispatched again after a restart), then the store.
func (p *Plane) close() {
	if p.sweep != nil {
		close(p.sweep)
		<-p.swept
		p.sweep = nil
	}
	if p.engine != nil {
		p.engine.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if p.runner != nil {
		p.runner.Shutdown(ctx)
	}
	if p.instant != nil {
		p.instant.Wait(ctx)
	}
	if p.store != nil {
		p.store.Close()
	}
}

// Run assembles the plane and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	p, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return p.Serve(ctx)
}

// TestRoles are the recording roles, for demos and tests.
func TestRoles() fs.FS { return ansible.TestRoles() }
