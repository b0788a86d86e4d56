// Package tasks holds the task functions that the run state machine
// (statemachine/run.asl.json) calls: plan, prepare, dispatch and record each
// step, finish the run and complete its lifecycle action.
//
// Each is a typed func(ctx, In) (Out, error). On AWS a Lambda binary wraps
// them (functions/task); locally the ASL engine calls the very same
// functions through lambda.NewHandler, so the JSON on the wire is the same.
// Errors that the state machine's Retry or Catch must recognise are
// returned unwrapped as named types (RetryableError, StepFailedError,
// RunEndedError): Lambda reports an error by its Go type name.
//
// Every task is idempotent: the state machine may run it again after a
// retry or, locally, after the engine restarts.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RetryableError is a transient failure: the state machine retries the
// task with backoff.
type RetryableError struct{ Cause string }

func (e *RetryableError) Error() string { return e.Cause }

// StepFailedError says a step ran and at least one host failed; its message
// is the step's one-line reason.
type StepFailedError struct{ Reason string }

func (e *StepFailedError) Error() string { return e.Reason }

// RunEndedError says the run was already finished (cancelled, or its
// deployment deleted) when a task came to it: the execution stops.
type RunEndedError struct{ Reason string }

func (e *RunEndedError) Error() string { return e.Reason }

// Renderer renders the bundle of step i of run r on d as a tar.gz.
type Renderer interface {
	RenderBundle(d *deploy.Deployment, r *deploy.Run, step int) ([]byte, error)
}

// Lifecycle completes Auto Scaling lifecycle actions (autoscaling's
// CompleteLifecycleAction and RecordLifecycleActionHeartbeat on AWS; a
// recorder locally).
type Lifecycle interface {
	// CompleteLifecycleAction completes a with result CONTINUE or ABANDON.
	// Completing an action that is already complete or gone is not an
	// error.
	CompleteLifecycleAction(ctx context.Context, a deploy.LifecycleAction, result string) error
	// RecordLifecycleActionHeartbeat extends a's timeout.
	RecordLifecycleActionHeartbeat(ctx context.Context, a deploy.LifecycleAction) error
}

// Config holds the tasks' dependencies and settings.
type Config struct {
	Store     deploy.Store
	Blobs     deploy.Blobs
	Runner    deploy.Runner
	Renderer  Renderer
	Lifecycle Lifecycle // may be nil where no run has a lifecycle action
	// Backups keeps the backups steps report (see daytwo.go); nil keeps
	// none.
	Backups Backups
	// StepTimeout bounds one step's Ansible run.
	StepTimeout time.Duration
	// RunEnded, if set, is told of every run FinishRun ends (locally: to
	// close the run's log so its followers stop).
	RunEnded func(ctx context.Context, r *deploy.Run)
	// LifecycleCompleted, if set, is told of every lifecycle action
	// CompleteLifecycle completes, with the result (notifications: an
	// ABANDON is news).
	LifecycleCompleted func(ctx context.Context, r *deploy.Run, result string)
	Now                func() time.Time
	Log                *slog.Logger
}

// Tasks are the task functions, bound to their dependencies.
type Tasks struct{ cfg Config }

// New returns the task functions for cfg, filling defaults.
func New(cfg Config) (*Tasks, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("tasks: a store is required")
	case cfg.Blobs == nil:
		return nil, errors.New("tasks: a blob store is required")
	case cfg.Runner == nil:
		return nil, errors.New("tasks: a runner is required")
	case cfg.Renderer == nil:
		return nil, errors.New("tasks: a renderer is required")
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 60 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Tasks{cfg: cfg}, nil
}

// RunRef names a run: the input of an execution.
type RunRef struct {
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
}

// StepRef names one step of a run: an item of the state machine's Map.
type StepRef struct {
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
	Index        int    `json:"index"`
	Name         string `json:"name"`
	Count        int    `json:"count"`
}

