package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func (h *harness) wantRun(t *testing.T, want *deploy.Run, what string) {
	t.Helper()
	got, err := h.s.GetRun(h.ctx, want.DeploymentID, want.ID)
	wantNoError(t, err, what+": GetRun")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: stored run (-want +got):\n%s", what, diff)
	}
}

func (h *harness) wantActive(t *testing.T, depID, runID, what string) {
	t.Helper()
	got, err := h.s.ActiveRun(h.ctx, depID)
	if runID == "" {
		wantKind(t, err, deploy.KindNotFound, what+": ActiveRun")
		return
	}
	wantNoError(t, err, what+": ActiveRun")
	if got.ID != runID {
		t.Errorf("%s: ActiveRun = %s, want %s", what, got.ID, runID)
	}
}

func testRunsLifecycle(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	h.tick()

	// queued → running, with a step started.
	now := h.clk.Now()
	wantNoError(t, first.MoveTo(deploy.RunRunning, now), "MoveTo running")
	first.ExecutionID = "exec-1"
	first.Steps[0].Status = deploy.StepRunning
	first.Steps[0].StartedAt = now
	first.Steps[0].CommandID = "cmd-1"
	first.Steps[0].BundleKey = "bundles/" + first.ID + "/all.tar.gz"
	wantNoError(t, h.s.UpdateRun(h.ctx, first), "UpdateRun to running")
	if first.Version != 2 {
		t.Errorf("version after update = %d, want 2", first.Version)
	}
	h.wantRun(t, first, "running")
	h.wantActive(t, d.ID, first.ID, "running")

	// The same status again is allowed (an idempotent retry).
	first.Transitions = 7
	wantNoError(t, h.s.UpdateRun(h.ctx, first), "UpdateRun running again")
	h.wantRun(t, first, "running again")

	// Backwards is Conflict and stores nothing.
	back := *first
	back.Status = deploy.RunQueued
	back.Error = "must not be stored"
	wantKind(t, h.s.UpdateRun(h.ctx, &back), deploy.KindConflict, "UpdateRun running → queued")
	h.wantRun(t, first, "after a refused backward move")

	// running → succeeded, with per-host results: the active slot is freed
	// and the run gets its expiry.
	h.tick()
	now = h.clk.Now()
	first.Steps[0].Status = deploy.StepSucceeded
	first.Steps[0].FinishedAt = now
	first.Steps[0].LogKey = "logs/" + first.ID + "/all.log"
	first.Steps[0].Results = []deploy.HostResult{{Host: "10.0.0.1", OK: 41, Changed: 12, Skipped: 3}}
	wantNoError(t, first.MoveTo(deploy.RunSucceeded, now), "MoveTo succeeded")
	wantNoError(t, h.s.UpdateRun(h.ctx, first), "UpdateRun to succeeded")
	if want := now.Add(Retention); !first.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt after finishing = %v, want FinishedAt + retention = %v", first.ExpiresAt, want)
	}
	h.wantRun(t, first, "succeeded")
	h.wantActive(t, d.ID, "", "after the run finished")

	for _, next := range []deploy.RunStatus{deploy.RunRunning, deploy.RunQueued, deploy.RunFailed} {
		moved := *first
		moved.Status = next
		wantKind(t, h.s.UpdateRun(h.ctx, &moved), deploy.KindConflict, "UpdateRun succeeded → "+string(next))
	}
	h.wantRun(t, first, "after refused moves out of succeeded")
	h.wantActive(t, d.ID, "", "after refused moves out of succeeded")

	// queued → cancelled directly.
	r := h.newRun(d, deploy.RunPull)
	wantNoError(t, h.s.CreateRun(h.ctx, r), "CreateRun")
	if r.Version != 1 {
		t.Errorf("version after CreateRun = %d, want 1", r.Version)
	}
	h.wantRun(t, r, "created")
	h.wantActive(t, d.ID, r.ID, "created")
	h.finish(r, deploy.RunCancelled)
	h.wantRun(t, r, "cancelled")
	h.wantActive(t, d.ID, "", "cancelled")

	// A run stored already finished does not take the active slot.
	done := h.newRun(d, deploy.RunBackup)
	wantNoError(t, done.MoveTo(deploy.RunFailed, h.clk.Now()), "MoveTo failed")
	wantNoError(t, h.s.CreateRun(h.ctx, done), "CreateRun of a finished run")
	h.wantActive(t, d.ID, "", "after storing a finished run")
	if done.ExpiresAt.IsZero() {
		t.Error("a run stored finished has no ExpiresAt")
	}
	h.wantRun(t, done, "stored finished")

	wantKind(t, h.s.CreateRun(h.ctx, done), deploy.KindConflict, "CreateRun with an existing ID")
}

