// Package peers runs the local stand-ins of the AWS services the Lambda
// functions call, on loopback ports: minidyn (DynamoDB), gofakes3 (S3),
// and checking servers for Step Functions, SSM, Auto Scaling and EC2 that
// verify each request's protocol and members, record it, and answer as the
// services document. Seed puts the sample data the events of events/ name
// into them. The tests of internal/samcheck and `make invoke` use it.
package peers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/truora/minidyn/server"

	blobs3 "github.com/edendeploy/edendeploy/internal/blob/s3"
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	fleetaws "github.com/edendeploy/edendeploy/internal/fleet/aws"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/secrets/paramstore"
	"github.com/edendeploy/edendeploy/internal/store/dynamo"
	"github.com/edendeploy/edendeploy/internal/tasks"
	"github.com/edendeploy/edendeploy/internal/workflow/stepfn"
	"github.com/edendeploy/edendeploy/statemachine"
)

// The names the peers serve, as template.yaml would set them.
const (
	Region          = "us-east-1"
	Table           = "eden-deploy-local"
	Bucket          = "eden-deploy-local"
	ParameterPrefix = "/eden-deploy"
	StateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:RunStateMachine-local"
	// DocumentName is the apply-bundle document's name in the sample SSM
	// events (events/ssm-command-status-*.json).
	DocumentName = "EdenDeploy-ApplyBundle-1A2B3C4D5E6F"
	// The schedule group, the schedule function and the role Scheduler
	// assumes, as template.yaml names them.
	ScheduleGroup       = "eden-deploy-local-schedules"
	ScheduleFunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:eden-deploy-local-ScheduleFunction"
	SchedulerRoleARN    = "arn:aws:iam::123456789012:role/eden-deploy-local-SchedulerRole"
)

// Peers are the running stand-ins.
type Peers struct {
	DynamoDB, S3, SFN, SSM, AutoScaling, EC2 *httptest.Server
	// Scheduler (EventBridge Scheduler) and Events (EventBridge) check
	// requests; Webhook is a webhook receiver (notify.go).
	Scheduler, Events, Webhook *httptest.Server
	Fake                       *Fake
	servers                    []*httptest.Server
}

// Start starts every peer and creates the table and the bucket.
func Start(ctx context.Context) (*Peers, error) {
	f := &Fake{GroupTags: map[string]map[string]string{}, Addresses: map[string]string{}, Invocations: map[string]map[string]string{}}
	p := &Peers{Fake: f}
	start := func(h http.Handler) *httptest.Server {
		s := httptest.NewServer(h)
		p.servers = append(p.servers, s)
		return s
	}
	p.DynamoDB = start(server.NewServer())
	p.S3 = start(gofakes3.New(s3mem.New()).Server())
	p.SFN = start(f.serveJSON("sfn"))
	p.SSM = start(f.serveJSON("ssm"))
	p.AutoScaling = start(f.serveQuery("autoscaling"))
	p.EC2 = start(f.serveQuery("ec2"))
	p.Scheduler = start(f.serveScheduler())
	p.Events = start(f.serveJSON("events"))
	p.Webhook = start(f.serveWebhook())
	store, err := p.Store()
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := store.CreateTable(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if _, err := p.s3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(Bucket)}); err != nil {
		p.Close()
		return nil, fmt.Errorf("peers: create bucket: %w", err)
	}
	return p, nil
}

// Close stops every peer.
func (p *Peers) Close() {
	for _, s := range p.servers {
		s.Close()
	}
}

