package eventbus_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/notify/eventbus"
	"github.com/edendeploy/edendeploy/internal/samcheck/peers"
)

// TestPublishAgainstCheckingPeer sends PutEvents to a server that checks
// the X-Amz-Target and the JSON members as EventBridge documents them.
func TestPublishAgainstCheckingPeer(t *testing.T) {
	fake := &peers.Fake{}
	srv := httptest.NewServer(fake.ServeEvents())
	defer srv.Close()
	bus := &eventbus.Bus{API: eventbridge.New(eventbridge.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(srv.URL), HTTPClient: &http.Client{},
	})}
	end := time.Date(2026, 3, 1, 3, 0, 9, 0, time.UTC)
	r := &deploy.Run{ID: "r-1", DeploymentID: "d-1", Kind: deploy.RunBackup, Status: deploy.RunFailed, Error: "step all failed", CreatedAt: end, FinishedAt: end}
	n := deploy.RunEndedNotice(&deploy.Deployment{ID: "d-1", Name: "Relief"}, r, "")
	if err := bus.Publish(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("events")
	if len(calls) != 1 || calls[0].Op != "PutEvents" {
		t.Fatalf("calls %+v", calls)
	}
	entries := calls[0].Body["Entries"].([]any)
	e := entries[0].(map[string]any)
	var detail deploy.Notice
	if err := json.Unmarshal([]byte(e["Detail"].(string)), &detail); err != nil {
		t.Fatal(err)
	}
	if e["Source"] != notify.Source || e["DetailType"] != notify.DetailTypeRunEnded || e["EventBusName"] != nil ||
		detail.ID != n.ID || detail.Status != "failed" || detail.Run.ID != "r-1" {
		t.Errorf("entry %v, detail %+v", e, detail)
	}
}
