package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// NotifyStore is what RunSchedules checks: the schedule and webhook ports.
type NotifyStore interface {
	deploy.ScheduleStore
	deploy.WebhookStore
}

// RunSchedules is the conformance suite of deploy.ScheduleStore and
// deploy.WebhookStore. Every write of these ports is a single conditional
// item write, so it runs whole on peers without transactions too.
func RunSchedules(t *testing.T, newStore func(t *testing.T, env Env) NotifyStore, opt Options) {
	if opt.Racers == 0 {
		opt.Racers = 50
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s NotifyStore, racers int)
	}{
		{"Schedules/put versioned, get, delete", testSchedulesCRUD},
		{"Schedules/list per deployment and everyone's, in pages", testListSchedules},
		{"Fires/one per slot, versioned, latest first", testFires},
		{"Fires/race for one slot has one winner", testRaceFire},
		{"Fires/at least the latest 100 are kept", testKeepFires},
		{"Webhooks/create, list, delete with deliveries", testWebhooks},
		{"Deliveries/one per notification, versioned, newest first", testDeliveries},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{now: t0}
			c.run(t, newStore(t, Env{Now: clk.Now, Retention: Retention}), opt.Racers)
		})
	}
}

func schedule(dep, id string) *deploy.Schedule {
	return &deploy.Schedule{ID: id, DeploymentID: dep, Instance: deploy.InstanceProd, Task: deploy.RunBackup,
		Cron: "0 3 * * *", TimeZone: "Europe/Berlin", CreatedBy: "alice", Since: t0, CreatedAt: t0, UpdatedAt: t0}
}

func testSchedulesCRUD(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	sc := schedule("d-1", "s-1")
	wantNoError(t, s.PutSchedule(ctx, sc), "PutSchedule new")
	if sc.Version != 1 {
		t.Fatalf("a new schedule has version %d, want 1", sc.Version)
	}
	dup := schedule("d-1", "s-1")
	wantKind(t, s.PutSchedule(ctx, dup), deploy.KindConflict, "PutSchedule of an existing ID")
	got, err := s.GetSchedule(ctx, "d-1", "s-1")
	wantNoError(t, err, "GetSchedule")
	if got.Cron != "0 3 * * *" || got.TimeZone != "Europe/Berlin" || got.Version != 1 || !got.Since.Equal(t0) {
		t.Errorf("stored schedule %+v", got)
	}
	got.Paused = true
	wantNoError(t, s.PutSchedule(ctx, got), "PutSchedule update")
	stale := *sc // version 1, now stale
	stale.Cron = "0 4 * * *"
	wantKind(t, s.PutSchedule(ctx, &stale), deploy.KindConflict, "PutSchedule with a stale version")
	again, _ := s.GetSchedule(ctx, "d-1", "s-1")
	if !again.Paused || again.Cron != "0 3 * * *" || again.Version != 2 {
		t.Errorf("after a stale update: %+v, want paused, the old cron, version 2", again)
	}
	ghost := schedule("d-1", "s-ghost")
	ghost.Version = 3
	wantKind(t, s.PutSchedule(ctx, ghost), deploy.KindNotFound, "PutSchedule update of a missing schedule")
	_, err = s.GetSchedule(ctx, "d-2", "s-1")
	wantKind(t, err, deploy.KindNotFound, "GetSchedule under another deployment")

	f := &deploy.Fire{ScheduleID: "s-1", DeploymentID: "d-1", Slot: t0, FiredAt: t0, Status: deploy.FirePending, RunID: "r-1"}
	wantNoError(t, s.CreateFire(ctx, f), "CreateFire")
	wantNoError(t, s.DeleteSchedule(ctx, "d-1", "s-1"), "DeleteSchedule")
	_, err = s.GetSchedule(ctx, "d-1", "s-1")
	wantKind(t, err, deploy.KindNotFound, "GetSchedule after delete")
	_, err = s.GetFire(ctx, "d-1", "s-1", deploy.FireKey(t0))
	wantKind(t, err, deploy.KindNotFound, "GetFire of a deleted schedule")
	wantKind(t, s.DeleteSchedule(ctx, "d-1", "s-1"), deploy.KindNotFound, "DeleteSchedule again")
}