// Env returns the environment of function (a logical ID) pointed at the
// peers: the SDK's endpoint overrides and static credentials, and the
// function's EDEN_* variables as template.yaml sets them.
func (p *Peers) Env(function string) []string {
	env := []string{
		"AWS_REGION=" + Region, "AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=AKIDLOCALPEERS", "AWS_SECRET_ACCESS_KEY=local-peers-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_LAMBDA_LOG_FORMAT=JSON",
		"AWS_ENDPOINT_URL_DYNAMODB=" + p.DynamoDB.URL, "AWS_ENDPOINT_URL_S3=" + p.S3.URL,
		"AWS_ENDPOINT_URL_SSM=" + p.SSM.URL, "AWS_ENDPOINT_URL_SFN=" + p.SFN.URL,
		"AWS_ENDPOINT_URL_AUTO_SCALING=" + p.AutoScaling.URL, "AWS_ENDPOINT_URL_EC2=" + p.EC2.URL,
		"AWS_ENDPOINT_URL_SCHEDULER=" + p.Scheduler.URL, "AWS_ENDPOINT_URL_EVENTBRIDGE=" + p.Events.URL,
	}
	values := map[string]string{
		config.EnvTable: Table, config.EnvBucket: Bucket, config.EnvParameterPrefix: ParameterPrefix,
		config.EnvStateMachineARN: StateMachineARN, config.EnvDocumentName: DocumentName,
		config.EnvRunRetention: "2160h", config.EnvStepTimeout: "60m",
		config.EnvAdminClaim: "cognito:groups", config.EnvAdminGroup: "admin",
		config.EnvScheduleGroup: ScheduleGroup, config.EnvScheduleTarget: ScheduleFunctionARN, config.EnvSchedulerRole: SchedulerRoleARN,
	}
	for _, name := range config.Functions[function].Env {
		env = append(env, name+"="+values[name])
	}
	sort.Strings(env)
	return env
}

func (p *Peers) cfg() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCALPEERS", "local-peers-secret", ""),
	}
}

// Store is the DynamoDB store over minidyn.
func (p *Peers) Store() (*dynamo.Store, error) {
	return dynamo.New(p.cfg(), dynamo.Options{Table: Table, ClientOptions: []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(p.DynamoDB.URL)
		o.DisableValidateResponseChecksum = true
	}}})
}

