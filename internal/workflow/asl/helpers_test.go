package asl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// RetryableError mimics the project's named task error.
type RetryableError struct{ Msg string }

func (e *RetryableError) Error() string { return e.Msg }

// harness is an engine on a MemJournal inside a synctest bubble.
type harness struct {
	t   *testing.T
	e   *Engine
	reg *Registry
	jrn *MemJournal
}

func newHarness(t *testing.T, reg *Registry, defs map[string]string) *harness {
	t.Helper()
	if reg == nil {
		reg = NewRegistry()
	}
	h := &harness{t: t, reg: reg, jrn: NewMemJournal()}
	e, err := New(Config{Registry: reg, Journal: h.jrn})
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range defs {
		if err := e.Load(name, []byte(d)); err != nil {
			t.Fatalf("Load %s: %v", name, err)
		}
	}
	h.e = e
	t.Cleanup(func() { e.Close() })
	return h
}

// start starts machine "m" and returns the execution ID.
func (h *harness) start(input string) string {
	h.t.Helper()
	id, err := h.e.StartExecution(context.Background(), "m", "exec-1", []byte(input))
	if err != nil {
		h.t.Fatalf("StartExecution: %v", err)
	}
	return id
}

func (h *harness) wait(id string) workflow.Execution {
	h.t.Helper()
	x, err := h.e.Wait(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Wait: %v", err)
	}
	return x
}

// path lists the states entered, in order, as "State" at the top level and
// "Outer/State" inside a Map iteration or Parallel branch.
func (h *harness) path(id string) []string {
	h.t.Helper()
	evs, err := h.e.History(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if strings.HasSuffix(ev.Type, "StateEntered") {
			name := ev.State
			if ev.Branch != "" {
				outer := strings.Split(strings.TrimPrefix(ev.Branch, "/"), "@")[0]
				name = outer + "/" + name
			}
			out = append(out, name)
		}
	}
	return out
}

// runOne runs def (as machine "m") on input to its end inside a bubble.
func runOne(t *testing.T, reg *Registry, def, input string) (workflow.Execution, []string) {
	t.Helper()
	var x workflow.Execution
	var p []string
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, reg, map[string]string{"m": def})
		id := h.start(input)
		x = h.wait(id)
		p = h.path(id)
		h.e.Close()
	})
	return x, p
}

// canon re-encodes JSON so comparisons ignore spacing and key order.
func canon(t *testing.T, s []byte) string {
	t.Helper()
	if len(s) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(s, &v); err != nil {
		t.Fatalf("not JSON: %s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
