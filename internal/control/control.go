// Package control holds Eden Deploy's use cases: create and delete
// deployments, add instances, start management tasks, edit settings, list,
// inspect and cancel runs. It enforces who may see what (a user sees only
// their own deployments, an admin sees all; another user's deployment is
// NotFound), keeps every change whole (a run that cannot start is recorded
// as failed, never left queued), and starts each run as an execution of the
// run state machine.
//
// The HTTP API (internal/httpapi) and the autoscaling lifecycle handler
// call it; it knows nothing of HTTP or AWS.
package control

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Caller is who asks: the user's ID and whether they are an admin.
type Caller struct {
	User  string
	Admin bool
}

// Config holds the service's dependencies.
type Config struct {
	Store    deploy.Store
	Secrets  deploy.Secrets
	Blobs    deploy.Blobs
	Workflow workflow.Engine
	Runner   deploy.Runner // to cancel a running step
	// Backups lists backups and finds the one a restore takes (see
	// daytwo.go); nil: backups are not kept, restore is refused.
	Backups Backups
	// Machine is the logical name of the run state machine.
	Machine string
	// RunEnded, if set, is told of every run the service ends itself
	// (cancelled, or failed to start).
	RunEnded func(ctx context.Context, r *deploy.Run)
	// Schedules, Webhooks and Trigger serve schedules and webhooks
	// (schedules.go, webhooks.go); without them those use cases fail.
	Schedules deploy.ScheduleStore
	Webhooks  deploy.WebhookStore
	Trigger   ScheduleTrigger
	// Self lists the control plane's own base URLs (or host:port), at
	// which no webhook may point.
	Self []string
	Now  func() time.Time
	Log  *slog.Logger
}

// Service runs the use cases.
type Service struct{ cfg Config }

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("control: a store is required")
	case cfg.Secrets == nil:
		return nil, errors.New("control: a secret store is required")
	case cfg.Workflow == nil:
		return nil, errors.New("control: a workflow engine is required")
	case cfg.Machine == "":
		return nil, errors.New("control: the run state machine's name is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}, nil
}

// CreateRequest is a request to create a deployment.
type CreateRequest struct {
	Spec deploy.Spec
	// SSHPrivateKey reaches the servers of an ssh-target deployment; it is
	// kept in the secret store only.
	SSHPrivateKey []byte
	// AdminPassword, if set, is the password of Eden's administrator (the
	// deployment's admin e-mail); otherwise one is generated. Either way it
	// is kept in the secret store only.
	AdminPassword []byte
	DryRun        bool
}

