package lambdafn

import (
	"context"
	"fmt"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/notify/eventbus"
	"github.com/edendeploy/edendeploy/internal/store/dynamo"
	"github.com/edendeploy/edendeploy/internal/tasks"
	triggeraws "github.com/edendeploy/edendeploy/internal/trigger/aws"
)

// Notifier publishes run ends and abandoned lifecycle actions on the
// account's default EventBridge bus, from which the stack's rule starts
// the notify state machine. Its links are API paths (a function cannot
// name the API's URL without a dependency cycle in the template).
func (a *App) Notifier(store deploy.DeploymentStore) *notify.Notifier {
	return &notify.Notifier{Publisher: &eventbus.Bus{API: a.Clients.EventBridge}, Deployments: store, Log: a.Log}
}

// withSchedules adds schedules (EventBridge Scheduler) and webhooks to the
// API's service.
func (a *App) withSchedules(cfg *control.Config, store *dynamo.Store) {
	cfg.Schedules, cfg.Webhooks = store, store
	cfg.Trigger = &lazyTrigger{a: a}
}

// lazyTrigger builds the Scheduler adapter on first use, so that a
// configuration error names itself in the request that needs it.
type lazyTrigger struct{ a *App }

func (l *lazyTrigger) trigger() (*triggeraws.Trigger, error) {
	return triggeraws.New(l.a.Clients.Scheduler, triggeraws.Config{
		Group: l.a.Config.ScheduleGroup, TargetARN: l.a.Config.ScheduleTarget, RoleARN: l.a.Config.SchedulerRole})
}

func (l *lazyTrigger) PutTrigger(ctx context.Context, s *deploy.Schedule) error {
	t, err := l.trigger()
	if err != nil {
		return err
	}
	return t.PutTrigger(ctx, s)
}

func (l *lazyTrigger) DeleteTrigger(ctx context.Context, s *deploy.Schedule) error {
	t, err := l.trigger()
	if err != nil {
		return err
	}
	return t.DeleteTrigger(ctx, s)
}

// Schedule returns the handler EventBridge Scheduler invokes: it fires
// the slot through control.Service.Fire (once per slot, however often
// Scheduler delivers it). A schedule or deployment that is gone is not an
// error (Scheduler would only retry): the result says so.
func (a *App) Schedule(ctx context.Context) (any, error) {
	svc, _, err := a.Control(false, func(cfg *control.Config, store *dynamo.Store) { cfg.Schedules = store })
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, in triggeraws.Invocation) (*deploy.Fire, error) {
		slot, err := time.Parse(time.RFC3339, in.Slot)
		if err != nil {
			return nil, fmt.Errorf("schedule: slot %q is not an RFC 3339 time: %w", in.Slot, err)
		}
		f, err := svc.Fire(ctx, in.DeploymentID, in.ScheduleID, slot, 0)
		if deploy.IsKind(err, deploy.KindNotFound) {
			a.Log.WarnContext(ctx, "a schedule that is gone fired: nothing to do", "deployment", in.DeploymentID, "schedule", in.ScheduleID, "err", err)
			return &deploy.Fire{ScheduleID: in.ScheduleID, DeploymentID: in.DeploymentID, Slot: slot, Status: deploy.FireSkipped, Reason: "the schedule is gone"}, nil
		}
		return f, err
	}, nil
}

// Deliveries are the notify state machine's task functions.
func (a *App) Deliveries() (*notify.Deliveries, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	var secrets deploy.Secrets = noSecrets{}
	if a.Config.ParameterPrefix != "" {
		if secrets, err = a.Secrets(); err != nil {
			return nil, err
		}
	}
	return notify.NewDeliveries(notify.DeliveryConfig{Webhooks: store, Secrets: secrets, Log: a.Log})
}

// noSecrets stands in where a function reads no secret (PlanDeliveries).
type noSecrets struct{}

func (noSecrets) PutSecret(context.Context, string, string, []byte) error {
	return fmt.Errorf("lambdafn: this function keeps no secrets")
}
func (noSecrets) GetSecret(context.Context, string, string) ([]byte, error) {
	return nil, fmt.Errorf("lambdafn: this function reads no secrets")
}
func (noSecrets) DeleteSecrets(context.Context, string) error {
	return fmt.Errorf("lambdafn: this function deletes no secrets")
}

// NotifyingTasks are Tasks whose run ends (FinishRun) and abandoned
// lifecycle actions (CompleteLifecycle) are published: the two task
// functions that end things.
func (a *App) NotifyingTasks() (*tasks.Tasks, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	n := a.Notifier(store)
	return a.tasks(func(cfg *tasks.Config) {
		cfg.RunEnded = n.RunEnded
		cfg.LifecycleCompleted = func(ctx context.Context, r *deploy.Run, result string) {
			if result == "ABANDON" && r.Lifecycle != nil {
				n.LifecycleAbandoned(ctx, r.DeploymentID, *r.Lifecycle, r, "")
			}
		}
	})
}