// Plan is what StartRun returns: the steps to run in order, and whether
// the run must complete a lifecycle action at its end.
type Plan struct {
	Steps        []StepRef `json:"steps"`
	HasLifecycle bool      `json:"has_lifecycle"`
}

// StartRun moves the run to running and returns its steps. A run that has
// already ended (cancelled before it started) is a RunEndedError.
func (t *Tasks) StartRun(ctx context.Context, in RunRef) (Plan, error) {
	var plan Plan
	r, err := t.updateRun(ctx, in, func(r *deploy.Run) error {
		if r.Status.Terminal() {
			return &RunEndedError{Reason: fmt.Sprintf("run %s is already %s", r.ID, r.Status)}
		}
		return r.MoveTo(deploy.RunRunning, t.cfg.Now())
	})
	if err != nil {
		return plan, err
	}
	if err := t.observe(ctx, r); err != nil {
		return plan, err
	}
	plan.HasLifecycle = r.Lifecycle != nil
	plan.Steps = make([]StepRef, len(r.Steps))
	for i, s := range r.Steps {
		plan.Steps[i] = StepRef{DeploymentID: r.DeploymentID, RunID: r.ID, Index: i, Name: s.Name, Count: len(r.Steps)}
	}
	t.cfg.Log.InfoContext(ctx, "run started", "deployment", r.DeploymentID, "run", r.ID, "kind", r.Kind, "steps", len(r.Steps))
	return plan, nil
}

// PreparedStep is what PrepareStep returns.
type PreparedStep struct {
	BundleKey string `json:"bundle_key"`
	// Skip says the step is not dispatched: an earlier step failed and
	// this one does not always run.
	Skip bool `json:"skip"`
}

// PrepareStep renders the step's bundle from the deployment as it is now,
// stores it, and marks the step running.
func (t *Tasks) PrepareStep(ctx context.Context, in StepRef) (PreparedStep, error) {
	d, err := t.cfg.Store.GetDeployment(ctx, in.DeploymentID)
	if err != nil {
		return PreparedStep{}, t.taskError("get deployment", err)
	}
	r, err := t.cfg.Store.GetRun(ctx, in.DeploymentID, in.RunID)
	if err != nil {
		return PreparedStep{}, t.taskError("get run", err)
	}
	if r.Status.Terminal() {
		return PreparedStep{}, &RunEndedError{Reason: fmt.Sprintf("run %s is already %s", r.ID, r.Status)}
	}
	if in.Index < 0 || in.Index >= len(r.Steps) {
		return PreparedStep{}, fmt.Errorf("tasks: run %s has no step %d", r.ID, in.Index)
	}
	if failedBefore(r, in.Index) && !r.Steps[in.Index].Always {
		return t.skipStep(ctx, in)
	}
	if err := t.prepareBackups(ctx, d, r, in.Index); err != nil {
		return PreparedStep{}, err
	}
	if r.Kind == deploy.RunReconfigure && r.Settings != nil {
		// Render the settings the run applies (for a dry run, proposed
		// ones the deployment does not keep).
		d.Instances = append([]deploy.Instance(nil), d.Instances...)
		if inst := d.Instance(r.Instance); inst != nil {
			inst.Settings = r.Settings
			// And the URL and TLS of a run that serves the instance anew.
			if r.URL != "" && r.TLS != nil {
				inst.URL, inst.TLS = r.URL, *r.TLS
			}
		}
	}
	tgz, err := t.cfg.Renderer.RenderBundle(d, r, in.Index)
	if err != nil {
		return PreparedStep{}, fmt.Errorf("tasks: render step %d of run %s: %w", in.Index, r.ID, err)
	}
	key := deploy.BundleKey(d.ID, r.ID, in.Index)
	if err := t.cfg.Blobs.PutBlob(ctx, key, tgz); err != nil {
		return PreparedStep{}, t.taskError("put bundle", err)
	}
	if r.Lifecycle != nil && t.cfg.Lifecycle != nil {
		if err := t.cfg.Lifecycle.RecordLifecycleActionHeartbeat(ctx, *r.Lifecycle); err != nil {
			t.cfg.Log.WarnContext(ctx, "lifecycle heartbeat failed", "deployment", d.ID, "run", r.ID, "err", err)
		}
	}
	_, err = t.updateRun(ctx, RunRef{in.DeploymentID, in.RunID}, func(r *deploy.Run) error {
		s := &r.Steps[in.Index]
		s.BundleKey = key
		s.LogKey = deploy.StepLogKey(in.DeploymentID, in.RunID, in.Index)
		s.Status = deploy.StepRunning
		s.StartedAt = t.cfg.Now()
		s.DispatchedAt, s.FinishedAt = time.Time{}, time.Time{}
		s.Results, s.Error = nil, ""
		return nil
	})
	if err != nil {
		return PreparedStep{}, err
	}
	return PreparedStep{BundleKey: key}, nil
}