// CreateDeployment validates the request, stores the deployment with its
// first instance and deploy run, keeps its secrets (generated database and
// admin passwords, HMAC key, and the SSH key) and starts the run.
func (s *Service) CreateDeployment(ctx context.Context, c Caller, req CreateRequest) (*deploy.Deployment, *deploy.Run, error) {
	if c.User == "" {
		return nil, nil, deploy.Forbidden("no user")
	}
	now := s.cfg.Now()
	d, err := deploy.NewDeployment(req.Spec, deploy.NewID("d-", now), c.User, now)
	if err != nil {
		return nil, nil, err
	}
	if d.Target == deploy.TargetSSH && len(req.SSHPrivateKey) == 0 {
		return nil, nil, deploy.Invalid("ssh_private_key", "is required for target ssh")
	}
	if d.Target == deploy.TargetSSM && len(req.SSHPrivateKey) > 0 {
		return nil, nil, deploy.Invalid("ssh_private_key", "is only for target ssh")
	}
	if len(req.SSHPrivateKey) > 16<<10 {
		return nil, nil, deploy.Invalid("ssh_private_key", "at most 16 KiB")
	}
	if req.AdminPassword != nil {
		if err := deploy.ValidateAdminPassword("admin_password", string(req.AdminPassword), passwordMinLength(d)); err != nil {
			return nil, nil, err
		}
	}
	first := d.FirstInstance()
	req2 := deploy.RunRequest{Kind: deploy.RunDeploy, Instance: first.Type, DryRun: req.DryRun, Requester: c.User}
	if err := d.CheckRun(req2, nil); err != nil {
		return nil, nil, err
	}
	run, err := d.NewRun(deploy.NewID("r-", now), req2, now)
	if err != nil {
		return nil, nil, err
	}
	first.DeployRunID = run.ID
	s.expectExecution(run)
	// The secrets and the records are durable writes of their own (files
	// or parameters, and the store): side by side, and the run starts once
	// both are kept. If either fails, the other is undone.
	secretsKept := make(chan error, 1)
	go func() {
		secretsKept <- s.putSecrets(ctx, d.ID, req.SSHPrivateKey, req.AdminPassword, tlsSecrets(first, req.Spec.Instance.TLS))
	}()
	stored := s.cfg.Store.CreateDeployment(ctx, d, run)
	if err := <-secretsKept; err != nil {
		if stored == nil {
			s.undoCreate(ctx, d.ID)
		}
		return nil, nil, err
	}
	if stored != nil {
		s.dropSecrets(ctx, d.ID)
		return nil, nil, fmt.Errorf("control: create %s: %w", d.ID, stored)
	}
	s.cfg.Log.InfoContext(ctx, "deployment created", "deployment", d.ID, "owner", d.Owner, "servers", len(d.Servers), "run", run.ID)
	if err := s.start(ctx, run); err != nil {
		return d, run, err
	}
	return d, run, nil
}

func (s *Service) putSecrets(ctx context.Context, deploymentID string, sshKey, adminPassword []byte, more map[string][]byte) error {
	if adminPassword == nil {
		adminPassword = randomSecret(18)
	}
	secrets := map[string][]byte{
		deploy.SecretDBPassword:    randomSecret(24),
		deploy.SecretAdminPassword: adminPassword,
		deploy.SecretHMACKey:       randomSecret(32),
	}
	for name, v := range more {
		secrets[name] = v
	}
	if len(sshKey) > 0 {
		secrets[deploy.SecretSSHKey] = sshKey
	}
	// Kept side by side: each is a durable write (an fsync locally, a
	// PutParameter on AWS), and a create waits for all of them.
	errs := make(chan error, len(secrets))
	for name, v := range secrets {
		go func() {
			if err := s.cfg.Secrets.PutSecret(ctx, deploymentID, name, v); err != nil {
				errs <- fmt.Errorf("control: keep secret %s of %s: %w", name, deploymentID, err)
				return
			}
			errs <- nil
		}()
	}
	var failed error
	for range secrets {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		s.dropSecrets(ctx, deploymentID)
	}
	return failed
}

// undoCreate removes a deployment whose secrets could not be kept (its
// run never started).
func (s *Service) undoCreate(ctx context.Context, deploymentID string) {
	if err := s.cfg.Store.DeleteDeployment(ctx, deploymentID); err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not remove a deployment whose secrets were not kept", "deployment", deploymentID, "err", err)
	}
}

func (s *Service) dropSecrets(ctx context.Context, deploymentID string) {
	if err := s.cfg.Secrets.DeleteSecrets(ctx, deploymentID); err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not remove the secrets of a deployment that was not created", "deployment", deploymentID, "err", err)
	}
}

// passwordMinLength is the shortest password Eden accepts on d's first
// instance: its auth.password_min_length setting, or Eden's default.
func passwordMinLength(d *deploy.Deployment) int {
	if inst := d.FirstInstance(); inst != nil {
		if n, ok := inst.Settings["auth.password_min_length"].(int64); ok {
			return int(n)
		}
	}
	return deploy.DefaultPasswordMinLength
}

