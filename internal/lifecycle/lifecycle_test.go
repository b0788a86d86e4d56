package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

type fakeFleet struct {
	tags  map[string]map[string]string
	addrs map[string]string
}

func (f fakeFleet) GroupTags(_ context.Context, g string) (map[string]string, error) {
	t, ok := f.tags[g]
	if !ok {
		return nil, deploy.NotFound("group %s", g)
	}
	return t, nil
}

func (f fakeFleet) InstanceAddress(_ context.Context, id string) (string, error) {
	a, ok := f.addrs[id]
	if !ok {
		return "", deploy.NotFound("instance %s", id)
	}
	return a, nil
}

type call struct {
	Op         string
	Deployment string
	Server     deploy.Server
	Instance   string
	Result     string
}

type recorder struct {
	calls    []call
	scaleErr error
}

func (r *recorder) ScaleOut(_ context.Context, dep string, srv deploy.Server, a deploy.LifecycleAction) (*deploy.Run, error) {
	r.calls = append(r.calls, call{Op: "scale-out", Deployment: dep, Server: srv, Instance: a.InstanceID})
	if r.scaleErr != nil {
		return nil, r.scaleErr
	}
	return &deploy.Run{ID: "r-1", DeploymentID: dep}, nil
}

func (r *recorder) ScaleIn(_ context.Context, id string, a deploy.LifecycleAction) (*deploy.Run, error) {
	r.calls = append(r.calls, call{Op: "scale-in", Instance: id})
	if r.scaleErr != nil {
		return nil, r.scaleErr
	}
	return &deploy.Run{ID: "r-2", DeploymentID: "d-1"}, nil
}

func (r *recorder) CompleteLifecycleAction(_ context.Context, a deploy.LifecycleAction, result string) error {
	r.calls = append(r.calls, call{Op: "complete", Instance: a.InstanceID, Result: result})
	return nil
}

func event(detailType string, d Detail) Event {
	raw, _ := json.Marshal(d)
	return Event{ID: "ev-1", DetailType: detailType, Source: "aws.autoscaling", Detail: raw}
}

func launch(group, meta string) Event {
	return event(LaunchDetailType, Detail{
		LifecycleActionToken: "tok-1", AutoScalingGroupName: group, LifecycleHookName: "launch",
		EC2InstanceID: "i-0123456789abcdef0", LifecycleTransition: transitionLaunch, NotificationMetadata: meta,
	})
}

