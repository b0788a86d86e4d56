package lambdafn

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/runcost"
)

// ExecutionEnded returns the handler of Step Functions' execution status
// changes (EventBridge): each run whose execution ended gets the
// transitions its history shows. An error makes Lambda's asynchronous
// invocation deliver the event again.
func (a *App) ExecutionEnded(ctx context.Context) (any, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	wf, err := a.Workflow()
	if err != nil {
		return nil, err
	}
	rec := &runcost.Recorder{Runs: store, Counter: wf, Log: a.Log}
	return rec.HandleStatusChange, nil
}
