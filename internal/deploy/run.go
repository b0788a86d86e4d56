package deploy

import (
	"time"
)

// RunKind is what a run does.
type RunKind string

// The run kinds.
const (
	RunDeploy      RunKind = "deploy"       // install the first instance
	RunAddInstance RunKind = "add-instance" // install a further instance
	RunClean       RunKind = "clean"        // recreate the instance's database
	RunPull        RunKind = "pull"         // update Eden, migrate, compile, restart
	RunRestart     RunKind = "restart"      // restart the instance's services
	RunBackup      RunKind = "backup"       // dump the instance's database now
	RunReconfigure RunKind = "reconfigure"  // rewrite 000_config.py from settings, compile, restart
	RunScaleOut    RunKind = "scale-out"    // provision a server that joined
	RunScaleIn     RunKind = "scale-in"     // retire a server that leaves
	RunRestore     RunKind = "restore"      // put the instance's database back from a backup
	RunRemove      RunKind = "remove"       // remove the instance from its servers and the deployment
)

// RunKinds lists every run kind.
var RunKinds = []RunKind{RunDeploy, RunAddInstance, RunClean, RunPull, RunRestart, RunBackup, RunReconfigure, RunScaleOut, RunScaleIn, RunRestore, RunRemove}

// Valid reports whether k is a known run kind.
func (k RunKind) Valid() bool {
	for _, x := range RunKinds {
		if x == k {
			return true
		}
	}
	return false
}

// Task reports whether k is a management task a user may start on an
// instance (clean, pull, restart, backup, restore, remove).
func (k RunKind) Task() bool {
	switch k {
	case RunClean, RunPull, RunRestart, RunBackup, RunRestore, RunRemove:
		return true
	}
	return false
}

// RunStatus is where a run is. Statuses only move forward:
// queued → running → succeeded | failed | cancelled, and queued may go
// straight to failed or cancelled.
type RunStatus string

// The run statuses.
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
)

// Terminal reports whether s is an end state.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Active reports whether a run in status s holds its deployment's run slot.
func (s RunStatus) Active() bool { return s == RunQueued || s == RunRunning }

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool { return s.Active() || s.Terminal() }

// CanMoveTo reports whether a run may go from s to next. Staying put is
// allowed (an idempotent retry records the same status again).
func (s RunStatus) CanMoveTo(next RunStatus) bool {
	if !next.Valid() {
		return false
	}
	switch s {
	case next:
		return true
	case RunQueued:
		return next != RunSucceeded
	case RunRunning:
		return next.Terminal()
	}
	return false
}

// StepStatus is where a step of a run is.
type StepStatus string

// The step statuses.
const (
	StepPending   StepStatus = "pending"
	StepRunning   StepStatus = "running"
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepCancelled StepStatus = "cancelled"
	StepSkipped   StepStatus = "skipped"
)

