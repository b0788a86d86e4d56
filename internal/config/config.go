// Package config reads the configuration of Eden Deploy's Lambda functions
// from their environment, once, at cold start.
//
// Every variable a function reads is declared in Functions, next to the
// function's logical ID in template.yaml; internal/samcheck checks that the
// template sets exactly those variables on that function (sam local invoke
// silently drops variables a function does not declare, so a variable read
// but not declared would only fail in production). A required variable
// that is missing or empty fails the cold start with an error naming it.
//
// The SDK's own variables (AWS_REGION, credentials, and the endpoint
// overrides AWS_ENDPOINT_URL_<SERVICE> used for local invocation) are read
// by aws-sdk-go-v2, not here; Lambda sets the first two itself.
package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Names of the variables this package reads.
const (
	EnvTable           = "EDEN_TABLE"
	EnvBucket          = "EDEN_BUCKET"
	EnvParameterPrefix = "EDEN_PARAMETER_PREFIX"
	EnvStateMachineARN = "EDEN_STATE_MACHINE_ARN"
	EnvDocumentName    = "EDEN_DOCUMENT_NAME"
	EnvRunRetention    = "EDEN_RUN_RETENTION"
	EnvStepTimeout     = "EDEN_STEP_TIMEOUT"
	EnvAdminClaim      = "EDEN_ADMIN_CLAIM"
	EnvAdminGroup      = "EDEN_ADMIN_GROUP"
	EnvBackupRetention = "EDEN_BACKUP_RETENTION"
	// Schedules (EventBridge Scheduler) and notifications.
	EnvScheduleGroup  = "EDEN_SCHEDULE_GROUP"
	EnvScheduleTarget = "EDEN_SCHEDULE_FUNCTION_ARN"
	EnvSchedulerRole  = "EDEN_SCHEDULER_ROLE_ARN"
	// The web console's sign-in (internal/console): empty URL, no console.
	EnvConsoleURL          = "EDEN_CONSOLE_URL"
	EnvConsoleClientID     = "EDEN_CONSOLE_CLIENT_ID"
	EnvConsoleAuthorizeURL = "EDEN_CONSOLE_AUTHORIZE_URL"
	EnvConsoleTokenURL     = "EDEN_CONSOLE_TOKEN_URL"
	EnvConsoleSignUpURL    = "EDEN_CONSOLE_SIGNUP_URL"
	EnvConsoleLogoutURL    = "EDEN_CONSOLE_LOGOUT_URL"
)

// Var describes one environment variable.
type Var struct {
	Name     string
	Required bool
	// What it is, for the error message of a missing one.
	What string
}

// Vars are all the variables, by name.
var Vars = map[string]Var{
	EnvTable:           {EnvTable, true, "the DynamoDB table's name"},
	EnvBucket:          {EnvBucket, true, "the S3 bucket of bundles and run logs"},
	EnvParameterPrefix: {EnvParameterPrefix, true, `the SSM Parameter Store path of the secrets, e.g. "/eden-deploy"`},
	EnvStateMachineARN: {EnvStateMachineARN, true, "the run state machine's ARN"},
	EnvDocumentName:    {EnvDocumentName, true, "the name of the SSM Command document that applies a bundle"},
	EnvRunRetention:    {EnvRunRetention, false, `how long finished runs are kept, a Go duration such as "2160h" (empty or 0: forever)`},
	EnvStepTimeout:     {EnvStepTimeout, false, `the longest one step may run, a Go duration such as "60m"`},
	EnvAdminClaim:      {EnvAdminClaim, false, `the JWT claim listing the caller's groups, e.g. "cognito:groups" (empty: nobody is an admin)`},
	EnvAdminGroup:      {EnvAdminGroup, false, `the group in that claim that makes an admin, e.g. "admin"`},
	EnvBackupRetention: {EnvBackupRetention, false, `how many backups are kept, on the database servers and off them, such as "7d4w" (7 daily, 4 weekly)`},
	EnvScheduleGroup:   {EnvScheduleGroup, true, "the EventBridge Scheduler schedule group of the stack's schedules"},
	EnvScheduleTarget:  {EnvScheduleTarget, true, "the ARN of the schedule function the schedules invoke"},
	EnvSchedulerRole:   {EnvSchedulerRole, true, "the ARN of the role EventBridge Scheduler assumes to invoke it"},

	EnvConsoleURL:          {EnvConsoleURL, false, "the web console's URL, where the hosted login sends people back (empty: no console)"},
	EnvConsoleClientID:     {EnvConsoleClientID, false, "the OAuth client ID the console signs in with"},
	EnvConsoleAuthorizeURL: {EnvConsoleAuthorizeURL, false, "the hosted login's authorization endpoint"},
	EnvConsoleTokenURL:     {EnvConsoleTokenURL, false, "the hosted login's token endpoint"},
	EnvConsoleSignUpURL:    {EnvConsoleSignUpURL, false, "the hosted login's sign-up page, when people may register themselves"},
	EnvConsoleLogoutURL:    {EnvConsoleLogoutURL, false, "the hosted login's logout endpoint"},
}