// randomSecret returns n random bytes as URL-safe base64: a password that
// survives every shell, config file and connection string unquoted (and an
// HMAC key without the ':' that web2py would read as "<digest>:<key>").
func randomSecret(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return []byte(base64.RawURLEncoding.EncodeToString(b))
}

// start starts the execution that carries run. If it cannot start, the run
// is recorded as failed with the reason, so nothing stays queued forever.
func (s *Service) start(ctx context.Context, run *deploy.Run) error {
	input, _ := json.Marshal(map[string]string{"deployment_id": run.DeploymentID, "run_id": run.ID})
	execID, err := s.cfg.Workflow.StartExecution(ctx, s.cfg.Machine, workflow.ExecutionName(run.ID), input)
	if errors.Is(err, workflow.ErrExecutionExists) {
		// A redelivered request for a run already started: nothing new.
		return nil
	}
	if err != nil {
		// The engine's own words stay in the log; the run says what happened.
		s.cfg.Log.ErrorContext(ctx, "a run could not start", "deployment", run.DeploymentID, "run", run.ID, "err", err)
		s.failRun(ctx, run, "the run could not start: the workflow engine refused it (see the control plane's log)")
		return fmt.Errorf("control: start run %s: %w", run.ID, err)
	}
	if run.ExecutionID == execID { // recorded with the run (expectExecution)
		s.cfg.Log.InfoContext(ctx, "run started", "deployment", run.DeploymentID, "run", run.ID, "kind", run.Kind, "execution", execID)
		return nil
	}
	r, err := deploy.UpdateRun(ctx, s.cfg.Store, run.DeploymentID, run.ID, func(r *deploy.Run) error {
		if r.ExecutionID == execID {
			return deploy.ErrNoChange
		}
		r.ExecutionID = execID
		return nil
	})
	if err != nil {
		s.cfg.Log.WarnContext(ctx, "could not record the execution of a run", "run", run.ID, "err", err)
	} else {
		*run = *r
	}
	s.cfg.Log.InfoContext(ctx, "run started", "deployment", run.DeploymentID, "run", run.ID, "kind", run.Kind, "execution", execID)
	return nil
}

func (s *Service) failRun(ctx context.Context, run *deploy.Run, reason string) {
	r, err := deploy.UpdateRun(ctx, s.cfg.Store, run.DeploymentID, run.ID, func(r *deploy.Run) error {
		if r.Status.Terminal() {
			return deploy.ErrNoChange
		}
		r.Error = reason
		return r.MoveTo(deploy.RunFailed, s.cfg.Now())
	})
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not mark a run failed", "run", run.ID, "err", err)
		return
	}
	*run = *r
	s.observe(ctx, r)
	s.ended(ctx, r)
}

func (s *Service) ended(ctx context.Context, r *deploy.Run) {
	if s.cfg.RunEnded != nil {
		s.cfg.RunEnded(ctx, r)
	}
}

// observe records r's status on its deployment's instance.
func (s *Service) observe(ctx context.Context, r *deploy.Run) {
	_, err := deploy.UpdateDeployment(ctx, s.cfg.Store, r.DeploymentID, func(d *deploy.Deployment) error {
		d.ObserveRun(r, s.cfg.Now())
		return nil
	})
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not record a run's end on its instance", "run", r.ID, "err", err)
	}
}

// GetDeployment returns the deployment and its active run (nil if none).
// Another user's deployment is NotFound.
func (s *Service) GetDeployment(ctx context.Context, c Caller, id string) (*deploy.Deployment, *deploy.Run, error) {
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	active, err := s.cfg.Store.ActiveRun(ctx, id)
	if err != nil && !deploy.IsKind(err, deploy.KindNotFound) {
		return nil, nil, fmt.Errorf("control: active run of %s: %w", id, err)
	}
	return d, active, nil
}

func (s *Service) visible(ctx context.Context, c Caller, id string) (*deploy.Deployment, error) {
	d, err := s.cfg.Store.GetDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if !c.Admin && d.Owner != c.User {
		return nil, deploy.NotFound("deployment %s not found", id)
	}
	return d, nil
}

