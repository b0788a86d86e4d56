// Package local fires schedules on the local control plane (edenctl
// serve): it reads every schedule from the store, waits for the earliest
// slot and fires it through control.Service.Fire, which records the fire
// before its run starts. It implements control.ScheduleTrigger, whose
// calls only wake it to read the store again; its AWS counterpart is
// internal/trigger/aws (EventBridge Scheduler).
//
// Missed fires: slots that passed while the control plane was down are
// handled on start by the Policy: MissedOnce (the default) fires a missed
// schedule once, for its latest missed slot, recording how many slots that
// fire stands for; MissedSkip fires none of them. A fire that was recorded
// but not finished when the process died is finished on start (Fire is
// idempotent per slot), so a crash neither loses nor repeats a slot.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Policy is what happens to slots missed while the control plane was down.
type Policy string

// The missed-fire policies.
const (
	MissedOnce Policy = "once" // fire a missed schedule once, at start
	MissedSkip Policy = "skip" // fire none of the missed slots
)

// Firer fires one slot of a schedule (control.Service.Fire).
type Firer interface {
	Fire(ctx context.Context, deploymentID, scheduleID string, slot time.Time, missed int) (*deploy.Fire, error)
}

// Config holds the scheduler's dependencies.
type Config struct {
	Store deploy.ScheduleStore
	Firer Firer
	// Policy for missed slots; default MissedOnce.
	Policy Policy
	// Now is the clock; default time.Now. Tests drive the scheduler with
	// Tick instead of Run.
	Now func() time.Time
	// Rescan bounds how long Run sleeps without reading the store again
	// (default one minute): schedules written by another process still
	// fire.
	Rescan time.Duration
	Log    *slog.Logger
}

// Scheduler fires schedules from the store. Safe for concurrent use.
type Scheduler struct {
	cfg  Config
	wake chan struct{}

	mu sync.Mutex
	// cursor is, per schedule, the slot up to which it has been handled.
	cursor map[string]time.Time
	// started is set once the missed slots of the first scan were handled.
	started bool
}

var _ control.ScheduleTrigger = (*Scheduler)(nil)

// New returns a scheduler; Run (or Tick) makes it fire.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Firer == nil {
		return nil, fmt.Errorf("trigger/local: a store and a firer are required")
	}
	switch cfg.Policy {
	case "":
		cfg.Policy = MissedOnce
	case MissedOnce, MissedSkip:
	default:
		return nil, fmt.Errorf("trigger/local: missed-fire policy %q is neither once nor skip", cfg.Policy)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Scheduler{cfg: cfg, wake: make(chan struct{}, 1), cursor: map[string]time.Time{}}, nil
}

// PutTrigger implements control.ScheduleTrigger: the scheduler reads the
// store again.
func (s *Scheduler) PutTrigger(ctx context.Context, sc *deploy.Schedule) error {
	s.mu.Lock()
	// A resumed schedule counts from its resume.
	if c, ok := s.cursor[sc.ID]; ok && sc.Since.After(c) {
		s.cursor[sc.ID] = sc.Since
	}
	s.mu.Unlock()
	s.poke()
	return nil
}

