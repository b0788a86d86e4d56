// Package stepfn implements workflow.Engine on AWS Step Functions with
// aws-sdk-go-v2's sfn client.
//
// Machines are logical names ("run") mapped to state machine ARNs in
// configuration. Execution IDs are execution ARNs.
//
// Idempotent starts: for a Standard workflow, Step Functions answers a
// StartExecution with the name AND input of a still-running execution with
// that execution, as if it had just started it, and answers
// ExecutionAlreadyExists otherwise. The Client passes both answers through
// unchanged (the second as workflow.ErrExecutionExists), and the local
// engine (asl.Engine) follows the same rule, so a caller that retries a
// start after a timeout gets the execution it started, while a different
// input under the same name is a conflict.
package stepfn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

var _ workflow.Engine = (*Client)(nil)

// API is the part of *sfn.Client that Client uses.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	SendTaskHeartbeat(ctx context.Context, in *sfn.SendTaskHeartbeatInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

var _ API = (*sfn.Client)(nil)

// Step Functions' limits on SendTaskFailure and StopExecution fields.
const (
	maxErrorLen = 256
	maxCauseLen = 32768
)

// Client drives Step Functions. It is safe for concurrent use.
type Client struct {
	api      API
	machines map[string]string // logical name → state machine ARN
	names    map[string]string // ARN → logical name
}

// New returns a Client over api (usually sfn.NewFromConfig(cfg)); machines
// maps each logical machine name to its state machine ARN.
func New(api API, machines map[string]string) (*Client, error) {
	if api == nil {
		return nil, fmt.Errorf("stepfn: nil API")
	}
	c := &Client{api: api, machines: map[string]string{}, names: map[string]string{}}
	for name, arn := range machines {
		if name == "" || arn == "" {
			return nil, fmt.Errorf("stepfn: machine %q has no ARN", name)
		}
		c.machines[name] = arn
		c.names[arn] = name
	}
	return c, nil
}

// StartExecution implements workflow.Engine.
func (c *Client) StartExecution(ctx context.Context, machine, name string, input []byte) (string, error) {
	arn, ok := c.machines[machine]
	if !ok {
		return "", fmt.Errorf("stepfn: start %s/%s: machine %w", machine, name, workflow.ErrNotFound)
	}
	if len(input) == 0 {
		input = []byte("{}")
	}
	out, err := c.api.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(arn),
		Name:            aws.String(name),
		Input:           aws.String(string(input)),
	})
	if err != nil {
		return "", fmt.Errorf("stepfn: start %s/%s: %w", machine, name, mapErr(err))
	}
	return aws.ToString(out.ExecutionArn), nil
}

// ExecutionID returns the ARN that machine's execution named name has, or
// will have once started: for a Standard workflow, Step Functions makes it
// from the state machine's ARN and the name
// (arn:...:execution:<machine name>:<name>).
func (c *Client) ExecutionID(machine, name string) (string, error) {
	arn, ok := c.machines[machine]
	if !ok || !strings.Contains(arn, ":stateMachine:") {
		return "", fmt.Errorf("stepfn: execution ID: machine %s: %w", machine, workflow.ErrNotFound)
	}
	return strings.Replace(arn, ":stateMachine:", ":execution:", 1) + ":" + name, nil
}

// DescribeExecution implements workflow.Engine. Transitions is always 0:
// Step Functions does not report it.
func (c *Client) DescribeExecution(ctx context.Context, id string) (workflow.Execution, error) {
	out, err := c.api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(id)})
	if err != nil {
		return workflow.Execution{}, fmt.Errorf("stepfn: describe %s: %w", id, mapErr(err))
	}
	x := workflow.Execution{
		ID:      aws.ToString(out.ExecutionArn),
		Machine: c.names[aws.ToString(out.StateMachineArn)],
		Name:    aws.ToString(out.Name),
		Status:  workflow.Status(out.Status),
		Error:   aws.ToString(out.Error),
		Cause:   aws.ToString(out.Cause),
		Start:   aws.ToTime(out.StartDate),
		Stop:    aws.ToTime(out.StopDate),
	}
	if out.Input != nil {
		x.Input = []byte(*out.Input)
	}
	if out.Output != nil {
		x.Output = []byte(*out.Output)
	}
	return x, nil
}

// SendTaskSuccess implements workflow.Engine.
func (c *Client) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	if len(output) == 0 {
		output = []byte("{}")
	}
	_, err := c.api.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	if err != nil {
		return fmt.Errorf("stepfn: send task success: %w", mapErr(err))
	}
	return nil
}

// SendTaskFailure implements workflow.Engine. errName and cause are cut to
// Step Functions' limits (256 and 32768 characters).
func (c *Client) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	_, err := c.api.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
		TaskToken: aws.String(token),
		Error:     optional(truncate(errName, maxErrorLen)),
		Cause:     optional(truncate(cause, maxCauseLen)),
	})
	if err != nil {
		return fmt.Errorf("stepfn: send task failure: %w", mapErr(err))
	}
	return nil
}

// SendTaskHeartbeat implements workflow.Engine.
func (c *Client) SendTaskHeartbeat(ctx context.Context, token string) error {
	if _, err := c.api.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)}); err != nil {
		return fmt.Errorf("stepfn: send task heartbeat: %w", mapErr(err))
	}
	return nil
}

// StopExecution implements workflow.Engine.
func (c *Client) StopExecution(ctx context.Context, id, errName, cause string) error {
	_, err := c.api.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(id),
		Error:        optional(truncate(errName, maxErrorLen)),
		Cause:        optional(truncate(cause, maxCauseLen)),
	})
	if err != nil {
		return fmt.Errorf("stepfn: stop %s: %w", id, mapErr(err))
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// kindError keeps the SDK error in the chain while adding a workflow kind.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// mapErr gives Step Functions errors their workflow kind.
func mapErr(err error) error {
	var (
		exists       *types.ExecutionAlreadyExists
		noExec       *types.ExecutionDoesNotExist
		noMachine    *types.StateMachineDoesNotExist
		badARN       *types.InvalidArn
		noTask       *types.TaskDoesNotExist
		taskTimedOut *types.TaskTimedOut
		badToken     *types.InvalidToken
	)
	switch {
	case errors.As(err, &exists):
		return &kindError{workflow.ErrExecutionExists, err}
	case errors.As(err, &noExec), errors.As(err, &noMachine), errors.As(err, &badARN):
		return &kindError{workflow.ErrNotFound, err}
	case errors.As(err, &noTask), errors.As(err, &taskTimedOut), errors.As(err, &badToken):
		return &kindError{workflow.ErrTaskNotFound, err}
	}
	return err
}
