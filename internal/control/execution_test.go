package control_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	secretfile "github.com/edendeploy/edendeploy/internal/secrets/file"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// knowingEngine tells execution IDs before starting, as both real engines
// do; the fake's IDs are "exec:<machine>:<name>".
type knowingEngine struct{ *httpapitest.Engine }

func (knowingEngine) ExecutionID(machine, name string) (string, error) {
	return "exec:" + machine + ":" + name, nil
}

// failingSecrets fails every PutSecret.
type failingSecrets struct{ deploy.Secrets }

func (failingSecrets) PutSecret(context.Context, string, string, []byte) error {
	return errors.New("disk full")
}

func newService(t *testing.T, st deploy.Store, sec deploy.Secrets, wf *httpapitest.Engine, knows bool) *control.Service {
	t.Helper()
	cfg := control.Config{Store: st, Secrets: sec, Workflow: wf, Machine: "run", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if knows {
		cfg.Workflow = knowingEngine{wf}
	}
	svc, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// A run records its execution in the write that stores it: starting it
// writes nothing more (the run's version stays 1).
func TestRunRecordsItsExecutionWhenStored(t *testing.T) {
	for _, knows := range []bool{true, false} {
		dir := t.TempDir()
		st, err := bolt.Open(filepath.Join(dir, "eden.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		sec, _ := secretfile.Open(filepath.Join(dir, "secrets"))
		svc := newService(t, st, sec, &httpapitest.Engine{}, knows)
		d, run, err := svc.CreateDeployment(context.Background(), alice, threeTier())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetRun(context.Background(), d.ID, run.ID)
		wantVersion := 2 // stored, then its execution recorded
		if knows {
			wantVersion = 1
		}
		if got.ExecutionID != "exec:run:"+run.ID || got.Version != wantVersion {
			t.Errorf("engine knows IDs %v: stored run has execution %q at version %d, want %q at %d",
				knows, got.ExecutionID, got.Version, "exec:run:"+run.ID, wantVersion)
		}
	}
}

// Secrets and records are kept side by side; when either fails, nothing
// of the deployment is left and no run starts.
func TestCreateLeavesNothingWhenAWriteFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "eden.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secretDir := filepath.Join(dir, "secrets")
	sec, _ := secretfile.Open(secretDir)
	wf := &httpapitest.Engine{}

	// The secrets fail: the deployment is removed, its hosts free.
	_, _, err = newService(t, st, failingSecrets{sec}, wf, true).CreateDeployment(ctx, alice, threeTier())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("create with failing secrets: %v", err)
	}
	if ds, _, _ := st.ListDeployments(ctx, "", deploy.Page{}); len(ds) != 0 || wf.Started() != 0 {
		t.Fatalf("%d deployments kept, %d executions started after the secrets failed", len(ds), wf.Started())
	}
	svc := newService(t, st, sec, wf, true)
	if _, _, err := svc.CreateDeployment(ctx, alice, threeTier()); err != nil {
		t.Fatalf("the hosts are still claimed: %v", err)
	}

	// The records fail (the hosts are taken): its secrets are dropped.
	if _, _, err := svc.CreateDeployment(ctx, alice, threeTier()); !deploy.IsKind(err, deploy.KindConflict) {
		t.Fatalf("second create on the same hosts: %v, want Conflict", err)
	}
	entries, _ := os.ReadDir(secretDir)
	if len(entries) != 1 || wf.Started() != 1 {
		t.Errorf("%d deployments have secrets and %d executions started, want 1 and 1", len(entries), wf.Started())
	}
}