func TestHandle(t *testing.T) {
	fleet := fakeFleet{
		tags: map[string]map[string]string{
			"eden-web": {TagDeployment: "d-1", TagRole: "eden"},
			"db-group": {TagDeployment: "d-1", TagRole: "db"},
			"untagged": {"Name": "something else"},
			"no-addr":  {TagDeployment: "d-1", TagRole: "eden"},
		},
		addrs: map[string]string{"i-0123456789abcdef0": "10.0.1.7"},
	}
	terminate := event(TerminateDetailType, Detail{
		LifecycleActionToken: "tok-2", AutoScalingGroupName: "eden-web", LifecycleHookName: "terminate",
		EC2InstanceID: "i-0123456789abcdef0", LifecycleTransition: transitionTerminate,
	})
	tests := []struct {
		name      string
		ev        Event
		fleet     Fleet
		scaleErr  error
		want      Outcome
		wantCalls []call
		wantErr   bool
	}{
		{
			name: "launch of a tagged group scales out",
			ev:   launch("eden-web", ""),
			want: Outcome{Action: "scale-out", RunID: "r-1"},
			wantCalls: []call{{Op: "scale-out", Deployment: "d-1", Instance: "i-0123456789abcdef0",
				Server: deploy.Server{Host: "10.0.1.7", Role: deploy.RoleEden, InstanceID: "i-0123456789abcdef0", Origin: deploy.OriginAutoscaling}}},
		},
		{
			name: "metadata names the deployment",
			ev:   launch("untagged", `{"deployment_id":"d-9","role":"webserver"}`),
			want: Outcome{Action: "scale-out", RunID: "r-1"},
			wantCalls: []call{{Op: "scale-out", Deployment: "d-9", Instance: "i-0123456789abcdef0",
				Server: deploy.Server{Host: "10.0.1.7", Role: deploy.RoleWebServer, InstanceID: "i-0123456789abcdef0", Origin: deploy.OriginAutoscaling}}},
		},
		{
			name: "untagged group is left alone",
			ev:   launch("untagged", ""),
			want: Outcome{Action: "left-alone", Reason: "the group names no deployment"},
		},
		{
			name: "unknown group is left alone",
			ev:   launch("nobody-knows", ""),
			want: Outcome{Action: "left-alone", Reason: "the group names no deployment"},
		},
		{
			name:      "malformed metadata abandons",
			ev:        launch("eden-web", `{"deployment_id": `),
			want:      Outcome{Action: "abandoned", Reason: "malformed NotificationMetadata: unexpected end of JSON input"},
			wantCalls: []call{{Op: "complete", Instance: "i-0123456789abcdef0", Result: "ABANDON"}},
		},
		{
			name:      "a db group cannot scale",
			ev:        launch("db-group", ""),
			want:      Outcome{Action: "abandoned", Reason: `role "db" cannot scale: only eden and webserver groups can`},
			wantCalls: []call{{Op: "complete", Instance: "i-0123456789abcdef0", Result: "ABANDON"}},
		},
		{
			name:     "unknown deployment abandons",
			ev:       launch("eden-web", ""),
			scaleErr: deploy.NotFound("deployment d-1 not found"),
			want:     Outcome{Action: "abandoned", Reason: "deployment d-1 not found"},
			wantCalls: []call{
				{Op: "scale-out", Deployment: "d-1", Instance: "i-0123456789abcdef0",
					Server: deploy.Server{Host: "10.0.1.7", Role: deploy.RoleEden, InstanceID: "i-0123456789abcdef0", Origin: deploy.OriginAutoscaling}},
				{Op: "complete", Instance: "i-0123456789abcdef0", Result: "ABANDON"},
			},
		},
		{
			name:     "a busy deployment asks for redelivery",
			ev:       launch("eden-web", ""),
			scaleErr: deploy.Transient(errors.New("busy"), "run r-0 is still running"),
			wantErr:  true,
			wantCalls: []call{{Op: "scale-out", Deployment: "d-1", Instance: "i-0123456789abcdef0",
				Server: deploy.Server{Host: "10.0.1.7", Role: deploy.RoleEden, InstanceID: "i-0123456789abcdef0", Origin: deploy.OriginAutoscaling}}},
		},
		{
			name:      "an instance without address abandons",
			ev:        launch("no-addr", ""),
			fleet:     fakeFleet{tags: fleet.tags, addrs: map[string]string{}},
			want:      Outcome{Action: "abandoned", Reason: "instance i-0123456789abcdef0 has no address: instance i-0123456789abcdef0"},
			wantCalls: []call{{Op: "complete", Instance: "i-0123456789abcdef0", Result: "ABANDON"}},
		},
		{
			name: "test notification is ignored",
			ev:   event("EC2 Instance Launch Successful", Detail{Event: TestNotification, AutoScalingGroupName: "eden-web"}),
			want: Outcome{Action: "ignored", Reason: "test notification"},
		},
		{
			name:      "terminate scales in",
			ev:        terminate,
			want:      Outcome{Action: "scale-in", RunID: "r-2"},
			wantCalls: []call{{Op: "scale-in", Instance: "i-0123456789abcdef0"}},
		},
		{
			name:      "terminate of an instance in no deployment continues",
			ev:        terminate,
			scaleErr:  deploy.NotFound("no server"),
			want:      Outcome{Action: "continued", Reason: "the instance belongs to no deployment"},
			wantCalls: []call{{Op: "scale-in", Instance: "i-0123456789abcdef0"}, {Op: "complete", Instance: "i-0123456789abcdef0", Result: "CONTINUE"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{scaleErr: tt.scaleErr}
			f := tt.fleet
			if f == nil {
				f = fleet
			}
			h := &Handler{Fleet: f, Scaler: rec, Completer: rec, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			got, err := h.Handle(context.Background(), tt.ev)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Handle error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, rec.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