func testListSchedules(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	var want1, wantAll []string
	for _, dep := range []string{"d-1", "d-2"} {
		for i := range 5 {
			id := fmt.Sprintf("s-%02d", i)
			wantNoError(t, s.PutSchedule(ctx, schedule(dep, id)), "PutSchedule")
			if dep == "d-1" {
				want1 = append(want1, dep+"/"+id)
			}
			wantAll = append(wantAll, dep+"/"+id)
		}
	}
	list := func(dep string, limit int) []string {
		var out []string
		p := deploy.Page{Limit: limit}
		for pages := 0; ; pages++ {
			ss, next, err := s.ListSchedules(ctx, dep, p)
			wantNoError(t, err, "ListSchedules")
			if len(ss) > limit {
				t.Fatalf("a page of %d with limit %d", len(ss), limit)
			}
			for _, sc := range ss {
				out = append(out, sc.DeploymentID+"/"+sc.ID)
			}
			if next == "" || pages > 20 {
				return out
			}
			p.Cursor = next
		}
	}
	if got := list("d-1", 2); fmt.Sprint(got) != fmt.Sprint(want1) {
		t.Errorf("d-1's schedules in pages of 2: %v, want %v", got, want1)
	}
	if got := list("", 3); fmt.Sprint(got) != fmt.Sprint(wantAll) {
		t.Errorf("everyone's schedules in pages of 3: %v, want %v", got, wantAll)
	}
	if got := list("d-3", 10); len(got) != 0 {
		t.Errorf("a deployment without schedules lists %v", got)
	}
	_, next, _ := s.ListSchedules(ctx, "d-1", deploy.Page{Limit: 1})
	_, _, err := s.ListSchedules(ctx, "d-2", deploy.Page{Cursor: next})
	wantKind(t, err, deploy.KindInvalid, "a cursor of d-1's schedules used for d-2's")
}

func fire(slot time.Time, run string) *deploy.Fire {
	return &deploy.Fire{ScheduleID: "s-1", DeploymentID: "d-1", Slot: slot, FiredAt: slot.Add(time.Second), Status: deploy.FirePending, RunID: run}
}

