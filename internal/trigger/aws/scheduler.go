// Package aws arms schedules as Amazon EventBridge Scheduler schedules:
// each Eden Deploy schedule is one schedule of the stack's schedule group
// that invokes the schedule function (functions/schedule) with the
// deployment, the schedule and the slot (Scheduler's
// <aws.scheduler.scheduled-time>), through a role that may invoke only
// that function. It implements control.ScheduleTrigger; its local
// counterpart is internal/trigger/local.
//
// EventBridge Scheduler delivers at least once and retries a failed
// invocation (RetryPolicy); the schedule function fires through
// control.Service.Fire, which starts one run per slot whatever the
// number of deliveries. Missed slots are Scheduler's: it does not run a
// schedule late beyond its retry policy, so nothing is caught up.
package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// API is the part of the EventBridge Scheduler client used.
type API interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error)
}

// Config says where schedules go and what they invoke.
type Config struct {
	// Group is the schedule group (template.yaml's ScheduleGroup).
	Group string
	// TargetARN is the schedule function's ARN; RoleARN the role
	// Scheduler assumes to invoke it.
	TargetARN string
	RoleARN   string
}

// Trigger is the EventBridge Scheduler adapter.
type Trigger struct {
	api API
	cfg Config
}

var _ control.ScheduleTrigger = (*Trigger)(nil)

// New returns the adapter over api.
func New(api API, cfg Config) (*Trigger, error) {
	if api == nil || cfg.Group == "" || cfg.TargetARN == "" || cfg.RoleARN == "" {
		return nil, errors.New("trigger/aws: a client, a schedule group, the target's ARN and the role's ARN are required")
	}
	return &Trigger{api: api, cfg: cfg}, nil
}

// Invocation is the input each schedule sends the schedule function; Slot
// is Scheduler's scheduled time (RFC 3339, UTC).
type Invocation struct {
	DeploymentID string `json:"deployment_id"`
	ScheduleID   string `json:"schedule_id"`
	Slot         string `json:"slot"`
}

// ScheduledTime is the context attribute Scheduler replaces with the
// invocation's scheduled time.
const ScheduledTime = "<aws.scheduler.scheduled-time>"

// Name is the Scheduler name of a schedule (at most 64 characters of
// [0-9A-Za-z_.-]).
func Name(s *deploy.Schedule) string { return "eden-" + s.ID }

// PutTrigger implements control.ScheduleTrigger: UpdateSchedule, or
// CreateSchedule for a schedule Scheduler does not have yet.
func (t *Trigger) PutTrigger(ctx context.Context, s *deploy.Schedule) error {
	expr, err := Expression(s.Cron)
	if err != nil {
		return err
	}
	input, _ := json.Marshal(Invocation{DeploymentID: s.DeploymentID, ScheduleID: s.ID, Slot: ScheduledTime})
	state := types.ScheduleStateEnabled
	if s.Paused {
		state = types.ScheduleStateDisabled
	}
	target := &types.Target{
		Arn: aws.String(t.cfg.TargetARN), RoleArn: aws.String(t.cfg.RoleARN), Input: aws.String(string(input)),
		// A slot not fired within an hour is not fired: the next comes.
		RetryPolicy: &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(3600), MaximumRetryAttempts: aws.Int32(5)},
	}
	desc := fmt.Sprintf("Eden Deploy: %s of %s on deployment %s", s.Task, s.Instance, s.DeploymentID)
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	_, err = t.api.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
		Name: aws.String(Name(s)), GroupName: aws.String(t.cfg.Group), ScheduleExpression: aws.String(expr),
		ScheduleExpressionTimezone: aws.String(s.TimeZone), FlexibleTimeWindow: window, Target: target, State: state,
		Description: aws.String(desc),
	})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		_, err = t.api.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
			Name: aws.String(Name(s)), GroupName: aws.String(t.cfg.Group), ScheduleExpression: aws.String(expr),
			ScheduleExpressionTimezone: aws.String(s.TimeZone), FlexibleTimeWindow: window, Target: target, State: state,
			Description: aws.String(desc), ActionAfterCompletion: types.ActionAfterCompletionNone,
		})
	}
	if err != nil {
		return fmt.Errorf("trigger/aws: put schedule %s: %w", Name(s), kindOf(err))
	}
	return nil
}

