package asl

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// An execution that ends leaves the engine's memory; it is still known
// through the journal — described, waited for, its history read, its name
// taken — in this engine and in the next one over the same file, which
// loads only what still runs.
func TestEndedExecutionsLeaveMemory(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "j.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	jrn, err := NewBoltJournal(db, "wf.")
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	Handle(reg, "f", func(context.Context, any) (string, error) { return "ok", nil })
	defs := map[string]string{
		"m":    `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "f", "End": true}}}`,
		"wait": `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`,
	}
	open := func() *Engine {
		e, err := New(Config{Registry: reg, Journal: jrn})
		if err != nil {
			t.Fatal(err)
		}
		for n, d := range defs {
			if err := e.Load(n, []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	ctx := context.Background()
	e := open()
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		id, err := e.StartExecution(ctx, "m", name, []byte(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	running, err := e.StartExecution(ctx, "wait", "long", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := e.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check := func(e *Engine, when string) {
		t.Helper()
		e.mu.Lock()
		inMemory := len(e.execs)
		e.mu.Unlock()
		if inMemory != 1 {
			t.Errorf("%s: %d executions in memory, want the one still running", when, inMemory)
		}
		for _, id := range ids {
			x, err := e.DescribeExecution(ctx, id)
			if err != nil || x.Status != workflow.StatusSucceeded || x.Transitions != 1 || canon(t, x.Output) != `"ok"` {
				t.Errorf("%s: describe %s = %+v, %v", when, id, x, err)
			}
			if w, err := e.Wait(ctx, id); err != nil || w.Status != workflow.StatusSucceeded {
				t.Errorf("%s: wait %s = %s, %v", when, id, w.Status, err)
			}
			if evs, err := e.History(ctx, id); err != nil || len(evs) == 0 || evs[len(evs)-1].Type != "ExecutionSucceeded" {
				t.Errorf("%s: history of %s: %d events, %v", when, id, len(evs), err)
			}
			if err := e.StopExecution(ctx, id, "E", "c"); err != nil {
				t.Errorf("%s: stopping an ended execution: %v", when, err)
			}
		}
		// Its name stays taken, even with the same input.
		if _, err := e.StartExecution(ctx, "m", "a", []byte(`{"n":1}`)); !errors.Is(err, workflow.ErrExecutionExists) {
			t.Errorf("%s: starting an ended execution's name again: %v, want ErrExecutionExists", when, err)
		}
		if _, err := e.DescribeExecution(ctx, "arn:nope"); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("%s: unknown execution: %v", when, err)
		}
	}
	check(e, "same engine")
	e.Close()
	e2 := open()
	defer e2.Close()
	check(e2, "next engine")
	if x, _ := e2.DescribeExecution(ctx, running); x.Status != workflow.StatusRunning {
		t.Errorf("the running execution after reopening: %s", x.Status)
	}
}

// ExecutionID names, before the start, the ID StartExecution returns.
func TestExecutionID(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "f", func(context.Context, any) (string, error) { return "ok", nil })
	e, err := New(Config{Registry: reg, Journal: NewMemJournal()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Load("m", []byte(`{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "f", "End": true}}}`)); err != nil {
		t.Fatal(err)
	}
	want, err := e.ExecutionID("m", "x-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.StartExecution(context.Background(), "m", "x-1", nil)
	if err != nil || got != want {
		t.Errorf("started %q (%v), ExecutionID said %q", got, err, want)
	}
	if _, err := e.ExecutionID("nope", "x-1"); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("unknown machine: %v", err)
	}
}