func testFires(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	for i := range 5 {
		wantNoError(t, s.CreateFire(ctx, fire(t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("r-%d", i))), "CreateFire")
	}
	second := fire(t0, "r-other")
	wantKind(t, s.CreateFire(ctx, second), deploy.KindConflict, "CreateFire of a slot that fired")
	f, err := s.GetFire(ctx, "d-1", "s-1", deploy.FireKey(t0))
	wantNoError(t, err, "GetFire")
	if f.RunID != "r-0" || f.Version != 1 || f.Status != deploy.FirePending {
		t.Fatalf("the slot's fire %+v, want the first one's run r-0, version 1", f)
	}
	f.Status, f.Reason = deploy.FireSkipped, "run r-9 was still running"
	wantNoError(t, s.UpdateFire(ctx, f), "UpdateFire")
	stale := *f
	stale.Version = 1
	stale.Status = deploy.FireStarted
	wantKind(t, s.UpdateFire(ctx, &stale), deploy.KindConflict, "UpdateFire with a stale version")
	missing := fire(t0.Add(-time.Hour), "r-x")
	missing.Version = 1
	wantKind(t, s.UpdateFire(ctx, missing), deploy.KindNotFound, "UpdateFire of a missing fire")
	f, _ = s.GetFire(ctx, "d-1", "s-1", deploy.FireKey(t0))
	if f.Status != deploy.FireSkipped || f.Reason == "" || f.Version != 2 {
		t.Errorf("after update: %+v", f)
	}
	var got []string
	p := deploy.Page{Limit: 2}
	for {
		fs, next, err := s.ListFires(ctx, "d-1", "s-1", p)
		wantNoError(t, err, "ListFires")
		for _, f := range fs {
			got = append(got, f.RunID)
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if want := "[r-4 r-3 r-2 r-1 r-0]"; fmt.Sprint(got) != want {
		t.Errorf("fires latest first: %v, want %s", got, want)
	}
	_, next, _ := s.ListFires(ctx, "d-1", "s-1", deploy.Page{Limit: 1})
	_, _, err = s.ListFires(ctx, "d-1", "s-2", deploy.Page{Cursor: next})
	wantKind(t, err, deploy.KindInvalid, "a cursor of s-1's fires used for s-2's")
}

// testRaceFire: the exactly-once guarantee of a slot. However many
// callers fire one slot at once, one fire is recorded and names one run.
func testRaceFire(t *testing.T, s NotifyStore, racers int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateFire(ctx, fire(t0, fmt.Sprintf("r-%d", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case deploy.IsKind(err, deploy.KindConflict):
				lost++
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || lost != racers-1 {
		t.Fatalf("%d racers for one slot: %d won, %d lost; want 1 and %d", racers, won, lost, racers-1)
	}
	fs, _, err := s.ListFires(ctx, "d-1", "s-1", deploy.Page{})
	wantNoError(t, err, "ListFires")
	if len(fs) != 1 {
		t.Errorf("%d fires stored for one slot", len(fs))
	}
}

func testKeepFires(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	const n = 105
	for i := range n {
		wantNoError(t, s.CreateFire(ctx, fire(t0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("r-%03d", i))), "CreateFire")
	}
	seen := map[string]bool{}
	p := deploy.Page{Limit: 100}
	for {
		fs, next, err := s.ListFires(ctx, "d-1", "s-1", p)
		wantNoError(t, err, "ListFires")
		for _, f := range fs {
			seen[f.RunID] = true
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	for i := n - 100; i < n; i++ {
		if !seen[fmt.Sprintf("r-%03d", i)] {
			t.Fatalf("fire %d of %d is gone; the latest 100 must be kept", i, n)
		}
	}
}

func webhook(dep, id string) *deploy.Webhook {
	return &deploy.Webhook{ID: id, DeploymentID: dep, URL: "https://hooks.example.org/" + id, CreatedBy: "alice", CreatedAt: t0}
}

func delivery(id string, at time.Time) *deploy.Delivery {
	return &deploy.Delivery{ID: id, WebhookID: "w-1", DeploymentID: "d-1", EventID: "ev-" + id, EventType: deploy.NoticeRunEnded,
		RunID: "r-1", Status: deploy.DeliveryPending, Payload: []byte(`{"id":"ev-` + id + `"}`), CreatedAt: at, UpdatedAt: at}
}

func testWebhooks(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	for _, id := range []string{"w-1", "w-2", "w-3"} {
		wantNoError(t, s.CreateWebhook(ctx, webhook("d-1", id)), "CreateWebhook")
	}
	wantNoError(t, s.CreateWebhook(ctx, webhook("d-2", "w-9")), "CreateWebhook")
	wantKind(t, s.CreateWebhook(ctx, webhook("d-1", "w-1")), deploy.KindConflict, "CreateWebhook of an existing ID")
	w, err := s.GetWebhook(ctx, "d-1", "w-2")
	wantNoError(t, err, "GetWebhook")
	if w.URL != "https://hooks.example.org/w-2" || w.Version != 1 {
		t.Errorf("webhook %+v", w)
	}
	ws, next, err := s.ListWebhooks(ctx, "d-1", deploy.Page{Limit: 2})
	wantNoError(t, err, "ListWebhooks")
	rest, next2, err := s.ListWebhooks(ctx, "d-1", deploy.Page{Limit: 2, Cursor: next})
	wantNoError(t, err, "ListWebhooks page 2")
	if got := fmt.Sprint(ids(append(ws, rest...), func(w *deploy.Webhook) string { return w.ID })); got != "[w-1 w-2 w-3]" || next == "" || next2 != "" {
		t.Errorf("d-1's webhooks %s (cursors %q, %q)", got, next, next2)
	}
	wantNoError(t, s.CreateDelivery(ctx, delivery("dl-1", t0)), "CreateDelivery")
	wantNoError(t, s.DeleteWebhook(ctx, "d-1", "w-1"), "DeleteWebhook")
	_, err = s.GetWebhook(ctx, "d-1", "w-1")
	wantKind(t, err, deploy.KindNotFound, "GetWebhook after delete")
	_, err = s.GetDelivery(ctx, "d-1", "w-1", "dl-1")
	wantKind(t, err, deploy.KindNotFound, "a deleted webhook's delivery")
	wantKind(t, s.DeleteWebhook(ctx, "d-1", "w-1"), deploy.KindNotFound, "DeleteWebhook again")
	if other, _, _ := s.ListWebhooks(ctx, "d-2", deploy.Page{}); len(other) != 1 {
		t.Errorf("d-2's webhooks: %d, want 1", len(other))
	}
}

func testDeliveries(t *testing.T, s NotifyStore, _ int) {
	ctx := context.Background()
	for i := range 4 {
		wantNoError(t, s.CreateDelivery(ctx, delivery(fmt.Sprintf("dl-%d", i), t0.Add(time.Duration(i)*time.Minute))), "CreateDelivery")
	}
	wantKind(t, s.CreateDelivery(ctx, delivery("dl-0", t0)), deploy.KindConflict, "CreateDelivery of an existing ID")
	d, err := s.GetDelivery(ctx, "d-1", "w-1", "dl-2")
	wantNoError(t, err, "GetDelivery")
	d.Attempts = append(d.Attempts, deploy.DeliveryAttempt{At: t0, StatusCode: 503, Error: "503 Service Unavailable", DurationMS: 12})
	d.NextAttemptAt = t0.Add(2 * time.Second)
	wantNoError(t, s.UpdateDelivery(ctx, d), "UpdateDelivery")
	stale := *d
	stale.Version = 1
	wantKind(t, s.UpdateDelivery(ctx, &stale), deploy.KindConflict, "UpdateDelivery with a stale version")
	d.Status = deploy.DeliveryDelivered
	d.Attempts = append(d.Attempts, deploy.DeliveryAttempt{At: t0.Add(2 * time.Second), StatusCode: 204, DurationMS: 3})
	wantNoError(t, s.UpdateDelivery(ctx, d), "UpdateDelivery again")
	got, _ := s.GetDelivery(ctx, "d-1", "w-1", "dl-2")
	if got.Status != deploy.DeliveryDelivered || len(got.Attempts) != 2 || got.Attempts[0].StatusCode != 503 || got.Version != 3 || string(got.Payload) != `{"id":"ev-dl-2"}` {
		t.Errorf("delivery after two attempts: %+v", got)
	}
	ds, _, err := s.ListDeliveries(ctx, "d-1", "w-1", deploy.Page{})
	wantNoError(t, err, "ListDeliveries")
	if got := fmt.Sprint(ids(ds, func(d *deploy.Delivery) string { return d.ID })); got != "[dl-3 dl-2 dl-1 dl-0]" {
		t.Errorf("deliveries newest first: %s", got)
	}
}
