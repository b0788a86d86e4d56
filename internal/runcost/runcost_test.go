package runcost_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runcost"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// counter answers Transitions from a table.
type counter map[string]int

func (c counter) Transitions(_ context.Context, id string) (int, error) {
	n, ok := c[id]
	if !ok {
		return 0, fmt.Errorf("no execution %s: %w", id, workflow.ErrNotFound)
	}
	return n, nil
}

// setup stores a deployment with its first run, ended, and returns the
// run's execution input.
func setup(t *testing.T) (*bolt.Store, *deploy.Run, string) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	d, err := deploy.NewDeployment(deploy.Spec{Name: "Relief", AdminEmail: "admin@example.org",
		Servers: []deploy.ServerSpec{{Host: "10.0.0.1", Role: deploy.RoleAll}}, Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		deploy.NewID("d-", now), "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.NewRun(deploy.NewID("r-", now), deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd, Requester: "alice"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateDeployment(ctx, d, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []deploy.RunStatus{deploy.RunRunning, deploy.RunSucceeded} {
		if r, err = deploy.UpdateRun(ctx, st, d.ID, r.ID, func(r *deploy.Run) error { return r.MoveTo(s, now) }); err != nil {
			t.Fatal(err)
		}
	}
	return st, r, fmt.Sprintf(`{"deployment_id":%q,"run_id":%q}`, d.ID, r.ID)
}

func TestRecord(t *testing.T) {
	ctx := context.Background()
	st, run, input := setup(t)
	rec := &runcost.Recorder{Runs: st}
	got, err := rec.Record(ctx, []byte(input), 15)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(runcost.Recorded{DeploymentID: run.DeploymentID, RunID: run.ID, Transitions: 15}, got); diff != "" {
		t.Errorf("Recorded (-want +got):\n%s", diff)
	}
	stored, _ := st.GetRun(ctx, run.DeploymentID, run.ID)
	if stored.Transitions != 15 || stored.Status != deploy.RunSucceeded || stored.Version != run.Version+1 {
		t.Errorf("stored run: %d transitions, %s, version %d (was %d)", stored.Transitions, stored.Status, stored.Version, run.Version)
	}
	// The same figure again (a redelivered event) writes nothing.
	if _, err := rec.Record(ctx, []byte(input), 15); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.GetRun(ctx, run.DeploymentID, run.ID); again.Version != stored.Version {
		t.Errorf("recording the same figure wrote the run again (version %d → %d)", stored.Version, again.Version)
	}

	for _, bad := range []string{`{}`, `not json`, `{"deployment_id":"d-1"}`} {
		if _, err := rec.Record(ctx, []byte(bad), 3); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("input %s: err = %v, want Invalid", bad, err)
		}
	}
	// A run whose deployment was deleted is gone, not an error.
	if err := st.DeleteDeployment(ctx, run.DeploymentID); err != nil {
		t.Fatal(err)
	}
	if got, err := rec.Record(ctx, []byte(input), 9); err != nil || !got.Gone {
		t.Errorf("deleted run: %+v, %v; want Gone", got, err)
	}
}

func TestHandleStatusChange(t *testing.T) {
	ctx := context.Background()
	const arn = "arn:aws:states:us-east-1:123456789012:execution:eden-run:r-1"
	event := func(source, status string, input *string) runcost.StatusChange {
		var ev runcost.StatusChange
		ev.Source, ev.DetailType = source, runcost.EventDetailType
		ev.Detail.ExecutionArn, ev.Detail.Status, ev.Detail.Input = arn, status, input
		return ev
	}
	for _, tc := range []struct {
		name    string
		source  string
		status  string
		noInput bool
		counts  counter
		want    int // transitions stored; -1: an error
	}{
		{name: "succeeded", source: "aws.states", status: "SUCCEEDED", counts: counter{arn: 15}, want: 15},
		{name: "aborted (a cancelled run)", source: "aws.states", status: "ABORTED", counts: counter{arn: 6}, want: 6},
		{name: "failed", source: "aws.states", status: "FAILED", counts: counter{arn: 11}, want: 11},
		{name: "still running: ignored", source: "aws.states", status: "RUNNING", counts: counter{arn: 4}, want: 0},
		{name: "another source: ignored", source: "aws.ssm", status: "SUCCEEDED", counts: counter{arn: 4}, want: 0},
		{name: "no input", source: "aws.states", status: "SUCCEEDED", noInput: true, counts: counter{arn: 4}, want: -1},
		{name: "history not found", source: "aws.states", status: "SUCCEEDED", counts: counter{}, want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, run, input := setup(t)
			in := &input
			if tc.noInput {
				in = nil
			}
			rec := &runcost.Recorder{Runs: st, Counter: tc.counts}
			_, err := rec.HandleStatusChange(ctx, event(tc.source, tc.status, in))
			if (err != nil) != (tc.want < 0) {
				t.Fatalf("err = %v, want an error: %v", err, tc.want < 0)
			}
			if tc.name == "history not found" && !errors.Is(err, workflow.ErrNotFound) {
				t.Errorf("err = %v, want it to wrap ErrNotFound", err)
			}
			stored, _ := st.GetRun(ctx, run.DeploymentID, run.ID)
			if want := max(tc.want, 0); stored.Transitions != want {
				t.Errorf("stored transitions %d, want %d", stored.Transitions, want)
			}
		})
	}
}
