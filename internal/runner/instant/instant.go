// Package instant is a deploy.Runner that runs nothing: every step it is
// given succeeds at once on every host, with one "ok" task per host. It
// exists so that benchmarks measure the control plane alone — the store,
// the workflow engine and the task functions, as in production — without
// Ansible's cost (`edenctl serve --runner instant`, `make bench-compare`).
// Never use it to deploy anything.
package instant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Runner completes every dispatched step at once. Safe for concurrent use.
type Runner struct {
	sig runner.Signaler
	log *slog.Logger
	wg  sync.WaitGroup
}

var _ deploy.Runner = (*Runner)(nil)

// New returns a runner that signals every step's success through sig.
func New(sig runner.Signaler, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	return &Runner{sig: sig, log: log}
}

// Dispatch implements deploy.Runner: it returns a command ID at once and,
// right after, signals an outcome in which every host succeeded (as the
// signalling contract of package runner says a runner must, exactly once).
func (r *Runner) Dispatch(ctx context.Context, d deploy.Dispatch) (string, error) {
	if d.Token == "" {
		return "", deploy.Invalid("token", "runner/instant: no task token")
	}
	if len(d.Hosts) == 0 {
		return "", deploy.Invalid("hosts", "runner/instant: no hosts")
	}
	o := deploy.StepOutcome{LogKey: d.LogKey, Results: make([]deploy.HostResult, len(d.Hosts))}
	for i, h := range d.Hosts {
		o.Results[i] = deploy.HostResult{Host: h.Host, OK: 1}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "instant-" + hex.EncodeToString(b[:])
	// Signalled after Dispatch returns, as a real runner's end comes after
	// its start.
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := runner.SignalOutcome(sctx, r.sig, d.Token, o)
		if err != nil && !errors.Is(err, workflow.ErrTaskNotFound) {
			r.log.Error("instant runner: signal outcome", "run", d.RunID, "step", d.StepIndex, "err", err)
		}
	}()
	return id, nil
}

// Cancel implements deploy.Runner: steps end at once, so there is nothing
// to stop.
func (r *Runner) Cancel(ctx context.Context, commandID string) error { return nil }

// Wait waits until every outcome has been signalled, or ctx ends.
func (r *Runner) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