// DispatchInput is the payload of the dispatch state: the step, its bundle
// and the task token the runner must signal completion with.
type DispatchInput struct {
	Step      StepRef `json:"step"`
	BundleKey string  `json:"bundle_key"`
	Token     string  `json:"token"`
}

// Dispatched is what DispatchStep returns (the state's real result comes
// later, through the task token).
type Dispatched struct {
	CommandID string `json:"command_id"`
}

// DispatchStep sends the step's bundle to its hosts and returns at once;
// the runner reports the outcome through in.Token.
func (t *Tasks) DispatchStep(ctx context.Context, in DispatchInput) (Dispatched, error) {
	if in.Token == "" {
		return Dispatched{}, errors.New("tasks: dispatch needs a task token")
	}
	d, err := t.cfg.Store.GetDeployment(ctx, in.Step.DeploymentID)
	if err != nil {
		return Dispatched{}, t.taskError("get deployment", err)
	}
	r, err := t.cfg.Store.GetRun(ctx, in.Step.DeploymentID, in.Step.RunID)
	if err != nil {
		return Dispatched{}, t.taskError("get run", err)
	}
	if r.Status.Terminal() {
		return Dispatched{}, &RunEndedError{Reason: fmt.Sprintf("run %s is already %s", r.ID, r.Status)}
	}
	step := r.Steps[in.Step.Index]
	hosts := make([]deploy.DispatchHost, 0, len(step.Hosts))
	for _, h := range step.Hosts {
		dh := deploy.DispatchHost{Host: h}
		if s := d.Server(h); s != nil {
			dh.InstanceID = s.InstanceID
		}
		hosts = append(hosts, dh)
	}
	cmd, err := t.cfg.Runner.Dispatch(ctx, deploy.Dispatch{
		DeploymentID: d.ID, RunID: r.ID, StepIndex: in.Step.Index, StepCount: len(r.Steps), StepName: step.Name,
		BundleKey: in.BundleKey, Playbook: step.Playbook, Hosts: hosts, Token: in.Token,
		DryRun: r.DryRun, Timeout: t.cfg.StepTimeout, SSHUser: d.SSHUser,
		LogKey: deploy.StepLogKey(d.ID, r.ID, in.Step.Index), Lifecycle: r.Lifecycle,
	})
	if err != nil {
		return Dispatched{}, t.taskError("dispatch step "+step.Name, err)
	}
	_, err = t.updateRun(ctx, RunRef{d.ID, r.ID}, func(r *deploy.Run) error {
		r.Steps[in.Step.Index].CommandID = cmd
		r.Steps[in.Step.Index].DispatchedAt = t.cfg.Now()
		return nil
	})
	if err != nil {
		return Dispatched{}, err
	}
	t.cfg.Log.InfoContext(ctx, "step dispatched", "deployment", d.ID, "run", r.ID, "step", step.Name, "command", cmd, "hosts", len(hosts))
	return Dispatched{CommandID: cmd}, nil
}

