package asl

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// TestOnEnd: every execution that ends is told once, with its final
// transition count, whatever its end; one left running at Close is not.
func TestOnEnd(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "flaky", func(_ context.Context, in struct{ Fail bool }) (string, error) {
		if in.Fail {
			return "", &RetryableError{"no"}
		}
		return "ok", nil
	})
	defs := map[string]string{
		// Pass, Task, Succeed: 3 transitions.
		"ok": `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "T"},
		  "T": {"Type": "Task", "Resource": "flaky", "ResultPath": null, "Next": "S"}, "S": {"Type": "Succeed"}}}`,
		// Task with 2 retries, then caught into a Fail: 1 + 2 + 1 = 4.
		"fail": `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "flaky", "End": true,
		  "Retry": [{"ErrorEquals": ["RetryableError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
		  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]}, "F": {"Type": "Fail", "Error": "Failed"}}}`,
		// A Wait that never ends on its own: stopped (aborted) or left running.
		"wait": `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`,
	}
	type end struct {
		Machine     string
		Status      workflow.Status
		Transitions int
		Described   int
	}
	var mu sync.Mutex
	var got []end
	synctest.Test(t, func(t *testing.T) {
		var e *Engine
		e, err := New(Config{Registry: reg, Journal: NewMemJournal(), OnEnd: func(x workflow.Execution) {
			d, err := e.DescribeExecution(context.Background(), x.ID)
			if err != nil {
				t.Errorf("DescribeExecution in OnEnd: %v", err)
			}
			mu.Lock()
			got = append(got, end{x.Machine, x.Status, x.Transitions, d.Transitions})
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range defs {
			if err := e.Load(name, []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		for _, c := range []struct{ machine, input string }{{"ok", `{"Fail": false}`}, {"fail", `{"Fail": true}`}} {
			id, err := e.StartExecution(ctx, c.machine, "x", []byte(c.input))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Wait(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		stopped, _ := e.StartExecution(ctx, "wait", "stopped", nil)
		left, _ := e.StartExecution(ctx, "wait", "left", nil)
		synctest.Wait()
		if err := e.StopExecution(ctx, stopped, "Cancelled", "by the test"); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if x, _ := e.DescribeExecution(ctx, left); x.Status != workflow.StatusRunning {
			t.Errorf("the execution left at Close is %s", x.Status)
		}
	})
	want := []end{
		{"ok", workflow.StatusSucceeded, 3, 3},
		{"fail", workflow.StatusFailed, 4, 4},
		{"wait", workflow.StatusAborted, 1, 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OnEnd calls (-want +got):\n%s", diff)
	}
}
