package samcheck

import (
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/samcheck/peers"
)

// notifyInvocations are the sample events of schedules and
// notifications: the schedule function fires a slot once, the finish-run
// function publishes the run's end on EventBridge, and the notify tasks
// plan and make a signed delivery.
func notifyInvocations() []invocation {
	return []invocation{
		{fn: config.Schedule, event: "schedule-fire.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var f deploy.Fire
			decode(t, resp, &f)
			if f.Status != deploy.FireStarted || f.RunID == "" || f.ScheduleID != peers.SampleSchedule {
				t.Errorf("fire %s", resp)
			}
			wantCalls(t, p, "sfn", "StartExecution", 1)
			wantRunStatus(t, p, f.RunID, deploy.RunQueued)
		}},
		{fn: config.FinishRun, event: "task-finishrun.json", scenario: "running", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			calls := wantCalls(t, p, "events", "PutEvents", 1)
			if len(calls) == 1 {
				e := calls[0].Body["Entries"].([]any)[0].(map[string]any)
				if e["Source"] != notify.Source || e["DetailType"] != notify.DetailTypeRunEnded || !strings.Contains(e["Detail"].(string), `"status":"succeeded"`) {
					t.Errorf("PutEvents entry %v", e)
				}
			}
		}},
		{fn: config.PlanDeliveries, event: "notify-plan.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var plan notify.Plan
			decode(t, resp, &plan)
			if len(plan.Deliveries) != 1 || plan.Deliveries[0].DeliveryID != peers.SampleDelivery() {
				t.Errorf("plan %s, want the sample delivery %s", resp, peers.SampleDelivery())
			}
		}},
		{fn: config.DeliverWebhook, event: "notify-deliver.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var step notify.Step
			decode(t, resp, &step)
			if !step.Done {
				t.Errorf("step %s, want done", resp)
			}
			wantCalls(t, p, "ssm", "GetParameter", 1)
			if len(p.Fake.Hooks) != 1 {
				t.Fatalf("the receiver got %d requests, want 1", len(p.Fake.Hooks))
			}
			h := p.Fake.Hooks[0]
			if err := notify.Verify([]byte(peers.SampleWebhookSecret), h.Header.Get(notify.HeaderSignature), h.Body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("the delivery's signature does not verify: %v", err)
			}
			if h.Header.Get(notify.HeaderDelivery) != peers.SampleDelivery() {
				t.Errorf("headers %v", h.Header)
			}
		}},
	}
}