func testOneActiveRun(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	second := h.newRun(d, deploy.RunRestart)
	err := h.s.CreateRun(h.ctx, second)
	wantKind(t, err, deploy.KindConflict, "CreateRun while the first run is active")
	wantMentions(t, err, "the conflict", first.ID)
	_, err = h.s.GetRun(h.ctx, d.ID, second.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of the refused run")

	h.finish(first, deploy.RunFailed)
	wantNoError(t, h.s.CreateRun(h.ctx, second), "CreateRun after the first run failed")
	h.wantActive(t, d.ID, second.ID, "second run")

	missing := h.newRun(d, deploy.RunRestart)
	missing.DeploymentID = "d-missing"
	wantKind(t, h.s.CreateRun(h.ctx, missing), deploy.KindNotFound, "CreateRun on a missing deployment")
	_, err = h.s.GetRun(h.ctx, "d-missing", missing.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of the refused run on a missing deployment")
}

func testListRuns(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	other, otherFirst := h.createOn("10.0.0.2")
	h.finish(first, deploy.RunSucceeded)
	want := []string{first.ID}
	for i := range 4 {
		h.tick()
		r := h.newRun(d, deploy.RunRestart)
		wantNoError(t, h.s.CreateRun(h.ctx, r), "CreateRun "+label(i))
		if i < 3 {
			h.finish(r, deploy.RunSucceeded)
		}
		want = append([]string{r.ID}, want...)
	}
	got := listAll(t, 2, func(p deploy.Page) ([]string, string, error) {
		rs, next, err := h.s.ListRuns(h.ctx, d.ID, p)
		for _, r := range rs {
			if r.DeploymentID != d.ID {
				t.Errorf("ListRuns(%s) returned %s of %s", d.ID, r.ID, r.DeploymentID)
			}
		}
		return runIDs(rs), next, err
	})
	if diff := cmp.Diff([][]string{want[0:2], want[2:4], want[4:5]}, got); diff != "" {
		t.Errorf("ListRuns pages (-want +got):\n%s", diff)
	}
	rs, next, err := h.s.ListRuns(h.ctx, other.ID, deploy.Page{})
	wantNoError(t, err, "ListRuns of the other deployment")
	if diff := cmp.Diff([]string{otherFirst.ID}, runIDs(rs)); diff != "" || next != "" {
		t.Errorf("ListRuns(other) = %v, %q (-want +got):\n%s", runIDs(rs), next, diff)
	}
	// Full runs come back, not summaries.
	if len(rs) == 1 {
		if diff := cmp.Diff(otherFirst, rs[0]); diff != "" {
			t.Errorf("listed run (-want +got):\n%s", diff)
		}
	}
	_, next, err = h.s.ListRuns(h.ctx, d.ID, deploy.Page{Limit: 2})
	wantNoError(t, err, "ListRuns")
	_, _, err = h.s.ListRuns(h.ctx, other.ID, deploy.Page{Limit: 2, Cursor: next})
	wantKind(t, err, deploy.KindInvalid, "ListRuns of another deployment with this one's cursor")
	_, _, err = h.s.ListDeployments(h.ctx, "alice", deploy.Page{Cursor: next})
	wantKind(t, err, deploy.KindInvalid, "ListDeployments with a runs cursor")
}

func testRunsMissing(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	other, _ := h.createOn("10.0.0.2")
	_, err := h.s.GetRun(h.ctx, d.ID, "r-missing")
	wantKind(t, err, deploy.KindNotFound, "GetRun of a missing run")
	_, err = h.s.GetRun(h.ctx, other.ID, first.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of a run under another deployment")
	ghost := h.newRun(d, deploy.RunPull)
	wantKind(t, h.s.UpdateRun(h.ctx, ghost), deploy.KindNotFound, "UpdateRun of a missing run")
	orphan := *ghost
	orphan.DeploymentID = "d-missing"
	wantKind(t, h.s.AddInstance(h.ctx, "d-missing", 1, deploy.Instance{Type: deploy.InstanceTest}, &orphan), deploy.KindNotFound, "AddInstance on a missing deployment")
}

func testRunStaleVersion(h *harness) {
	t := h.t
	_, first := h.createOn("10.0.0.1")
	read := *first
	first.Transitions = 3
	wantNoError(t, h.s.UpdateRun(h.ctx, first), "UpdateRun")

	tests := []struct {
		name    string
		version int
	}{{"stale", read.Version}, {"ahead", 9}, {"zero", 0}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := read
			r.Version = tt.version
			r.Error = "must not be stored"
			wantKind(t, h.s.UpdateRun(h.ctx, &r), deploy.KindConflict, "UpdateRun with version "+label(tt.version))
			if r.Version != tt.version {
				t.Errorf("a refused UpdateRun changed the caller's version to %d", r.Version)
			}
			h.wantRun(t, first, "after the refused update")
		})
	}
}

func testAddInstance(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	now := t0.Add(time.Hour)
	inst := deploy.Instance{
		Type: deploy.InstanceTest, URL: "http://10.0.0.1:8026", Status: deploy.InstancePending,
		Settings: deploy.Settings{"base.template": "default"}, SettingsVersion: 1, CreatedAt: now, UpdatedAt: now,
	}
	run := h.newRun(d, deploy.RunAddInstance)
	run.Instance = deploy.InstanceTest
	inst.DeployRunID = run.ID

	err := h.s.AddInstance(h.ctx, d.ID, 1, inst, run)
	wantKind(t, err, deploy.KindConflict, "AddInstance while the first run is active")
	wantMentions(t, err, "the conflict", first.ID)
	h.finish(first, deploy.RunSucceeded)
	wantKind(t, h.s.AddInstance(h.ctx, d.ID, 0, inst, run), deploy.KindConflict, "AddInstance with a stale version")
	dupe := inst
	dupe.Type = deploy.InstanceProd
	wantKind(t, h.s.AddInstance(h.ctx, d.ID, 1, dupe, run), deploy.KindConflict, "AddInstance of a second prod instance")
	for _, what := range []string{"after refused AddInstance calls"} {
		got, err := h.s.GetDeployment(h.ctx, d.ID)
		wantNoError(t, err, what)
		if got.Version != 1 || len(got.Instances) != 1 {
			t.Errorf("%s: version %d, %d instances; want 1 and 1", what, got.Version, len(got.Instances))
		}
		_, err = h.s.GetRun(h.ctx, d.ID, run.ID)
		wantKind(t, err, deploy.KindNotFound, what+": GetRun of the refused run")
		h.wantActive(t, d.ID, "", what)
	}

	wantNoError(t, h.s.AddInstance(h.ctx, d.ID, 1, inst, run), "AddInstance")
	if run.Version != 1 {
		t.Errorf("run version after AddInstance = %d, want 1", run.Version)
	}
	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	wantInstances := append(append([]deploy.Instance(nil), d.Instances...), inst)
	if diff := cmp.Diff(wantInstances, got.Instances); diff != "" {
		t.Errorf("instances after AddInstance (-want +got):\n%s", diff)
	}
	if got.Version != 2 {
		t.Errorf("deployment version after AddInstance = %d, want 2", got.Version)
	}
	h.wantRun(t, run, "add-instance run")
	h.wantActive(t, d.ID, run.ID, "after AddInstance")

	h.finish(run, deploy.RunSucceeded)
	again := h.newRun(d, deploy.RunAddInstance)
	err = h.s.AddInstance(h.ctx, d.ID, 2, inst, again)
	wantKind(t, err, deploy.KindConflict, "AddInstance of a second test instance")
	wantMentions(t, err, "the conflict", string(deploy.InstanceTest))
	_, err = h.s.GetRun(h.ctx, d.ID, again.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of the refused run")
}

func testRetention(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	h.tick()
	h.finish(first, deploy.RunSucceeded)
	finishedAt := first.FinishedAt
	if want := finishedAt.Add(Retention); !first.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", first.ExpiresAt, want)
	}
	// An active run never expires.
	active := h.newRun(d, deploy.RunPull)
	wantNoError(t, h.s.CreateRun(h.ctx, active), "CreateRun")

	h.clk.Advance(Retention - 2*time.Second)
	h.wantRun(t, first, "just before its expiry")

	h.clk.Advance(3 * time.Second)
	if sw, ok := h.s.(Sweeper); ok {
		n, err := sw.Sweep(h.ctx, h.clk.Now())
		wantNoError(t, err, "Sweep")
		if n != 1 {
			t.Errorf("Sweep removed %d items, want 1 (the finished run)", n)
		}
	}
	_, err := h.s.GetRun(h.ctx, d.ID, first.ID)
	wantKind(t, err, deploy.KindNotFound, "GetRun of an expired run")
	rs, _, err := h.s.ListRuns(h.ctx, d.ID, deploy.Page{})
	wantNoError(t, err, "ListRuns")
	if diff := cmp.Diff([]string{active.ID}, runIDs(rs)); diff != "" {
		t.Errorf("ListRuns after expiry (-want +got):\n%s", diff)
	}
	// An expired run past the end of a page does not make a next page.
	rs, next, err := h.s.ListRuns(h.ctx, d.ID, deploy.Page{Limit: 1})
	wantNoError(t, err, "ListRuns limit 1")
	if diff := cmp.Diff([]string{active.ID}, runIDs(rs)); diff != "" || next != "" {
		t.Errorf("ListRuns limit 1 after expiry = %v, next %q; want only the active run and no next page (-want +got):\n%s", runIDs(rs), next, diff)
	}
	h.wantRun(t, active, "the active run, long after")
	h.wantActive(t, d.ID, active.ID, "after expiry")
}
