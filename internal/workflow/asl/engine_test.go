package asl

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

type addIn struct{ A, B int }
type addOut struct{ Sum int }

func TestExecutionSuccess(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "add", func(_ context.Context, in addIn) (addOut, error) { return addOut{in.A + in.B}, nil })
	def := `{
	  "StartAt": "Prepare",
	  "States": {
	    "Prepare": {"Type": "Pass", "Result": {"A": 2, "B": 3}, "ResultPath": "$.args", "Next": "Add"},
	    "Add": {"Type": "Task", "Resource": "${AddFunctionArn}", "InputPath": "$.args", "ResultPath": "$.sum", "Next": "Big?"},
	    "Big?": {"Type": "Choice", "Choices": [{"Variable": "$.sum.Sum", "NumericGreaterThan": 4, "Next": "Done"}], "Default": "Small"},
	    "Small": {"Type": "Fail", "Error": "TooSmall"},
	    "Done": {"Type": "Succeed", "OutputPath": "$.sum"}
	  }}`
	var x workflow.Execution
	var p []string
	synctest.Test(t, func(t *testing.T) {
		h := &harness{t: t, reg: reg, jrn: NewMemJournal()}
		e, err := New(Config{Registry: reg, Journal: h.jrn, Substitutions: map[string]string{"AddFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:add"}})
		if err != nil {
			t.Fatal(err)
		}
		h.e = e
		if err := e.Load("m", []byte(def)); err != nil {
			t.Fatal(err)
		}
		id := h.start(`{"run": "r1"}`)
		x = h.wait(id)
		p = h.path(id)
		e.Close()
	})
	if x.Status != workflow.StatusSucceeded || canon(t, x.Output) != `{"Sum":5}` {
		t.Fatalf("got %s %s (%s: %s)", x.Status, x.Output, x.Error, x.Cause)
	}
	if diff := cmp.Diff([]string{"Prepare", "Add", "Big?", "Done"}, p); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	if x.Transitions != 4 {
		t.Errorf("Transitions = %d, want 4", x.Transitions)
	}
}

func TestRetryThenSuccess(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	var times []time.Time
	Handle(reg, "flaky", func(_ context.Context, in map[string]any) (string, error) {
		times = append(times, time.Now())
		if calls.Add(1) < 3 {
			return "", &RetryableError{"not yet"}
		}
		return "ok", nil
	})
	def := `{"StartAt": "Flaky", "States": {
	  "Flaky": {"Type": "Task", "Resource": "flaky", "End": true,
	    "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 5},
	              {"ErrorEquals": ["RetryableError", "Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}]}}}`
	x, p := runOne(t, reg, def, `{}`)
	if x.Status != workflow.StatusSucceeded || canon(t, x.Output) != `"ok"` {
		t.Fatalf("got %s %s (%s: %s)", x.Status, x.Output, x.Error, x.Cause)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3", calls.Load())
	}
	// Fake time: the delays are exactly IntervalSeconds * BackoffRate^n.
	gaps := []time.Duration{times[1].Sub(times[0]), times[2].Sub(times[1])}
	if diff := cmp.Diff([]time.Duration{2 * time.Second, 6 * time.Second}, gaps); diff != "" {
		t.Errorf("retry delays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Flaky"}, p); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	if x.Transitions != 3 { // one entry + two retries
		t.Errorf("Transitions = %d, want 3", x.Transitions)
	}
}

func TestRetryExhaustedThenCatch(t *testing.T) {
	reg := NewRegistry()
	var calls atomic.Int32
	Handle(reg, "broken", func(context.Context, struct{}) (struct{}, error) {
		calls.Add(1)
		return struct{}{}, fmt.Errorf("deploy: %w", errors.New("disk full"))
	})
	Handle(reg, "record", func(_ context.Context, in map[string]any) (map[string]any, error) {
		return map[string]any{"recorded": in["failure"]}, nil
	})
	def := `{"StartAt": "Work", "States": {
	  "Work": {"Type": "Task", "Resource": "broken", "Next": "Done",
	    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1, "MaxDelaySeconds": 1}],
	    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordFailure"}]},
	  "RecordFailure": {"Type": "Task", "Resource": "record", "Next": "Failed"},
	  "Failed": {"Type": "Fail", "Error": "RunFailed", "CausePath": "$.recorded.Error"},
	  "Done": {"Type": "Succeed"}}}`
	x, p := runOne(t, reg, def, `{"run": 1}`)
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3 (1 + MaxAttempts 2)", calls.Load())
	}
	if diff := cmp.Diff([]string{"Work", "RecordFailure", "Failed"}, p); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	want := workflow.Execution{Status: workflow.StatusFailed, Error: "RunFailed", Cause: "wrapError"}
	got := workflow.Execution{Status: x.Status, Error: x.Error, Cause: x.Cause}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("execution (-want +got):\n%s", diff)
	}
}

