package ssm_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/runner/ssm"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// fakeSSM is Run Command as its API documents it (awsJson1.1): it checks
// the target, the content type and that bodies hold only documented
// members, and answers with documented shapes and error __types.
type fakeSSM struct {
	t  *testing.T
	mu sync.Mutex
	// unregistered is how many SendCommands fail with InvalidInstanceId
	// (-1: all of them).
	unregistered int
	calls        []call
	invocations  map[string][]map[string]any // command ID → invocations
	nextID       int
}

type call struct {
	Target string
	Body   map[string]any
}

var documented = map[string][]string{
	"AmazonSSM.SendCommand": {"InstanceIds", "Targets", "DocumentName", "DocumentVersion", "DocumentHash", "DocumentHashType",
		"TimeoutSeconds", "Comment", "Parameters", "OutputS3Region", "OutputS3BucketName", "OutputS3KeyPrefix", "MaxConcurrency",
		"MaxErrors", "ServiceRoleArn", "NotificationConfig", "CloudWatchOutputConfig", "AlarmConfiguration"},
	"AmazonSSM.ListCommandInvocations": {"CommandId", "InstanceId", "MaxResults", "NextToken", "Filters", "Details"},
	"AmazonSSM.CancelCommand":          {"CommandId", "InstanceIds"},
}

func (f *fakeSSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(typ, msg string) { reply(400, map[string]string{"__type": typ, "message": msg}) }
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("%s: Content-Type %q", target, ct)
	}
	allowed, ok := documented[target]
	if !ok || r.Method != http.MethodPost {
		f.t.Errorf("unexpected request %s %s %q", r.Method, r.URL.Path, target)
		fail("UnknownOperationException", target)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body %q: %v", target, raw, err)
	}
	for k := range body {
		if !slicesContains(allowed, k) {
			f.t.Errorf("%s: undocumented member %q", target, k)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{target, body})
	switch target {
	case "AmazonSSM.SendCommand":
		if f.unregistered != 0 {
			if f.unregistered > 0 {
				f.unregistered--
			}
			fail("InvalidInstanceId", "Instances [[i-0a1b2c3d4e5f60718]] not in a valid state for account 123456789012")
			return
		}
		f.nextID++
		id := fmt.Sprintf("0000000%d-1111-2222-3333-444455556666", f.nextID)
		reply(200, map[string]any{"Command": map[string]any{
			"CommandId": id, "DocumentName": body["DocumentName"], "Status": "Pending", "InstanceIds": body["InstanceIds"],
			"Parameters": body["Parameters"], "MaxConcurrency": body["MaxConcurrency"], "MaxErrors": body["MaxErrors"],
			"TargetCount": len(body["InstanceIds"].([]any)), "TimeoutSeconds": body["TimeoutSeconds"],
		}})
	case "AmazonSSM.ListCommandInvocations":
		id, _ := body["CommandId"].(string)
		invs, ok := f.invocations[id]
		if !ok {
			fail("InvalidCommandId", "")
			return
		}
		if body["Details"] != true {
			f.t.Errorf("ListCommandInvocations without Details")
		}
		// One invocation a page, to exercise pagination.
		start, _ := strconv.Atoi(fmt.Sprint(body["NextToken"]))
		out := map[string]any{"CommandInvocations": invs[start : start+1]}
		if start+1 < len(invs) {
			out["NextToken"] = strconv.Itoa(start + 1)
		}
		reply(200, out)
	case "AmazonSSM.CancelCommand":
		id, _ := body["CommandId"].(string)
		if strings.HasPrefix(id, "gone") {
			fail("InvalidCommandId", "")
			return
		}
		reply(200, map[string]any{})
	}
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (f *fakeSSM) targets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, strings.TrimPrefix(c.Target, "AmazonSSM."))
	}
	return out
}

// fakeSignaler records the signals.
type fakeSignaler struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (s *fakeSignaler) SendTaskSuccess(_ context.Context, token string, output []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "success "+token+" "+string(output))
	return s.err
}
func (s *fakeSignaler) SendTaskFailure(_ context.Context, token, name, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "failure "+token+" "+name+" "+cause)
	return s.err
}
func (s *fakeSignaler) SendTaskHeartbeat(context.Context, string) error { return nil }

// fakeClock advances only when slept on.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

