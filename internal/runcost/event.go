package runcost

import (
	"context"
	"log/slog"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// The EventBridge event Step Functions sends when an execution's status
// changes (delivered best effort, so a lost one leaves its run at 0).
const (
	EventSource     = "aws.states"
	EventDetailType = "Step Functions Execution Status Change"
)

// StatusChange is that event, as far as it is read here.
type StatusChange struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     struct {
		ExecutionArn    string `json:"executionArn"`
		StateMachineArn string `json:"stateMachineArn"`
		// Status is RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
		Status string `json:"status"`
		// Input is the execution's input, a JSON string; absent when it is
		// too large for the event (never for a run's, which is two IDs).
		Input *string `json:"input"`
	} `json:"detail"`
}

// ended are the statuses of an execution that will not change again.
var ended = map[string]bool{"SUCCEEDED": true, "FAILED": true, "TIMED_OUT": true, "ABORTED": true}

// HandleStatusChange records the transitions of an execution that ended on
// its run (ExecutionEnded). Other events, and executions still running,
// are ignored (zero Recorded, nil). An error makes Lambda deliver the
// event again.
func (r *Recorder) HandleStatusChange(ctx context.Context, ev StatusChange) (Recorded, error) {
	d := ev.Detail
	log := r.log().With("execution", d.ExecutionArn, "status", d.Status)
	if ev.Source != EventSource || ev.DetailType != EventDetailType || !ended[d.Status] {
		log.InfoContext(ctx, "not the end of an execution: ignored", "source", ev.Source, "detail_type", ev.DetailType)
		return Recorded{}, nil
	}
	if d.ExecutionArn == "" || d.Input == nil {
		return Recorded{}, deploy.Invalid("detail", "runcost: the event names no execution or carries no input")
	}
	rec, err := r.ExecutionEnded(ctx, d.ExecutionArn, []byte(*d.Input))
	if err != nil {
		return Recorded{}, err
	}
	log.InfoContext(ctx, "run cost recorded", slog.String("deployment", rec.DeploymentID), slog.String("run", rec.RunID),
		slog.Int("transitions", rec.Transitions), slog.Bool("gone", rec.Gone))
	return rec, nil
}