// Function is one Lambda function of template.yaml.
type Function struct {
	// LogicalID is the function's logical ID in template.yaml; its build
	// target is build-<LogicalID> (lambda.mk).
	LogicalID string
	// Dir is its main package, relative to the module root.
	Dir string
	// Env lists the variables it reads; template.yaml sets exactly these.
	Env []string
}

// Task functions: the state machine substitution ${<LogicalID>Arn} names
// each (statemachine/run.asl.json, tasks.Handlers).
const (
	StartRun          = "StartRunFunction"
	PrepareStep       = "PrepareStepFunction"
	DispatchStep      = "DispatchStepFunction"
	RecordStep        = "RecordStepFunction"
	FinishRun         = "FinishRunFunction"
	CompleteLifecycle = "CompleteLifecycleFunction"
	API               = "ApiFunction"
	SSMStatus         = "SsmStatusFunction"
	Lifecycle         = "LifecycleFunction"
	ExecutionEnded    = "ExecutionEndedFunction"
	// Schedule fires a schedule's slot (EventBridge Scheduler invokes it);
	// PlanDeliveries and DeliverWebhook are the notify state machine's
	// tasks (${<LogicalID>Arn} in statemachine/notify.asl.json).
	Schedule       = "ScheduleFunction"
	PlanDeliveries = "PlanDeliveriesFunction"
	DeliverWebhook = "DeliverWebhookFunction"
)

// NotifyTaskFunctions are the logical IDs of the notify state machine's
// task functions.
var NotifyTaskFunctions = []string{PlanDeliveries, DeliverWebhook}

// TaskFunctions are the logical IDs of the six task functions.
var TaskFunctions = []string{StartRun, PrepareStep, DispatchStep, RecordStep, FinishRun, CompleteLifecycle}

// taskEnv is what every task function reads: tasks.New builds every
// dependency, even those one task never calls (their SDK clients make no
// call until used).
var taskEnv = []string{EnvTable, EnvBucket, EnvParameterPrefix, EnvDocumentName, EnvRunRetention, EnvStepTimeout}

// backupTaskEnv is what the tasks that render backup scripts (PrepareStep)
// and keep backups (RecordStep) read: the retention besides.
var backupTaskEnv = append(append([]string(nil), taskEnv...), EnvBackupRetention)

// Functions are the Lambda functions, by logical ID.
var Functions = map[string]Function{
	API: {API, "functions/api", []string{EnvTable, EnvBucket, EnvParameterPrefix, EnvStateMachineARN, EnvDocumentName, EnvRunRetention, EnvAdminClaim, EnvAdminGroup,
		EnvScheduleGroup, EnvScheduleTarget, EnvSchedulerRole,
		EnvConsoleURL, EnvConsoleClientID, EnvConsoleAuthorizeURL, EnvConsoleTokenURL, EnvConsoleSignUpURL, EnvConsoleLogoutURL}},
	StartRun:          {StartRun, "functions/startrun", taskEnv},
	PrepareStep:       {PrepareStep, "functions/preparestep", backupTaskEnv},
	DispatchStep:      {DispatchStep, "functions/dispatchstep", taskEnv},
	RecordStep:        {RecordStep, "functions/recordstep", backupTaskEnv},
	FinishRun:         {FinishRun, "functions/finishrun", taskEnv},
	CompleteLifecycle: {CompleteLifecycle, "functions/completelifecycle", taskEnv},
	SSMStatus:         {SSMStatus, "functions/ssmstatus", []string{EnvBucket, EnvDocumentName}},
	Lifecycle:         {Lifecycle, "functions/lifecycle", []string{EnvTable, EnvParameterPrefix, EnvStateMachineARN, EnvRunRetention}},
	ExecutionEnded:    {ExecutionEnded, "functions/executionended", []string{EnvTable, EnvRunRetention}},
	Schedule:          {Schedule, "functions/schedule", []string{EnvTable, EnvParameterPrefix, EnvStateMachineARN, EnvRunRetention}},
	PlanDeliveries:    {PlanDeliveries, "functions/plandeliveries", []string{EnvTable}},
	DeliverWebhook:    {DeliverWebhook, "functions/deliverwebhook", []string{EnvTable, EnvParameterPrefix}},
}