type fixture struct {
	fake  *fakeSSM
	api   *awsssm.Client
	blobs *blobfs.Store
	clock *fakeClock
	sig   *fakeSignaler
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fakeSSM{t: t, invocations: map[string][]map[string]any{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api := awsssm.New(awsssm.Options{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(), // AWS_CA_BUNDLE is set here: not the default client
	})
	blobs, err := blobfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fake: f, api: api, blobs: blobs, clock: &fakeClock{now: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)}, sig: &fakeSignaler{}}
}

func (fx *fixture) runner(t *testing.T, mod func(*ssm.Config)) *ssm.Runner {
	cfg := ssm.Config{DocumentName: "EdenDeploy-ApplyBundle-1A2B3C4D5E6F", Bucket: "edendeploy-data-123456789012",
		SecretsPrefix: "/eden", Now: fx.clock.Now, Sleep: fx.clock.Sleep, Logger: quiet}
	if mod != nil {
		mod(&cfg)
	}
	r, err := ssm.New(fx.api, fx.blobs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func bundle(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, v := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(v)), Typeflag: tar.TypeReg})
		tw.Write([]byte(v))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const (
	depID  = "d-01jdx4k3m2r5t7v9w0y1z2a3b4"
	i1, i2 = "i-0a1b2c3d4e5f60718", "i-0f9e8d7c6b5a49382"
)

func (fx *fixture) dispatch(t *testing.T) deploy.Dispatch {
	key := depID + "/bundles/r-1/step-1.tar.gz"
	if err := fx.blobs.PutBlob(context.Background(), key, bundle(map[string]string{
		"deploy.yml": "- hosts: all\n", "secrets.json": `["db-password","hmac-key"]`}),
	); err != nil {
		t.Fatal(err)
	}
	return deploy.Dispatch{
		DeploymentID: depID, RunID: "r-1", StepIndex: 1, StepName: "eden", BundleKey: key, Playbook: "deploy.yml",
		Hosts: []deploy.DispatchHost{{Host: "10.0.0.3", InstanceID: i1}, {Host: "10.0.0.4", InstanceID: i2}},
		Token: "token-1", Timeout: 20 * time.Minute, LogKey: depID + "/logs/r-1/step-1",
	}
}