// ListDeployments lists the caller's deployments (an admin's: everyone's),
// newest first.
func (s *Service) ListDeployments(ctx context.Context, c Caller, p deploy.Page) ([]*deploy.Deployment, string, error) {
	owner := c.User
	if c.Admin {
		owner = ""
	}
	return s.cfg.Store.ListDeployments(ctx, owner, p)
}

// DeleteDeployment removes the deployment's records, bundles and secrets;
// its servers are left untouched. A deployment with an active run is a
// Conflict: cancel the run first.
func (s *Service) DeleteDeployment(ctx context.Context, c Caller, id string) error {
	if _, err := s.visible(ctx, c, id); err != nil {
		return err
	}
	active, err := s.cfg.Store.ActiveRun(ctx, id)
	if err == nil {
		return deploy.Conflict("run", "run %s is still %s: cancel it before deleting the deployment", active.ID, active.Status)
	}
	if !deploy.IsKind(err, deploy.KindNotFound) {
		return err
	}
	if err := s.dropSchedulesAndWebhooks(ctx, id); err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteDeployment(ctx, id); err != nil {
		return err
	}
	s.dropSecrets(ctx, id)
	if s.cfg.Blobs != nil {
		if err := s.cfg.Blobs.DeleteBlobs(ctx, "deployments/"+id+"/"); err != nil {
			s.cfg.Log.ErrorContext(ctx, "could not remove the bundles and logs of a deleted deployment", "deployment", id, "err", err)
		}
	}
	s.cfg.Log.InfoContext(ctx, "deployment deleted", "deployment", id)
	return nil
}

// AddInstance adds an instance to the deployment and starts its
// add-instance run. The first instance must be deployed and no run active.
func (s *Service) AddInstance(ctx context.Context, c Caller, id string, spec deploy.InstanceSpec, dryRun bool) (*deploy.Instance, *deploy.Run, error) {
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	active, err := s.activeRun(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	now := s.cfg.Now()
	inst, err := d.AddInstance(spec, active, now)
	if err != nil {
		return nil, nil, err
	}
	req := deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: inst.Type, DryRun: dryRun, Requester: c.User}
	withInst := *d
	withInst.Instances = append(append([]deploy.Instance(nil), d.Instances...), inst)
	run, err := withInst.NewRun(deploy.NewID("r-", now), req, now)
	if err != nil {
		return nil, nil, err
	}
	inst.DeployRunID = run.ID
	if err := s.keepTLSSecrets(ctx, id, tlsSecrets(&inst, spec.TLS)); err != nil {
		return nil, nil, err
	}
	s.expectExecution(run)
	if err := s.cfg.Store.AddInstance(ctx, id, d.Version, inst, run); err != nil {
		return nil, nil, err
	}
	s.cfg.Log.InfoContext(ctx, "instance added", "deployment", id, "instance", inst.Type, "run", run.ID)
	if err := s.start(ctx, run); err != nil {
		return &inst, run, err
	}
	return &inst, run, nil
}

func (s *Service) activeRun(ctx context.Context, id string) (*deploy.Run, error) {
	active, err := s.cfg.Store.ActiveRun(ctx, id)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: active run of %s: %w", id, err)
	}
	return active, nil
}

// TaskRequest is a request for a management task (or a re-deploy) on an
// instance.
type TaskRequest struct {
	Kind     deploy.RunKind
	Instance deploy.InstanceType
	Confirm  string
	DryRun   bool
	// Backup is the ID of the backup a restore puts back.
	Backup string
}

