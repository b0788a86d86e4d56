package samcheck

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	ssmrunner "github.com/edendeploy/edendeploy/internal/runner/ssm"
	"github.com/edendeploy/edendeploy/internal/samcheck/lambdarun"
	"github.com/edendeploy/edendeploy/internal/samcheck/peers"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

var (
	rieOnce sync.Once
	riePath string
	rieErr  error
	builds  sync.Map // logical ID -> *built
	// buildDir holds the function binaries built for this test binary;
	// TestMain removes it.
	buildDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edendeploy-lambda-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type built struct {
	once sync.Once
	bin  string
	err  error
}

func rie(t *testing.T) string {
	rieOnce.Do(func() {
		riePath, rieErr = lambdarun.InstallRIE(context.Background(), filepath.Join(root(t), ".cache", "bin"))
	})
	if rieErr != nil {
		testpeer.Missing(t, "aws-lambda-rie", rieErr.Error())
	}
	return riePath
}

// binary builds function id for this machine once per test binary.
func binary(t *testing.T, id string) string {
	v, _ := builds.LoadOrStore(id, &built{})
	b := v.(*built)
	b.once.Do(func() {
		b.bin, b.err = lambdarun.Build(context.Background(), root(t), "./"+config.Functions[id].Dir, filepath.Join(buildDir, id), "")
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// invocation is one function invoked with one sample event.
type invocation struct {
	fn, event string
	scenario  string // default peers.ScenarioFor(event)
	check     func(t *testing.T, resp []byte, p *peers.Peers)
}

func TestInvokeFunctions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every function")
	}
	rieBin := rie(t)
	doc, err := openapitest.Parse(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	cases := []invocation{
		{fn: config.API, event: "api-create-deployment.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			r := apiResponse(t, resp)
			if r.StatusCode != 201 {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			if err := doc.Check("POST", "/v1/deployments", r.StatusCode, r.Headers["Content-Type"], []byte(r.Body)); err != nil {
				t.Errorf("the response does not match the OpenAPI document: %v", err)
			}
			if !strings.HasPrefix(r.Headers["Location"], "/v1/deployments/d-") {
				t.Errorf("Location %q", r.Headers["Location"])
			}
			wantCalls(t, p, "ssm", "PutParameter", 3)
			wantCalls(t, p, "sfn", "StartExecution", 1)
		}},
		{fn: config.API, event: "api-get-run.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			r := apiResponse(t, resp)
			if r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.Body)
			}
			if err := doc.Check("GET", "/v1/deployments/{id}/runs/{run}", 200, r.Headers["Content-Type"], []byte(r.Body)); err != nil {
				t.Errorf("the response does not match the OpenAPI document: %v", err)
			}
		}},
		{fn: config.API, event: "api-health.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			if r := apiResponse(t, resp); r.StatusCode != 200 {
				t.Errorf("status %d: %s", r.StatusCode, r.Body)
			}
		}},
		{fn: config.StartRun, event: "task-startrun.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var plan struct{ Steps []any }
			decode(t, resp, &plan)
			if len(plan.Steps) != 3 {
				t.Errorf("plan %s, want 3 steps (db, eden, webserver)", resp)
			}
			wantRunStatus(t, p, peers.SampleRun, deploy.RunRunning)
		}},
		{fn: config.PrepareStep, event: "task-preparestep.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var out struct {
				BundleKey string `json:"bundle_key"`
			}
			decode(t, resp, &out)
			if b, err := p.Blobs().GetBlob(context.Background(), out.BundleKey); err != nil || len(b) < 100 {
				t.Errorf("bundle %q not stored: %v", out.BundleKey, err)
			}
		}},
		{fn: config.DispatchStep, event: "task-dispatchstep.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var out struct {
				CommandID string `json:"command_id"`
			}
			decode(t, resp, &out)
			calls := wantCalls(t, p, "ssm", "SendCommand", 1)
			if len(calls) == 1 && (calls[0].Body["DocumentName"] != peers.DocumentName || !strings.Contains(jsonOf(calls[0].Body["InstanceIds"]), peers.SampleDBInstance)) {
				t.Errorf("SendCommand %v", calls[0].Body)
			}
			if _, err := p.Blobs().GetBlob(context.Background(), ssmrunner.RecordKey(out.CommandID)); err != nil {
				t.Errorf("no command record for %q: %v", out.CommandID, err)
			}
		}},
		{fn: config.RecordStep, event: "task-recordstep.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			if string(resp) != `{"status":"succeeded"}` {
				t.Errorf("response %s", resp)
			}
		}},
		{fn: config.FinishRun, event: "task-finishrun.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			if string(resp) != `{"status":"succeeded"}` {
				t.Errorf("response %s", resp)
			}
			wantRunStatus(t, p, peers.SampleRun, deploy.RunSucceeded)
		}},
		{fn: config.CompleteLifecycle, event: "task-completelifecycle.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			if string(resp) != `{"result":"CONTINUE"}` {
				t.Errorf("response %s", resp)
			}
			calls := wantCalls(t, p, "autoscaling", "CompleteLifecycleAction", 1)
			if len(calls) == 1 && (calls[0].Body["LifecycleActionResult"] != "CONTINUE" || calls[0].Body["LifecycleActionToken"] != peers.SampleLaunchToken) {
				t.Errorf("CompleteLifecycleAction %v", calls[0].Body)
			}
		}},
		{fn: config.SSMStatus, event: "ssm-command-status-success.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			calls := wantCalls(t, p, "sfn", "SendTaskSuccess", 1)
			if len(calls) == 1 {
				var o deploy.StepOutcome
				_ = json.Unmarshal([]byte(calls[0].Body["output"].(string)), &o)
				if calls[0].Body["taskToken"] != peers.SampleTaskToken || len(o.Results) != 2 || o.Error != "" {
					t.Errorf("SendTaskSuccess %v", calls[0].Body)
				}
			}
		}},
		{fn: config.SSMStatus, event: "ssm-command-status-failed.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			calls := wantCalls(t, p, "sfn", "SendTaskSuccess", 1)
			if len(calls) == 1 {
				var o deploy.StepOutcome
				_ = json.Unmarshal([]byte(calls[0].Body["output"].(string)), &o)
				if len(o.Results) != 2 || o.Results[0].Succeeded() {
					t.Errorf("the failed host is not reported: %v", calls[0].Body["output"])
				}
			}
		}},
		{fn: config.Lifecycle, event: "lifecycle-launch.json", check: lifecycleOutcome("scale-out", 1, "")},
		{fn: config.Lifecycle, event: "lifecycle-launch-redelivered.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			lifecycleOutcome("scale-out", 1, "")(t, resp, p)
			if !strings.Contains(string(resp), peers.SampleLifecycleRun) {
				t.Errorf("a redelivered launch must name the run it started: %s", resp)
			}
		}},
		{fn: config.Lifecycle, event: "lifecycle-launch-untagged.json", check: lifecycleOutcome("left-alone", 0, "")},
		{fn: config.Lifecycle, event: "lifecycle-launch-malformed-metadata.json", check: lifecycleOutcome("abandoned", 0, "ABANDON")},
		{fn: config.Lifecycle, event: "lifecycle-test-notification.json", check: lifecycleOutcome("ignored", 0, "")},
		{fn: config.Lifecycle, event: "lifecycle-terminate.json", check: lifecycleOutcome("scale-in", 1, "")},
		{fn: config.Lifecycle, event: "lifecycle-sqs-launch.json", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var r events.SQSEventResponse
			decode(t, resp, &r)
			if len(r.BatchItemFailures) != 0 {
				t.Errorf("batch item failures %v", r.BatchItemFailures)
			}
			wantCalls(t, p, "sfn", "StartExecution", 1)
		}},
		// The deployment is busy (its first run is queued): SQS must
		// deliver the message again later.
		{fn: config.Lifecycle, event: "lifecycle-sqs-launch.json", scenario: "queued", check: func(t *testing.T, resp []byte, p *peers.Peers) {
			var r events.SQSEventResponse
			decode(t, resp, &r)
			if len(r.BatchItemFailures) != 1 || r.BatchItemFailures[0].ItemIdentifier != "059f36b4-87a3-44ab-83d2-661975830a7d" {
				t.Errorf("want the message back for redelivery, got %s", resp)
			}
			wantCalls(t, p, "sfn", "StartExecution", 0)
		}},
	}
	cases = append(cases, notifyInvocations()...)
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.fn] = true
	}
	for _, id := range config.LogicalIDs() {
		if !covered[id] {
			t.Errorf("no sample event invokes %s", id)
		}
	}
	for _, fn := range config.TaskFunctions {
		ev := "task-" + strings.ToLower(strings.TrimSuffix(fn, "Function")) + ".json"
		if _, err := os.Stat(filepath.Join(root(t), "events", ev)); err != nil {
			t.Errorf("no input event for the %s task: %v", fn, err)
		}
	}
	for _, tc := range cases {
		scenario := tc.scenario
		if scenario == "" {
			scenario = peers.ScenarioFor(tc.event)
		}
		t.Run(tc.fn+"/"+strings.TrimSuffix(tc.event, ".json")+"/"+scenario, func(t *testing.T) {
			ctx := context.Background()
			p, err := peers.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Seed(ctx, scenario); err != nil {
				t.Fatal(err)
			}
			p.Fake.Reset()
			event, err := os.ReadFile(filepath.Join(root(t), "events", tc.event))
			if err != nil {
				t.Fatal(err)
			}
			res, err := lambdarun.Invoke(ctx, rieBin, binary(t, tc.fn), p.Env(tc.fn), event)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(res.Response), `"errorType"`) {
				t.Fatalf("the function failed: %s\n%s", res.Response, res.Log)
			}
			checkLogLines(t, res.Log)
			tc.check(t, res.Response, p)
			if t.Failed() {
				t.Logf("response: %s\nlog:\n%s", res.Response, res.Log)
			}
		})
	}
}

