package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// ScheduleTrigger makes stored schedules fire. Locally the scheduler reads
// the store and only needs waking (trigger/local); on AWS each schedule is
// an EventBridge Scheduler schedule that invokes the schedule function
// (trigger/aws). Implementations are safe for concurrent use.
type ScheduleTrigger interface {
	// PutTrigger creates or replaces the trigger of s, enabled unless
	// s.Paused. An expression the trigger cannot honour is Invalid
	// (EventBridge Scheduler has no seconds); a passing failure is
	// Transient.
	PutTrigger(ctx context.Context, s *deploy.Schedule) error
	// DeleteTrigger removes the trigger of s; one that is gone already is
	// not an error.
	DeleteTrigger(ctx context.Context, s *deploy.Schedule) error
}

// MaxSchedules bounds a deployment's schedules.
const MaxSchedules = 50

// ScheduleView is a schedule with its next fire times (none while paused)
// and its latest fire.
type ScheduleView struct {
	*deploy.Schedule
	NextFires []time.Time  `json:"next_fires"`
	LastFire  *deploy.Fire `json:"last_fire"`
}

var errNoSchedules = errors.New("control: schedules are not configured")

func (s *Service) schedulesReady() error {
	if s.cfg.Schedules == nil || s.cfg.Trigger == nil {
		return errNoSchedules
	}
	return nil
}

// view adds the next fires and the latest fire to sc.
func (s *Service) view(ctx context.Context, sc *deploy.Schedule) (*ScheduleView, error) {
	v := &ScheduleView{Schedule: sc, NextFires: []time.Time{}}
	if !sc.Paused {
		if c, err := sc.Parsed(); err == nil {
			v.NextFires = c.NextN(s.cfg.Now(), 3)
		}
	}
	fs, _, err := s.cfg.Schedules.ListFires(ctx, sc.DeploymentID, sc.ID, deploy.Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(fs) > 0 {
		v.LastFire = fs[0]
	}
	return v, nil
}

// CreateSchedule adds a schedule to the deployment and arms its trigger.
// A trigger that cannot be armed undoes the schedule.
func (s *Service) CreateSchedule(ctx context.Context, c Caller, id string, spec deploy.ScheduleSpec) (*ScheduleView, error) {
	if err := s.schedulesReady(); err != nil {
		return nil, err
	}
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, err
	}
	existing, _, err := s.cfg.Schedules.ListSchedules(ctx, id, deploy.Page{Limit: MaxSchedules})
	if err != nil {
		return nil, err
	}
	if len(existing) >= MaxSchedules {
		return nil, deploy.Conflict("schedules", "deployment %s has %d schedules already, the most it may have", id, MaxSchedules)
	}
	now := s.cfg.Now()
	sc, err := deploy.NewSchedule(d, spec, deploy.NewID("s-", now), c.User, now)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Schedules.PutSchedule(ctx, sc); err != nil {
		return nil, err
	}
	if err := s.cfg.Trigger.PutTrigger(ctx, sc); err != nil {
		if derr := s.cfg.Schedules.DeleteSchedule(ctx, id, sc.ID); derr != nil {
			s.cfg.Log.ErrorContext(ctx, "could not remove a schedule whose trigger failed", "deployment", id, "schedule", sc.ID, "err", derr)
		}
		return nil, fmt.Errorf("control: arm schedule %s: %w", sc.ID, err)
	}
	s.cfg.Log.InfoContext(ctx, "schedule created", "deployment", id, "schedule", sc.ID, "task", sc.Task, "instance", sc.Instance, "cron", sc.Cron, "time_zone", sc.TimeZone)
	return s.view(ctx, sc)
}