// StartTask starts a management task (clean, pull, restart, backup,
// restore, remove) or re-runs the deploy of a first instance that failed.
func (s *Service) StartTask(ctx context.Context, c Caller, id string, req TaskRequest) (*deploy.Run, error) {
	if !req.Kind.Task() && req.Kind != deploy.RunDeploy && req.Kind != deploy.RunAddInstance {
		return nil, deploy.Invalid("task", "%q is not a task: use clean, pull, restart, backup, restore or remove", req.Kind)
	}
	if err := checkBackupNamed(id, req); err != nil {
		return nil, err
	}
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if req.Kind == deploy.RunDeploy || req.Kind == deploy.RunAddInstance {
		// "deploy" re-runs the install of any instance: the first one's is
		// a deploy run, a later one's an add-instance run.
		req.Kind = deploy.RunAddInstance
		if first := d.FirstInstance(); first != nil && first.Type == req.Instance {
			req.Kind = deploy.RunDeploy
		}
	}
	run := deploy.RunRequest{Kind: req.Kind, Instance: req.Instance, Confirm: req.Confirm, DryRun: req.DryRun, Requester: c.User}
	if req.Kind == deploy.RunRestore {
		run.Restore = &deploy.RestoreSource{Backup: req.Backup}
	}
	// The rules first (a confirmation missing, a run active): they need no
	// lookup of the backup.
	if err := s.checkRun(ctx, d, run); err != nil {
		return nil, err
	}
	if req.Kind == deploy.RunRestore {
		if run.Restore, err = s.restoreSource(ctx, d, req.Backup); err != nil {
			return nil, err
		}
	}
	return s.startChecked(ctx, d, run)
}

// checkRun checks the rules of a run of d against the run active on it.
func (s *Service) checkRun(ctx context.Context, d *deploy.Deployment, req deploy.RunRequest) error {
	active, err := s.activeRun(ctx, d.ID)
	if err != nil {
		return err
	}
	return d.CheckRun(req, active)
}

// startChecked records and starts a run of d that checkRun allowed.
func (s *Service) startChecked(ctx context.Context, d *deploy.Deployment, req deploy.RunRequest) (*deploy.Run, error) {
	now := s.cfg.Now()
	run, err := d.NewRun(deploy.NewID("r-", now), req, now)
	if err != nil {
		return nil, err
	}
	s.expectExecution(run)
	if err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	if err := s.start(ctx, run); err != nil {
		return run, err
	}
	return run, nil
}

// GetSettings returns the instance's settings and their version.
func (s *Service) GetSettings(ctx context.Context, c Caller, id string, t deploy.InstanceType) (deploy.Settings, int, error) {
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, 0, err
	}
	inst := d.Instance(t)
	if inst == nil {
		return nil, 0, deploy.NotFound("instance %s not found", t)
	}
	return inst.Settings, inst.SettingsVersion, nil
}

// ReplaceSettings replaces the instance's settings if readVersion is still
// current, and starts the reconfigure run that applies them. The run claims
// the deployment's run slot first, so settings never change without a run
// to apply them; if the settings then turn out stale, the run is cancelled.
func (s *Service) ReplaceSettings(ctx context.Context, c Caller, id string, t deploy.InstanceType, settings deploy.Settings, readVersion int, dryRun bool) (*deploy.Run, int, error) {
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, 0, err
	}
	active, err := s.activeRun(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	req := deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: t, DryRun: dryRun, Requester: c.User}
	if err := d.CheckRun(req, active); err != nil {
		return nil, 0, err
	}
	now := s.cfg.Now()
	version, err := d.ReplaceSettings(t, settings, readVersion, now)
	if err != nil {
		return nil, 0, err
	}
	run, err := d.NewRun(deploy.NewID("r-", now), req, now)
	if err != nil {
		return nil, 0, err
	}
	// The run carries the settings it applies; a dry run shows what they
	// would change and the deployment keeps its current ones.
	run.Settings = d.Instance(t).Settings
	s.expectExecution(run)
	if err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		return nil, 0, err
	}
	if dryRun {
		version = readVersion
	} else if err := s.keepSettings(ctx, d, t, settings, readVersion); err != nil {
		s.cancelQueued(ctx, run, "the settings could not be kept: "+err.Error())
		return nil, 0, err
	}
	if err := s.start(ctx, run); err != nil {
		return run, version, err
	}
	return run, version, nil
}