// RecordStepInput is the step and the outcome its runner signalled, or,
// for a step that could not run, the error the state machine caught.
type RecordStepInput struct {
	Step    StepRef            `json:"step"`
	Outcome deploy.StepOutcome `json:"outcome"`
	Failure *ErrorInfo         `json:"failure,omitempty"`
}

// StepRecord is what RecordStep returns.
type StepRecord struct {
	Status deploy.StepStatus `json:"status"`
}

// RecordStep stores the step's per-host results and keeps the backups
// they report. A failed step is a StepFailedError, which ends the run,
// unless a step that always runs follows it: then the run goes on to that
// step, and FinishRun fails it.
func (t *Tasks) RecordStep(ctx context.Context, in RecordStepInput) (StepRecord, error) {
	if in.Failure != nil {
		var err error
		if in.Outcome, err = t.dispatchFailure(ctx, in); err != nil {
			return StepRecord{}, err
		}
	}
	if in.Outcome.Error == "" {
		if err := t.collectBackups(ctx, in.Step, &in.Outcome); err != nil {
			return StepRecord{}, err
		}
	}
	failed := in.Outcome.Error != ""
	for _, h := range in.Outcome.Results {
		if !h.Succeeded() {
			failed = true
		}
	}
	status := deploy.StepSucceeded
	if failed {
		status = deploy.StepFailed
	}
	_, err := t.updateRun(ctx, RunRef{in.Step.DeploymentID, in.Step.RunID}, func(r *deploy.Run) error {
		s := &r.Steps[in.Step.Index]
		s.Status = status
		s.Results = in.Outcome.Results
		s.Error = in.Outcome.Error
		if in.Outcome.LogKey != "" {
			s.LogKey = in.Outcome.LogKey
		}
		s.FinishedAt = t.cfg.Now()
		return nil
	})
	if err != nil {
		return StepRecord{}, err
	}
	if failed {
		reason := in.Outcome.Error
		if reason == "" {
			reason = firstHostReason(in.Outcome.Results)
		}
		if r, err := t.cfg.Store.GetRun(ctx, in.Step.DeploymentID, in.Step.RunID); err == nil && alwaysAfter(r, in.Step.Index) {
			t.cfg.Log.InfoContext(ctx, "step failed; the steps that always run still run", "deployment", r.DeploymentID, "run", r.ID, "step", in.Step.Name, "reason", reason)
			return StepRecord{Status: status}, nil
		}
		return StepRecord{}, &StepFailedError{Reason: fmt.Sprintf("step %s failed: %s", in.Step.Name, reason)}
	}
	return StepRecord{Status: status}, nil
}

func firstHostReason(rs []deploy.HostResult) string {
	for _, h := range rs {
		if !h.Succeeded() {
			if h.Reason != "" {
				return h.Reason
			}
			return "host " + h.Host + " failed"
		}
	}
	return "a host failed"
}

// ErrorInfo is what a state machine Catch puts in the state's input.
type ErrorInfo struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// FinishInput ends a run: successfully, or with the error a Catch caught.
type FinishInput struct {
	DeploymentID string     `json:"deployment_id"`
	RunID        string     `json:"run_id"`
	Failure      *ErrorInfo `json:"failure,omitempty"`
}

// Finished is what FinishRun returns: the run's final status and, for a
// run started by an Auto Scaling lifecycle hook, the result to complete
// the lifecycle action with (CONTINUE on success, ABANDON otherwise).
type Finished struct {
	Status          deploy.RunStatus `json:"status"`
	LifecycleResult string           `json:"lifecycle_result,omitempty"`
}

