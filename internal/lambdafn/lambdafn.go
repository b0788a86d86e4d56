// Package lambdafn wires Eden Deploy's Lambda functions: it reads a
// function's configuration (internal/config), builds the SDK clients
// (internal/awsclient) and the adapters over them, and starts the
// function's handler with aws-lambda-go. functions/<name>/main.go only
// names the function and the handler it serves; every rule lives in the
// packages wired here.
//
// Logs are log/slog through aws-lambda-go's Lambda handler
// (lambdacontext.NewLogHandler): JSON when the function's LoggingConfig
// says LogFormat JSON (template.yaml does, for every function), with the
// request ID on every line logged with a context.
package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/edendeploy/edendeploy/internal/awsclient"
	"github.com/edendeploy/edendeploy/internal/blob/s3"
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/control"
	fleetaws "github.com/edendeploy/edendeploy/internal/fleet/aws"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/secrets/paramstore"
	"github.com/edendeploy/edendeploy/internal/store/dynamo"
	"github.com/edendeploy/edendeploy/internal/tasks"
	"github.com/edendeploy/edendeploy/internal/workflow/stepfn"
	"github.com/edendeploy/edendeploy/statemachine"
)

// App is one function's configuration and clients, built at cold start.
type App struct {
	Config  config.Config
	Clients *awsclient.Clients
	Log     *slog.Logger
}

// Main configures logging, loads function's configuration and clients,
// asks handler for the function's handler and serves it. A configuration
// or wiring error is logged and ends the process before the first
// invocation, which Lambda reports as an init failure.
func Main(function string, handler func(a *App, ctx context.Context) (any, error)) {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	h, err := build(context.Background(), function, os.Getenv, log, handler)
	if err != nil {
		log.Error("cold start failed", "function", function, "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

func build(ctx context.Context, function string, getenv func(string) string, log *slog.Logger, handler func(*App, context.Context) (any, error)) (any, error) {
	cfg, err := config.Load(function, getenv)
	if err != nil {
		return nil, err
	}
	clients, err := awsclient.New(ctx, getenv)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Clients: clients, Log: log.With("function", function)}
	h, err := handler(a, ctx)
	if err != nil {
		return nil, fmt.Errorf("lambdafn: wire %s: %w", function, err)
	}
	return h, nil
}

// Store is the DynamoDB store of the configured table.
func (a *App) Store() (*dynamo.Store, error) {
	return dynamo.New(a.Clients.Config, dynamo.Options{
		Table:         a.Config.Table,
		Retention:     a.Config.RunRetention,
		ClientOptions: a.Clients.DynamoDBOptions(),
	})
}

// Blobs is the S3 store of the configured bucket.
func (a *App) Blobs() (*s3.Store, error) {
	return s3.New(a.Clients.S3, s3.Config{Bucket: a.Config.Bucket})
}

// Secrets is the Parameter Store namespace under the configured prefix.
func (a *App) Secrets() (*paramstore.Store, error) {
	return paramstore.New(a.Clients.SSM, paramstore.Config{Prefix: a.Config.ParameterPrefix})
}

// Workflow is Step Functions with the run state machine.
func (a *App) Workflow() (*stepfn.Client, error) {
	machines := map[string]string{}
	if a.Config.StateMachineARN != "" {
		machines[statemachine.RunMachine] = a.Config.StateMachineARN
	}
	return stepfn.New(a.Clients.SFN, machines)
}

// Fleet is Auto Scaling and EC2.
func (a *App) Fleet() *fleetaws.Fleet {
	return &fleetaws.Fleet{AutoScaling: a.Clients.AutoScaling, EC2: a.Clients.EC2}
}

// Tasks are the state machine's task functions over the AWS adapters.
func (a *App) Tasks() (*tasks.Tasks, error) { return a.tasks() }

func (a *App) tasks(opts ...func(*tasks.Config)) (*tasks.Tasks, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	blobs, err := a.Blobs()
	if err != nil {
		return nil, err
	}
	runner, err := a.Runner()
	if err != nil {
		return nil, err
	}
	cfg := tasks.Config{
		Store:       store,
		Blobs:       blobs,
		Runner:      runner,
		Renderer:    playbook.Renderer{Options: playbook.Options{Backups: a.renderBackups()}},
		Lifecycle:   a.Fleet(),
		StepTimeout: a.Config.StepTimeout,
		Log:         a.Log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return tasks.New(cfg)
}

// Control is the use-case service; every run it ends is published
// (Notifier). withRunner adds the SSM runner (to cancel running steps);
// the lifecycle function cancels nothing. opts adjust the configuration
// (the API adds schedules and webhooks).
func (a *App) Control(withRunner bool, opts ...func(*control.Config, *dynamo.Store)) (*control.Service, *dynamo.Store, error) {
	store, err := a.Store()
	if err != nil {
		return nil, nil, err
	}
	secrets, err := a.Secrets()
	if err != nil {
		return nil, nil, err
	}
	wf, err := a.Workflow()
	if err != nil {
		return nil, nil, err
	}
	cfg := control.Config{Store: store, Secrets: secrets, Workflow: wf, Machine: statemachine.RunMachine, Log: a.Log,
		RunEnded: a.Notifier(store).RunEnded}
	if a.Config.Bucket != "" {
		if cfg.Blobs, err = a.Blobs(); err != nil {
			return nil, nil, err
		}
	}
	if withRunner {
		r, err := a.Runner()
		if err != nil {
			return nil, nil, err
		}
		cfg.Runner = r
	}
	for _, o := range opts {
		o(&cfg, store)
	}
	svc, err := control.New(cfg)
	return svc, store, err
}

// apiFollowLimit ends a live log follow before API Gateway's 30 s limit;
// the client reconnects with Last-Event-ID.
const apiFollowLimit = 25 * time.Second
