package stepfn

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// history answers GetExecutionHistory as the API reference says: events in
// order, at most maxResults (default 100, at most 1000) a page, a
// nextToken while more remain, no event data when includeExecutionData is
// false.
func (f *fakeSFN) history(body map[string]any, x *fakeExec, reply func(any), fail func(int, string, string)) {
	if x == nil {
		fail(400, "ExecutionDoesNotExist", "Execution Does Not Exist")
		return
	}
	size := 100
	if n, ok := body["maxResults"].(float64); ok && n > 0 {
		size = int(n)
	}
	if size > 1000 {
		fail(400, "ValidationException", "maxResults must be at most 1000")
		return
	}
	if body["includeExecutionData"] != false {
		f.t.Errorf("GetExecutionHistory asks for the execution's data, which counting does not need")
	}
	from := 0
	if tok, ok := body["nextToken"].(string); ok {
		n, err := strconv.Atoi(tok)
		if err != nil {
			fail(400, "InvalidToken", "Invalid Token")
			return
		}
		from = n
	}
	to := min(from+size, len(x.history))
	var evs []any
	for i := from; i < to; i++ {
		evs = append(evs, map[string]any{"id": i + 1, "previousEventId": i, "timestamp": 1.7e9, "type": x.history[i]})
	}
	out := map[string]any{"events": evs}
	if to < len(x.history) {
		out["nextToken"] = strconv.Itoa(to)
	}
	reply(out)
}

// runHistory is the history of a run of statemachine/run.asl.json with
// steps steps, the given extra attempts of PrepareStep in the first step
// (a retried Lambda function) and of DispatchStep in the last (a retried
// callback task), ending through RecordSuccess, and the transitions the
// execution made: each state entered, plus each retry.
func runHistory(steps, lambdaRetries, taskRetries int) ([]string, int) {
	var h []string
	add := func(types ...string) { h = append(h, types...) }
	lambda := func(attempts int) {
		for range attempts - 1 {
			add("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed")
		}
		add("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded")
	}
	add("ExecutionStarted", "TaskStateEntered")
	lambda(1)
	add("TaskStateExited", "MapStateEntered", "MapStateStarted")
	for i := range steps {
		add("MapIterationStarted", "TaskStateEntered")
		if i == 0 {
			lambda(1 + lambdaRetries)
		} else {
			lambda(1)
		}
		add("TaskStateExited", "ChoiceStateEntered", "ChoiceStateExited", "TaskStateEntered")
		if i == steps-1 {
			for range taskRetries {
				add("TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed")
			}
		}
		add("TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "TaskStateEntered")
		lambda(1)
		add("TaskStateExited", "MapIterationSucceeded")
	}
	add("MapStateSucceeded", "MapStateExited", "TaskStateEntered")
	lambda(1)
	add("TaskStateExited", "ChoiceStateEntered", "ChoiceStateExited", "ChoiceStateEntered", "ChoiceStateExited",
		"SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded")
	// StartRun, RunSteps, 4 per step (PrepareStep, DispatchOrSkip,
	// DispatchStep, RecordStep), RecordSuccess, HasLifecycleAction,
	// Outcome, Done.
	return h, 2 + 4*steps + 4 + lambdaRetries + taskRetries
}

func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		name                            string
		steps, lambdaRetries, taskRetry int
	}{
		{"all-in-one", 1, 0, 0},
		{"3-tier", 3, 0, 0},
		{"3-tier with retries", 3, 2, 1},
		// Over 1,000 events: the history comes in pages.
		{"many steps", 120, 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f := newTestClient(t)
			ctx := context.Background()
			id, err := c.StartExecution(ctx, "run", "r-1", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			h, want := runHistory(tc.steps, tc.lambdaRetries, tc.taskRetry)
			f.execs[id].history = h
			got, err := c.Transitions(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Transitions = %d, want %d", got, want)
			}
			pages := 0
			for _, op := range f.requests {
				if op == "GetExecutionHistory" {
					pages++
				}
			}
			if wantPages := max(1, (len(h)+999)/1000); pages != wantPages {
				t.Errorf("%d history pages read for %d events, want %d", pages, len(h), wantPages)
			}
		})
	}
	c, _ := newTestClient(t)
	_, err := c.Transitions(context.Background(), "arn:aws:states:us-east-1:123456789012:execution:eden-run:nope")
	if !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("unknown execution: err = %v, want ErrNotFound", err)
	}
}

// ExecutionID names, before the start, the ARN StartExecution returns.
func TestExecutionID(t *testing.T) {
	c, _ := newTestClient(t)
	want, err := c.ExecutionID("run", "r-7")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.StartExecution(context.Background(), "run", "r-7", []byte(`{}`))
	if err != nil || got != want {
		t.Errorf("started %q (%v), ExecutionID said %q", got, err, want)
	}
	if _, err := c.ExecutionID("nope", "r-7"); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("unknown machine: %v", err)
	}
}
