package control_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	secretfile "github.com/edendeploy/edendeploy/internal/secrets/file"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// The use cases over the real bbolt store and file secrets; the workflow
// engine is a fake that records what was started.
type rig struct {
	store   *bolt.Store
	secrets *secretfile.Store
	engine  *httpapitest.Engine
	svc     *control.Service
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, nil)
}

// newRigWith is newRig with configure applied to the service's
// configuration (nil: none).
func newRigWith(t *testing.T, configure func(*control.Config, *bolt.Store)) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "eden.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sec, err := secretfile.Open(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: st, secrets: sec, engine: &httpapitest.Engine{}}
	cfg := control.Config{Store: st, Secrets: sec, Workflow: r.engine, Machine: "run",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if configure != nil {
		configure(&cfg, st)
	}
	r.svc, err = control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var alice = control.Caller{User: "alice"}

func threeTier() control.CreateRequest {
	return control.CreateRequest{
		Spec: deploy.Spec{Name: "Relief", AdminEmail: "admin@example.org",
			Servers: []deploy.ServerSpec{{Host: "10.0.0.1", Role: deploy.RoleDB}, {Host: "10.0.0.2", Role: deploy.RoleEden},
				{Host: "10.0.0.3", Role: deploy.RoleWebServer}},
			Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		SSHPrivateKey: []byte("key"),
	}
}

// finish ends the run as the state machine would.
func (r *rig) finish(t *testing.T, run *deploy.Run, status deploy.RunStatus) {
	t.Helper()
	for _, st := range []deploy.RunStatus{deploy.RunRunning, status} {
		_, err := deploy.UpdateRun(context.Background(), r.store, run.DeploymentID, run.ID, func(x *deploy.Run) error {
			return x.MoveTo(st, time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := deploy.UpdateDeployment(context.Background(), r.store, run.DeploymentID, func(d *deploy.Deployment) error {
		x, _ := r.store.GetRun(context.Background(), run.DeploymentID, run.ID)
		d.ObserveRun(x, time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateKeepsSecretsAndStartsTheRun(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	d, run, err := r.svc.CreateDeployment(ctx, alice, threeTier())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{deploy.SecretDBPassword, deploy.SecretAdminPassword, deploy.SecretHMACKey, deploy.SecretSSHKey} {
		v, err := r.secrets.GetSecret(ctx, d.ID, name)
		if err != nil || len(v) == 0 {
			t.Errorf("secret %s: %q, %v", name, v, err)
		}
	}
	if r.engine.Started() != 1 || run.ExecutionID == "" {
		t.Errorf("started %d executions, run's execution %q", r.engine.Started(), run.ExecutionID)
	}
	// The same hosts cannot be claimed twice; nothing of the second is kept.
	_, _, err = r.svc.CreateDeployment(ctx, alice, threeTier())
	if !deploy.IsKind(err, deploy.KindConflict) {
		t.Fatalf("second deployment on the same hosts: %v, want Conflict", err)
	}
	ds, _, _ := r.store.ListDeployments(ctx, "", deploy.Page{})
	if len(ds) != 1 || r.engine.Started() != 1 {
		t.Errorf("%d deployments and %d executions after a refused create", len(ds), r.engine.Started())
	}
}

func TestRunThatCannotStartIsFailed(t *testing.T) {
	r := newRig(t)
	r.engine.StartErr = errors.New("engine closed: internal detail")
	d, run, err := r.svc.CreateDeployment(context.Background(), alice, threeTier())
	if err == nil {
		t.Fatal("create succeeded although the run could not start")
	}
	got, gerr := r.store.GetRun(context.Background(), d.ID, run.ID)
	if gerr != nil || got.Status != deploy.RunFailed || got.Error == "" {
		t.Fatalf("run after a failed start: %+v, %v", got, gerr)
	}
	if want := "the run could not start"; len(got.Error) < len(want) || got.Error[:len(want)] != want {
		t.Errorf("run error %q", got.Error)
	}
	dep, _ := r.store.GetDeployment(context.Background(), d.ID)
	if s := dep.Instance(deploy.InstanceProd).Status; s != deploy.InstanceFailed {
		t.Errorf("instance %s, want failed", s)
	}
	if _, err := r.store.ActiveRun(context.Background(), d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("a failed start still holds the run slot: %v", err)
	}
}

func TestScaleOutAndIn(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	d, first, err := r.svc.CreateDeployment(ctx, alice, threeTier())
	if err != nil {
		t.Fatal(err)
	}
	srv := deploy.Server{Host: "10.0.0.9", Role: deploy.RoleEden, InstanceID: "i-0000000000000a009"}
	launch := deploy.LifecycleAction{GroupName: "eden", HookName: "launch", Token: "tok-1", InstanceID: srv.InstanceID}

	// While the deploy runs, the deployment is busy: deliver again later.
	if _, err := r.svc.ScaleOut(ctx, d.ID, srv, launch); !deploy.IsKind(err, deploy.KindTransient) {
		t.Fatalf("scale-out during a run: %v, want Transient", err)
	}
	r.finish(t, first, deploy.RunSucceeded)

	run, err := r.svc.ScaleOut(ctx, d.ID, srv, launch)
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != control.LifecycleRunID("tok-1") || run.Kind != deploy.RunScaleOut || run.Lifecycle == nil || len(run.Steps) != 3 {
		t.Errorf("scale-out run %+v", run)
	}
	again, err := r.svc.ScaleOut(ctx, d.ID, srv, launch)
	if err != nil || again.ID != run.ID || r.engine.Started() != 2 {
		t.Errorf("redelivery: run %v, %v, %d executions started; want the same run and none new", again, err, r.engine.Started())
	}
	got, _ := r.store.GetDeployment(ctx, d.ID)
	if s := got.Server("10.0.0.9"); s == nil || s.Origin != deploy.OriginAutoscaling {
		t.Errorf("joined server %+v", s)
	}
	r.finish(t, run, deploy.RunSucceeded)

	out, err := r.svc.ScaleIn(ctx, srv.InstanceID, deploy.LifecycleAction{GroupName: "eden", HookName: "terminate", Token: "tok-2", InstanceID: srv.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = r.store.GetDeployment(ctx, d.ID)
	if got.Server("10.0.0.9") != nil || out.HostRole != deploy.RoleEden || len(out.Steps) != 2 || got.Degraded != "" {
		t.Errorf("after scale-in: server %+v, run %+v, degraded %q", got.Server("10.0.0.9"), out, got.Degraded)
	}
	if _, err := r.svc.ScaleIn(ctx, "i-00000000000000fff", deploy.LifecycleAction{Token: "tok-3"}); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("scale-in of an unknown instance: %v, want NotFound", err)
	}
}

func TestScaleInOfTheDatabaseDegrades(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	req := threeTier()
	req.Spec.Servers[0].InstanceID = "i-00000000000000d01"
	d, first, err := r.svc.CreateDeployment(ctx, alice, req)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, first, deploy.RunSucceeded)
	if _, err := r.svc.ScaleIn(ctx, "i-00000000000000d01", deploy.LifecycleAction{Token: "tok-db"}); err != nil {
		t.Fatal(err)
	}
	got, _ := r.store.GetDeployment(ctx, d.ID)
	if got.Degraded == "" || len(got.HostsOf(deploy.RoleDB)) != 0 {
		t.Errorf("a db server left: degraded %q, db hosts %v", got.Degraded, got.HostsOf(deploy.RoleDB))
	}
}