// DeleteTrigger implements control.ScheduleTrigger.
func (s *Scheduler) DeleteTrigger(ctx context.Context, sc *deploy.Schedule) error {
	s.mu.Lock()
	delete(s.cursor, sc.ID)
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		next, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.ErrorContext(ctx, "scheduler: a pass failed; trying again shortly", "err", err)
			next = s.cfg.Now().Add(5 * time.Second)
		}
		wait := s.cfg.Rescan
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.cfg.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Tick reads every schedule, fires each one whose slot has come (a slot
// that came twice since the last pass fires once, counting the other as
// missed), and returns when the next slot is due (zero if none).
func (s *Scheduler) Tick(ctx context.Context) (time.Time, error) {
	now := s.cfg.Now().UTC()
	var all []*deploy.Schedule
	p := deploy.Page{Limit: 100}
	for {
		ss, next, err := s.cfg.Store.ListSchedules(ctx, "", p)
		if err != nil {
			return time.Time{}, fmt.Errorf("trigger/local: list schedules: %w", err)
		}
		all = append(all, ss...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	s.mu.Lock()
	first := !s.started
	s.started = true
	s.mu.Unlock()
	var due time.Time
	var errs []error
	seen := map[string]bool{}
	for _, sc := range all {
		seen[sc.ID] = true
		next, err := s.tickOne(ctx, sc, now, first)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !next.IsZero() && (due.IsZero() || next.Before(due)) {
			due = next
		}
	}
	s.mu.Lock()
	for id := range s.cursor {
		if !seen[id] {
			delete(s.cursor, id)
		}
	}
	s.mu.Unlock()
	if len(errs) > 0 {
		return due, fmt.Errorf("trigger/local: %d schedule(s) failed, first: %w", len(errs), errs[0])
	}
	return due, nil
}

// tickOne handles one schedule at now and returns its next slot.
func (s *Scheduler) tickOne(ctx context.Context, sc *deploy.Schedule, now time.Time, first bool) (time.Time, error) {
	c, err := sc.Parsed()
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "scheduler: a stored schedule does not parse; it never fires", "deployment", sc.DeploymentID, "schedule", sc.ID, "err", err)
		return time.Time{}, nil
	}
	s.mu.Lock()
	cur, known := s.cursor[sc.ID]
	s.mu.Unlock()
	missedPolicy := false
	if !known {
		// First sight (a start, or a schedule written since): count from
		// its latest fire, finishing it if a crash left it pending, or
		// from when it started counting.
		cur = sc.Since
		fs, _, err := s.cfg.Store.ListFires(ctx, sc.DeploymentID, sc.ID, deploy.Page{Limit: 1})
		if err != nil {
			return time.Time{}, err
		}
		if len(fs) > 0 {
			last := fs[0]
			if last.Slot.After(cur) {
				cur = last.Slot
			}
			if !last.Status.Done() {
				if _, err := s.cfg.Firer.Fire(ctx, sc.DeploymentID, sc.ID, last.Slot, last.Missed); err != nil {
					return time.Time{}, fmt.Errorf("finish the pending fire of schedule %s: %w", sc.ID, err)
				}
				s.cfg.Log.InfoContext(ctx, "scheduler: finished a fire a stop had interrupted", "deployment", sc.DeploymentID, "schedule", sc.ID, "slot", last.Slot)
			}
		}
		missedPolicy = first
	}
	if sc.Paused {
		// Paused: nothing fires; on resume it counts from Since.
		s.setCursor(sc.ID, maxTime(cur, now))
		return time.Time{}, nil
	}
	slot, n := c.Latest(cur, now)
	if n > 0 {
		missed := n - 1
		if missedPolicy && s.cfg.Policy == MissedSkip {
			s.cfg.Log.InfoContext(ctx, "scheduler: slots missed while stopped are skipped (policy skip)", "deployment", sc.DeploymentID, "schedule", sc.ID, "missed", n)
		} else {
			if _, err := s.cfg.Firer.Fire(ctx, sc.DeploymentID, sc.ID, slot, missed); err != nil {
				if deploy.IsKind(err, deploy.KindNotFound) {
					// Deleted meanwhile.
					return time.Time{}, nil
				}
				return time.Time{}, fmt.Errorf("fire schedule %s at %s: %w", sc.ID, slot.Format(time.RFC3339), err)
			}
		}
		cur = slot
	}
	s.setCursor(sc.ID, cur)
	return c.Next(maxTime(cur, now)), nil
}

func (s *Scheduler) setCursor(id string, t time.Time) {
	s.mu.Lock()
	s.cursor[id] = t
	s.mu.Unlock()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
