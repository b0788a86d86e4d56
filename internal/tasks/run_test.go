package tasks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	"github.com/edendeploy/edendeploy/internal/tasks"
	"github.com/edendeploy/edendeploy/internal/workflow"
	"github.com/edendeploy/edendeploy/internal/workflow/asl"
	"github.com/edendeploy/edendeploy/statemachine"
)

// These tests run the real statemachine/run.asl.json on the local engine
// with the real task functions and the bbolt store; only the runner, the
// renderer and the lifecycle completer are fakes.

type fakeRenderer struct{}

func (fakeRenderer) RenderBundle(d *deploy.Deployment, r *deploy.Run, step int) ([]byte, error) {
	return []byte(fmt.Sprintf("bundle of %s step %d (%s)", r.ID, step, r.Steps[step].Name)), nil
}

type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlobs) PutBlob(_ context.Context, k string, v []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[k] = v
	return nil
}

func (b *memBlobs) GetBlob(_ context.Context, k string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	if !ok {
		return nil, deploy.NotFound("blob %s", k)
	}
	return v, nil
}

func (b *memBlobs) DeleteBlobs(context.Context, string) error { return nil }

// fakeRunner signals each dispatched step's outcome through the engine, as
// a real runner does, from another goroutine. fail names the step that
// fails (and how); runnerError makes the runner report that Ansible could
// not run at all.
type fakeRunner struct {
	engine      workflow.Engine
	fail        string
	runnerError bool
	// backups are what the hosts of a step (by name) report keeping.
	backups    map[string][]deploy.BackupReport
	mu         sync.Mutex
	dispatched []deploy.Dispatch
}

func (f *fakeRunner) Dispatch(ctx context.Context, d deploy.Dispatch) (string, error) {
	f.mu.Lock()
	f.dispatched = append(f.dispatched, d)
	f.mu.Unlock()
	go func() {
		ctx := context.Background()
		if f.runnerError && d.StepName == f.fail {
			_ = f.engine.SendTaskFailure(ctx, d.Token, "RunnerError", "ansible-playbook: not found")
			return
		}
		out := deploy.StepOutcome{LogKey: d.LogKey}
		for _, h := range d.Hosts {
			r := deploy.HostResult{Host: h.Host, OK: 5, Changed: 2, Backups: f.backups[d.StepName]}
			if d.StepName == f.fail {
				r = deploy.HostResult{Host: h.Host, OK: 3, Failed: 1, Reason: `task "Install packages" failed on ` + h.Host + ": no space left"}
				if out.Error == "" {
					out.Error = r.Reason
				}
			}
			out.Results = append(out.Results, r)
		}
		b, _ := json.Marshal(out)
		_ = f.engine.SendTaskSuccess(ctx, d.Token, b)
	}()
	return "cmd-" + d.StepName, nil
}

func (f *fakeRunner) Cancel(context.Context, string) error { return nil }

type lifecycleRecorder struct {
	mu      sync.Mutex
	results []string
	beats   int
}

func (l *lifecycleRecorder) CompleteLifecycleAction(_ context.Context, a deploy.LifecycleAction, result string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, a.InstanceID+" "+result)
	return nil
}

func (l *lifecycleRecorder) RecordLifecycleActionHeartbeat(context.Context, deploy.LifecycleAction) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.beats++
	return nil
}

type rig struct {
	store     *bolt.Store
	engine    *asl.Engine
	runner    *fakeRunner
	lifecycle *lifecycleRecorder
}

// newRig runs the tasks on a bbolt store; wrap, when given, stands between
// the tasks and the store.
func newRig(t *testing.T, fail string, runnerError bool, wrap ...func(deploy.Store) deploy.Store) *rig {
	t.Helper()
	return newRigWith(t, fail, runnerError, nil, wrap...)
}

