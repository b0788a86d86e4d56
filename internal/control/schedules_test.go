package control_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// fakeTrigger records the schedules it was asked to arm and disarm.
type fakeTrigger struct {
	mu    sync.Mutex
	armed map[string]bool // schedule ID → enabled
	err   error
}

func (f *fakeTrigger) PutTrigger(ctx context.Context, s *deploy.Schedule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if f.armed == nil {
		f.armed = map[string]bool{}
	}
	f.armed[s.ID] = !s.Paused
	return nil
}

func (f *fakeTrigger) DeleteTrigger(ctx context.Context, s *deploy.Schedule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.armed, s.ID)
	return nil
}

func (f *fakeTrigger) state(id string) (enabled, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	enabled, ok = f.armed[id]
	return
}

// scheduleRig is the rig with schedules and webhooks, on a clock the test
// sets.
func scheduleRig(t *testing.T) (*rig, *fakeTrigger, *time.Time) {
	r := newRig(t)
	trig := &fakeTrigger{}
	now := time.Date(2026, 3, 1, 2, 59, 0, 0, time.UTC)
	svc, err := control.New(control.Config{Store: r.store, Secrets: r.secrets, Workflow: r.engine, Machine: "run",
		Schedules: r.store, Webhooks: r.store, Trigger: trig, Self: []string{"http://127.0.0.1:8080"},
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	return r, trig, &now
}

// deployed creates the 3-tier deployment and ends its deploy run.
func (r *rig) deployed(t *testing.T) *deploy.Deployment {
	t.Helper()
	d, run, err := r.svc.CreateDeployment(context.Background(), alice, threeTier())
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, run, deploy.RunSucceeded)
	return d
}

func runsOf(t *testing.T, r *rig, dep string) []*deploy.Run {
	rs, _, err := r.store.ListRuns(context.Background(), dep, deploy.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestScheduleLifecycle(t *testing.T) {
	r, trig, now := scheduleRig(t)
	ctx := context.Background()
	d := r.deployed(t)
	v, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunBackup, Cron: "0 3 * * *", TimeZone: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	// 03:00 in Berlin is 02:00 UTC on 1 March: the next one is on the 2nd.
	if len(v.NextFires) != 3 || !v.NextFires[0].Equal(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next fires %v", v.NextFires)
	}
	if on, ok := trig.state(v.ID); !ok || !on {
		t.Errorf("the trigger is not armed")
	}
	bob := control.Caller{User: "bob"}
	if _, err := r.svc.GetSchedule(ctx, bob, d.ID, v.ID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("another user reads the schedule: %v", err)
	}
	p, err := r.svc.PauseSchedule(ctx, alice, d.ID, v.ID)
	if err != nil || !p.Paused || len(p.NextFires) != 0 {
		t.Fatalf("pause: %+v, %v", p, err)
	}
	if on, _ := trig.state(v.ID); on {
		t.Errorf("the trigger is still enabled after a pause")
	}
	*now = now.Add(time.Hour)
	res, err := r.svc.ResumeSchedule(ctx, alice, d.ID, v.ID)
	if err != nil || res.Paused || !res.Since.Equal(*now) {
		t.Fatalf("resume: %+v, %v", res, err)
	}
	if err := r.svc.DeleteSchedule(ctx, alice, d.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := trig.state(v.ID); ok {
		t.Errorf("the trigger survived the schedule")
	}
	// A trigger that refuses the schedule leaves nothing stored.
	trig.err = deploy.Invalid("cron", "no seconds on AWS")
	if _, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunBackup, Cron: "5 0 3 * * *"}); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Fatalf("refused trigger: %v, want Invalid", err)
	}
	if ss, _, _ := r.svc.ListSchedules(ctx, alice, d.ID, deploy.Page{}); len(ss) != 0 {
		t.Errorf("%d schedules kept after the trigger refused", len(ss))
	}
}

func TestFire(t *testing.T) {
	r, _, now := scheduleRig(t)
	ctx := context.Background()
	d := r.deployed(t)
	v, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunPull, Cron: "0 3 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	*now = slot.Add(time.Second)
	before := len(runsOf(t, r, d.ID))

	f, err := r.svc.Fire(ctx, d.ID, v.ID, slot, 0)
	if err != nil || f.Status != deploy.FireStarted {
		t.Fatalf("fire: %+v, %v", f, err)
	}
	run, err := r.store.GetRun(ctx, d.ID, f.RunID)
	if err != nil || run.Kind != deploy.RunPull || run.Requester != deploy.ScheduleRequester(v.ID) {
		t.Fatalf("the fire's run %+v, %v", run, err)
	}
	// The same slot again (a restart, a redelivered invocation): the same
	// fire, no second run.
	again, err := r.svc.Fire(ctx, d.ID, v.ID, slot, 0)
	if err != nil || again.RunID != f.RunID || len(runsOf(t, r, d.ID)) != before+1 || r.engine.Started() != 2 {
		t.Fatalf("second fire of a slot: %+v, %v; %d runs (want %d), %d executions", again, err, len(runsOf(t, r, d.ID)), before+1, r.engine.Started())
	}
	// The next slot finds that run still active: skipped, with the reason.
	next := slot.Add(24 * time.Hour)
	skipped, err := r.svc.Fire(ctx, d.ID, v.ID, next, 2)
	if err != nil || skipped.Status != deploy.FireSkipped || !strings.Contains(skipped.Reason, run.ID) || skipped.Missed != 2 {
		t.Fatalf("fire during an active run: %+v, %v", skipped, err)
	}
	fs, _, _ := r.svc.ListFires(ctx, alice, d.ID, v.ID, deploy.Page{})
	if len(fs) != 2 || fs[0].Status != deploy.FireSkipped || fs[1].Status != deploy.FireStarted {
		t.Errorf("fires %+v", fs)
	}
	got, _ := r.svc.GetSchedule(ctx, alice, d.ID, v.ID)
	if got.LastFire == nil || !got.LastFire.Slot.Equal(next) {
		t.Errorf("last fire %+v", got.LastFire)
	}
}

// TestFireFinishesAPendingFire: a crash after the fire was recorded and
// before its run existed leaves it pending; firing the slot again starts
// the recorded run, once.
func TestFireFinishesAPendingFire(t *testing.T) {
	r, _, now := scheduleRig(t)
	ctx := context.Background()
	d := r.deployed(t)
	v, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunRestart, Cron: "0 3 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	*now = slot
	pending := &deploy.Fire{ScheduleID: v.ID, DeploymentID: d.ID, Slot: slot, FiredAt: slot, Status: deploy.FirePending, RunID: deploy.NewID("r-", slot)}
	if err := r.store.CreateFire(ctx, pending); err != nil {
		t.Fatal(err)
	}
	f, err := r.svc.Fire(ctx, d.ID, v.ID, slot, 0)
	if err != nil || f.Status != deploy.FireStarted || f.RunID != pending.RunID {
		t.Fatalf("finishing a pending fire: %+v, %v (want run %s)", f, err, pending.RunID)
	}
	if _, err := r.store.GetRun(ctx, d.ID, pending.RunID); err != nil {
		t.Errorf("the recorded run was not created: %v", err)
	}
}

func TestFireRefusedAndPaused(t *testing.T) {
	r, _, _ := scheduleRig(t)
	ctx := context.Background()
	// The deploy run never ended: the instance is not deployed.
	d, first, err := r.svc.CreateDeployment(ctx, alice, threeTier())
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunBackup, Cron: "0 3 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, first, deploy.RunFailed)
	slot := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	f, err := r.svc.Fire(ctx, d.ID, v.ID, slot, 0)
	if err != nil || f.Status != deploy.FireFailed || !strings.Contains(f.Reason, "deployed") {
		t.Fatalf("fire on an undeployed instance: %+v, %v", f, err)
	}
	if _, err := r.svc.PauseSchedule(ctx, alice, d.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	f, err = r.svc.Fire(ctx, d.ID, v.ID, slot.Add(24*time.Hour), 0)
	if err != nil || f.Status != deploy.FireSkipped || f.Reason != "the schedule is paused" {
		t.Fatalf("fire of a paused schedule: %+v, %v", f, err)
	}
	if _, err := r.svc.Fire(ctx, d.ID, "s-gone", slot, 0); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("fire of a deleted schedule: %v, want NotFound", err)
	}
}

func TestWebhooks(t *testing.T) {
	r, _, _ := scheduleRig(t)
	ctx := context.Background()
	d := r.deployed(t)
	w, secret, err := r.svc.CreateWebhook(ctx, alice, d.ID, "https://hooks.example.org/eden")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
		t.Errorf("secret %q", secret)
	}
	kept, err := r.secrets.GetSecret(ctx, d.ID, deploy.WebhookSecretName(w.ID))
	if err != nil || string(kept) != secret {
		t.Fatalf("the secret store holds %q, %v", kept, err)
	}
	stored, _ := r.store.GetWebhook(ctx, d.ID, w.ID)
	if stored == nil || strings.Contains(mustJSONString(t, stored), secret) {
		t.Errorf("the stored webhook holds its secret: %+v", stored)
	}
	for _, bad := range []string{"ftp://example.org/x", "http://127.0.0.1:8080/v1/health", "http://api.example.org/hook"} {
		if _, _, err := r.svc.CreateWebhook(ctx, alice, d.ID, bad, "api.example.org"); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("webhook %s: %v, want Invalid", bad, err)
		}
	}
	if err := r.svc.DeleteWebhook(ctx, alice, d.ID, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.secrets.GetSecret(ctx, d.ID, deploy.WebhookSecretName(w.ID)); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("a deleted webhook's secret: %v, want NotFound", err)
	}
}

func TestDeleteDeploymentDisarmsSchedules(t *testing.T) {
	r, trig, _ := scheduleRig(t)
	ctx := context.Background()
	d := r.deployed(t)
	v, err := r.svc.CreateSchedule(ctx, alice, d.ID, deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: deploy.RunBackup, Cron: "@daily"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.svc.CreateWebhook(ctx, alice, d.ID, "https://hooks.example.org/x"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.DeleteDeployment(ctx, alice, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := trig.state(v.ID); ok {
		t.Errorf("the schedule's trigger outlived its deployment")
	}
	if ss, _, _ := r.store.ListSchedules(ctx, d.ID, deploy.Page{}); len(ss) != 0 {
		t.Errorf("%d schedules outlived their deployment", len(ss))
	}
	if ws, _, _ := r.store.ListWebhooks(ctx, d.ID, deploy.Page{}); len(ws) != 0 {
		t.Errorf("%d webhooks outlived their deployment", len(ws))
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
