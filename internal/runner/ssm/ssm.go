// Package ssm is the AWS deploy.Runner: it sends a step to its EC2
// instances with SSM Run Command (the Command document of infra/ssm,
// apply-bundle.yaml), and a CompletionHandler, fed by EventBridge's "EC2
// Command Status-change Notification" events, signals the outcome through
// the step's task token. Nothing polls: the runner stores a small command
// record (commands/<commandID>.json in Blobs: token, deployment, run, step,
// hosts, log and results keys) right after SendCommand, and the handler
// finds the token there when the command ends. The signalling contract is in
// package runner.
//
// Every host of a step gets the command at once (MaxConcurrency "100%").
// MaxErrors is "100%" on purpose: SSM must not cancel the invocations of
// the other hosts because one host failed; each host finishes its run, and
// the handler judges the step from every host's own result.
//
// Where things are in S3 (the Blobs bucket):
//
//	<Dispatch.LogKey>/<commandID>/<instanceID>/awsrunShellScript/applyBundle/stdout
//	                                 full output of one host (see OutputKey)
//	<Dispatch.LogKey>/results/<nonce>/<instanceID>.json
//	                                 the eden_results callback's JSON of one host
//	commands/<commandID>.json        the command record
//
// The outcome's LogKey is "<Dispatch.LogKey>/<commandID>/": the prefix of
// every host's output.
package ssm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	ssmdoc "github.com/edendeploy/edendeploy/infra/ssm"
	"github.com/edendeploy/edendeploy/internal/blob"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets/paramstore"
)

