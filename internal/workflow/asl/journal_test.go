package asl

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Two journals with different prefixes share one *bolt.DB without seeing
// each other; a finished execution drops its definition and branches.
func TestBoltJournalSharedDB(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "server.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	j1, err := NewBoltJournal(db, "wf1.")
	if err != nil {
		t.Fatal(err)
	}
	j2, err := NewBoltJournal(db, "wf2.")
	if err != nil {
		t.Fatal(err)
	}
	rec := ExecutionRecord{ID: "x1", Machine: "m", Name: "n", Status: workflow.StatusRunning, Input: []byte(`{}`)}
	br := BranchRecord{ID: "", State: "A", Input: []byte(`{"a":1}`), Visit: 1}
	if err := j1.Commit(Commit{Execution: rec, Definition: []byte(`{"def":1}`), Branches: []BranchRecord{br, {ID: "/M@1/0", State: "B", Input: []byte(`1`)}},
		Events: []Event{{ID: 1, Type: "ExecutionStarted"}, {ID: 2, Type: "PassStateEntered", State: "A"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := j1.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := []Stored{{Execution: rec, Definition: []byte(`{"def":1}`), Branches: []BranchRecord{br, {ID: "/M@1/0", State: "B", Input: []byte(`1`)}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	if other, _ := j2.Load(); len(other) != 0 {
		t.Errorf("the other prefix sees %d executions", len(other))
	}
	rec.Status = workflow.StatusSucceeded
	if err := j1.Commit(Commit{Execution: rec, Finished: true, Events: []Event{{ID: 3, Type: "ExecutionSucceeded"}}}); err != nil {
		t.Fatal(err)
	}
	// Load returns what runs; an ended execution is read one at a time.
	if got, _ = j1.Load(); len(got) != 0 {
		t.Errorf("after Finished, Load returns %+v", got)
	}
	if r, ok, err := j1.Execution("x1"); err != nil || !ok || r.Status != workflow.StatusSucceeded {
		t.Errorf("Execution(x1) after Finished = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := j2.Execution("x1"); ok || err != nil {
		t.Errorf("the other prefix finds x1: %v, %v", ok, err)
	}
	evs, err := j1.Events("x1")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if diff := cmp.Diff([]string{"ExecutionStarted", "PassStateEntered", "ExecutionSucceeded"}, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// An execution whose pinned definition no longer loads after a restart
// fails with the reason instead of staying RUNNING; one that can resume,
// does (here, from inside its Wait state, which keeps its deadline).
func TestResumeInProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jrn := NewMemJournal()
		reg := NewRegistry()
		Handle(reg, "f", func(context.Context, any) (string, error) { return "ok", nil })
		waitDef := `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "Next": "T"}, "T": {"Type": "Task", "Resource": "f", "End": true}}}`
		e1, err := New(Config{Registry: reg, Journal: jrn})
		if err != nil {
			t.Fatal(err)
		}
		if err := e1.Load("m", []byte(waitDef)); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		id1, _ := e1.StartExecution(ctx, "m", "keeps", nil)
		id2, _ := e1.StartExecution(ctx, "m", "breaks", nil)
		synctest.Wait()
		e1.Close() // as if the process died: both stay RUNNING in the journal

		reg2 := NewRegistry()
		Handle(reg2, "f", func(context.Context, any) (string, error) { return "ok", nil })
		e2, err := New(Config{Registry: reg2, Journal: jrn})
		if err != nil {
			t.Fatal(err)
		}
		defer e2.Close()
		x, _ := e2.DescribeExecution(ctx, id1)
		if x.Status != workflow.StatusRunning {
			t.Fatalf("before Resume: %s", x.Status)
		}
		// Break the second one's pinned definition: its function is gone.
		e2.execs[id2].defText = []byte(`{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "Next": "T"}, "T": {"Type": "Task", "Resource": "gone", "End": true}}}`)
		n, err := e2.Resume(ctx)
		if err != nil || n != 1 {
			t.Fatalf("Resume = %d, %v", n, err)
		}
		x2, _ := e2.DescribeExecution(ctx, id2)
		if x2.Status != workflow.StatusFailed || x2.Error != ErrRuntime {
			t.Errorf("broken execution: %s %s %s", x2.Status, x2.Error, x2.Cause)
		}
		x1, err := e2.Wait(ctx, id1)
		if err != nil {
			t.Fatal(err)
		}
		if x1.Status != workflow.StatusSucceeded || canon(t, x1.Output) != `"ok"` {
			t.Errorf("resumed execution: %s %s", x1.Status, x1.Output)
		}
		if got := x1.Stop.Sub(x1.Start); got != 100e9 {
			t.Errorf("resumed Wait ended %s after the start, want 100s", got)
		}
	})
}
