package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	ssmrunner "github.com/edendeploy/edendeploy/internal/runner/ssm"
)

// The sample data the events of events/ name.
const (
	SampleOwner      = "3f2b6c1e-7d4a-4e59-9a8b-2c1d0e9f8a7b" // the JWT's sub claim
	SampleDeployment = "d-00000000000000000000000001"
	SampleRun        = "r-00000000000000000000000001"

	SampleDBInstance   = "i-0d00000000000000a"
	SampleEdenInstance = "i-0e00000000000000a"
	SampleEden2        = "i-0e00000000000000b"
	SampleWebInstance  = "i-0f00000000000000a"

	SampleGroup          = "eden-d-00000000000000000000000001-eden"
	SampleUntaggedGroup  = "web-farm"
	SampleLaunchHook     = "eden-deploy-launch"
	SampleLaunchToken    = "6f2b9a2e-4c1d-4f0e-8b7a-3d2c1b0a9f8e"
	SampleLaunchInstance = "i-0e00000000000000c"
	SampleLaunchAddress  = "10.0.2.12"
)

// SampleLifecycleRun is the scale-out run the sample launch starts.
var SampleLifecycleRun = control.LifecycleRunID(SampleLaunchToken)

// SampleSpec is the sample deployment: 3-tier, on EC2 through SSM.
func SampleSpec() deploy.Spec {
	return deploy.Spec{
		Name: "Eden Demo", AdminEmail: "admin@example.org", Country: "NZ", Target: deploy.TargetSSM,
		Servers: []deploy.ServerSpec{
			{Host: "10.0.1.10", Role: deploy.RoleDB, InstanceID: SampleDBInstance},
			{Host: "10.0.2.10", Role: deploy.RoleEden, InstanceID: SampleEdenInstance},
			{Host: "10.0.2.11", Role: deploy.RoleEden, InstanceID: SampleEden2},
			{Host: "10.0.3.10", Role: deploy.RoleWebServer, InstanceID: SampleWebInstance},
		},
		Instance: deploy.InstanceSpec{Type: deploy.InstanceProd},
	}
}

// SampleTransitions is what the sample execution's history
// (GetExecutionHistory) adds up to: the 3-tier deploy of the sample
// deployment with one retried PrepareStep. StartRun, RunSteps, three
// states per step, one retry, RecordSuccess, HasLifecycleAction, Outcome,
// Done.
const SampleTransitions = 2 + 3*3 + 1 + 4

// sampleHistory is that history's events, without data.
func sampleHistory() []any {
	var types []string
	add := func(t ...string) { types = append(types, t...) }
	lambda := func() { add("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded") }
	add("ExecutionStarted", "TaskStateEntered")
	lambda()
	add("TaskStateExited", "MapStateEntered", "MapStateStarted")
	for i := range 3 {
		add("MapIterationStarted", "TaskStateEntered")
		if i == 0 {
			add("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed")
		}
		lambda()
		add("TaskStateExited", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "TaskStateEntered")
		lambda()
		add("TaskStateExited", "MapIterationSucceeded")
	}
	add("MapStateSucceeded", "MapStateExited", "TaskStateEntered")
	lambda()
	add("TaskStateExited", "ChoiceStateEntered", "ChoiceStateExited", "ChoiceStateEntered", "ChoiceStateExited",
		"SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded")
	evs := make([]any, len(types))
	for i, t := range types {
		evs[i] = map[string]any{"id": i + 1, "previousEventId": i, "timestamp": 1.7956152e9, "type": t}
	}
	return evs
}

// SampleTaskToken is the task token in the sample events.
const SampleTaskToken = "AQCEAAAAKgAAAAMAAAAAAAAAAcFhZ2VudA==sampleTaskToken"

func ssmClient(p *Peers) *ssm.Client {
	return ssm.NewFromConfig(p.cfg(), func(o *ssm.Options) { o.BaseEndpoint = aws.String(p.SSM.URL) })
}

// sampleCommand reads the command of the sample SSM event.
type sampleCommand struct {
	Resources []string `json:"resources"`
	Detail    struct {
		CommandID string `json:"command-id"`
		Status    string `json:"status"`
	} `json:"detail"`
}

// EventsDir is where the sample events are, from the module root.
const EventsDir = "events"

// ModuleRoot finds the module root from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("peers: no go.mod above the working directory")
		}
		dir = parent
	}
}

// seedCommand stores, for each sample SSM event
// (events/ssm-command-status-*.json), the record of its command as
// DispatchStep's runner would have, and each host's output with its
// Ansible recap as SSM would have (a failed command: the first host
// failed); ListCommandInvocations answers with the event's status.
func (p *Peers) seedCommand(ctx context.Context) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(root, EventsDir, "ssm-command-status-*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var ev sampleCommand
		if err := json.Unmarshal(b, &ev); err != nil {
			return fmt.Errorf("peers: %s: %w", f, err)
		}
		logKey := "deployments/" + SampleDeployment + "/runs/" + SampleRun + "/steps/0"
		rec := ssmrunner.Record{
			CommandID: ev.Detail.CommandID, Token: SampleTaskToken, DeploymentID: SampleDeployment, RunID: SampleRun,
			StepIndex: 0, StepName: "eden", LogKey: logKey, ResultsKey: logKey + "/results/9c2e4f6a8b0d1e3f",
		}
		invs := map[string]string{}
		for i, arn := range ev.Resources {
			id := arn[strings.LastIndex(arn, "/")+1:]
			rec.Hosts = append(rec.Hosts, deploy.DispatchHost{Host: fmt.Sprintf("10.0.2.%d", 10+i), InstanceID: id})
			invs[id] = ev.Detail.Status
			failed := 0
			if ev.Detail.Status == "Failed" && i == 0 {
				failed = 1
			}
			out := fmt.Sprintf("PLAY RECAP *********************************************************************\n"+
				"localhost                  : ok=42   changed=7    unreachable=0    failed=%d    skipped=3    rescued=0    ignored=0\n", failed)
			if err := p.Blobs().PutBlob(ctx, ssmrunner.OutputKey(rec.LogKey, rec.CommandID, id), []byte(out)); err != nil {
				return err
			}
		}
		rb, _ := json.Marshal(rec)
		if err := p.Blobs().PutBlob(ctx, ssmrunner.RecordKey(rec.CommandID), rb); err != nil {
			return err
		}
		p.Fake.mu.Lock()
		p.Fake.Invocations[rec.CommandID] = invs
		p.Fake.mu.Unlock()
	}
	return nil
}