// ListSchedules lists the deployment's schedules, oldest first.
func (s *Service) ListSchedules(ctx context.Context, c Caller, id string, p deploy.Page) ([]*ScheduleView, string, error) {
	if err := s.schedulesReady(); err != nil {
		return nil, "", err
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, "", err
	}
	ss, next, err := s.cfg.Schedules.ListSchedules(ctx, id, p)
	if err != nil {
		return nil, "", err
	}
	out := make([]*ScheduleView, 0, len(ss))
	for _, sc := range ss {
		v, err := s.view(ctx, sc)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

// GetSchedule returns one schedule of the deployment.
func (s *Service) GetSchedule(ctx context.Context, c Caller, id, scheduleID string) (*ScheduleView, error) {
	if err := s.schedulesReady(); err != nil {
		return nil, err
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	sc, err := s.cfg.Schedules.GetSchedule(ctx, id, scheduleID)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, sc)
}

// ListFires lists a schedule's fires, latest slot first.
func (s *Service) ListFires(ctx context.Context, c Caller, id, scheduleID string, p deploy.Page) ([]*deploy.Fire, string, error) {
	if _, err := s.GetSchedule(ctx, c, id, scheduleID); err != nil {
		return nil, "", err
	}
	return s.cfg.Schedules.ListFires(ctx, id, scheduleID, p)
}

// PauseSchedule stops a schedule firing until it is resumed; ResumeSchedule
// starts it again from now (slots that passed while it was paused do not
// fire). Pausing a paused schedule, or resuming a running one, changes
// nothing.
func (s *Service) PauseSchedule(ctx context.Context, c Caller, id, scheduleID string) (*ScheduleView, error) {
	return s.setPaused(ctx, c, id, scheduleID, true)
}

// ResumeSchedule: see PauseSchedule.
func (s *Service) ResumeSchedule(ctx context.Context, c Caller, id, scheduleID string) (*ScheduleView, error) {
	return s.setPaused(ctx, c, id, scheduleID, false)
}

func (s *Service) setPaused(ctx context.Context, c Caller, id, scheduleID string, paused bool) (*ScheduleView, error) {
	if err := s.schedulesReady(); err != nil {
		return nil, err
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		sc, err := s.cfg.Schedules.GetSchedule(ctx, id, scheduleID)
		if err != nil {
			return nil, err
		}
		if sc.Paused == paused {
			// The trigger may have missed the last change (a failure
			// after the store was written): arm it again.
			if err := s.cfg.Trigger.PutTrigger(ctx, sc); err != nil {
				return nil, fmt.Errorf("control: arm schedule %s: %w", sc.ID, err)
			}
			return s.view(ctx, sc)
		}
		now := s.cfg.Now().UTC()
		sc.Paused, sc.UpdatedAt = paused, now
		if !paused {
			sc.Since = now
		}
		err = s.cfg.Schedules.PutSchedule(ctx, sc)
		if deploy.IsKind(err, deploy.KindConflict) && attempt < deploy.MaxUpdateAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := s.cfg.Trigger.PutTrigger(ctx, sc); err != nil {
			return nil, fmt.Errorf("control: arm schedule %s: %w", sc.ID, err)
		}
		s.cfg.Log.InfoContext(ctx, "schedule paused or resumed", "deployment", id, "schedule", sc.ID, "paused", paused, "by", c.User)
		return s.view(ctx, sc)
	}
}

// DeleteSchedule disarms the schedule's trigger, then removes it with its
// fires.
func (s *Service) DeleteSchedule(ctx context.Context, c Caller, id, scheduleID string) error {
	if err := s.schedulesReady(); err != nil {
		return err
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return err
	}
	sc, err := s.cfg.Schedules.GetSchedule(ctx, id, scheduleID)
	if err != nil {
		return err
	}
	if err := s.cfg.Trigger.DeleteTrigger(ctx, sc); err != nil {
		return fmt.Errorf("control: disarm schedule %s: %w", sc.ID, err)
	}
	if err := s.cfg.Schedules.DeleteSchedule(ctx, id, scheduleID); err != nil {
		return err
	}
	s.cfg.Log.InfoContext(ctx, "schedule deleted", "deployment", id, "schedule", scheduleID, "by", c.User)
	return nil
}

// Fire handles one slot of a schedule: the local scheduler and the AWS
// schedule function both call it. The fire is recorded (pending, naming
// the run it will start) before the run is created, and the run is created
// under that recorded ID, so calling Fire again for the slot, after a
// crash or a redelivered invocation, finishes what the first call began
// and never starts a second run. missed counts earlier slots the fire
// stands for (the local missed-fire policy). A fire that finds another
// run active is recorded as skipped with the reason; one that the
// deployment's rules refuse (the instance is not deployed) as failed. A
// schedule or deployment that is gone is NotFound.
func (s *Service) Fire(ctx context.Context, deploymentID, scheduleID string, slot time.Time, missed int) (*deploy.Fire, error) {
	if s.cfg.Schedules == nil {
		return nil, errNoSchedules
	}
	slot = slot.UTC().Truncate(time.Second)
	sc, err := s.cfg.Schedules.GetSchedule(ctx, deploymentID, scheduleID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	f := &deploy.Fire{ScheduleID: sc.ID, DeploymentID: sc.DeploymentID, Slot: slot, FiredAt: now,
		Status: deploy.FirePending, RunID: deploy.NewID("r-", now), Missed: missed}
	if err := s.cfg.Schedules.CreateFire(ctx, f); deploy.IsKind(err, deploy.KindConflict) {
		// The slot was fired before: finish it if it is still pending.
		if f, err = s.cfg.Schedules.GetFire(ctx, deploymentID, scheduleID, deploy.FireKey(slot)); err != nil {
			return nil, err
		}
		if f.Status.Done() {
			return f, nil
		}
	} else if err != nil {
		return nil, err
	}
	log := s.cfg.Log.With("deployment", deploymentID, "schedule", scheduleID, "slot", slot, "run", f.RunID)
	end := func(status deploy.FireStatus, reason string) (*deploy.Fire, error) {
		f.Status, f.Reason = status, reason
		if err := s.cfg.Schedules.UpdateFire(ctx, f); err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "schedule fired", "status", status, "reason", reason, "missed", f.Missed)
		return f, nil
	}
	// A run under the recorded ID means an earlier call got that far.
	if r, err := s.cfg.Store.GetRun(ctx, deploymentID, f.RunID); err == nil {
		if err := s.start(ctx, r); err != nil {
			return end(deploy.FireFailed, "the run could not start: "+r.Error)
		}
		return end(deploy.FireStarted, "")
	} else if !deploy.IsKind(err, deploy.KindNotFound) {
		return nil, err
	}
	if sc.Paused {
		return end(deploy.FireSkipped, "the schedule is paused")
	}
	d, err := s.cfg.Store.GetDeployment(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	active, err := s.activeRun(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	if active != nil {
		return end(deploy.FireSkipped, fmt.Sprintf("run %s (%s) was still %s", active.ID, active.Kind, active.Status))
	}
	req := deploy.RunRequest{Kind: sc.Task, Instance: sc.Instance, Requester: deploy.ScheduleRequester(sc.ID)}
	if err := d.CheckRun(req, nil); err != nil {
		return end(deploy.FireFailed, err.Error())
	}
	run, err := d.NewRun(f.RunID, req, now)
	if err != nil {
		return end(deploy.FireFailed, err.Error())
	}
	if sc.Task == deploy.RunReconfigure {
		// A scheduled reconfigure applies the settings the instance has.
		run.Settings = d.Instance(sc.Instance).Settings
	}
	if err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		if deploy.IsKind(err, deploy.KindConflict) {
			if r, gerr := s.cfg.Store.GetRun(ctx, deploymentID, f.RunID); gerr == nil {
				run = r // created by a concurrent call of the same slot
			} else {
				return end(deploy.FireSkipped, "another run became active: "+err.Error())
			}
		} else {
			return nil, err
		}
	}
	if err := s.start(ctx, run); err != nil {
		return end(deploy.FireFailed, "the run could not start (see the control plane's log)")
	}
	return end(deploy.FireStarted, "")
}

// dropSchedulesAndWebhooks disarms and removes the deployment's schedules
// and removes its webhooks (their secrets go with the deployment's).
func (s *Service) dropSchedulesAndWebhooks(ctx context.Context, id string) error {
	if s.cfg.Schedules != nil && s.cfg.Trigger != nil {
		for {
			ss, _, err := s.cfg.Schedules.ListSchedules(ctx, id, deploy.Page{Limit: 100})
			if err != nil {
				return fmt.Errorf("control: schedules of %s: %w", id, err)
			}
			for _, sc := range ss {
				if err := s.cfg.Trigger.DeleteTrigger(ctx, sc); err != nil {
					return fmt.Errorf("control: disarm schedule %s: %w", sc.ID, err)
				}
				if err := s.cfg.Schedules.DeleteSchedule(ctx, id, sc.ID); err != nil && !deploy.IsKind(err, deploy.KindNotFound) {
					return err
				}
			}
			if len(ss) < 100 {
				break
			}
		}
	}
	if s.cfg.Webhooks != nil {
		for {
			ws, _, err := s.cfg.Webhooks.ListWebhooks(ctx, id, deploy.Page{Limit: 100})
			if err != nil {
				return fmt.Errorf("control: webhooks of %s: %w", id, err)
			}
			for _, w := range ws {
				if err := s.cfg.Webhooks.DeleteWebhook(ctx, id, w.ID); err != nil && !deploy.IsKind(err, deploy.KindNotFound) {
					return err
				}
			}
			if len(ws) < 100 {
				break
			}
		}
	}
	return nil
}