// A variable the function declares but that is not set fails its cold
// start with a message naming it.
func TestInvokeMissingVariable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a function")
	}
	rieBin := rie(t)
	ctx := context.Background()
	p, err := peers.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var env []string
	for _, kv := range p.Env(config.API) {
		if !strings.HasPrefix(kv, config.EnvTable+"=") {
			env = append(env, kv)
		}
	}
	event, _ := os.ReadFile(filepath.Join(root(t), "events", "api-health.json"))
	res, err := lambdarun.Invoke(ctx, rieBin, binary(t, config.API), env, event)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Log, "EDEN_TABLE is not set") || !strings.Contains(res.Log, "Init failed") {
		t.Errorf("want an init failure naming EDEN_TABLE, got %s\n%s", res.Response, res.Log)
	}
}

// checkLogLines checks that every line the function logged is JSON with a
// level and a message, and the request ID when it was logged during an
// invocation with its context.
func checkLogLines(t *testing.T, log string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the emulator's own lines
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if rec["level"] == nil || rec["message"] == nil || rec["timestamp"] == nil {
			t.Errorf("log line without level, message or timestamp: %s", line)
		}
		if rec["requestId"] == nil {
			t.Logf("log line without requestId (logged without the invocation's context): %s", line)
		}
	}
}

