package httpapi_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/fleet/local"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
)

type fakeLifecycle struct {
	events []lifecycle.Event
	err    error
}

func (f *fakeLifecycle) Handle(_ context.Context, ev lifecycle.Event) (lifecycle.Outcome, error) {
	f.events = append(f.events, ev)
	if f.err != nil {
		return lifecycle.Outcome{}, f.err
	}
	return lifecycle.Outcome{Action: "scale-out", RunID: "r-lc1"}, nil
}

const launchEvent = `{"version":"0","id":"ev-1","detail-type":"EC2 Instance-launch Lifecycle Action","source":"aws.autoscaling",
"account":"123456789012","time":"2026-11-25T12:00:00Z","region":"us-east-1","resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x"],
"detail":{"LifecycleActionToken":"tok","AutoScalingGroupName":"eden","LifecycleHookName":"launch","EC2InstanceId":"i-0123456789abcdef0",
"LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING","NotificationMetadata":"{}","Origin":"EC2","Destination":"AutoScalingGroup"}}`

func TestAdminLifecycleEvents(t *testing.T) {
	lc := &fakeLifecycle{}
	env := httpapitest.New(t, func(c *httpapi.Config) { c.Lifecycle = lc })
	const pattern = "/v1/admin/lifecycle-events"

	rec := env.Do("POST", pattern, env.Alice, launchEvent)
	check(t, rec, "POST", pattern, 403)
	if len(lc.events) != 0 {
		t.Fatalf("a user's event reached the handler")
	}
	body := check(t, env.Do("POST", pattern, env.Root, launchEvent), "POST", pattern, 200)
	if diff := cmp.Diff(map[string]any{"action": "scale-out", "run_id": "r-lc1"}, body); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if len(lc.events) != 1 || lc.events[0].DetailType != "EC2 Instance-launch Lifecycle Action" || lc.events[0].Account != "123456789012" {
		t.Errorf("handler got %+v", lc.events)
	}
	// A busy deployment asks for the event again.
	lc.err = deploy.Transient(errors.New("busy"), "run r-1 is still running")
	rec = env.Do("POST", pattern, env.Root, launchEvent)
	check(t, rec, "POST", pattern, 503)
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	// Without a handler the route says so.
	bare := httpapitest.New(t)
	check(t, bare.Do("POST", pattern, bare.Root, launchEvent), "POST", pattern, 501)
}

func TestAdminFleet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.json")
	fleet := local.Open(path)
	env := httpapitest.New(t, func(c *httpapi.Config) { c.Fleet = fleet })
	const groups, instances = "/v1/admin/fleet/groups/{group}", "/v1/admin/fleet/instances/{instance}"

	check(t, env.Do("PUT", "/v1/admin/fleet/groups/eden", env.Bob, `{"tags":{"a":"b"}}`), "PUT", groups, 403)
	check(t, env.Do("PUT", "/v1/admin/fleet/groups/eden", env.Root, `{"tags":{"eden-deploy:deployment":"d-1","eden-deploy:role":"eden"}}`), "PUT", groups, 204)
	check(t, env.Do("PUT", "/v1/admin/fleet/instances/i-0123456789abcdef0", env.Root, `{"address":"10.0.0.9"}`), "PUT", instances, 204)
	check(t, env.Do("PUT", "/v1/admin/fleet/instances/web-1", env.Root, `{"address":"10.0.0.9"}`), "PUT", instances, 400)
	check(t, env.Do("PUT", "/v1/admin/fleet/instances/i-0123456789abcdef0", env.Root, `{"address":"$(reboot)"}`), "PUT", instances, 400)

	tags, err := fleet.GroupTags(context.Background(), "eden")
	if err != nil || tags["eden-deploy:role"] != "eden" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	if a, err := fleet.InstanceAddress(context.Background(), "i-0123456789abcdef0"); err != nil || a != "10.0.0.9" {
		t.Errorf("address = %q, %v", a, err)
	}
}