// FinishRun records the run's outcome: succeeded, or failed with the
// caught error's reason (any step still running is marked failed). A run
// already ended (cancelled) keeps its status. The instance a deploy or
// add-instance installs becomes deployed or failed.
//
// The instance's status is written before the run's: whoever sees the run
// ended (edenctl --wait, an API client polling it) then reads the
// deployment as that end left it, never an instance still deploying.
func (t *Tasks) FinishRun(ctx context.Context, in FinishInput) (Finished, error) {
	ref := RunRef{in.DeploymentID, in.RunID}
	finish := func(r *deploy.Run) error {
		if r.Status.Terminal() {
			return nil
		}
		now := t.cfg.Now()
		if in.Failure == nil {
			if reason := stepFailure(r); reason != "" {
				// A step failed and the steps that always run ran.
				r.Error = reason
				return r.MoveTo(deploy.RunFailed, now)
			}
			return r.MoveTo(deploy.RunSucceeded, now)
		}
		r.Error = failureReason(*in.Failure)
		for i := range r.Steps {
			if r.Steps[i].Status == deploy.StepRunning {
				r.Steps[i].Status = deploy.StepFailed
				r.Steps[i].FinishedAt = now
				if r.Steps[i].Error == "" {
					r.Steps[i].Error = r.Error
				}
			}
		}
		return r.MoveTo(deploy.RunFailed, now)
	}
	// The deployment was deleted while the run ran: nothing to record.
	deleted := func(err error) bool { return deploy.IsKind(err, deploy.KindNotFound) }
	ended, err := t.cfg.Store.GetRun(ctx, in.DeploymentID, in.RunID)
	if err != nil {
		if deleted(err) {
			return Finished{Status: deploy.RunCancelled}, nil
		}
		return Finished{}, t.taskError("get run", err)
	}
	if err := finish(ended); err != nil {
		return Finished{}, err
	}
	if err := t.observe(ctx, ended); err != nil {
		if deleted(err) {
			return Finished{Status: deploy.RunCancelled}, nil
		}
		return Finished{}, err
	}
	r, err := t.updateRun(ctx, ref, finish)
	if err != nil {
		if deleted(err) {
			return Finished{Status: deploy.RunCancelled}, nil
		}
		return Finished{}, err
	}
	// Cancelled in between: the instance follows the run's real end.
	if r.Status != ended.Status {
		if err := t.observe(ctx, r); err != nil {
			return Finished{}, err
		}
	}
	if t.cfg.RunEnded != nil {
		t.cfg.RunEnded(ctx, r)
	}
	out := Finished{Status: r.Status}
	if r.Lifecycle != nil {
		out.LifecycleResult = "ABANDON"
		if r.Status == deploy.RunSucceeded {
			out.LifecycleResult = "CONTINUE"
		}
	}
	t.cfg.Log.InfoContext(ctx, "run finished", "deployment", r.DeploymentID, "run", r.ID, "status", r.Status, "error", r.Error)
	return out, nil
}

