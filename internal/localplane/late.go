package localplane

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	triggerlocal "github.com/edendeploy/edendeploy/internal/trigger/local"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// lateEngine lets the notifier be built before the engine it starts
// executions on (the engine needs the task functions, which need the
// notifier).
type lateEngine struct {
	mu sync.RWMutex
	workflow.Engine
}

func (l *lateEngine) set(e workflow.Engine) {
	l.mu.Lock()
	l.Engine = e
	l.mu.Unlock()
}

func (l *lateEngine) StartExecution(ctx context.Context, machine, name string, input []byte) (string, error) {
	l.mu.RLock()
	e := l.Engine
	l.mu.RUnlock()
	if e == nil {
		return "", errors.New("localplane: the workflow engine is not ready")
	}
	return e.StartExecution(ctx, machine, name, input)
}

// lateFirer lets the scheduler be built before the service it fires
// through (the service needs the scheduler as its trigger).
type lateFirer struct {
	mu  sync.RWMutex
	svc *control.Service
}

var _ triggerlocal.Firer = (*lateFirer)(nil)

func (l *lateFirer) set(s *control.Service) {
	l.mu.Lock()
	l.svc = s
	l.mu.Unlock()
}

func (l *lateFirer) Fire(ctx context.Context, deploymentID, scheduleID string, slot time.Time, missed int) (*deploy.Fire, error) {
	l.mu.RLock()
	s := l.svc
	l.mu.RUnlock()
	if s == nil {
		return nil, errors.New("localplane: the service is not ready")
	}
	return s.Fire(ctx, deploymentID, scheduleID, slot, missed)
}
