package deploy

import (
	"fmt"
	"strings"
	"time"
)

// ScheduleSpec is what a user asks for: a task on an instance, on a cron
// expression in a time zone.
type ScheduleSpec struct {
	Instance InstanceType `json:"instance"`
	// Task is backup, pull, restart, reconfigure, or clean (not of prod:
	// cleaning prod deletes its data and needs a person's confirmation).
	Task     RunKind `json:"task"`
	Cron     string  `json:"cron"`
	TimeZone string  `json:"time_zone,omitempty"`
}

// Schedule is a recurring task on an instance of a deployment.
type Schedule struct {
	ID           string       `json:"id"`
	DeploymentID string       `json:"deployment_id"`
	Instance     InstanceType `json:"instance"`
	Task         RunKind      `json:"task"`
	Cron         string       `json:"cron"`
	// TimeZone is the IANA zone the expression is read in ("UTC" if none
	// was given).
	TimeZone string `json:"time_zone"`
	Paused   bool   `json:"paused"`
	// CreatedBy is the user who made the schedule; its runs are requested
	// by ScheduleRequester(ID).
	CreatedBy string `json:"created_by"`
	// Since is when the schedule last started counting: its creation, or
	// its last resume. Slots at or before it never fire (a pause is not
	// caught up on resume).
	Since     time.Time `json:"since"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ScheduleTasks are the run kinds a schedule may start.
var ScheduleTasks = []RunKind{RunBackup, RunPull, RunRestart, RunClean, RunReconfigure}

// ScheduleRequester is the requester recorded on the runs a schedule
// starts.
func ScheduleRequester(scheduleID string) string { return "schedule:" + scheduleID }

// NewSchedule validates spec against d and returns the schedule (Version
// 0, not stored). Errors are Invalid (or NotFound for an instance d does
// not have), naming the field.
func NewSchedule(d *Deployment, spec ScheduleSpec, id, by string, now time.Time) (*Schedule, error) {
	if err := CheckScheduleSpec(d, spec); err != nil {
		return nil, err
	}
	tz := spec.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	now = now.UTC()
	return &Schedule{
		ID: id, DeploymentID: d.ID, Instance: spec.Instance, Task: spec.Task,
		Cron: strings.TrimSpace(spec.Cron), TimeZone: tz, CreatedBy: by,
		Since: now, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// CheckScheduleSpec applies the rules of a schedule to spec on d.
func CheckScheduleSpec(d *Deployment, spec ScheduleSpec) error {
	ok := false
	for _, k := range ScheduleTasks {
		ok = ok || k == spec.Task
	}
	switch {
	case spec.Task == "":
		return Invalid("task", "is required: backup, pull, restart, reconfigure or clean")
	case !ok:
		return Invalid("task", "%q cannot be scheduled: use backup, pull, restart, reconfigure or clean", spec.Task)
	case !spec.Instance.Valid():
		return Invalid("instance", "must be prod, demo, test or setup")
	case d.Instance(spec.Instance) == nil:
		return NotFound("instance %s not found", spec.Instance)
	case spec.Task == RunClean && spec.Instance == InstanceProd:
		return Invalid("task", "clean of prod cannot be scheduled: it deletes prod's data and needs a person's confirmation")
	}
	_, err := ParseCron(spec.Cron, spec.TimeZone)
	return err
}

// Parsed returns the schedule's cron expression, parsed.
func (s *Schedule) Parsed() (*Cron, error) {
	c, err := ParseCron(s.Cron, s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", s.ID, err)
	}
	return c, nil
}

// FireStatus is what came of a schedule's slot.
type FireStatus string

// The fire statuses. A fire is recorded pending before its run is created;
// it then becomes started (its run exists and was started), skipped (it
// found another run active, or the schedule paused) or failed (the run was
// refused, e.g. the instance is not deployed).
const (
	FirePending FireStatus = "pending"
	FireStarted FireStatus = "started"
	FireSkipped FireStatus = "skipped"
	FireFailed  FireStatus = "failed"
)

// Done reports whether nothing more happens to a fire in status s.
func (s FireStatus) Done() bool { return s == FireStarted || s == FireSkipped || s == FireFailed }

// Fire is one slot of a schedule and what came of it. A slot fires at
// most once: stores keep one fire per (schedule, slot).
type Fire struct {
	ScheduleID   string `json:"schedule_id"`
	DeploymentID string `json:"deployment_id"`
	// Slot is the time the cron expression named (UTC, whole seconds).
	Slot time.Time `json:"slot"`
	// FiredAt is when the control plane handled the slot (later than Slot
	// after an outage).
	FiredAt time.Time  `json:"fired_at"`
	Status  FireStatus `json:"status"`
	// RunID is the run the fire starts, chosen (and recorded) before the
	// run is created, so a repeated fire of the slot names the same run.
	RunID string `json:"run_id"`
	// Reason says why a fire was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// Missed counts earlier slots that passed unfired while the control
	// plane was down and that this fire stands for (the missed-fire
	// policy runs a missed schedule once, not once per slot).
	Missed  int `json:"missed,omitempty"`
	Version int `json:"version"`
}

// FireKey orders and identifies a fire within its schedule: the slot's
// Unix seconds, fixed width.
func FireKey(slot time.Time) string { return fmt.Sprintf("%012d", slot.Unix()) }