func failureReason(e ErrorInfo) string {
	// A Lambda function's error reaches a Catch with Cause holding the
	// error object Lambda returned: {"errorMessage": ..., "errorType": ...}.
	cause := e.Cause
	var lambdaErr struct {
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.Message != "" {
		cause = lambdaErr.Message
	}
	switch {
	case cause != "" && (e.Error == "StepFailedError" || e.Error == "RunEndedError"):
		return cause
	case e.Error == "States.HeartbeatTimeout":
		return "lost contact with the runner: no heartbeat in time (States.HeartbeatTimeout)"
	case e.Error == "States.Timeout":
		return "the step did not finish in time (States.Timeout)"
	case cause != "":
		return e.Error + ": " + cause
	}
	return e.Error
}

// Handlers returns the task functions keyed by the state machine
// substitution that names them (${StartRunFunctionArn} and so on), for the
// local engine's registry and for the Lambda binaries.
func (t *Tasks) Handlers() map[string]any {
	return map[string]any{
		"StartRunFunctionArn":          t.StartRun,
		"PrepareStepFunctionArn":       t.PrepareStep,
		"DispatchStepFunctionArn":      t.DispatchStep,
		"RecordStepFunctionArn":        t.RecordStep,
		"FinishRunFunctionArn":         t.FinishRun,
		"CompleteLifecycleFunctionArn": t.CompleteLifecycle,
	}
}

// LifecycleInput completes a run's lifecycle action with Result.
type LifecycleInput struct {
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
	Result       string `json:"result"`
}

// LifecycleCompleted is what CompleteLifecycle returns.
type LifecycleCompleted struct {
	Result string `json:"result"`
}

// CompleteLifecycle completes the run's Auto Scaling lifecycle action and
// records the result on the run.
func (t *Tasks) CompleteLifecycle(ctx context.Context, in LifecycleInput) (LifecycleCompleted, error) {
	if in.Result != "CONTINUE" && in.Result != "ABANDON" {
		return LifecycleCompleted{}, fmt.Errorf("tasks: lifecycle result %q is neither CONTINUE nor ABANDON", in.Result)
	}
	r, err := t.cfg.Store.GetRun(ctx, in.DeploymentID, in.RunID)
	if err != nil {
		return LifecycleCompleted{}, t.taskError("get run", err)
	}
	if r.Lifecycle == nil {
		return LifecycleCompleted{}, fmt.Errorf("tasks: run %s has no lifecycle action", r.ID)
	}
	if t.cfg.Lifecycle == nil {
		return LifecycleCompleted{}, errors.New("tasks: no lifecycle completer is configured")
	}
	if err := t.cfg.Lifecycle.CompleteLifecycleAction(ctx, *r.Lifecycle, in.Result); err != nil {
		return LifecycleCompleted{}, t.taskError("complete lifecycle action", err)
	}
	_, err = t.updateRun(ctx, RunRef{in.DeploymentID, in.RunID}, func(r *deploy.Run) error {
		r.Lifecycle.Result = in.Result
		r.Lifecycle.CompletedAt = t.cfg.Now()
		return nil
	})
	if err != nil {
		return LifecycleCompleted{}, err
	}
	t.cfg.Log.InfoContext(ctx, "lifecycle action completed", "deployment", in.DeploymentID, "run", in.RunID, "result", in.Result, "instance", r.Lifecycle.InstanceID)
	if t.cfg.LifecycleCompleted != nil {
		t.cfg.LifecycleCompleted(ctx, r, in.Result)
	}
	return LifecycleCompleted{Result: in.Result}, nil
}

// observe records r's status on its deployment (instance status; a
// removed instance goes).
func (t *Tasks) observe(ctx context.Context, r *deploy.Run) error {
	if r.Kind != deploy.RunDeploy && r.Kind != deploy.RunAddInstance && r.Kind != deploy.RunRemove {
		return nil
	}
	_, err := deploy.UpdateDeployment(ctx, t.cfg.Store, r.DeploymentID, func(d *deploy.Deployment) error {
		d.ObserveRun(r, t.cfg.Now())
		return nil
	})
	if err != nil {
		return t.taskError("update deployment", err)
	}
	return nil
}

// updateRun applies change to the stored run, again if another writer got
// there first. (The store sets a finished run's expiry.)
func (t *Tasks) updateRun(ctx context.Context, ref RunRef, change func(*deploy.Run) error) (*deploy.Run, error) {
	r, err := deploy.UpdateRun(ctx, t.cfg.Store, ref.DeploymentID, ref.RunID, change)
	if err != nil {
		return nil, t.taskError("update run", err)
	}
	return r, nil
}

// taskError turns a dependency's error into what the state machine
// expects: transient ones are RetryableError, the rest are wrapped.
func (t *Tasks) taskError(what string, err error) error {
	var ended *RunEndedError
	if errors.As(err, &ended) {
		return ended
	}
	if deploy.IsKind(err, deploy.KindTransient) {
		return &RetryableError{Cause: what + ": " + err.Error()}
	}
	return fmt.Errorf("tasks: %s: %w", what, err)
}