// The shape the project's run machine uses: a Map over $.steps, one at a
// time, each step dispatched with a callback token and a heartbeat.
const callbackMachine = `{"StartAt": "Plan", "States": {
  "Plan": {"Type": "Task", "Resource": "${PlanRunFunctionArn}", "ResultPath": "$.plan", "Next": "Steps",
    "Retry": [{"ErrorEquals": ["RetryableError", "Lambda.ServiceException", "Lambda.TooManyRequestsException"], "MaxAttempts": 3}],
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}]},
  "Steps": {"Type": "Map", "ItemsPath": "$.plan.steps", "MaxConcurrency": 1, "ResultPath": "$.results",
    "ItemSelector": {"run.$": "$.run", "step.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Dispatch", "States": {
      "Dispatch": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "HeartbeatSeconds": 60, "End": true,
        "Parameters": {"FunctionName": "${DispatchStepFunctionArn}", "Payload": {"token.$": "$$.Task.Token", "step.$": "$.step", "index.$": "$.index"}}}}},
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}],
    "Next": "Finish"},
  "Finish": {"Type": "Succeed"},
  "RecordFailure": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
    "Parameters": {"FunctionName": "${RecordFailureFunctionArn}", "Payload.$": "$"}, "Next": "Failed"},
  "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}}}`

var callbackSubs = map[string]string{
	"PlanRunFunctionArn":       "plan",
	"DispatchStepFunctionArn":  "dispatch",
	"RecordFailureFunctionArn": "record",
}

type dispatchIn struct {
	Token string
	Step  string
	Index int
}

// callbackRig registers the run machine's functions; dispatched tasks are
// delivered on the returned channel.
func callbackRig(steps []string) (*Registry, chan dispatchIn) {
	reg := NewRegistry()
	ch := make(chan dispatchIn, 10)
	Handle(reg, "plan", func(context.Context, map[string]any) (map[string]any, error) {
		s := make([]any, len(steps))
		for i, v := range steps {
			s[i] = v
		}
		return map[string]any{"steps": s}, nil
	})
	Handle(reg, "dispatch", func(_ context.Context, in dispatchIn) (struct{}, error) {
		ch <- in
		return struct{}{}, nil
	})
	Handle(reg, "record", func(_ context.Context, in map[string]any) (map[string]any, error) {
		return in, nil
	})
	return reg, ch
}