// newRigWith is newRig with backups (nil: none kept).
func newRigWith(t *testing.T, fail string, runnerError bool, backups tasks.Backups, wrap ...func(deploy.Store) deploy.Store) *rig {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rg := &rig{store: st, runner: &fakeRunner{fail: fail, runnerError: runnerError}, lifecycle: &lifecycleRecorder{}}
	var store deploy.Store = st
	for _, w := range wrap {
		store = w(store)
	}
	tk, err := tasks.New(tasks.Config{
		Store: store, Blobs: &memBlobs{m: map[string][]byte{}}, Runner: rg.runner, Renderer: fakeRenderer{},
		Lifecycle: rg.lifecycle, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Backups: backups,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := asl.NewRegistry()
	subs := map[string]string{}
	for name, fn := range tk.Handlers() {
		if err := reg.Register(name, fn); err != nil {
			t.Fatal(err)
		}
		subs[name] = name
	}
	jr, err := asl.NewBoltJournal(st.DB(), "wf-")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := asl.New(asl.Config{Registry: reg, Journal: jr, Substitutions: subs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Load(statemachine.RunMachine, statemachine.Run); err != nil {
		t.Fatalf("load run.asl.json: %v", err)
	}
	if _, err := eng.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	rg.engine = eng
	rg.runner.engine = eng
	return rg
}

func threeTier(t *testing.T) (*deploy.Deployment, *deploy.Run) {
	t.Helper()
	now := time.Now()
	d, err := deploy.NewDeployment(deploy.Spec{
		Name: "Relief", AdminEmail: "admin@example.org",
		Servers: []deploy.ServerSpec{
			{Host: "10.0.0.1", Role: deploy.RoleDB}, {Host: "10.0.0.2", Role: deploy.RoleEden},
			{Host: "10.0.0.3", Role: deploy.RoleEden}, {Host: "10.0.0.4", Role: deploy.RoleWebServer},
		},
		Instance: deploy.InstanceSpec{Type: deploy.InstanceProd},
	}, deploy.NewID("d-", now), "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.NewRun(deploy.NewID("r-", now), deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, now)
	if err != nil {
		t.Fatal(err)
	}
	return d, r
}

// execute starts the run's execution and waits for it to end, returning
// the names of the states it entered, in order.
func (rg *rig) execute(t *testing.T, r *deploy.Run) (workflow.Execution, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	input, _ := json.Marshal(tasks.RunRef{DeploymentID: r.DeploymentID, RunID: r.ID})
	id, err := rg.engine.StartExecution(ctx, statemachine.RunMachine, workflow.ExecutionName(r.ID), input)
	if err != nil {
		t.Fatal(err)
	}
	x, err := rg.engine.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	events, err := rg.engine.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, ev := range events {
		if strings.HasSuffix(ev.Type, "StateEntered") {
			path = append(path, ev.State)
		}
	}
	return x, path
}

func stepSummary(r *deploy.Run) []string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, fmt.Sprintf("%s %s %v", st.Name, st.Status, st.Hosts))
	}
	return s
}

func TestDeployThreeTier(t *testing.T) {
	rg := newRig(t, "", false)
	d, r := threeTier(t)
	if err := rg.store.CreateDeployment(context.Background(), d, r); err != nil {
		t.Fatal(err)
	}
	x, path := rg.execute(t, r)
	if x.Status != workflow.StatusSucceeded {
		t.Fatalf("execution %s: %s %s", x.Status, x.Error, x.Cause)
	}
	step := []string{"PrepareStep", "DispatchOrSkip", "DispatchStep", "RecordStep"}
	want := append(append(append(append([]string{"StartRun", "RunSteps"}, step...), step...), step...), "RecordSuccess", "HasLifecycleAction", "Outcome", "Done")
	if diff := cmp.Diff(want, path); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	got, err := rg.store.GetRun(context.Background(), d.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != deploy.RunSucceeded || got.Error != "" || got.StartedAt.IsZero() || got.FinishedAt.IsZero() {
		t.Errorf("run = %s %q started %v finished %v", got.Status, got.Error, got.StartedAt, got.FinishedAt)
	}
	wantSteps := []string{"db succeeded [10.0.0.1]", "eden succeeded [10.0.0.2 10.0.0.3]", "webserver succeeded [10.0.0.4]"}
	if diff := cmp.Diff(wantSteps, stepSummary(got)); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	for _, st := range got.Steps {
		if len(st.Results) != len(st.Hosts) || st.CommandID != "cmd-"+st.Name || st.BundleKey == "" {
			t.Errorf("step %s: results %v command %q bundle %q", st.Name, st.Results, st.CommandID, st.BundleKey)
		}
	}
	dep, _ := rg.store.GetDeployment(context.Background(), d.ID)
	if s := dep.Instance(deploy.InstanceProd).Status; s != deploy.InstanceDeployed {
		t.Errorf("prod instance is %s, want deployed", s)
	}
	// Steps were dispatched in order, each to every host of its role.
	var order []string
	for _, dd := range rg.runner.dispatched {
		order = append(order, fmt.Sprintf("%d %s %d hosts", dd.StepIndex, dd.StepName, len(dd.Hosts)))
	}
	if diff := cmp.Diff([]string{"0 db 1 hosts", "1 eden 2 hosts", "2 webserver 1 hosts"}, order); diff != "" {
		t.Errorf("dispatch order (-want +got):\n%s", diff)
	}
	t.Logf("a 3-tier deploy took %d state transitions (goal: at most 40)", x.Transitions)
	if x.Transitions != len(path) {
		t.Errorf("transitions = %d, want one per state entered (%d)", x.Transitions, len(path))
	}
}

// instanceAtRunEnd records, at the write that ends a run, the status its
// deployment's instance had then.
type instanceAtRunEnd struct {
	deploy.Store
	mu   sync.Mutex
	seen []deploy.InstanceStatus
}

func (s *instanceAtRunEnd) UpdateRun(ctx context.Context, r *deploy.Run) error {
	if r.Status.Terminal() {
		d, err := s.Store.GetDeployment(ctx, r.DeploymentID)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.seen = append(s.seen, d.Instance(r.Instance).Status)
		s.mu.Unlock()
	}
	return s.Store.UpdateRun(ctx, r)
}

// Whoever sees a deploy run ended reads its instance as that end left
// it: the instance is written first (a client polling the run, then the
// deployment, saw "deploying" after a succeeded run).
func TestInstanceWrittenBeforeTheRunEnds(t *testing.T) {
	for _, fail := range []string{"", "eden"} {
		want := deploy.InstanceDeployed
		if fail != "" {
			want = deploy.InstanceFailed
		}
		t.Run(string(want), func(t *testing.T) {
			rec := &instanceAtRunEnd{}
			rg := newRig(t, fail, false, func(s deploy.Store) deploy.Store { rec.Store = s; return rec })
			d, r := threeTier(t)
			if err := rg.store.CreateDeployment(context.Background(), d, r); err != nil {
				t.Fatal(err)
			}
			rg.execute(t, r)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.seen) != 1 || rec.seen[0] != want {
				t.Errorf("instance status when the run ended: %v, want [%s]", rec.seen, want)
			}
		})
	}
}

func TestDeployStepFails(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
		runnerError   bool
	}{
		{"a task fails on a host", `step eden failed: task "Install packages" failed on 10.0.0.2: no space left`, false},
		// The step that could not run is recorded failed, with the reason.
		{"ansible cannot run", `step eden failed: RunnerError: ansible-playbook: not found`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, "eden", tc.runnerError)
			d, r := threeTier(t)
			if err := rg.store.CreateDeployment(context.Background(), d, r); err != nil {
				t.Fatal(err)
			}
			x, path := rg.execute(t, r)
			if x.Status != workflow.StatusFailed || x.Error != "RunDidNotSucceed" {
				t.Errorf("execution %s %s, want FAILED RunDidNotSucceed", x.Status, x.Error)
			}
			if last := path[len(path)-4:]; !cmp.Equal(last, []string{"RecordFailure", "HasLifecycleAction", "Outcome", "RunDidNotSucceed"}) {
				t.Errorf("path ends %v", last)
			}
			got, _ := rg.store.GetRun(context.Background(), d.ID, r.ID)
			if got.Status != deploy.RunFailed || got.Error != tc.wantErr {
				t.Errorf("run = %s %q, want failed %q", got.Status, got.Error, tc.wantErr)
			}
			wantSteps := []string{"db succeeded [10.0.0.1]", "eden failed [10.0.0.2 10.0.0.3]", "webserver pending [10.0.0.4]"}
			if diff := cmp.Diff(wantSteps, stepSummary(got)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			dep, _ := rg.store.GetDeployment(context.Background(), d.ID)
			if s := dep.Instance(deploy.InstanceProd).Status; s != deploy.InstanceFailed {
				t.Errorf("prod instance is %s, want failed", s)
			}
			if _, err := rg.store.ActiveRun(context.Background(), d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("the failed run still holds the deployment's run slot: %v", err)
			}
		})
	}
}