func TestDispatchSendsTheDocumentedRequest(t *testing.T) {
	fx := newFixture(t)
	r := fx.runner(t, func(c *ssm.Config) { c.CloudWatchLogGroup = "/eden/runs" })
	d := fx.dispatch(t)
	d.DryRun = true
	id, err := r.Dispatch(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if id != "00000001-1111-2222-3333-444455556666" {
		t.Errorf("command ID %q", id)
	}
	b, err := fx.blobs.GetBlob(context.Background(), "commands/"+id+".json")
	if err != nil {
		t.Fatalf("no command record: %v", err)
	}
	var rec ssm.Record
	json.Unmarshal(b, &rec)
	if rec.Token != "token-1" || rec.CommandID != id || len(rec.Hosts) != 2 || !strings.HasPrefix(rec.ResultsKey, d.LogKey+"/results/") {
		t.Errorf("record %+v", rec)
	}
	want := map[string]any{
		"DocumentName":           "EdenDeploy-ApplyBundle-1A2B3C4D5E6F",
		"InstanceIds":            []any{i1, i2},
		"MaxConcurrency":         "100%",
		"MaxErrors":              "100%",
		"TimeoutSeconds":         float64(600),
		"OutputS3BucketName":     "edendeploy-data-123456789012",
		"OutputS3KeyPrefix":      d.LogKey,
		"Comment":                "eden " + depID + " run r-1 step 2 eden",
		"CloudWatchOutputConfig": map[string]any{"CloudWatchOutputEnabled": true, "CloudWatchLogGroupName": "/eden/runs"},
		"Parameters": map[string]any{
			"bundleBucket":     []any{"edendeploy-data-123456789012"},
			"bundleKey":        []any{d.BundleKey},
			"playbook":         []any{"deploy.yml"},
			"secretsPath":      []any{"/eden/" + depID},
			"secretNames":      []any{"db-password hmac-key"},
			"checkMode":        []any{"yes"},
			"executionTimeout": []any{"1200"},
			"resultsKey":       []any{rec.ResultsKey},
			"sse":              []any{"AES256"},
		},
	}
	if d := cmp.Diff(want, fx.fake.calls[0].Body); d != "" {
		t.Errorf("SendCommand body (-want +got):\n%s", d)
	}
}

// A run that an Auto Scaling lifecycle hook waits on passes the action so
// the hosts keep it alive while Ansible runs.
func TestDispatchPassesTheLifecycleAction(t *testing.T) {
	fx := newFixture(t)
	r := fx.runner(t, nil)
	d := fx.dispatch(t)
	d.Lifecycle = &deploy.LifecycleAction{GroupName: "relief eden", HookName: "eden-launch",
		Token: "6f2b9a2e-4c1d-4f0e-8b7a-3d2c1b0a9f8e", InstanceID: i2}
	if _, err := r.Dispatch(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got := fx.fake.calls[0].Body["Parameters"].(map[string]any)
	want := map[string]any{
		"lifecycleGroup": []any{"relief eden"}, "lifecycleHook": []any{"eden-launch"},
		"lifecycleToken": []any{"6f2b9a2e-4c1d-4f0e-8b7a-3d2c1b0a9f8e"}, "lifecycleInstance": []any{i2},
		"heartbeatSeconds": []any{"300"},
	}
	for k, v := range want {
		if !cmp.Equal(v, got[k]) {
			t.Errorf("parameter %s = %v, want %v", k, got[k], v)
		}
	}
	// A token that is not an Auto Scaling token cannot reach the script.
	d.Lifecycle.Token = "x'; reboot #"
	if _, err := r.Dispatch(context.Background(), d); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("hostile lifecycle token: %v, want Invalid", err)
	}
}

func TestDispatchWaitsForSSMRegistration(t *testing.T) {
	fx := newFixture(t)
	fx.fake.unregistered = 3
	r := fx.runner(t, nil)
	if _, err := r.Dispatch(context.Background(), fx.dispatch(t)); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, fx.clock.sleeps); d != "" {
		t.Errorf("backoff (-want +got):\n%s", d)
	}
	if got := fx.fake.targets(); len(got) != 4 {
		t.Errorf("calls %v, want 4 SendCommands", got)
	}
}

func TestDispatchGivesUpOnUnregisteredInstance(t *testing.T) {
	fx := newFixture(t)
	fx.fake.unregistered = -1
	r := fx.runner(t, nil) // default bound: 5 minutes
	_, err := r.Dispatch(context.Background(), fx.dispatch(t))
	if !deploy.IsKind(err, deploy.KindTransient) || !strings.Contains(err.Error(), "not registered with SSM after") {
		t.Fatalf("err = %v, want Transient 'not registered'", err)
	}
	var total time.Duration
	for _, s := range fx.clock.sleeps {
		total += s
		if s > 30*time.Second {
			t.Errorf("sleep %v over the 30 s cap", s)
		}
	}
	if total > 5*time.Minute || total < 4*time.Minute {
		t.Errorf("waited %v in all (%v), want just under 5m", total, fx.clock.sleeps)
	}
	if _, err := fx.blobs.GetBlob(context.Background(), "commands/x.json"); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Error("unexpected record")
	}
}

func TestDispatchRefusals(t *testing.T) {
	fx := newFixture(t)
	r := fx.runner(t, nil)
	tests := []struct {
		name string
		mod  func(*deploy.Dispatch)
		kind deploy.Kind
	}{
		{"no instance id", func(d *deploy.Dispatch) { d.Hosts[1].InstanceID = "" }, deploy.KindInvalid},
		{"bad instance id", func(d *deploy.Dispatch) { d.Hosts[0].InstanceID = "i-x; reboot" }, deploy.KindInvalid},
		{"playbook the document refuses", func(d *deploy.Dispatch) { d.Playbook = "$(reboot).yml" }, deploy.KindInvalid},
		{"no token", func(d *deploy.Dispatch) { d.Token = "" }, deploy.KindInvalid},
		{"missing bundle", func(d *deploy.Dispatch) { d.BundleKey = depID + "/nope" }, deploy.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fx.dispatch(t)
			tt.mod(&d)
			if _, err := r.Dispatch(context.Background(), d); deploy.KindOf(err) != tt.kind {
				t.Errorf("err = %v, want kind %s", err, tt.kind)
			}
		})
	}
	if got := fx.fake.targets(); len(got) != 0 {
		t.Errorf("AWS was called: %v", got)
	}
}

