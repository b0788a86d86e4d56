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
	for attempt := 1; ; attempt++ {
		r, err := s.GetRun(ctx, deploymentID, runID)
		if err != nil {
			return nil, err
		}
		if err := change(r); errors.Is(err, ErrNoChange) {
			return r, nil
		} else if err != nil {
			return nil, err
		}
		err = s.UpdateRun(ctx, r)
		if err == nil {
			return r, nil
		}
		if !IsKind(err, KindConflict) || attempt >= MaxUpdateAttempts {
			return nil, err
		}
	}
}

// UpdateDeployment is UpdateRun for a deployment.
func UpdateDeployment(ctx context.Context, s DeploymentStore, id string, change func(*Deployment) error) (*Deployment, error) {
	for attempt := 1; ; attempt++ {
		d, err := s.GetDeployment(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(d); errors.Is(err, ErrNoChange) {
			return d, nil
		} else if err != nil {
			return nil, err
		}
		err = s.UpdateDeployment(ctx, d)
		if err == nil {
			return d, nil
		}
		if !IsKind(err, KindConflict) || attempt >= MaxUpdateAttempts {
			return nil, err
		}
	}
}