func TestScaleOutCompletesLifecycleAction(t *testing.T) {
	for _, tc := range []struct {
		fail, want string
	}{
		{"", "i-0abc CONTINUE"},
		{"eden-new", "i-0abc ABANDON"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			rg := newRig(t, tc.fail, false)
			d, first := threeTier(t)
			ctx := context.Background()
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
			srv := deploy.Server{Host: "10.0.0.9", Role: deploy.RoleEden, InstanceID: "i-0abc", Origin: deploy.OriginAutoscaling}
			if err := rg.store.AddServer(ctx, d.ID, srv); err != nil {
				t.Fatal(err)
			}
			d, _ = rg.store.GetDeployment(ctx, d.ID)
			r, err := d.NewRun(deploy.NewID("r-", time.Now()), deploy.RunRequest{Kind: deploy.RunScaleOut, Host: srv.Host, HostRole: srv.Role}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r.Lifecycle = &deploy.LifecycleAction{GroupName: "eden", HookName: "launch", Token: "tok", InstanceID: "i-0abc"}
			if err := rg.store.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			_, path := rg.execute(t, r)
			if !contains(path, "CompleteLifecycleAction") {
				t.Errorf("path %v does not complete the lifecycle action", path)
			}
			if diff := cmp.Diff([]string{tc.want}, rg.lifecycle.results); diff != "" {
				t.Errorf("lifecycle completions (-want +got):\n%s", diff)
			}
			got, _ := rg.store.GetRun(ctx, d.ID, r.ID)
			if got.Lifecycle == nil || got.Lifecycle.Result+"" != strings.Fields(tc.want)[1] || got.Lifecycle.CompletedAt.IsZero() {
				t.Errorf("run's lifecycle record = %+v", got.Lifecycle)
			}
			if rg.lifecycle.beats == 0 {
				t.Errorf("no lifecycle heartbeat was recorded while provisioning")
			}
			for _, d := range rg.runner.dispatched {
				if d.Lifecycle == nil || d.Lifecycle.Token != "tok" {
					t.Errorf("step %s was dispatched without its lifecycle action (%+v): hosts could not keep it alive", d.StepName, d.Lifecycle)
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
