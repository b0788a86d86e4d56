package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
)

type fakeFleet struct{}

func (fakeFleet) GroupTags(context.Context, string) (map[string]string, error) {
	return map[string]string{lifecycle.TagDeployment: "d-1", lifecycle.TagRole: "eden"}, nil
}
func (fakeFleet) InstanceAddress(context.Context, string) (string, error) { return "10.0.0.9", nil }

type fakeScaler struct{ busy bool }

func (s fakeScaler) ScaleOut(_ context.Context, dep string, _ deploy.Server, _ deploy.LifecycleAction) (*deploy.Run, error) {
	if s.busy {
		return nil, deploy.Transient(errors.New("busy"), "deployment %s is busy", dep)
	}
	return &deploy.Run{ID: "r-1", DeploymentID: dep}, nil
}
func (fakeScaler) ScaleIn(context.Context, string, deploy.LifecycleAction) (*deploy.Run, error) {
	return nil, deploy.NotFound("no")
}

type fakeCompleter struct{ results []string }

func (c *fakeCompleter) CompleteLifecycleAction(_ context.Context, _ deploy.LifecycleAction, r string) error {
	c.results = append(c.results, r)
	return nil
}

const launch = `{"id":"e-1","detail-type":"EC2 Instance-launch Lifecycle Action","source":"aws.autoscaling",
 "detail":{"LifecycleActionToken":"tok","AutoScalingGroupName":"g","LifecycleHookName":"h","EC2InstanceId":"i-1","LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING"}}`

func sqsOf(bodies ...string) string {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: string(rune('a' + i)), Body: b})
	}
	out, _ := json.Marshal(ev)
	return string(out)
}

func TestLifecycleHandler(t *testing.T) {
	tests := []struct {
		name  string
		busy  bool
		event string
		want  any
		err   bool
	}{
		{"eventbridge", false, launch, lifecycle.Outcome{Action: "scale-out", RunID: "r-1"}, false},
		{"eventbridge busy", true, launch, nil, true},
		{"sqs", false, sqsOf(launch), events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, false},
		{"sqs busy: deliver again", true, sqsOf(launch, launch),
			events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "a"}, {ItemIdentifier: "b"}}}, false},
		{"sqs garbage is dropped", false, sqsOf("not json"), events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, false},
		{"not an object", false, `[1]`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := LifecycleHandler(&lifecycle.Handler{Fleet: fakeFleet{}, Scaler: fakeScaler{busy: tc.busy}, Completer: &fakeCompleter{},
				Log: slog.New(slog.DiscardHandler)})
			got, err := h(context.Background(), json.RawMessage(tc.event))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