func newCallbackEngine(t *testing.T, reg *Registry) (*Engine, string) {
	t.Helper()
	e, err := New(Config{Registry: reg, Journal: NewMemJournal(), Substitutions: callbackSubs})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load("run", []byte(callbackMachine)); err != nil {
		t.Fatal(err)
	}
	id, err := e.StartExecution(context.Background(), "run", "run-1", []byte(`{"run": "r-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

func TestMapCallbackInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, ch := callbackRig([]string{"db", "eden", "web"})
		e, id := newCallbackEngine(t, reg)
		defer e.Close()
		ctx := context.Background()
		var got []dispatchIn
		for range 3 {
			d := <-ch
			synctest.Wait()
			// MaxConcurrency 1: nothing else is dispatched while d waits.
			if len(ch) != 0 {
				t.Fatalf("a second step was dispatched while %s waits", d.Step)
			}
			time.Sleep(50 * time.Second)
			if err := e.SendTaskHeartbeat(ctx, d.Token); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Second) // 100 s in all: only the heartbeat keeps it alive
			if err := e.SendTaskSuccess(ctx, d.Token, []byte(fmt.Sprintf(`{"host":%q}`, d.Step))); err != nil {
				t.Fatal(err)
			}
			if err := e.SendTaskSuccess(ctx, d.Token, []byte(`{}`)); !errors.Is(err, workflow.ErrTaskNotFound) {
				t.Errorf("second SendTaskSuccess: err = %v, want ErrTaskNotFound", err)
			}
			got = append(got, dispatchIn{Step: d.Step, Index: d.Index})
		}
		x, err := e.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != workflow.StatusSucceeded {
			t.Fatalf("status %s: %s %s", x.Status, x.Error, x.Cause)
		}
		want := []dispatchIn{{Step: "db", Index: 0}, {Step: "eden", Index: 1}, {Step: "web", Index: 2}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dispatched (-want +got):\n%s", diff)
		}
		if c := canon(t, x.Output); c != `{"plan":{"steps":["db","eden","web"]},"results":[{"host":"db"},{"host":"eden"},{"host":"web"}],"run":"r-1"}` {
			t.Errorf("output = %s", c)
		}
		h := &harness{t: t, e: e}
		wantPath := []string{"Plan", "Steps", "Steps/Dispatch", "Steps/Dispatch", "Steps/Dispatch", "Finish"}
		if diff := cmp.Diff(wantPath, h.path(id)); diff != "" {
			t.Errorf("path (-want +got):\n%s", diff)
		}
		if x.Transitions != 6 {
			t.Errorf("Transitions = %d, want 6", x.Transitions)
		}
	})
}

func TestHeartbeatTimeoutCaught(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, ch := callbackRig([]string{"db", "eden"})
		e, id := newCallbackEngine(t, reg)
		defer e.Close()
		ctx := context.Background()
		d := <-ch
		start := time.Now()
		x, err := e.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 60*time.Second {
			t.Errorf("failed after %s of fake time, want HeartbeatSeconds 60s", waited)
		}
		if x.Status != workflow.StatusFailed || x.Error != ErrHeartbeatTimeout {
			t.Errorf("got %s %s (%s), want FAILED States.HeartbeatTimeout", x.Status, x.Error, x.Cause)
		}
		h := &harness{t: t, e: e}
		if diff := cmp.Diff([]string{"Plan", "Steps", "Steps/Dispatch", "RecordFailure", "Failed"}, h.path(id)); diff != "" {
			t.Errorf("path (-want +got):\n%s", diff)
		}
		if err := e.SendTaskSuccess(ctx, d.Token, []byte(`{}`)); !errors.Is(err, workflow.ErrTaskNotFound) {
			t.Errorf("SendTaskSuccess after timeout: err = %v, want ErrTaskNotFound", err)
		}
	})
}

func TestTaskFailureFromCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, ch := callbackRig([]string{"db"})
		e, id := newCallbackEngine(t, reg)
		defer e.Close()
		d := <-ch
		if err := e.SendTaskFailure(context.Background(), d.Token, "AnsibleFailed", "host db1 unreachable"); err != nil {
			t.Fatal(err)
		}
		x, _ := e.Wait(context.Background(), id)
		if x.Status != workflow.StatusFailed || x.Error != "AnsibleFailed" || x.Cause != "host db1 unreachable" {
			t.Errorf("got %s %s %s", x.Status, x.Error, x.Cause)
		}
	})
}

func TestTaskTimeout(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "slow", func(ctx context.Context, _ struct{}) (struct{}, error) {
		<-ctx.Done() // gives up only when the engine cancels it
		return struct{}{}, ctx.Err()
	})
	def := `{"StartAt": "Slow", "States": {
	  "Slow": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 30, "Next": "Done",
	    "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 5}],
	    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}]},
	  "TimedOut": {"Type": "Pass", "Result": "gave up", "End": true},
	  "Done": {"Type": "Succeed"}}}`
	x, p := runOne(t, reg, def, `{}`)
	if x.Status != workflow.StatusSucceeded || canon(t, x.Output) != `"gave up"` {
		t.Fatalf("got %s %s", x.Status, x.Output)
	}
	// States.TaskFailed does not match States.Timeout: no retry.
	if diff := cmp.Diff([]string{"Slow", "TimedOut"}, p); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
}

func TestParallel(t *testing.T) {
	def := `{"StartAt": "Both", "States": {
	  "Both": {"Type": "Parallel", "Next": "Merge", "ResultPath": "$.both", "Branches": [
	    {"StartAt": "L", "States": {"L": {"Type": "Pass", "Parameters": {"side": "left", "n.$": "$.n"}, "End": true}}},
	    {"StartAt": "R1", "States": {"R1": {"Type": "Wait", "Seconds": 5, "Next": "R2"}, "R2": {"Type": "Pass", "Result": "right", "End": true}}}]},
	  "Merge": {"Type": "Pass", "Parameters": {"left.$": "$.both[0]", "right.$": "$.both[1]"}, "End": true}}}`
	x, p := runOne(t, nil, def, `{"n": 7}`)
	if x.Status != workflow.StatusSucceeded {
		t.Fatalf("status %s %s %s", x.Status, x.Error, x.Cause)
	}
	if got := canon(t, x.Output); got != `{"left":{"n":7,"side":"left"},"right":"right"}` {
		t.Errorf("output %s", got)
	}
	// L runs while R1 waits.
	if diff := cmp.Diff([]string{"Both", "Both/L", "Both/R1", "Both/R2", "Merge"}, sortBranches(p)); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
	if x.Transitions != 5 {
		t.Errorf("Transitions = %d, want 5", x.Transitions)
	}
}

// sortBranches orders concurrent branches' entries deterministically
// (by name), leaving the top level in place.
func sortBranches(p []string) []string {
	out := append([]string(nil), p...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > 0 && len(out[j-1]) > 0 && isInner(out[j]) && isInner(out[j-1]) && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func isInner(s string) bool {
	for _, c := range s {
		if c == '/' {
			return true
		}
	}
	return false
}

func TestMapFailureFailsState(t *testing.T) {
	def := `{"StartAt": "Each", "States": {
	  "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "End": true,
	    "Catch": [{"ErrorEquals": ["Bad"], "Next": "Caught"}],
	    "Iterator": {"StartAt": "Check", "States": {
	      "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}], "Default": "Ok"},
	      "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "two"},
	      "Ok": {"Type": "Succeed"}}}},
	  "Caught": {"Type": "Pass", "End": true}}}`
	x, p := runOne(t, nil, def, `{"items": [1, 2, 3]}`)
	if x.Status != workflow.StatusSucceeded || canon(t, x.Output) != `{"Cause":"two","Error":"Bad"}` {
		t.Fatalf("got %s %s", x.Status, x.Output)
	}
	want := []string{"Each", "Each/Check", "Each/Ok", "Each/Check", "Each/Boom", "Caught"}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}
}

func TestWaitVariants(t *testing.T) {
	def := `{"StartAt": "W1", "States": {
	  "W1": {"Type": "Wait", "Seconds": 10, "Next": "W2"},
	  "W2": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "W3"},
	  "W3": {"Type": "Wait", "TimestampPath": "$.until", "Next": "W4"},
	  "W4": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": true}}}`
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, map[string]string{"m": def})
		start := time.Now()
		until := start.Add(time.Hour).UTC().Format(time.RFC3339)
		id := h.start(fmt.Sprintf(`{"delay": 20, "until": %q}`, until))
		x := h.wait(id)
		if x.Status != workflow.StatusSucceeded {
			t.Fatalf("status %s %s", x.Status, x.Cause)
		}
		if got := time.Since(start); got != time.Hour {
			t.Errorf("waited %s of fake time, want 1h (10s + 20s, then until start+1h, then a past timestamp)", got)
		}
	})
}

