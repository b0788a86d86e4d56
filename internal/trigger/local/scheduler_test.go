package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

var t0 = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

// firer records fires in the store as control.Service.Fire does (pending,
// then started), and remembers each call.
type firer struct {
	store deploy.ScheduleStore
	mu    sync.Mutex
	calls []string
}

func (f *firer) Fire(ctx context.Context, dep, sched string, slot time.Time, missed int) (*deploy.Fire, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s+%ds missed=%d", sched, int(slot.Sub(t0).Seconds()), missed))
	f.mu.Unlock()
	fi := &deploy.Fire{ScheduleID: sched, DeploymentID: dep, Slot: slot, Status: deploy.FirePending, RunID: "r-x", Missed: missed}
	if err := f.store.CreateFire(ctx, fi); deploy.IsKind(err, deploy.KindConflict) {
		if fi, err = f.store.GetFire(ctx, dep, sched, deploy.FireKey(slot)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	fi.Status = deploy.FireStarted
	return fi, f.store.UpdateFire(ctx, fi)
}

func (f *firer) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

type rig struct {
	store *bolt.Store
	fire  *firer
	now   time.Time
}

func newRig(t *testing.T) *rig {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &rig{store: st, fire: &firer{store: st}, now: t0}
}

// scheduler is a new scheduler over the rig's store: a start (or a
// restart) of the control plane.
func (r *rig) scheduler(t *testing.T, p Policy) *Scheduler {
	s, err := New(Config{Store: r.store, Firer: r.fire, Policy: p, Now: func() time.Time { return r.now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *rig) schedule(t *testing.T, id, cron string, paused bool) {
	sc := &deploy.Schedule{ID: id, DeploymentID: "d-1", Instance: deploy.InstanceProd, Task: deploy.RunBackup, Cron: cron,
		TimeZone: "UTC", Paused: paused, Since: t0, CreatedAt: t0, UpdatedAt: t0}
	if err := r.store.PutSchedule(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) tick(t *testing.T, s *Scheduler, at time.Duration) time.Duration {
	t.Helper()
	r.now = t0.Add(at)
	next, err := s.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if next.IsZero() {
		return -1
	}
	return next.Sub(t0)
}

func TestFiresEachSlotOnce(t *testing.T) {
	r := newRig(t)
	r.schedule(t, "s-1", "*/10 * * * * *", false)
	s := r.scheduler(t, MissedOnce)
	tests := []struct {
		at       time.Duration
		want     []string
		wantNext time.Duration
	}{
		{5 * time.Second, nil, 10 * time.Second},
		{10 * time.Second, []string{"s-1+10s missed=0"}, 20 * time.Second},
		{10 * time.Second, nil, 20 * time.Second}, // the same moment again: nothing new
		{19 * time.Second, nil, 20 * time.Second},
		{21 * time.Second, []string{"s-1+20s missed=0"}, 30 * time.Second},
		// A pass that comes late (a busy machine) fires the latest slot once.
		{52 * time.Second, []string{"s-1+50s missed=2"}, 60 * time.Second},
	}
	for _, tt := range tests {
		next := r.tick(t, s, tt.at)
		if got := r.fire.take(); fmt.Sprint(got) != fmt.Sprint(tt.want) || next != tt.wantNext {
			t.Fatalf("tick at +%s: fired %v, next +%s; want %v, next +%s", tt.at, got, next, tt.want, tt.wantNext)
		}
	}
}

func TestMissedFiresOnStart(t *testing.T) {
	tests := []struct {
		policy Policy
		want   []string
	}{
		// Down from +15s to +65s: the slots +20..+60 passed; once fires the
		// latest and says it stands for four more.
		{MissedOnce, []string{"s-1+60s missed=4"}},
		{MissedSkip, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			r := newRig(t)
			r.schedule(t, "s-1", "*/10 * * * * *", false)
			r.tick(t, r.scheduler(t, MissedOnce), 15*time.Second)
			r.fire.take()
			// The process stops; a new one starts at +65s.
			s := r.scheduler(t, tt.policy)
			r.tick(t, s, 65*time.Second)
			if got := r.fire.take(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("on start after an outage: fired %v, want %v", got, tt.want)
			}
			// Afterwards it fires as usual, whatever the policy.
			r.tick(t, s, 70*time.Second)
			if got := r.fire.take(); fmt.Sprint(got) != "[s-1+70s missed=0]" {
				t.Errorf("the next slot: fired %v", got)
			}
		})
	}
}

// TestPendingFireIsFinishedOnStart: a crash between recording a fire and
// starting its run leaves it pending; the next start finishes it, once.
func TestPendingFireIsFinishedOnStart(t *testing.T) {
	r := newRig(t)
	r.schedule(t, "s-1", "*/10 * * * * *", false)
	pending := &deploy.Fire{ScheduleID: "s-1", DeploymentID: "d-1", Slot: t0.Add(10 * time.Second), Status: deploy.FirePending, RunID: "r-recorded"}
	if err := r.store.CreateFire(context.Background(), pending); err != nil {
		t.Fatal(err)
	}
	s := r.scheduler(t, MissedOnce)
	r.tick(t, s, 12*time.Second)
	if got := r.fire.take(); fmt.Sprint(got) != "[s-1+10s missed=0]" {
		t.Fatalf("on start with a pending fire: fired %v, want that slot once", got)
	}
	r.tick(t, s, 13*time.Second)
	if got := r.fire.take(); len(got) != 0 {
		t.Errorf("fired again: %v", got)
	}
	f, _ := r.store.GetFire(context.Background(), "d-1", "s-1", deploy.FireKey(pending.Slot))
	if f.Status != deploy.FireStarted || f.RunID != "r-recorded" {
		t.Errorf("the pending fire became %+v", f)
	}
}

func TestPausedSchedulesDoNotFire(t *testing.T) {
	r := newRig(t)
	r.schedule(t, "s-1", "*/10 * * * * *", true)
	r.schedule(t, "s-2", "*/10 * * * * *", false)
	s := r.scheduler(t, MissedOnce)
	r.tick(t, s, 11*time.Second)
	if got := r.fire.take(); fmt.Sprint(got) != "[s-2+10s missed=0]" {
		t.Fatalf("fired %v, want only the running schedule", got)
	}
	// Resumed at +25s: it counts from then, so +20s never fires.
	sc, _ := r.store.GetSchedule(context.Background(), "d-1", "s-1")
	sc.Paused, sc.Since = false, t0.Add(25*time.Second)
	if err := r.store.PutSchedule(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTrigger(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	r.tick(t, s, 31*time.Second)
	if got := r.fire.take(); fmt.Sprint(got) != "[s-1+30s missed=0 s-2+30s missed=1]" {
		t.Errorf("after resume: fired %v", got)
	}
}