// failingBlobs fails PutBlob of command records.
type failingBlobs struct{ *blobfs.Store }

func (f failingBlobs) PutBlob(ctx context.Context, key string, b []byte) error {
	if strings.HasPrefix(key, "commands/") {
		return errors.New("disk full")
	}
	return f.Store.PutBlob(ctx, key, b)
}

func TestDispatchCancelsWhenTheRecordCannotBeStored(t *testing.T) {
	fx := newFixture(t)
	d := fx.dispatch(t)
	r, err := ssm.New(fx.api, failingBlobs{fx.blobs}, ssm.Config{DocumentName: "doc", Bucket: "bkt-1", SecretsPrefix: "/eden", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Dispatch(context.Background(), d); err == nil {
		t.Fatal("Dispatch succeeded without a record")
	}
	if d := cmp.Diff([]string{"SendCommand", "CancelCommand"}, fx.fake.targets()); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
}

func TestCancel(t *testing.T) {
	fx := newFixture(t)
	r := fx.runner(t, nil)
	for _, id := range []string{"00000001-1111-2222-3333-444455556666", "gone-0000"} {
		if err := r.Cancel(context.Background(), id); err != nil {
			t.Errorf("Cancel(%s) = %v", id, err)
		}
	}
	if d := cmp.Diff(map[string]any{"CommandId": "00000001-1111-2222-3333-444455556666"}, fx.fake.calls[0].Body); d != "" {
		t.Errorf("CancelCommand body (-want +got):\n%s", d)
	}
}

// --- completion handler ---

func loadEvent(t *testing.T, name string) events.CloudWatchEvent {
	t.Helper()
	b, err := os.ReadFile("../../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func eventCommand(t *testing.T, ev events.CloudWatchEvent) ssm.CommandDetail {
	var d ssm.CommandDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// storeRecord stores the record a Dispatch would have made for the event's
// command.
func (fx *fixture) storeRecord(t *testing.T, det ssm.CommandDetail) ssm.Record {
	rec := ssm.Record{
		CommandID: det.CommandID, Token: "token-9", DeploymentID: depID, RunID: "r-9", StepIndex: 1, StepName: "eden",
		Hosts:  []deploy.DispatchHost{{Host: "10.0.0.3", InstanceID: i1}, {Host: "10.0.0.4", InstanceID: i2}},
		LogKey: depID + "/logs/r-9/step-1", ResultsKey: det.Parameters["resultsKey"][0], Timeout: 30 * time.Minute,
	}
	b, _ := json.Marshal(rec)
	if err := fx.blobs.PutBlob(context.Background(), ssm.RecordKey(det.CommandID), b); err != nil {
		t.Fatal(err)
	}
	return rec
}

func invocation(cmd, instance, status, details string, code int, output string) map[string]any {
	return map[string]any{
		"CommandId": cmd, "InstanceId": instance, "DocumentName": "EdenDeploy-ApplyBundle-1A2B3C4D5E6F", "DocumentVersion": "$DEFAULT",
		"Status": status, "StatusDetails": details,
		"CommandPlugins": []any{map[string]any{"Name": "applyBundle", "Status": status, "StatusDetails": details,
			"ResponseCode": code, "Output": output, "OutputS3BucketName": "edendeploy-data-123456789012"}},
	}
}

func (fx *fixture) putResults(t *testing.T, rec ssm.Record, instance string, r runner.Results) {
	b, _ := json.Marshal(r)
	if err := fx.blobs.PutBlob(context.Background(), rec.ResultsKey+"/"+instance+".json", b); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) handler(t *testing.T) *ssm.CompletionHandler {
	h, err := ssm.NewCompletionHandler(fx.api, fx.blobs, fx.sig, "EdenDeploy-ApplyBundle-1A2B3C4D5E6F", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func outcomeOf(t *testing.T, call string) deploy.StepOutcome {
	t.Helper()
	_, js, ok := strings.Cut(strings.TrimPrefix(call, "success "), " ")
	if !ok || !strings.HasPrefix(call, "success token-9 ") {
		t.Fatalf("signal %q, want success for token-9", call)
	}
	var o deploy.StepOutcome
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHandleSuccessEvent(t *testing.T) {
	fx := newFixture(t)
	ev := loadEvent(t, "ssm-command-status-success.json")
	det := eventCommand(t, ev)
	rec := fx.storeRecord(t, det)
	fx.fake.invocations[det.CommandID] = []map[string]any{
		invocation(det.CommandID, i2, "Success", "Success", 0, "PLAY RECAP"),
		invocation(det.CommandID, i1, "Success", "Success", 0, "PLAY RECAP"),
	}
	ok := runner.Results{Version: 1, Hosts: []runner.HostReport{{Host: "localhost", OK: 9, Changed: 3, Skipped: 1}}}
	fx.putResults(t, rec, i1, ok)
	fx.putResults(t, rec, i2, ok)
	if err := fx.handler(t).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(fx.sig.calls) != 1 {
		t.Fatalf("signals %v", fx.sig.calls)
	}
	want := deploy.StepOutcome{LogKey: rec.LogKey + "/" + det.CommandID + "/", Results: []deploy.HostResult{
		{Host: "10.0.0.3", OK: 9, Changed: 3, Skipped: 1}, {Host: "10.0.0.4", OK: 9, Changed: 3, Skipped: 1}}}
	if d := cmp.Diff(want, outcomeOf(t, fx.sig.calls[0])); d != "" {
		t.Errorf("outcome (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ListCommandInvocations", "ListCommandInvocations"}, fx.fake.targets()); d != "" {
		t.Errorf("calls (-want +got): completion must not poll\n%s", d)
	}
}

func TestHandleFailedEvent(t *testing.T) {
	ev := loadEvent(t, "ssm-command-status-failed.json")
	t.Run("failed task and undeliverable host", func(t *testing.T) {
		fx := newFixture(t)
		det := eventCommand(t, ev)
		rec := fx.storeRecord(t, det)
		fx.fake.invocations[det.CommandID] = []map[string]any{
			invocation(det.CommandID, i1, "Failed", "Failed", 2, "...\nPLAY RECAP ..."),
			invocation(det.CommandID, i2, "Failed", "Undeliverable", -1, ""),
		}
		fx.putResults(t, rec, i1, runner.Results{Version: 1, Hosts: []runner.HostReport{{Host: "localhost", OK: 4, Failures: 1,
			FirstFailure: &runner.Failure{Task: "eden : Migrate the database", Msg: "non-zero return code (rc 1): no such table"}}}})
		if err := fx.handler(t).Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		want := deploy.StepOutcome{LogKey: rec.LogKey + "/" + det.CommandID + "/",
			Error: `task "eden : Migrate the database" failed on 10.0.0.3: non-zero return code (rc 1): no such table`,
			Results: []deploy.HostResult{
				{Host: "10.0.0.3", OK: 4, Failed: 1, Reason: `task "eden : Migrate the database" failed: non-zero return code (rc 1): no such table`},
				{Host: "10.0.0.4", Unreachable: 1, Reason: "unreachable: SSM could not run the command: Undeliverable"},
			}}
		if d := cmp.Diff(want, outcomeOf(t, fx.sig.calls[0])); d != "" {
			t.Errorf("outcome (-want +got):\n%s", d)
		}
	})
	t.Run("no host ran Ansible", func(t *testing.T) {
		fx := newFixture(t)
		det := eventCommand(t, ev)
		fx.storeRecord(t, det)
		fx.fake.invocations[det.CommandID] = []map[string]any{
			invocation(det.CommandID, i1, "Failed", "Terminated", -1, ""),
			invocation(det.CommandID, i2, "Failed", "Failed", 2, "== apply pull.yml ==\n\n----------ERROR-------\napply-bundle: cannot download the bundle"),
		}
		if err := fx.handler(t).Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		want := "failure token-9 RunnerError command " + det.CommandID + " ran Ansible on no host: 10.0.0.3 (" + i1 +
			"): Terminated; 10.0.0.4 (" + i2 + "): apply-bundle: cannot download the bundle"
		if d := cmp.Diff([]string{want}, fx.sig.calls); d != "" {
			t.Errorf("signals (-want +got):\n%s", d)
		}
	})
	t.Run("recap fallback from the output in S3", func(t *testing.T) {
		fx := newFixture(t)
		det := eventCommand(t, ev)
		rec := fx.storeRecord(t, det)
		fx.fake.invocations[det.CommandID] = []map[string]any{
			invocation(det.CommandID, i1, "Success", "Success", 0, ""),
			invocation(det.CommandID, i2, "Failed", "Failed", 2, ""),
		}
		fx.putResults(t, rec, i1, runner.Results{Version: 1, Hosts: []runner.HostReport{{Host: "localhost", OK: 2}}})
		out := "TASK [Break] ***\nfatal: [localhost]: FAILED! => {\"changed\": false, \"msg\": \"broken\"}\n\nPLAY RECAP ***\n" +
			"localhost                  : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0\n"
		fx.blobs.PutBlob(context.Background(), ssm.OutputKey(rec.LogKey, det.CommandID, i2), []byte(out))
		if err := fx.handler(t).Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if o := outcomeOf(t, fx.sig.calls[0]); o.Error != `task "Break" failed on 10.0.0.4: broken` || o.Results[1].OK != 1 {
			t.Errorf("outcome %+v", o)
		}
	})
}

func TestHandleStatuses(t *testing.T) {
	base := loadEvent(t, "ssm-command-status-success.json")
	with := func(status, doc, source string) events.CloudWatchEvent {
		ev := base
		var det map[string]any
		json.Unmarshal(base.Detail, &det)
		det["status"] = status
		det["document-name"] = doc
		ev.Detail, _ = json.Marshal(det)
		ev.Source = source
		return ev
	}
	const doc = "EdenDeploy-ApplyBundle-1A2B3C4D5E6F"
	ignored := map[string]events.CloudWatchEvent{
		"pending":        with("Pending", doc, "aws.ssm"),
		"in progress":    with("InProgress", doc, "aws.ssm"),
		"cancelling":     with("Cancelling", doc, "aws.ssm"),
		"other document": with("Success", "AWS-RunShellScript", "aws.ssm"),
		"other source":   with("Success", doc, "aws.ec2"),
	}
	for name, ev := range ignored {
		t.Run("ignores "+name, func(t *testing.T) {
			fx := newFixture(t)
			if err := fx.handler(t).Handle(context.Background(), ev); err != nil || len(fx.sig.calls) != 0 || len(fx.fake.targets()) != 0 {
				t.Errorf("err %v, signals %v, calls %v", err, fx.sig.calls, fx.fake.targets())
			}
		})
	}
	for status, want := range map[string]string{"TimedOut": "timed out after 30m0s", "Cancelled": "cancelled"} {
		t.Run(status, func(t *testing.T) {
			fx := newFixture(t)
			ev := with(status, "arn:aws:ssm:eu-west-1:123456789012:document/"+doc, "aws.ssm")
			det := eventCommand(t, ev)
			fx.storeRecord(t, det)
			fx.fake.invocations[det.CommandID] = []map[string]any{
				invocation(det.CommandID, i1, status, status, -1, ""), invocation(det.CommandID, i2, status, status, -1, ""),
			}
			if err := fx.handler(t).Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			o := outcomeOf(t, fx.sig.calls[0])
			if o.Error != want || o.Results[0].Reason != want || o.Results[0].Succeeded() {
				t.Errorf("outcome %+v", o)
			}
		})
	}
	t.Run("record not stored yet is retried", func(t *testing.T) {
		fx := newFixture(t)
		err := fx.handler(t).Handle(context.Background(), base)
		if !deploy.IsKind(err, deploy.KindTransient) || len(fx.sig.calls) != 0 {
			t.Errorf("err %v, signals %v: want a Transient error so Lambda retries", err, fx.sig.calls)
		}
	})
	t.Run("duplicate event after the task closed", func(t *testing.T) {
		fx := newFixture(t)
		det := eventCommand(t, base)
		fx.storeRecord(t, det)
		fx.fake.invocations[det.CommandID] = []map[string]any{invocation(det.CommandID, i1, "Success", "Success", 0, ""),
			invocation(det.CommandID, i2, "Success", "Success", 0, "")}
		fx.sig.err = fmt.Errorf("stepfn: %w", workflow.ErrTaskNotFound)
		if err := fx.handler(t).Handle(context.Background(), base); err != nil {
			t.Errorf("err %v, want nil for a closed task", err)
		}
	})
}