func TestStopExecution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, ch := callbackRig([]string{"db"})
		e, id := newCallbackEngine(t, reg)
		defer e.Close()
		d := <-ch
		if err := e.StopExecution(context.Background(), id, "UserCancelled", "by alice"); err != nil {
			t.Fatal(err)
		}
		x, _ := e.DescribeExecution(context.Background(), id)
		if x.Status != workflow.StatusAborted || x.Error != "UserCancelled" || x.Cause != "by alice" || x.Stop.IsZero() {
			t.Errorf("got %+v", x)
		}
		if err := e.SendTaskSuccess(context.Background(), d.Token, []byte(`{}`)); !errors.Is(err, workflow.ErrTaskNotFound) {
			t.Errorf("SendTaskSuccess after stop: %v", err)
		}
	})
}

func TestExecutionTimeout(t *testing.T) {
	def := `{"StartAt": "W", "TimeoutSeconds": 30, "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}`
	x, _ := runOne(t, nil, def, `{}`)
	if x.Status != workflow.StatusTimedOut || x.Error != ErrTimeout {
		t.Errorf("got %s %s", x.Status, x.Error)
	}
	if got := x.Stop.Sub(x.Start); got != 30*time.Second {
		t.Errorf("stopped after %s", got)
	}
}

func TestStartExecutionNames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		def := `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}`
		h := newHarness(t, nil, map[string]string{"m": def})
		ctx := context.Background()
		id, err := h.e.StartExecution(ctx, "m", "n1", []byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.e.StartExecution(ctx, "m", "n1", []byte(`{"a":1}`))
		if err != nil || again != id {
			t.Errorf("same name and input while running: got %q, %v; want %q, nil", again, err, id)
		}
		if _, err := h.e.StartExecution(ctx, "m", "n1", []byte(`{"a":2}`)); !errors.Is(err, workflow.ErrExecutionExists) {
			t.Errorf("different input: err = %v, want ErrExecutionExists", err)
		}
		h.wait(id)
		if _, err := h.e.StartExecution(ctx, "m", "n1", []byte(`{"a":1}`)); !errors.Is(err, workflow.ErrExecutionExists) {
			t.Errorf("same input after the end: err = %v, want ErrExecutionExists", err)
		}
		if _, err := h.e.StartExecution(ctx, "nope", "n1", nil); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("unknown machine: err = %v, want ErrNotFound", err)
		}
		if _, err := h.e.DescribeExecution(ctx, "nope"); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("unknown execution: err = %v, want ErrNotFound", err)
		}
		if _, err := h.e.StartExecution(ctx, "m", "bad name", nil); err == nil {
			t.Error("a name with a space was accepted")
		}
		if err := h.e.SendTaskHeartbeat(ctx, "no-such-token"); !errors.Is(err, workflow.ErrTaskNotFound) {
			t.Errorf("unknown token: err = %v", err)
		}
		h.e.Close()
	})
}
