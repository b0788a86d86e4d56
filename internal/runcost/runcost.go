// Package runcost records on each run what its workflow execution cost:
// the state transitions it made, which is what Step Functions bills for a
// Standard workflow. The figure is written once the execution has ended —
// a moment after the run itself ended, since the states that end the run
// (recording its outcome, completing a lifecycle action) are transitions
// too — so it counts everything the execution did: retries, the
// lifecycle action, a cancelled run's aborted execution.
//
// Locally the ASL engine tells the plane of every execution that ends,
// with its own count (asl.Config.OnEnd → Recorder.Record). On AWS, Step
// Functions' "Execution Status Change" event (EventBridge) invokes the
// executionended function, which counts the execution's history
// (Recorder.ExecutionEnded over stepfn.Client.Transitions).
package runcost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Counter counts the state transitions an execution made, as Step
// Functions bills them: one per state entered (inside Map iterations and
// Parallel branches too) and one per retry. Implemented by stepfn.Client
// from the execution's history. A missing execution is an error wrapping
// workflow.ErrNotFound.
type Counter interface {
	Transitions(ctx context.Context, executionID string) (int, error)
}

// Recorder writes the transitions of ended executions onto their runs.
type Recorder struct {
	Runs deploy.RunStore
	// Counter is needed by ExecutionEnded only.
	Counter Counter
	Log     *slog.Logger
}

// runRef is what the run state machine's executions take as input.
type runRef struct {
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
}

// Recorded is what Record wrote: the run and its transitions.
type Recorded struct {
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
	Transitions  int    `json:"transitions"`
	// Gone is true when the run no longer exists (its deployment was
	// deleted) and nothing was written.
	Gone bool `json:"gone,omitempty"`
}

// Record sets the transitions of the run that an execution with input
// (the run state machine's input: deployment and run IDs) carried to n.
// A run that is gone (its deployment deleted) is not an error; input that
// names no run is Invalid.
func (r *Recorder) Record(ctx context.Context, input []byte, n int) (Recorded, error) {
	var ref runRef
	if err := json.Unmarshal(input, &ref); err != nil || ref.DeploymentID == "" || ref.RunID == "" {
		return Recorded{}, deploy.Invalid("input", "runcost: the execution's input names no run: %.200s", input)
	}
	out := Recorded{DeploymentID: ref.DeploymentID, RunID: ref.RunID, Transitions: n}
	if n < 0 {
		return Recorded{}, deploy.Invalid("transitions", "runcost: %d transitions for run %s", n, ref.RunID)
	}
	_, err := deploy.UpdateRun(ctx, r.Runs, ref.DeploymentID, ref.RunID, func(run *deploy.Run) error {
		if run.Transitions == n {
			return deploy.ErrNoChange
		}
		run.Transitions = n
		return nil
	})
	if deploy.IsKind(err, deploy.KindNotFound) {
		r.log().DebugContext(ctx, "the run of an ended execution is gone", "deployment", ref.DeploymentID, "run", ref.RunID)
		out.Gone = true
		return out, nil
	}
	if err != nil {
		return Recorded{}, fmt.Errorf("runcost: record %d transitions on run %s: %w", n, ref.RunID, err)
	}
	r.log().DebugContext(ctx, "run cost recorded", "deployment", ref.DeploymentID, "run", ref.RunID, "transitions", n)
	return out, nil
}

// ExecutionEnded counts the transitions of the ended execution and
// records them on its run (see Record).
func (r *Recorder) ExecutionEnded(ctx context.Context, executionID string, input []byte) (Recorded, error) {
	if r.Counter == nil {
		return Recorded{}, errors.New("runcost: no transition counter is configured")
	}
	n, err := r.Counter.Transitions(ctx, executionID)
	if err != nil {
		return Recorded{}, fmt.Errorf("runcost: count the transitions of %s: %w", executionID, err)
	}
	return r.Record(ctx, input, n)
}

func (r *Recorder) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
