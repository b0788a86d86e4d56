package localplane

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/tasks"
)

// lateSignaler lets the runner be built before the engine it signals.
type lateSignaler struct {
	mu sync.RWMutex
	s  runner.Signaler
}

var _ runner.Signaler = (*lateSignaler)(nil)

func (l *lateSignaler) set(s runner.Signaler) {
	l.mu.Lock()
	l.s = s
	l.mu.Unlock()
}

func (l *lateSignaler) get() (runner.Signaler, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		return nil, errors.New("localplane: the workflow engine is not ready")
	}
	return l.s, nil
}

func (l *lateSignaler) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.SendTaskSuccess(ctx, token, output)
}

func (l *lateSignaler) SendTaskFailure(ctx context.Context, token, name, cause string) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.SendTaskFailure(ctx, token, name, cause)
}

func (l *lateSignaler) SendTaskHeartbeat(ctx context.Context, token string) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.SendTaskHeartbeat(ctx, token)
}

// lifecycleRecorder stands in for Auto Scaling locally: there is no group
// to tell, so what would have been CompleteLifecycleAction is logged here
// and recorded on the run by the CompleteLifecycle task.
type lifecycleRecorder struct{ log *slog.Logger }

var _ tasks.Lifecycle = (*lifecycleRecorder)(nil)

func (l *lifecycleRecorder) CompleteLifecycleAction(ctx context.Context, a deploy.LifecycleAction, result string) error {
	l.log.InfoContext(ctx, "lifecycle action completed (local: recorded only)", "group", a.GroupName, "hook", a.HookName, "instance", a.InstanceID, "result", result)
	return nil
}

func (l *lifecycleRecorder) RecordLifecycleActionHeartbeat(ctx context.Context, a deploy.LifecycleAction) error {
	l.log.DebugContext(ctx, "lifecycle heartbeat (local: recorded only)", "instance", a.InstanceID)
	return nil
}

// runLogs serves run logs from the local log store; a log is complete
// once its run has ended and the log was closed.
type runLogs struct {
	logs *runlog.Store
	runs deploy.RunStore
}

var _ httpapi.RunLogs = (*runLogs)(nil)

func (l *runLogs) ReadLog(ctx context.Context, deploymentID, runID string, offset int64, limit int) ([]byte, int64, bool, error) {
	r, err := l.runs.GetRun(ctx, deploymentID, runID)
	if err != nil {
		return nil, 0, false, err
	}
	size, err := l.logs.Size(runID)
	if deploy.IsKind(err, deploy.KindNotFound) {
		// No step has written yet.
		return nil, 0, r.Status.Terminal(), nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	var data []byte
	if offset < size {
		if data, err = l.logs.ReadRange(runID, offset, int64(limit)); err != nil {
			return nil, 0, false, err
		}
	}
	closed, err := l.logs.Closed(runID)
	if err != nil {
		return nil, 0, false, err
	}
	return data, size, closed || (r.Status.Terminal() && offset+int64(len(data)) >= size), nil
}

func (l *runLogs) WaitLog(ctx context.Context, deploymentID, runID string, size int64) error {
	f, err := l.logs.Follow(ctx, runID, size)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [1]byte
	_, err = f.Read(b[:])
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
