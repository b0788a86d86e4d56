package tasks_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// deployed stores the 3-tier deployment with its deploy run done, adds a
// test instance, and returns it as stored.
func deployed(t *testing.T, rg *rig) *deploy.Deployment {
	t.Helper()
	ctx := context.Background()
	d, first := threeTier(t)
	if err := rg.store.CreateDeployment(ctx, d, first); err != nil {
		t.Fatal(err)
	}
	for _, st := range []deploy.RunStatus{deploy.RunRunning, deploy.RunSucceeded} {
		if err := first.MoveTo(st, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := rg.store.UpdateRun(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	d, _ = rg.store.GetDeployment(ctx, d.ID)
	d.Instances[0].Status = deploy.InstanceDeployed
	test, err := d.NewInstance(deploy.InstanceSpec{Type: deploy.InstanceTest}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	test.Status = deploy.InstanceDeployed
	d.Instances = append(d.Instances, test)
	if err := rg.store.UpdateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// startRun stores the run req asks for on d.
func startRun(t *testing.T, rg *rig, d *deploy.Deployment, req deploy.RunRequest) *deploy.Run {
	t.Helper()
	if err := d.CheckRun(req, nil); err != nil {
		t.Fatal(err)
	}
	r, err := d.NewRun(deploy.NewID("r-", time.Now()), req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (rg *rig) dispatchedSteps() []string {
	rg.runner.mu.Lock()
	defer rg.runner.mu.Unlock()
	var out []string
	for _, d := range rg.runner.dispatched {
		out = append(out, d.StepName)
	}
	return out
}

// A disruptive run whose middle step fails skips what follows but still
// lifts the maintenance page, and ends failed with the step's reason.
func TestMaintenanceLiftedAfterAFailure(t *testing.T) {
	for _, tc := range []struct {
		name        string
		runnerError bool
		wantErr     string
	}{
		{"a task fails", false, `step db failed: task "Install packages" failed on 10.0.0.1: no space left`},
		{"ansible cannot run", true, "step db failed: RunnerError: ansible-playbook: not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, "db", tc.runnerError)
			d := deployed(t, rg)
			r := startRun(t, rg, d, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceTest})
			x, path := rg.execute(t, r)
			if x.Status != workflow.StatusFailed || x.Error != "RunDidNotSucceed" {
				t.Errorf("execution %s %s, want FAILED RunDidNotSucceed (path %v)", x.Status, x.Error, path)
			}
			if diff := cmp.Diff([]string{"maintenance-on", "db", "maintenance-off"}, rg.dispatchedSteps()); diff != "" {
				t.Errorf("dispatched (-want +got):\n%s", diff)
			}
			got, _ := rg.store.GetRun(context.Background(), d.ID, r.ID)
			want := []string{"maintenance-on succeeded [10.0.0.4]", "db failed [10.0.0.1]", "eden skipped [10.0.0.2 10.0.0.3]", "maintenance-off succeeded [10.0.0.4]"}
			if diff := cmp.Diff(want, stepSummary(got)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if got.Status != deploy.RunFailed || got.Error != tc.wantErr {
				t.Errorf("run %s %q, want failed %q", got.Status, got.Error, tc.wantErr)
			}
			if !contains(path, "StepSkipped") || !contains(path, "RecordSuccess") {
				t.Errorf("path %v: want a skipped step, then the run recorded (failed, by FinishRun)", path)
			}
		})
	}
}

// fakeBackups records what the tasks hand over; err is what CollectStep
// returns the first n times.
type fakeBackups struct {
	mu        sync.Mutex
	collected []string
	prepared  []string
	err       error
	n         int
}

func (f *fakeBackups) CollectStep(_ context.Context, d *deploy.Deployment, r *deploy.Run, i int, results []deploy.HostResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, h := range results {
		for _, b := range h.Backups {
			names = append(names, h.Host+":"+b.Name)
		}
	}
	f.collected = append(f.collected, fmt.Sprintf("%s %s step %d %v", d.ID[:2], r.Kind, i, names))
	if f.n > 0 {
		f.n--
		return f.err
	}
	return nil
}

func (f *fakeBackups) PrepareStep(_ context.Context, d *deploy.Deployment, r *deploy.Run, i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepared = append(f.prepared, fmt.Sprintf("%s step %d", r.Kind, i))
	return nil
}

func TestBackupsCollected(t *testing.T) {
	report := []deploy.BackupReport{{Instance: deploy.InstanceProd, Name: "20260301-020000.dump", Size: 1, Current: true}}
	for _, tc := range []struct {
		name    string
		err     error
		n       int
		status  deploy.RunStatus
		wantErr string
		calls   int
	}{
		{"kept", nil, 0, deploy.RunSucceeded, "", 1},
		{"retried while the store throttles", deploy.Transient(nil, "slow down"), 2, deploy.RunSucceeded, "", 3},
		{"not kept", deploy.Invalid("backups", "dump x was not copied off the server"), 1, deploy.RunFailed,
			"step db failed: the backups were not kept off the server: backups: dump x was not copied off the server", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := &fakeBackups{err: tc.err, n: tc.n}
			rg := newRigWith(t, "", false, fb)
			rg.runner.backups = map[string][]deploy.BackupReport{"db": report}
			d := deployed(t, rg)
			r := startRun(t, rg, d, deploy.RunRequest{Kind: deploy.RunBackup, Instance: deploy.InstanceProd})
			rg.execute(t, r)
			got, _ := rg.store.GetRun(context.Background(), d.ID, r.ID)
			if got.Status != tc.status || got.Error != tc.wantErr {
				t.Errorf("run %s %q, want %s %q", got.Status, got.Error, tc.status, tc.wantErr)
			}
			if len(fb.collected) != tc.calls || !strings.HasSuffix(fb.collected[0], "backup step 0 [10.0.0.1:20260301-020000.dump]") {
				t.Errorf("collected %v, want %d calls with the db host's dump", fb.collected, tc.calls)
			}
			if len(got.Steps[0].Results) == 0 || len(got.Steps[0].Results[0].Backups) != 1 {
				t.Errorf("the run does not keep what the host reported: %+v", got.Steps[0].Results)
			}
		})
	}
}

// A remove that succeeded leaves the deployment without the instance; a
// restore's steps are prepared by Backups first.
func TestRemoveAndRestoreRuns(t *testing.T) {
	fb := &fakeBackups{}
	rg := newRigWith(t, "", false, fb)
	d := deployed(t, rg)
	src := &deploy.RestoreSource{Backup: deploy.BackupID(d.ID, deploy.InstanceProd, "20260301-020000.dump"), Instance: deploy.InstanceProd,
		Name: "20260301-020000.dump", Size: 1, SHA256: strings.Repeat("a", 64)}
	r := startRun(t, rg, d, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src})
	if x, _ := rg.execute(t, r); x.Status != workflow.StatusSucceeded {
		t.Fatalf("restore: %s %s %s", x.Status, x.Error, x.Cause)
	}
	if diff := cmp.Diff([]string{"restore step 0", "restore step 1", "restore step 2", "restore step 3"}, fb.prepared); diff != "" {
		t.Errorf("prepared (-want +got):\n%s", diff)
	}
	r = startRun(t, rg, d, deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceTest})
	if x, _ := rg.execute(t, r); x.Status != workflow.StatusSucceeded {
		t.Fatalf("remove: %s %s %s", x.Status, x.Error, x.Cause)
	}
	want := []string{"maintenance-on", "db", "eden", "maintenance-off", "maintenance-on", "eden", "db", "eden-files", "webserver", "maintenance-off"}
	if diff := cmp.Diff(want, rg.dispatchedSteps()); diff != "" {
		t.Errorf("dispatched (-want +got):\n%s", diff)
	}
	got, _ := rg.store.GetDeployment(context.Background(), d.ID)
	if got.Instance(deploy.InstanceTest) != nil || got.Instance(deploy.InstanceProd) == nil {
		t.Errorf("instances after the remove: %+v", got.Instances)
	}
}