func lifecycleOutcome(action string, starts int, completes string) func(t *testing.T, resp []byte, p *peers.Peers) {
	return func(t *testing.T, resp []byte, p *peers.Peers) {
		var out struct {
			Action string `json:"action"`
		}
		decode(t, resp, &out)
		if out.Action != action {
			t.Errorf("action %q, want %q: %s", out.Action, action, resp)
		}
		wantCalls(t, p, "sfn", "StartExecution", starts)
		calls := p.Fake.Calls("autoscaling")
		var results []string
		for _, c := range calls {
			if c.Op == "CompleteLifecycleAction" {
				results = append(results, c.Body["LifecycleActionResult"].(string))
			}
		}
		if got := strings.Join(results, ","); got != completes {
			t.Errorf("lifecycle actions completed with %q, want %q", got, completes)
		}
	}
}

func apiResponse(t *testing.T, resp []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var r events.APIGatewayV2HTTPResponse
	decode(t, resp, &r)
	return r
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func wantCalls(t *testing.T, p *peers.Peers, service, op string, n int) []peers.Call {
	t.Helper()
	var out []peers.Call
	for _, c := range p.Fake.Calls(service) {
		if c.Op == op {
			out = append(out, c)
		}
	}
	if len(out) != n {
		t.Errorf("%s %s called %d times, want %d", service, op, len(out), n)
	}
	return out
}

func wantRunStatus(t *testing.T, p *peers.Peers, runID string, want deploy.RunStatus) {
	t.Helper()
	store, err := p.Store()
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.GetRun(context.Background(), peers.SampleDeployment, runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != want {
		t.Errorf("run %s is %s, want %s", runID, r.Status, want)
	}
}
