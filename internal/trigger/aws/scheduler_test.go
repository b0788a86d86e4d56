package aws_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/samcheck/peers"
	triggeraws "github.com/edendeploy/edendeploy/internal/trigger/aws"
)

func TestExpression(t *testing.T) {
	tests := []struct{ cron, want string }{
		{"0 3 * * *", "cron(0 3 * * ? *)"},
		{"30 2 * * 0", "cron(30 2 ? * 1 *)"},
		{"30 2 * * 1-5", "cron(30 2 ? * 2-6 *)"},
		{"0 4 * * MON,FRI", "cron(0 4 ? * MON,FRI *)"},
		{"0 4 * * 7", "cron(0 4 ? * 1 *)"},
		{"*/15 * * * *", "cron(0/15 * * * ? *)"},
		{"0 0 */2 * ?", "cron(0 0 1/2 * ? *)"},
		{"0 0 1 * *", "cron(0 0 1 * ? *)"},
		{"0 0 3 * * *", "cron(0 3 * * ? *)"},
		{"@weekly", "cron(0 0 ? * 1 *)"},
		{"@daily", "cron(0 0 * * ? *)"},
	}
	for _, tt := range tests {
		got, err := triggeraws.Expression(tt.cron)
		if err != nil || got != tt.want {
			t.Errorf("Expression(%q) = %q, %v; want %q", tt.cron, got, err, tt.want)
		}
	}
	for _, bad := range []string{"*/5 * * * * *", "30 0 3 * * *"} {
		if _, err := triggeraws.Expression(bad); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("Expression(%q): %v, want Invalid (no seconds on Scheduler)", bad, err)
		}
	}
}

// TestTriggerAgainstCheckingPeer sends the adapter's requests to a server
// that checks them as EventBridge Scheduler's API reference describes.
func TestTriggerAgainstCheckingPeer(t *testing.T) {
	fake := &peers.Fake{}
	srv := httptest.NewServer(fake.ServeScheduler())
	defer srv.Close()
	client := scheduler.New(scheduler.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(srv.URL), HTTPClient: &http.Client{},
	})
	tr, err := triggeraws.New(client, triggeraws.Config{Group: "eden-deploy", TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:schedule", RoleARN: "arn:aws:iam::123456789012:role/scheduler"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := &deploy.Schedule{ID: "s-1", DeploymentID: "d-1", Instance: deploy.InstanceProd, Task: deploy.RunBackup,
		Cron: "0 3 * * *", TimeZone: "Europe/Berlin", Since: time.Now()}
	if err := tr.PutTrigger(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Paused = true
	if err := tr.PutTrigger(ctx, s); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range fake.Calls("scheduler") {
		ops = append(ops, c.Op)
	}
	// The first UpdateSchedule was refused (no such schedule) and so not
	// recorded: the adapter created it, then updated it.
	if jsonOf(ops) != jsonOf([]string{"CreateSchedule", "UpdateSchedule"}) {
		t.Errorf("accepted operations %v, want CreateSchedule, UpdateSchedule", ops)
	}
	held := fake.Schedules["eden-s-1"]
	tgt, _ := held["Target"].(map[string]any)
	var in triggeraws.Invocation
	_ = json.Unmarshal([]byte(tgt["Input"].(string)), &in)
	if held["State"] != "DISABLED" || held["ScheduleExpression"] != "cron(0 3 * * ? *)" || held["ScheduleExpressionTimezone"] != "Europe/Berlin" ||
		held["GroupName"] != "eden-deploy" || in.ScheduleID != "s-1" || in.Slot != triggeraws.ScheduledTime {
		t.Errorf("the schedule Scheduler holds: %v (input %+v)", held, in)
	}
	if err := tr.DeleteTrigger(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := tr.DeleteTrigger(ctx, s); err != nil {
		t.Errorf("deleting a schedule Scheduler no longer has: %v, want nil", err)
	}
	s.Cron = "*/10 * * * * *"
	if err := tr.PutTrigger(ctx, s); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("a seconds schedule: %v, want Invalid", err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