// DeleteTrigger implements control.ScheduleTrigger.
func (t *Trigger) DeleteTrigger(ctx context.Context, s *deploy.Schedule) error {
	_, err := t.api.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(Name(s)), GroupName: aws.String(t.cfg.Group)})
	var nf *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("trigger/aws: delete schedule %s: %w", Name(s), kindOf(err))
	}
	return nil
}

func kindOf(err error) error {
	var throttled *types.ThrottlingException
	var internal *types.InternalServerException
	var validation *types.ValidationException
	switch {
	case errors.As(err, &throttled), errors.As(err, &internal):
		return deploy.Transient(err, "EventBridge Scheduler did not take the change; try again")
	case errors.As(err, &validation):
		return &deploy.Error{Kind: deploy.KindInvalid, Field: "cron", Reason: "EventBridge Scheduler refused the schedule", Err: err}
	}
	return err
}

// Expression returns the EventBridge Scheduler expression of a cron
// expression that deploy.ParseCron accepts: cron(minutes hours
// day-of-month month day-of-week year), with ? for the unrestricted day
// field and days of the week counted from 1 (Sunday). A seconds field
// other than 0 is Invalid: Scheduler fires at minute granularity.
func Expression(expr string) (string, error) {
	f := deploy.CronFields(expr)
	if len(f) == 6 {
		if f[0] != "0" {
			return "", deploy.Invalid("cron", "EventBridge Scheduler fires at minute granularity: the seconds field must be 0, not %q", f[0])
		}
		f = f[1:]
	}
	if len(f) != 5 {
		return "", deploy.Invalid("cron", "%q is not a five-field cron expression", expr)
	}
	min, hour, dom, mon, dow := f[0], f[1], f[2], f[3], f[4]
	var err error
	for _, p := range []struct {
		v     *string
		start int
	}{{&min, 0}, {&hour, 0}, {&dom, 1}, {&mon, 1}} {
		*p.v = stepStart(*p.v, p.start)
	}
	switch {
	case dow == "*" || dow == "?":
		dow = "?"
		if dom == "?" {
			dom = "*"
		}
	case dom == "*" || dom == "?":
		dom = "?"
		if dow, err = weekdays(dow); err != nil {
			return "", err
		}
	default:
		return "", deploy.Invalid("cron", "day-of-month and day-of-week cannot both be restricted")
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", min, hour, dom, mon, dow), nil
}

// stepStart writes "*/n" as "start/n", which Scheduler's cron requires.
func stepStart(field string, start int) string {
	parts := strings.Split(field, ",")
	for i, p := range parts {
		if rest, ok := strings.CutPrefix(p, "*/"); ok {
			parts[i] = strconv.Itoa(start) + "/" + rest
		}
	}
	return strings.Join(parts, ",")
}

// weekdays renumbers a day-of-week field from cron's 0-6 (Sunday 0, or 7)
// to Scheduler's 1-7 (Sunday 1); names stay.
func weekdays(field string) (string, error) {
	parts := strings.Split(field, ",")
	for i, p := range parts {
		rng, step, hasStep := strings.Cut(p, "/")
		if rng == "*" {
			rng = "1-7"
			if hasStep {
				rng = "1"
			}
		} else {
			lo, hi, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = weekday(lo); err != nil {
				return "", err
			}
			rng = lo
			if isRange {
				if hi, err = weekday(hi); err != nil {
					return "", err
				}
				rng += "-" + hi
			}
		}
		if hasStep {
			rng += "/" + step
		}
		parts[i] = rng
	}
	return strings.Join(parts, ","), nil
}

func weekday(v string) (string, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return strings.ToUpper(v), nil // a name: SUN..SAT
	}
	if n < 0 || n > 7 {
		return "", deploy.Invalid("cron", "day of week %d is not 0-7", n)
	}
	return strconv.Itoa(n%7 + 1), nil
}
