package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// lifecycleEvent is an EventBridge Auto Scaling lifecycle event as AWS
// delivers it.
func lifecycleEvent(detailType, transition, group, instance, token string) map[string]any {
	return map[string]any{
		"version": "0", "id": "ev-" + token, "detail-type": detailType, "source": "aws.autoscaling",
		"account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0:autoScalingGroupName/" + group},
		"detail": map[string]any{
			"LifecycleActionToken": token, "AutoScalingGroupName": group, "LifecycleHookName": "eden-" + strings.ToLower(transition[len("autoscaling:EC2_INSTANCE_"):]),
			"EC2InstanceId": instance, "LifecycleTransition": transition,
			"Origin": "EC2", "Destination": "AutoScalingGroup",
		},
	}
}

func launch(group, instance, token string) map[string]any {
	return lifecycleEvent(lifecycle.LaunchDetailType, "autoscaling:EC2_INSTANCE_LAUNCHING", group, instance, token)
}

func terminate(group, instance, token string) map[string]any {
	return lifecycleEvent(lifecycle.TerminateDetailType, "autoscaling:EC2_INSTANCE_TERMINATING", group, instance, token)
}

// TestAutoScaling drives scale-out and scale-in of a 3-tier deployment's
// eden tier with the EventBridge documents AWS delivers, on SSH test
// hosts: h4 joins and is provisioned, h5 (no sshd) joins and fails.
func TestAutoScaling(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end test runs Ansible against test hosts")
	}
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	testpeer.LookPath(t, "go")
	hosts := testhost.Start(t, 5, testhost.Unreachable("h5"))
	db, eden, web, joining, broken := hosts.Host("h1").Addr, hosts.Host("h2").Addr, hosts.Host("h3").Addr, hosts.Host("h4").Addr, hosts.Host("h5").Addr

	srv := newServer(t, buildEdenctl(t))
	srv.start()
	var seen [][]byte
	admin := client{t: t, base: "http://" + srv.addr, token: srv.adminToken(),
		doc: openapitest.MustParse(t, httpapi.OpenAPI()), mu: &sync.Mutex{}, seen: &seen}

	var created httpapi.DeploymentCreated
	admin.must(201, "POST", "/v1/deployments", "/v1/deployments", httpapi.CreateDeploymentRequest{
		Spec: deploy.Spec{Name: "Scaling", AdminEmail: "admin@example.org", SSHUser: hosts.User,
			Servers:  []deploy.ServerSpec{{Host: db, Role: deploy.RoleDB}, {Host: eden, Role: deploy.RoleEden}, {Host: web, Role: deploy.RoleWebServer}},
			Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		SSHPrivateKey: string(hosts.PrivateKey),
	}, &created)
	dep := created.Deployment.ID
	if r := admin.waitRun(dep, created.Run.ID, 3*time.Minute); r.Status != deploy.RunSucceeded {
		t.Fatalf("deploy: %s %q", r.Status, r.Error)
	}

	// What EC2 and Auto Scaling would know: the group's tags, the new
	// instances' addresses.
	const asg, newEden, badEden = "relief-eden", "i-00000000000000a04", "i-00000000000000a05"
	admin.must(204, "PUT", "/v1/admin/fleet/groups/"+asg, "/v1/admin/fleet/groups/{group}",
		httpapi.GroupTagsRequest{Tags: map[string]string{lifecycle.TagDeployment: dep, lifecycle.TagRole: "eden"}}, nil)
	admin.must(204, "PUT", "/v1/admin/fleet/groups/unrelated", "/v1/admin/fleet/groups/{group}",
		httpapi.GroupTagsRequest{Tags: map[string]string{"team": "other"}}, nil)
	for id, addr := range map[string]string{newEden: joining, badEden: broken} {
		admin.must(204, "PUT", "/v1/admin/fleet/instances/"+id, "/v1/admin/fleet/instances/{instance}", httpapi.InstanceAddressRequest{Address: addr}, nil)
	}
	deliver := func(ev map[string]any) lifecycle.Outcome {
		t.Helper()
		var out lifecycle.Outcome
		admin.must(200, "POST", "/v1/admin/lifecycle-events", "/v1/admin/lifecycle-events", ev, &out)
		return out
	}

	// Groups that name no deployment, and test notifications, are left alone.
	if out := deliver(launch("unrelated", "i-00000000000000b01", "tok-other")); out.Action != "left-alone" {
		t.Errorf("launch in an untagged group: %+v, want left-alone", out)
	}
	test := launch(asg, newEden, "tok-test")
	test["detail"] = map[string]any{"Event": lifecycle.TestNotification, "AutoScalingGroupName": asg}
	if out := deliver(test); out.Action != "ignored" {
		t.Errorf("test notification: %+v, want ignored", out)
	}

	// Scale out: h4 joins the eden tier.
	sent := time.Now()
	out := deliver(launch(asg, newEden, "tok-launch-a04"))
	if out.Action != "scale-out" || out.RunID == "" {
		t.Fatalf("launch: %+v, want a scale-out run", out)
	}
	// The same event delivered again starts nothing new.
	if again := deliver(launch(asg, newEden, "tok-launch-a04")); again.RunID != out.RunID {
		t.Errorf("redelivered launch started run %s, want the same run %s", again.RunID, out.RunID)
	}
	r := admin.waitRun(dep, out.RunID, 3*time.Minute)
	if r.Status != deploy.RunSucceeded {
		t.Fatalf("scale-out run %s %q\n%s", r.Status, r.Error, srv.output())
	}
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, fmt.Sprintf("%s %v", s.Name, s.Hosts))
	}
	want := []string{fmt.Sprintf("db [%s]", db), fmt.Sprintf("eden-new [%s]", joining), fmt.Sprintf("webserver [%s]", web)}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("scale-out steps (-want +got):\n%s", diff)
	}
	if r.Lifecycle == nil || r.Lifecycle.Result != "CONTINUE" {
		t.Errorf("scale-out lifecycle = %+v, want CONTINUE", r.Lifecycle)
	}
	upstreams := func() string {
		return mustJSON(t, recorded(t, srv.recordDir, web, "deploy", "nginx")["eden_instances"])
	}
	if !strings.Contains(upstreams(), joining) || !strings.Contains(upstreams(), eden) {
		t.Errorf("after scale-out the web server's upstreams are %s, want both %s and %s", upstreams(), eden, joining)
	}
	if clients := mustJSON(t, recorded(t, srv.recordDir, db, "deploy", "postgresql")["eden_db_clients"]); !strings.Contains(clients, joining) {
		t.Errorf("after scale-out the database admits %s, not %s", clients, joining)
	}
	var d deploy.Deployment
	admin.must(200, "GET", "/v1/deployments/"+dep, "/v1/deployments/{id}", nil, &d)
	if s := d.Server(joining); s == nil || s.Origin != deploy.OriginAutoscaling || s.InstanceID != newEden {
		t.Errorf("the joined server is %+v", s)
	}
	toDispatch := r.Steps[0].StartedAt.Sub(sent)
	toComplete := r.Lifecycle.CompletedAt.Sub(r.Steps[len(r.Steps)-1].FinishedAt)
	t.Logf("control-plane time: event to first step %v; last step's end to lifecycle completion %v (goal: each under 1s)", toDispatch, toComplete)

	// A new host that cannot be provisioned is ABANDONed, with the reason.
	out = deliver(launch(asg, badEden, "tok-launch-a05"))
	r = admin.waitRun(dep, out.RunID, 3*time.Minute)
	if r.Status != deploy.RunFailed || !strings.Contains(r.Error, "host unreachable: "+broken) || r.Lifecycle == nil || r.Lifecycle.Result != "ABANDON" {
		t.Errorf("scale-out to an unreachable host: %s %q lifecycle %+v; want failed, unreachable, ABANDON", r.Status, r.Error, r.Lifecycle)
	}
	// The group then terminates it: it leaves the deployment.
	out = deliver(terminate(asg, badEden, "tok-terminate-a05"))
	if r = admin.waitRun(dep, out.RunID, 3*time.Minute); r.Status != deploy.RunSucceeded {
		t.Errorf("scale-in of the abandoned host: %s %q", r.Status, r.Error)
	}

	// Scale in: h4 leaves, the web server's upstreams lose it.
	out = deliver(terminate(asg, newEden, "tok-terminate-a04"))
	if out.Action != "scale-in" {
		t.Fatalf("terminate: %+v, want scale-in", out)
	}
	r = admin.waitRun(dep, out.RunID, 3*time.Minute)
	if r.Status != deploy.RunSucceeded || r.Lifecycle == nil || r.Lifecycle.Result != "CONTINUE" {
		t.Fatalf("scale-in run %s %q lifecycle %+v", r.Status, r.Error, r.Lifecycle)
	}
	if u := upstreams(); strings.Contains(u, joining) || !strings.Contains(u, eden) {
		t.Errorf("after scale-in the web server's upstreams are %s, want %s without %s", u, eden, joining)
	}
	admin.must(200, "GET", "/v1/deployments/"+dep, "/v1/deployments/{id}", nil, &d)
	if d.Server(joining) != nil || d.Server(broken) != nil || len(d.Servers) != 3 {
		t.Errorf("after scale-in the servers are %+v", d.Servers)
	}
	var runs struct{ Items []json.RawMessage }
	admin.must(200, "GET", "/v1/deployments/"+dep+"/runs", "/v1/deployments/{id}/runs", nil, &runs)
	if len(runs.Items) != 5 {
		t.Errorf("%d runs, want 5 (deploy, two scale-outs, two scale-ins): redelivery must start nothing", len(runs.Items))
	}
}