// API is the part of *ssm.Client the runner and the handler use.
type API interface {
	SendCommand(ctx context.Context, in *ssm.SendCommandInput, optFns ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	CancelCommand(ctx context.Context, in *ssm.CancelCommandInput, optFns ...func(*ssm.Options)) (*ssm.CancelCommandOutput, error)
	ListCommandInvocations(ctx context.Context, in *ssm.ListCommandInvocationsInput, optFns ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error)
}

// Config is read once at start.
type Config struct {
	// DocumentName is the apply-bundle Command document's name (from the
	// SAM template).
	DocumentName string
	// Bucket holds bundles, outputs and results: the Blobs bucket.
	Bucket string
	// SecretsPrefix is the Parameter Store prefix of secrets (as
	// paramstore.Config.Prefix), e.g. "/eden".
	SecretsPrefix string
	// KMSResults makes the hosts upload results with SSE-KMS instead of
	// SSE-S3 (match the bucket's policy).
	KMSResults bool
	// CloudWatchLogGroup, if set, also sends the output to CloudWatch Logs.
	CloudWatchLogGroup string
	// DeliveryTimeout is SendCommand's TimeoutSeconds: how long an offline
	// instance may take to pick the command up; default 10 min.
	DeliveryTimeout time.Duration
	// DefaultTimeout applies when Dispatch.Timeout is zero; default 30 min.
	DefaultTimeout time.Duration
	// RegistrationWait bounds the retries of SendCommand while an instance
	// is not yet registered with SSM (InvalidInstanceId); default 5 min.
	RegistrationWait time.Duration
	// Now and Sleep are the clock (tests inject fakes); default time.Now and
	// a context-aware sleep.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger default slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	switch {
	case c.DocumentName == "":
		return deploy.Invalid("document_name", "runner/ssm: no document name")
	case c.Bucket == "":
		return deploy.Invalid("bucket", "runner/ssm: no bucket")
	case !strings.HasPrefix(c.SecretsPrefix, "/") || strings.HasSuffix(c.SecretsPrefix, "/"):
		return deploy.Invalid("secrets_prefix", "runner/ssm: secrets prefix %q must start with / and not end with one", c.SecretsPrefix)
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 10 * time.Minute
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 30 * time.Minute
	}
	if c.RegistrationWait <= 0 {
		c.RegistrationWait = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Runner sends steps with SSM Run Command. Safe for concurrent use.
type Runner struct {
	api   API
	blobs deploy.Blobs
	cfg   Config
}

var _ deploy.Runner = (*Runner)(nil)

// New returns a runner; blobs is the store over Config.Bucket.
func New(api API, blobs deploy.Blobs, cfg Config) (*Runner, error) {
	if api == nil || blobs == nil {
		return nil, deploy.Invalid("", "runner/ssm: SSM client and blobs are required")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Runner{api: api, blobs: blobs, cfg: cfg}, nil
}

// Record is what the runner stores at commands/<commandID>.json for the
// completion handler.
type Record struct {
	CommandID    string                `json:"command_id"`
	Token        string                `json:"token"`
	DeploymentID string                `json:"deployment_id"`
	RunID        string                `json:"run_id"`
	StepIndex    int                   `json:"step_index"`
	StepName     string                `json:"step_name"`
	Hosts        []deploy.DispatchHost `json:"hosts"`
	LogKey       string                `json:"log_key"`     // Dispatch.LogKey: the output prefix
	ResultsKey   string                `json:"results_key"` // <resultsKey>/<instanceID>.json
	Timeout      time.Duration         `json:"timeout"`
	DryRun       bool                  `json:"dry_run"`
}

// LifecycleHeartbeat is how often hosts record a lifecycle heartbeat
// while they provision an instance a lifecycle hook holds back.
const LifecycleHeartbeat = 5 * time.Minute

// RecordKey is the blob key of a command's record.
func RecordKey(commandID string) string { return "commands/" + commandID + ".json" }

// OutputKey is the S3 key of one host's full output: SSM writes it there
// (stdout; stderr beside it) because SendCommand sets OutputS3KeyPrefix to
// the step's log key.
func OutputKey(logKey, commandID, instanceID string) string {
	return fmt.Sprintf("%s/%s/%s/awsrunShellScript/%s/stdout", logKey, commandID, instanceID, ssmdoc.StepName)
}

var instanceIDPattern = regexp.MustCompile(`^(i|mi)-[0-9a-f]{8,17}$`)

// Dispatch sends the step's bundle to its instances and stores the command
// record. It returns an error, and nothing will be signalled, when the
// dispatch is Invalid (a host without an instance ID, a key the document
// would refuse), when the bundle cannot be read (NotFound), when an
// instance is still not registered with SSM after RegistrationWait
// (Transient), or when SendCommand or the record fails (then the command
// is cancelled).
func (r *Runner) Dispatch(ctx context.Context, d deploy.Dispatch) (string, error) {
	in, rec, err := r.sendInput(ctx, d)
	if err != nil {
		return "", fmt.Errorf("runner/ssm: dispatch step %d of run %s: %w", d.StepIndex, d.RunID, err)
	}
	out, err := r.send(ctx, in)
	if err != nil {
		return "", fmt.Errorf("runner/ssm: dispatch step %d of run %s: %w", d.StepIndex, d.RunID, err)
	}
	rec.CommandID = aws.ToString(out.Command.CommandId)
	b, _ := json.Marshal(rec)
	if err := r.blobs.PutBlob(ctx, RecordKey(rec.CommandID), b); err != nil {
		// Without its record nobody could signal the step: stop it.
		_, cerr := r.api.CancelCommand(context.WithoutCancel(ctx), &ssm.CancelCommandInput{CommandId: aws.String(rec.CommandID)})
		return "", fmt.Errorf("runner/ssm: dispatch step %d of run %s: store command record: %w", d.StepIndex, d.RunID, errors.Join(err, cerr))
	}
	r.cfg.Logger.InfoContext(ctx, "step sent", "run_id", d.RunID, "deployment_id", d.DeploymentID, "step", d.StepIndex, "command_id", rec.CommandID)
	return rec.CommandID, nil
}

// sendInput builds SendCommand's input: only values of ours, each one
// checked against the document's own constraints before AWS sees it.
func (r *Runner) sendInput(ctx context.Context, d deploy.Dispatch) (*ssm.SendCommandInput, *Record, error) {
	switch {
	case d.Token == "":
		return nil, nil, deploy.Invalid("token", "no task token")
	case len(d.Hosts) == 0:
		return nil, nil, deploy.Invalid("hosts", "no hosts")
	case len(d.Hosts) > 50:
		return nil, nil, deploy.Invalid("hosts", "%d hosts: SendCommand takes at most 50 instance IDs", len(d.Hosts))
	}
	if err := blob.CheckKey(d.LogKey); err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(d.Hosts))
	for i, h := range d.Hosts {
		if !instanceIDPattern.MatchString(h.InstanceID) {
			return nil, nil, deploy.Invalid(fmt.Sprintf("hosts[%d].instance_id", i), "host %s has no valid EC2 instance ID (%q)", h.Host, h.InstanceID)
		}
		ids[i] = h.InstanceID
	}
	tgz, err := r.blobs.GetBlob(ctx, d.BundleKey)
	if err != nil {
		return nil, nil, fmt.Errorf("get bundle %s: %w", d.BundleKey, err)
	}
	names, err := bundleSecretNames(tgz)
	if err != nil {
		return nil, nil, deploy.Invalid("bundle_key", "bundle %s: %v", d.BundleKey, err)
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = r.cfg.DefaultTimeout
	}
	rec := &Record{
		Token: d.Token, DeploymentID: d.DeploymentID, RunID: d.RunID, StepIndex: d.StepIndex, StepName: d.StepName,
		Hosts: d.Hosts, LogKey: d.LogKey, ResultsKey: d.LogKey + "/results/" + nonce(), Timeout: timeout, DryRun: d.DryRun,
	}
	check := "no"
	if d.DryRun {
		check = "yes"
	}
	sse := "AES256"
	if r.cfg.KMSResults {
		sse = "aws:kms"
	}
	params := map[string][]string{
		ssmdoc.ParamBundleBucket:     {r.cfg.Bucket},
		ssmdoc.ParamBundleKey:        {d.BundleKey},
		ssmdoc.ParamPlaybook:         {d.Playbook},
		ssmdoc.ParamSecretsPath:      {paramstore.DeploymentPath(r.cfg.SecretsPrefix, d.DeploymentID)},
		ssmdoc.ParamSecretNames:      {strings.Join(names, " ")},
		ssmdoc.ParamCheckMode:        {check},
		ssmdoc.ParamExecutionTimeout: {strconv.Itoa(int(timeout.Seconds()))},
		ssmdoc.ParamResultsKey:       {rec.ResultsKey},
		ssmdoc.ParamSSE:              {sse},
	}
	if a := d.Lifecycle; a != nil {
		// The hosts keep the Auto Scaling action alive while Ansible runs,
		// at well under half of any hook's heartbeat timeout (≥ 10 min).
		params[ssmdoc.ParamLifecycleGroup] = []string{a.GroupName}
		params[ssmdoc.ParamLifecycleHook] = []string{a.HookName}
		params[ssmdoc.ParamLifecycleToken] = []string{a.Token}
		params[ssmdoc.ParamLifecycleInstance] = []string{a.InstanceID}
		params[ssmdoc.ParamHeartbeatSeconds] = []string{strconv.Itoa(int(LifecycleHeartbeat.Seconds()))}
	}
	doc, err := ssmdoc.Parse()
	if err != nil {
		return nil, nil, err
	}
	if _, err := doc.Check(params); err != nil {
		return nil, nil, deploy.Invalid("", "%v", err)
	}
	comment := fmt.Sprintf("eden %s run %s step %d %s", d.DeploymentID, d.RunID, d.StepIndex+1, d.StepName)
	if len(comment) > 100 {
		comment = comment[:100]
	}
	in := &ssm.SendCommandInput{
		DocumentName:       aws.String(r.cfg.DocumentName),
		InstanceIds:        ids,
		MaxConcurrency:     aws.String("100%"),
		MaxErrors:          aws.String("100%"),
		TimeoutSeconds:     aws.Int32(int32(r.cfg.DeliveryTimeout.Seconds())),
		OutputS3BucketName: aws.String(r.cfg.Bucket),
		OutputS3KeyPrefix:  aws.String(d.LogKey),
		Comment:            aws.String(comment),
		Parameters:         params,
	}
	if r.cfg.CloudWatchLogGroup != "" {
		in.CloudWatchOutputConfig = &types.CloudWatchOutputConfig{
			CloudWatchOutputEnabled: true,
			CloudWatchLogGroupName:  aws.String(r.cfg.CloudWatchLogGroup),
		}
	}
	return in, rec, nil
}

// send calls SendCommand, retrying with backoff (1 s doubling to 30 s)
// while an instance is not registered with SSM yet, up to RegistrationWait.
func (r *Runner) send(ctx context.Context, in *ssm.SendCommandInput) (*ssm.SendCommandOutput, error) {
	start := r.cfg.Now()
	delay := time.Second
	for {
		out, err := r.api.SendCommand(ctx, in)
		if err == nil {
			if out.Command == nil || aws.ToString(out.Command.CommandId) == "" {
				return nil, errors.New("SendCommand returned no command ID")
			}
			return out, nil
		}
		var bad *types.InvalidInstanceId
		if !errors.As(err, &bad) {
			return nil, kindOf(err)
		}
		waited := r.cfg.Now().Sub(start)
		if waited+delay > r.cfg.RegistrationWait {
			return nil, deploy.Transient(err, "instances %s not registered with SSM after %v", strings.Join(in.InstanceIds, ", "), waited.Round(time.Second))
		}
		r.cfg.Logger.InfoContext(ctx, "instance not registered with SSM yet, retrying", "instances", in.InstanceIds, "after", delay)
		if err := r.cfg.Sleep(ctx, delay); err != nil {
			return nil, err
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// Cancel cancels the command on every instance; the completion event
// (status Cancelled) then signals the outcome "cancelled". An unknown or
// ended command is not an error.
func (r *Runner) Cancel(ctx context.Context, commandID string) error {
	_, err := r.api.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(commandID)})
	var inv *types.InvalidCommandId
	if err != nil && !errors.As(err, &inv) {
		return fmt.Errorf("runner/ssm: cancel %s: %w", commandID, kindOf(err))
	}
	return nil
}

func nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func kindOf(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "InternalServerError", "TooManyUpdates":
			return deploy.Transient(err, "ssm %s", ae.ErrorCode())
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return deploy.Transient(err, "ssm request")
}