// keepSettings stores d, whose instance t has the new settings. When the
// deployment changed meanwhile for another reason (a server joined, a run
// ended), the settings are applied again to the fresh copy; when the
// settings themselves changed, the edit is a settings_version Conflict.
func (s *Service) keepSettings(ctx context.Context, d *deploy.Deployment, t deploy.InstanceType, settings deploy.Settings, readVersion int) error {
	err := s.cfg.Store.UpdateDeployment(ctx, d)
	if !deploy.IsKind(err, deploy.KindConflict) {
		return err
	}
	_, err = deploy.UpdateDeployment(ctx, s.cfg.Store, d.ID, func(d *deploy.Deployment) error {
		_, err := d.ReplaceSettings(t, settings, readVersion, s.cfg.Now())
		return err
	})
	return err
}

func (s *Service) cancelQueued(ctx context.Context, run *deploy.Run, reason string) {
	run.Error = reason
	if err := run.MoveTo(deploy.RunCancelled, s.cfg.Now()); err == nil {
		if err := s.cfg.Store.UpdateRun(ctx, run); err != nil {
			s.cfg.Log.ErrorContext(ctx, "could not cancel a run", "run", run.ID, "err", err)
		}
	}
}

// ListRuns lists the deployment's runs, newest first.
func (s *Service) ListRuns(ctx context.Context, c Caller, id string, p deploy.Page) ([]*deploy.Run, string, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, "", err
	}
	return s.cfg.Store.ListRuns(ctx, id, p)
}

// GetRun returns a run of the deployment.
func (s *Service) GetRun(ctx context.Context, c Caller, id, runID string) (*deploy.Run, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	return s.cfg.Store.GetRun(ctx, id, runID)
}

// CancelRun cancels an active run: the run is marked cancelled, its
// running step is stopped on the hosts and its execution stopped. A run
// that already ended is a Conflict.
func (s *Service) CancelRun(ctx context.Context, c Caller, id, runID string) (*deploy.Run, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	r, err := deploy.UpdateRun(ctx, s.cfg.Store, id, runID, func(r *deploy.Run) error {
		if r.Status.Terminal() {
			return deploy.Conflict("status", "run %s already %s", runID, r.Status)
		}
		now := s.cfg.Now()
		for i := range r.Steps {
			switch r.Steps[i].Status {
			case deploy.StepRunning:
				r.Steps[i].FinishedAt = now
				r.Steps[i].Status = deploy.StepCancelled
			case deploy.StepPending:
				r.Steps[i].Status = deploy.StepCancelled
			}
		}
		r.Error = "cancelled by " + c.User
		return r.MoveTo(deploy.RunCancelled, now)
	})
	if err != nil {
		return nil, err
	}
	s.observe(ctx, r)
	s.ended(ctx, r)
	for _, st := range r.Steps {
		if st.CommandID != "" && s.cfg.Runner != nil {
			if err := s.cfg.Runner.Cancel(ctx, st.CommandID); err != nil {
				s.cfg.Log.WarnContext(ctx, "could not cancel a step on its hosts", "run", runID, "step", st.Name, "err", err)
			}
		}
	}
	if r.ExecutionID != "" {
		if err := s.cfg.Workflow.StopExecution(ctx, r.ExecutionID, "RunCancelled", r.Error); err != nil && !errors.Is(err, workflow.ErrNotFound) {
			s.cfg.Log.WarnContext(ctx, "could not stop a run's execution", "run", runID, "err", err)
		}
	}
	s.cfg.Log.InfoContext(ctx, "run cancelled", "deployment", id, "run", runID, "by", c.User)
	return r, nil
}