// LogicalIDs returns the functions' logical IDs, sorted.
func LogicalIDs() []string {
	ids := make([]string, 0, len(Functions))
	for id := range Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Config is what a function reads from its environment. Fields of
// variables the function does not declare stay zero.
type Config struct {
	Function        string
	Table           string
	Bucket          string
	ParameterPrefix string
	StateMachineARN string
	DocumentName    string
	AdminClaim      string
	AdminGroup      string
	ScheduleGroup   string
	ScheduleTarget  string
	SchedulerRole   string
	RunRetention    time.Duration
	StepTimeout     time.Duration
	// BackupRetention is zero (deploy.DefaultRetention) unless set.
	BackupRetention deploy.Retention
	// Console is the web console's sign-in; its URL is empty when the
	// stack serves no console.
	Console Console
}

// Console is how the web console served by the API function signs people
// in: the hosted login's OAuth 2.0 endpoints (authorization code + PKCE).
type Console struct {
	URL, ClientID, AuthorizeURL, TokenURL, SignUpURL, LogoutURL string
}

// Load reads the variables that function (a logical ID of Functions)
// declares. A required one that is missing or empty, or a value that does
// not parse, is an error naming the variable.
func Load(function string, getenv func(string) string) (Config, error) {
	fn, ok := Functions[function]
	if !ok {
		return Config{}, fmt.Errorf("config: no function %q (one of %s)", function, strings.Join(LogicalIDs(), ", "))
	}
	c := Config{Function: function}
	var problems []string
	for _, name := range fn.Env {
		v := Vars[name]
		val := strings.TrimSpace(getenv(name))
		if val == "" {
			if v.Required {
				problems = append(problems, fmt.Sprintf("%s is not set (%s)", name, v.What))
			}
			continue
		}
		if err := c.set(name, val); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %v", name, val, err))
		}
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("config of %s: %s", function, strings.Join(problems, "; "))
	}
	return c, nil
}

func (c *Config) set(name, val string) error {
	switch name {
	case EnvTable:
		c.Table = val
	case EnvBucket:
		c.Bucket = val
	case EnvParameterPrefix:
		if !strings.HasPrefix(val, "/") || strings.HasSuffix(val, "/") {
			return fmt.Errorf("must start with / and not end with one")
		}
		c.ParameterPrefix = val
	case EnvStateMachineARN:
		if !strings.HasPrefix(val, "arn:") {
			return fmt.Errorf("is not an ARN")
		}
		c.StateMachineARN = val
	case EnvDocumentName:
		c.DocumentName = val
	case EnvAdminClaim:
		c.AdminClaim = val
	case EnvAdminGroup:
		c.AdminGroup = val
	case EnvBackupRetention:
		r, err := deploy.ParseRetention(val)
		if err != nil {
			return err
		}
		c.BackupRetention = r
	case EnvScheduleGroup:
		c.ScheduleGroup = val
	case EnvScheduleTarget, EnvSchedulerRole:
		if !strings.HasPrefix(val, "arn:") {
			return fmt.Errorf("is not an ARN")
		}
		if name == EnvScheduleTarget {
			c.ScheduleTarget = val
		} else {
			c.SchedulerRole = val
		}
	case EnvConsoleURL:
		c.Console.URL = val
	case EnvConsoleClientID:
		c.Console.ClientID = val
	case EnvConsoleAuthorizeURL:
		c.Console.AuthorizeURL = val
	case EnvConsoleTokenURL:
		c.Console.TokenURL = val
	case EnvConsoleSignUpURL:
		c.Console.SignUpURL = val
	case EnvConsoleLogoutURL:
		c.Console.LogoutURL = val
	case EnvRunRetention, EnvStepTimeout:
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			return fmt.Errorf("is not a duration such as 60m or 2160h")
		}
		if name == EnvRunRetention {
			c.RunRetention = d
		} else {
			c.StepTimeout = d
		}
	default:
		return fmt.Errorf("config: %s has no field", name)
	}
	return nil
}
