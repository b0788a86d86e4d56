package instant_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner/instant"
)

// signals records what the runner signalled.
type signals struct {
	mu      sync.Mutex
	success map[string]deploy.StepOutcome
	other   int
}

func (s *signals) SendTaskSuccess(_ context.Context, token string, output []byte) error {
	var o deploy.StepOutcome
	if err := json.Unmarshal(output, &o); err != nil {
		return err
	}
	s.mu.Lock()
	s.success[token] = o
	s.mu.Unlock()
	return nil
}
func (s *signals) SendTaskFailure(context.Context, string, string, string) error {
	s.other++
	return nil
}
func (s *signals) SendTaskHeartbeat(context.Context, string) error { s.other++; return nil }

func TestDispatch(t *testing.T) {
	sig := &signals{success: map[string]deploy.StepOutcome{}}
	r := instant.New(sig, nil)
	ctx := context.Background()
	d := deploy.Dispatch{DeploymentID: "d-1", RunID: "r-1", Token: "tok-1", LogKey: "deployments/d-1/runs/r-1/steps/0/log",
		Hosts: []deploy.DispatchHost{{Host: "10.0.0.2"}, {Host: "10.0.0.3"}}}
	id, err := r.Dispatch(ctx, d)
	if err != nil || !strings.HasPrefix(id, "instant-") {
		t.Fatalf("Dispatch = %q, %v", id, err)
	}
	d.Token = "tok-2"
	id2, _ := r.Dispatch(ctx, d)
	if id2 == id {
		t.Errorf("two dispatches share the command ID %s", id)
	}
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want := deploy.StepOutcome{LogKey: d.LogKey, Results: []deploy.HostResult{{Host: "10.0.0.2", OK: 1}, {Host: "10.0.0.3", OK: 1}}}
	for _, tok := range []string{"tok-1", "tok-2"} {
		if diff := cmp.Diff(want, sig.success[tok]); diff != "" {
			t.Errorf("outcome of %s (-want +got):\n%s", tok, diff)
		}
	}
	if sig.other != 0 {
		t.Errorf("%d failures or heartbeats signalled", sig.other)
	}
	for name, bad := range map[string]deploy.Dispatch{"no token": {Hosts: d.Hosts}, "no hosts": {Token: "t"}} {
		if _, err := r.Dispatch(ctx, bad); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("%s: err = %v, want Invalid", name, err)
		}
	}
}