func (p *Peers) s3() *s3.Client {
	return s3.NewFromConfig(p.cfg(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(p.S3.URL)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
}

// Blobs is the bucket.
func (p *Peers) Blobs() *blobs3.Store {
	b, _ := blobs3.New(p.s3(), blobs3.Config{Bucket: Bucket})
	return b
}

func (p *Peers) fleet() *fleetaws.Fleet {
	return &fleetaws.Fleet{
		AutoScaling: autoscaling.NewFromConfig(p.cfg(), func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(p.AutoScaling.URL) }),
		EC2:         ec2.NewFromConfig(p.cfg(), func(o *ec2.Options) { o.BaseEndpoint = aws.String(p.EC2.URL) }),
	}
}

// nopRunner dispatches nothing: seeding never reaches a host.
type nopRunner struct{}

func (nopRunner) Dispatch(context.Context, deploy.Dispatch) (string, error) { return "", nil }
func (nopRunner) Cancel(context.Context, string) error                      { return nil }

func (p *Peers) tasks(store deploy.Store) (*tasks.Tasks, error) {
	return tasks.New(tasks.Config{Store: store, Blobs: p.Blobs(), Runner: nopRunner{}, Renderer: playbook.Renderer{},
		Lifecycle: p.fleet(), Log: slog.New(slog.DiscardHandler)})
}

func (p *Peers) control(store deploy.Store) (*control.Service, error) {
	wf, err := stepfn.New(sfn.NewFromConfig(p.cfg(), func(o *sfn.Options) { o.BaseEndpoint = aws.String(p.SFN.URL) }),
		map[string]string{statemachine.RunMachine: StateMachineARN})
	if err != nil {
		return nil, err
	}
	ssmSecrets, err := paramstore.New(ssmClient(p), paramstore.Config{Prefix: ParameterPrefix})
	if err != nil {
		return nil, err
	}
	return control.New(control.Config{Store: store, Secrets: ssmSecrets, Blobs: p.Blobs(), Workflow: wf,
		Machine: statemachine.RunMachine, Log: slog.New(slog.DiscardHandler)})
}

// ScenarioFor names the state an event of events/ needs (see Seed).
func ScenarioFor(eventFile string) string {
	name := strings.TrimSuffix(eventFile[strings.LastIndex(eventFile, "/")+1:], ".json")
	switch {
	case name == "api-get-run", name == "task-startrun":
		return "queued"
	case name == "task-preparestep", name == "task-finishrun":
		return "running"
	case name == "task-dispatchstep", name == "task-recordstep":
		return "prepared"
	case name == "task-completelifecycle", name == "lifecycle-launch-redelivered":
		return "scaling-out"
	case name == "schedule-fire":
		return "scheduled"
	case name == "notify-plan":
		return "webhook"
	case name == "notify-deliver":
		return "delivery-planned"
	case strings.HasPrefix(name, "lifecycle-"):
		return "idle"
	case strings.HasPrefix(name, "ssm-command-status-"):
		return "command-sent"
	}
	return "empty"
}

// Seed puts the sample data of a scenario into the peers:
//
//	empty        nothing (a new account)
//	queued       SampleDeployment with its first run SampleRun, queued
//	running      SampleRun started (tasks.StartRun)
//	prepared     its step 0 rendered and stored (tasks.PrepareStep)
//	idle         SampleRun succeeded: the deployment can scale
//	scaling-out  idle, then the launch of events/lifecycle-launch.json
//	             started its scale-out run (SampleLifecycleRun)
//	command-sent the command of events/ssm-command-status-*.json sent,
//	             with its record, and each host's output in the bucket
//	scheduled    idle, with the sample schedule (SampleSchedule)
//	webhook      idle, with the sample webhook (SampleWebhook) pointing at
//	             the Webhook receiver, its secret in Parameter Store
//	delivery-planned  webhook, with the sample notice's delivery planned
//
// Auto Scaling and EC2 answer for SampleGroup and SampleLaunchInstance in
// every scenario.
func (p *Peers) Seed(ctx context.Context, scenario string) error {
	p.Fake.mu.Lock()
	p.Fake.GroupTags[SampleGroup] = map[string]string{"eden-deploy:deployment": SampleDeployment, "eden-deploy:role": "eden", "Name": "eden"}
	p.Fake.GroupTags[SampleUntaggedGroup] = map[string]string{"Name": "web-farm"}
	p.Fake.Addresses[SampleLaunchInstance] = SampleLaunchAddress
	p.Fake.mu.Unlock()
	if scenario == "empty" {
		return nil
	}
	if scenario == "command-sent" {
		return p.seedCommand(ctx)
	}
	store, err := p.Store()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	d, err := deploy.NewDeployment(SampleSpec(), SampleDeployment, SampleOwner, now)
	if err != nil {
		return fmt.Errorf("peers: sample deployment: %w", err)
	}
	req := deploy.RunRequest{Kind: deploy.RunDeploy, Instance: d.FirstInstance().Type, Requester: SampleOwner}
	run, err := d.NewRun(SampleRun, req, now)
	if err != nil {
		return fmt.Errorf("peers: sample run: %w", err)
	}
	d.FirstInstance().DeployRunID = run.ID
	if err := store.CreateDeployment(ctx, d, run); err != nil {
		return fmt.Errorf("peers: create sample deployment: %w", err)
	}
	if scenario == "queued" {
		return nil
	}
	t, err := p.tasks(store)
	if err != nil {
		return err
	}
	ref := tasks.RunRef{DeploymentID: SampleDeployment, RunID: SampleRun}
	plan, err := t.StartRun(ctx, ref)
	if err != nil {
		return fmt.Errorf("peers: start sample run: %w", err)
	}
	switch scenario {
	case "running":
		return nil
	case "prepared":
		if _, err := t.PrepareStep(ctx, plan.Steps[0]); err != nil {
			return fmt.Errorf("peers: prepare step 0: %w", err)
		}
		return nil
	}
	if _, err := t.FinishRun(ctx, tasks.FinishInput{DeploymentID: SampleDeployment, RunID: SampleRun}); err != nil {
		return fmt.Errorf("peers: finish sample run: %w", err)
	}
	switch scenario {
	case "idle":
		return nil
	case "scheduled", "webhook", "delivery-planned":
		return p.seedNotify(ctx, scenario)
	}
	svc, err := p.control(store)
	if err != nil {
		return err
	}
	srv := deploy.Server{Host: SampleLaunchAddress, Role: deploy.RoleEden, InstanceID: SampleLaunchInstance}
	action := deploy.LifecycleAction{GroupName: SampleGroup, HookName: SampleLaunchHook, Token: SampleLaunchToken,
		InstanceID: SampleLaunchInstance, Transition: "autoscaling:EC2_INSTANCE_LAUNCHING"}
	if _, err := svc.ScaleOut(ctx, SampleDeployment, srv, action); err != nil {
		return fmt.Errorf("peers: scale out: %w", err)
	}
	if scenario == "scaling-out" {
		p.Fake.Reset()
		return nil
	}
	return fmt.Errorf("peers: no scenario %q", scenario)
}
