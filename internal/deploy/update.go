package deploy

import (
	"context"
	"errors"
)

// MaxUpdateAttempts bounds how often UpdateRun and UpdateDeployment retry a
// change that lost a race with another writer.
const MaxUpdateAttempts = 8

// ErrNoChange, returned by a change function, ends an update without
// writing: the stored value already says what the change wanted.
var ErrNoChange = errors.New("deploy: nothing to change")

// UpdateRun reads the run, applies change and stores it; when another
// writer got there first (a version Conflict), it reads the run again and
// re-applies change, up to MaxUpdateAttempts times. An error from change
// ends the update and is returned as it is, except ErrNoChange, which
// returns the run as read. It returns the run as stored.
func UpdateRun(ctx context.Context, s RunStore, deploymentID, runID string, change func(*Run) error) (*Run, error) {
	return update(
		func() (*Run, error) { return s.GetRun(ctx, deploymentID, runID) },
		func(r *Run) error { return s.UpdateRun(ctx, r) },
		change)
}

// UpdateDeployment is UpdateRun for a deployment.
func UpdateDeployment(ctx context.Context, s DeploymentStore, id string, change func(*Deployment) error) (*Deployment, error) {
	return update(
		func() (*Deployment, error) { return s.GetDeployment(ctx, id) },
		func(d *Deployment) error { return s.UpdateDeployment(ctx, d) },
		change)
}

// update is the read-change-write loop of UpdateRun and UpdateDeployment.
func update[T any](get func() (T, error), put func(T) error, change func(T) error) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		v, err := get()
		if err != nil {
			return zero, err
		}
		if err := change(v); errors.Is(err, ErrNoChange) {
			return v, nil
		} else if err != nil {
			return zero, err
		}
		err = put(v)
		if err == nil {
			return v, nil
		}
		if !IsKind(err, KindConflict) || attempt >= MaxUpdateAttempts {
			return zero, err
		}
	}
}