// Step is one ordered part of a run: one playbook applied to every host of
// one role at once.
type Step struct {
	// Name identifies the step within its run: "db", "eden", "webserver",
	// "all", or for a scale-out the role followed by "-new".
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Hosts the step targets, all at once.
	Hosts []string `json:"hosts"`
	// Playbook is the bundle's entry point for this step, e.g. "deploy.yml".
	Playbook string `json:"playbook"`
	// Always marks a step that runs even when an earlier step of its run
	// failed (it lifts a maintenance page); the steps between are skipped.
	Always bool       `json:"always,omitempty"`
	Status StepStatus `json:"status"`
	// BundleKey is where the rendered bundle was stored (blob key).
	BundleKey string `json:"bundle_key,omitempty"`
	// LogKey is where the step's full Ansible log is (blob key or local log).
	LogKey string `json:"log_key,omitempty"`
	// CommandID is the runner's handle of the dispatched step (SSM command
	// ID, or a local process handle), used to cancel it and to find the
	// task token when its completion is signalled.
	CommandID string       `json:"command_id,omitempty"`
	Results   []HostResult `json:"results,omitempty"`
	Error     string       `json:"error,omitempty"`
	StartedAt time.Time    `json:"started_at,omitzero"`
	// DispatchedAt is when the runner took the step (locally: Ansible
	// started; on AWS: the SSM command was sent). From the run's CreatedAt
	// to it is how long the run waited on the control plane.
	DispatchedAt time.Time `json:"dispatched_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
}

// HostResult is what Ansible reported for one host of a step.
type HostResult struct {
	Host        string `json:"host"`
	OK          int    `json:"ok"`
	Changed     int    `json:"changed"`
	Failed      int    `json:"failed"`
	Unreachable int    `json:"unreachable"`
	Skipped     int    `json:"skipped"`
	// Reason is one line saying why the host failed, or empty.
	Reason string `json:"reason,omitempty"`
	// Backups, from a step that backs up (backup, remove), are the dumps
	// the host keeps of the step's instances.
	Backups []BackupReport `json:"backups,omitempty"`
}

// Succeeded reports whether the host finished without failure.
func (h HostResult) Succeeded() bool { return h.Failed == 0 && h.Unreachable == 0 }

// LifecycleAction identifies an Auto Scaling lifecycle action that a
// scale-out or scale-in run must complete when it ends.
type LifecycleAction struct {
	GroupName  string `json:"group_name"`
	HookName   string `json:"hook_name"`
	Token      string `json:"token"`
	InstanceID string `json:"instance_id"`
	Transition string `json:"transition"` // autoscaling:EC2_INSTANCE_LAUNCHING | _TERMINATING
	// Result is CONTINUE or ABANDON once the run has completed the action.
	Result      string    `json:"result,omitempty"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Run is one change applied to a deployment: a deploy, a management task, a
// reconfiguration or a scaling event. It is planned as ordered steps.
type Run struct {
	ID           string  `json:"id"`
	DeploymentID string  `json:"deployment_id"`
	Kind         RunKind `json:"kind"`
	// Instance is the instance the run acts on; empty for scale-out and
	// scale-in, which act on every instance.
	Instance InstanceType `json:"instance,omitempty"`
	// Host is the server that joins (scale-out) or leaves (scale-in).
	Host string `json:"host,omitempty"`
	// HostRole is the role of Host.
	HostRole Role `json:"host_role,omitempty"`
	// DryRun runs Ansible in check mode with diff: it reports what would
	// change and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Settings, on a reconfigure run, are the settings it applies (for a
	// dry run, the proposed ones, which the deployment does not keep).
	Settings Settings `json:"settings,omitempty"`
	// Restore, on a restore run, is the backup it puts back.
	Restore *RestoreSource `json:"restore,omitempty"`
	// URL and TLS, on a reconfigure run that serves the instance anew,
	// are the URL and TLS it applies (for a dry run, proposed ones).
	URL    string    `json:"url,omitempty"`
	TLS    *TLS      `json:"tls,omitempty"`
	Status RunStatus `json:"status"`
	Steps  []Step    `json:"steps"`
	Error  string    `json:"error,omitempty"`
	// Requester is the user who asked for the run (or "autoscaling").
	Requester string `json:"requester,omitempty"`
	// ExecutionID is the workflow execution that carries the run.
	ExecutionID string `json:"execution_id,omitempty"`
	// Transitions is the number of state transitions the workflow made for
	// the run: what Step Functions bills, so the run's cost figure.
	Transitions int              `json:"transitions"`
	Lifecycle   *LifecycleAction `json:"lifecycle,omitempty"`
	Version     int              `json:"version"`
	CreatedAt   time.Time        `json:"created_at"`
	StartedAt   time.Time        `json:"started_at,omitzero"`
	FinishedAt  time.Time        `json:"finished_at,omitzero"`
	// ExpiresAt, once the run is finished, is when the store may forget it
	// and its logs (retention). Zero means keep.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// MoveTo moves the run to status next at time now, or returns a Conflict
// error naming both statuses when that move goes backwards.
func (r *Run) MoveTo(next RunStatus, now time.Time) error {
	if !r.Status.CanMoveTo(next) {
		return Conflict("status", "run %s cannot move from %s to %s", r.ID, r.Status, next)
	}
	if r.Status == next {
		return nil
	}
	r.Status = next
	switch {
	case next == RunRunning && r.StartedAt.IsZero():
		r.StartedAt = now
	case next.Terminal():
		if r.StartedAt.IsZero() {
			r.StartedAt = now
		}
		r.FinishedAt = now
	}
	return nil
}
