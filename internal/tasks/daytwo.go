package tasks

import (
	"context"
	"fmt"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Backups keeps the backups that steps make (backups.Service): the records
// of the dumps a db server reports and their checked off-server copies.
type Backups interface {
	// CollectStep records what step i of run r on d reported of its
	// backups (HostResult.Backups). An error of kind Transient may pass on
	// a retry; any other error means the backups the step made are not
	// kept off the server, and it says which.
	CollectStep(ctx context.Context, d *deploy.Deployment, r *deploy.Run, i int, results []deploy.HostResult) error
	// PrepareStep makes ready what step i of run r needs of the backups
	// before it is rendered (a restore's off-server copy).
	PrepareStep(ctx context.Context, d *deploy.Deployment, r *deploy.Run, i int) error
}

// failedBefore reports whether a step before step i of r failed.
func failedBefore(r *deploy.Run, i int) bool {
	for _, s := range r.Steps[:i] {
		if s.Status == deploy.StepFailed {
			return true
		}
	}
	return false
}

// alwaysAfter reports whether a step after step i of r always runs.
func alwaysAfter(r *deploy.Run, i int) bool {
	for _, s := range r.Steps[i+1:] {
		if s.Always {
			return true
		}
	}
	return false
}

// stepFailure is "step <name> failed: <reason>" of r's first failed step,
// or "".
func stepFailure(r *deploy.Run) string {
	for _, s := range r.Steps {
		if s.Status == deploy.StepFailed {
			reason := s.Error
			if reason == "" {
				reason = firstHostReason(s.Results)
			}
			return fmt.Sprintf("step %s failed: %s", s.Name, reason)
		}
	}
	return ""
}

// skipStep records step in.Index as skipped and tells the state machine
// not to dispatch it.
func (t *Tasks) skipStep(ctx context.Context, in StepRef) (PreparedStep, error) {
	_, err := t.updateRun(ctx, RunRef{in.DeploymentID, in.RunID}, func(r *deploy.Run) error {
		s := &r.Steps[in.Index]
		if s.Status == deploy.StepSkipped {
			return deploy.ErrNoChange
		}
		s.Status = deploy.StepSkipped
		return nil
	})
	if err != nil {
		return PreparedStep{}, err
	}
	t.cfg.Log.InfoContext(ctx, "step skipped after a failed one", "deployment", in.DeploymentID, "run", in.RunID, "step", in.Name)
	return PreparedStep{Skip: true}, nil
}

func (t *Tasks) prepareBackups(ctx context.Context, d *deploy.Deployment, r *deploy.Run, i int) error {
	if t.cfg.Backups == nil || r.DryRun {
		return nil
	}
	if err := t.cfg.Backups.PrepareStep(ctx, d, r, i); err != nil {
		return t.taskError("prepare the backup of step "+r.Steps[i].Name, err)
	}
	return nil
}

// dispatchFailure is the outcome of a step that could not run: its error,
// and every host failed with it. A run that already ended stays ended.
func (t *Tasks) dispatchFailure(ctx context.Context, in RecordStepInput) (deploy.StepOutcome, error) {
	r, err := t.cfg.Store.GetRun(ctx, in.Step.DeploymentID, in.Step.RunID)
	if err != nil {
		return deploy.StepOutcome{}, t.taskError("get run", err)
	}
	if r.Status.Terminal() {
		return deploy.StepOutcome{}, &RunEndedError{Reason: fmt.Sprintf("run %s is already %s", r.ID, r.Status)}
	}
	reason := failureReason(*in.Failure)
	out := deploy.StepOutcome{Error: reason, LogKey: r.Steps[in.Step.Index].LogKey}
	for _, h := range r.Steps[in.Step.Index].Hosts {
		out.Results = append(out.Results, deploy.HostResult{Host: h, Failed: 1, Reason: reason})
	}
	return out, nil
}

// collectBackups hands the backups the step's hosts report to Backups. A
// step whose backups cannot be kept off the server fails with the reason.
func (t *Tasks) collectBackups(ctx context.Context, ref StepRef, o *deploy.StepOutcome) error {
	if t.cfg.Backups == nil {
		return nil
	}
	reported := false
	for _, h := range o.Results {
		reported = reported || len(h.Backups) > 0
	}
	if !reported {
		return nil
	}
	d, err := t.cfg.Store.GetDeployment(ctx, ref.DeploymentID)
	if err != nil {
		return t.taskError("get deployment", err)
	}
	r, err := t.cfg.Store.GetRun(ctx, ref.DeploymentID, ref.RunID)
	if err != nil {
		return t.taskError("get run", err)
	}
	err = t.cfg.Backups.CollectStep(ctx, d, r, ref.Index, o.Results)
	if deploy.IsKind(err, deploy.KindTransient) {
		return &RetryableError{Cause: "keep the backups: " + err.Error()}
	}
	if err != nil {
		o.Error = "the backups were not kept off the server: " + err.Error()
		t.cfg.Log.ErrorContext(ctx, "backups not kept", "deployment", ref.DeploymentID, "run", ref.RunID, "step", ref.Name, "err", err)
	}
	return nil
}
