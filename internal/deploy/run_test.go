package deploy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestRunStatusCanMoveTo(t *testing.T) {
	statuses := []deploy.RunStatus{deploy.RunQueued, deploy.RunRunning, deploy.RunSucceeded, deploy.RunFailed, deploy.RunCancelled, "", "paused"}
	// Only forward moves (and staying put, for idempotent retries).
	allowed := map[[2]deploy.RunStatus]bool{
		{deploy.RunQueued, deploy.RunQueued}:       true,
		{deploy.RunQueued, deploy.RunRunning}:      true,
		{deploy.RunQueued, deploy.RunSucceeded}:    false, // a run starts before it succeeds, even with no steps
		{deploy.RunQueued, deploy.RunFailed}:       true,
		{deploy.RunQueued, deploy.RunCancelled}:    true,
		{deploy.RunRunning, deploy.RunRunning}:     true,
		{deploy.RunRunning, deploy.RunSucceeded}:   true,
		{deploy.RunRunning, deploy.RunFailed}:      true,
		{deploy.RunRunning, deploy.RunCancelled}:   true,
		{deploy.RunSucceeded, deploy.RunSucceeded}: true,
		{deploy.RunFailed, deploy.RunFailed}:       true,
		{deploy.RunCancelled, deploy.RunCancelled}: true,
	}
	for _, from := range statuses {
		for _, to := range statuses {
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				want := allowed[[2]deploy.RunStatus{from, to}]
				if got := from.CanMoveTo(to); got != want {
					t.Errorf("%q.CanMoveTo(%q) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

func TestRunStatusPredicates(t *testing.T) {
	tests := []struct {
		s                       deploy.RunStatus
		active, terminal, valid bool
	}{
		{deploy.RunQueued, true, false, true},
		{deploy.RunRunning, true, false, true},
		{deploy.RunSucceeded, false, true, true},
		{deploy.RunFailed, false, true, true},
		{deploy.RunCancelled, false, true, true},
		{"", false, false, false},
		{"done", false, false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			if got := tt.s.Active(); got != tt.active {
				t.Errorf("Active = %v", got)
			}
			if got := tt.s.Terminal(); got != tt.terminal {
				t.Errorf("Terminal = %v", got)
			}
			if got := tt.s.Valid(); got != tt.valid {
				t.Errorf("Valid = %v", got)
			}
		})
	}
}

func TestRunMoveTo(t *testing.T) {
	t1, t2 := now.Add(time.Minute), now.Add(time.Hour)
	type times struct{ Started, Finished time.Time }
	tests := []struct {
		name   string
		from   deploy.RunStatus
		start  time.Time // StartedAt before the move
		to     deploy.RunStatus
		at     time.Time
		status deploy.RunStatus
		want   times
		errKey string // field of the Conflict, "" for success
	}{
		{name: "queued to running starts", from: deploy.RunQueued, to: deploy.RunRunning, at: t1, status: deploy.RunRunning, want: times{Started: t1}},
		{name: "running to succeeded finishes", from: deploy.RunRunning, start: t1, to: deploy.RunSucceeded, at: t2, status: deploy.RunSucceeded, want: times{t1, t2}},
		{name: "running to failed finishes", from: deploy.RunRunning, start: t1, to: deploy.RunFailed, at: t2, status: deploy.RunFailed, want: times{t1, t2}},
		{name: "running to cancelled finishes", from: deploy.RunRunning, start: t1, to: deploy.RunCancelled, at: t2, status: deploy.RunCancelled, want: times{t1, t2}},
		{name: "queued to cancelled starts and finishes", from: deploy.RunQueued, to: deploy.RunCancelled, at: t2, status: deploy.RunCancelled, want: times{t2, t2}},
		{name: "queued to failed starts and finishes", from: deploy.RunQueued, to: deploy.RunFailed, at: t2, status: deploy.RunFailed, want: times{t2, t2}},
		{name: "running again changes nothing", from: deploy.RunRunning, start: t1, to: deploy.RunRunning, at: t2, status: deploy.RunRunning, want: times{Started: t1}},
		{name: "running to queued", from: deploy.RunRunning, start: t1, to: deploy.RunQueued, at: t2, status: deploy.RunRunning, want: times{Started: t1}, errKey: "status"},
		{name: "failed to running", from: deploy.RunFailed, start: t1, to: deploy.RunRunning, at: t2, status: deploy.RunFailed, want: times{Started: t1}, errKey: "status"},
		{name: "succeeded to failed", from: deploy.RunSucceeded, start: t1, to: deploy.RunFailed, at: t2, status: deploy.RunSucceeded, want: times{Started: t1}, errKey: "status"},
		{name: "to an unknown status", from: deploy.RunQueued, to: "paused", at: t2, status: deploy.RunQueued, errKey: "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &deploy.Run{ID: "r-1", Status: tt.from, StartedAt: tt.start}
			err := r.MoveTo(tt.to, tt.at)
			if tt.errKey == "" {
				if err != nil {
					t.Fatalf("MoveTo: %v", err)
				}
			} else {
				checkKind(t, err, deploy.KindConflict, tt.errKey)
				checkProblems(t, err, []problem{{deploy.KindConflict, tt.errKey}}, string(tt.from)+" to "+string(tt.to))
			}
			if r.Status != tt.status {
				t.Errorf("Status = %q, want %q", r.Status, tt.status)
			}
			if diff := cmp.Diff(tt.want, times{r.StartedAt, r.FinishedAt}); diff != "" {
				t.Errorf("times (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunKind(t *testing.T) {
	tasks := map[deploy.RunKind]bool{deploy.RunClean: true, deploy.RunPull: true, deploy.RunRestart: true, deploy.RunBackup: true, deploy.RunRestore: true, deploy.RunRemove: true}
	for _, k := range deploy.RunKinds {
		if !k.Valid() {
			t.Errorf("%s.Valid() = false", k)
		}
		if got := k.Task(); got != tasks[k] {
			t.Errorf("%s.Task() = %v, want %v", k, got, tasks[k])
		}
	}
	if deploy.RunKind("destroy").Valid() {
		t.Error(`"destroy".Valid() = true`)
	}
}

func TestInstanceTypeConventions(t *testing.T) {
	tests := []struct {
		typ      deploy.InstanceType
		uwsgi    int
		home, db string
		later    int
	}{
		{deploy.InstanceProd, 59025, "/home/web2py", "sahana", 8025},
		{deploy.InstanceTest, 59026, "/home/test", "sahana-test", 8026},
		{deploy.InstanceDemo, 59027, "/home/demo", "sahana-demo", 8027},
		{deploy.InstanceSetup, 59028, "/home/setup", "sahana-setup", 8028},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			got := []any{tt.typ.Valid(), tt.typ.UWSGIPort(), tt.typ.Home(), tt.typ.DatabaseName(), tt.typ.DefaultHTTPPort(true), tt.typ.DefaultHTTPPort(false)}
			want := []any{true, tt.uwsgi, tt.home, tt.db, 80, tt.later}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("conventions (-want +got):\n%s", diff)
			}
		})
	}
	if deploy.InstanceType("staging").Valid() {
		t.Error(`"staging".Valid() = true`)
	}
}
