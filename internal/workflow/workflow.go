// Package workflow defines the port through which the use cases and the task
// functions start and signal executions of a state machine.
//
// Two adapters implement Engine: asl.Engine runs the project's
// statemachine/*.asl.json definitions in-process (local mode), and
// stepfn.Client drives AWS Step Functions. Both report failures with the
// sentinel errors below, so callers use errors.Is and never look at an
// adapter's own error types.
package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Errors shared by every Engine. Adapters wrap them with context; callers
// test with errors.Is.
var (
	// ErrExecutionExists (kind conflict): an execution with that name already
	// exists for that machine, so nothing was started.
	ErrExecutionExists = errors.New("workflow: execution already exists")
	// ErrTaskNotFound (kind not found): the task token is unknown, malformed,
	// or its task is already closed (succeeded, failed, timed out, or its
	// execution ended). Step Functions' TaskDoesNotExist, TaskTimedOut and
	// InvalidToken all map to it.
	ErrTaskNotFound = errors.New("workflow: task not found")
	// ErrNotFound (kind not found): no such execution or machine.
	ErrNotFound = errors.New("workflow: not found")
)

// Status is the state of an execution, spelled as Step Functions spells it.
type Status string

// The statuses an execution can have.
const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// Execution is what DescribeExecution reports.
type Execution struct {
	ID      string // executionArn on AWS; an opaque ID locally
	Machine string // logical machine name ("run"), when the adapter knows it
	Name    string
	Status  Status
	Input   []byte // JSON
	Output  []byte // JSON; nil unless SUCCEEDED
	Error   string // set when FAILED, TIMED_OUT or ABORTED (if given)
	Cause   string
	Start   time.Time
	Stop    time.Time // zero while RUNNING
	// Transitions counts state transitions as Step Functions bills them.
	// Only the local engine knows it; stepfn.Client reports 0.
	Transitions int
}

// Engine starts and signals executions of a state machine. Implemented by
// asl.Engine (local) and stepfn.Client (AWS). Implementations are safe for
// concurrent use.
type Engine interface {
	// StartExecution starts machine (a logical name such as "run") with name
	// (unique per machine; derive it with ExecutionName) and JSON input.
	//
	// Starting a name that already exists returns an error wrapping
	// ErrExecutionExists and starts nothing, with one exception taken from
	// AWS Step Functions (Standard workflows): if that execution is still
	// RUNNING and was started with byte-identical input, the call is an
	// idempotent retry and returns the existing execution's ID and nil.
	// An unknown machine returns ErrNotFound.
	StartExecution(ctx context.Context, machine, name string, input []byte) (executionID string, err error)

	// DescribeExecution reports an execution's status, input, output, error,
	// cause, start/stop times and (locally) its transition count. An unknown
	// ID returns ErrNotFound.
	DescribeExecution(ctx context.Context, executionID string) (Execution, error)

	// SendTaskSuccess completes the task waiting on token with output (JSON).
	// It returns ErrTaskNotFound if no open task has that token.
	SendTaskSuccess(ctx context.Context, token string, output []byte) error

	// SendTaskFailure fails the task waiting on token with errName and
	// cause, which the state's Retry and Catch match on. It returns
	// ErrTaskNotFound if no open task has that token.
	SendTaskFailure(ctx context.Context, token, errName, cause string) error

	// SendTaskHeartbeat restarts the HeartbeatSeconds clock of the task
	// waiting on token. It returns ErrTaskNotFound if no open task has
	// that token.
	SendTaskHeartbeat(ctx context.Context, token string) error

	// StopExecution aborts a running execution with errName and cause
	// (both optional). Stopping an execution that already ended is a no-op;
	// an unknown ID returns ErrNotFound.
	StopExecution(ctx context.Context, executionID, errName, cause string) error
}

// MaxExecutionNameLen is Step Functions' limit on an execution name.
const MaxExecutionNameLen = 80

// ExecutionName derives a valid execution name (at most 80 characters of
// [A-Za-z0-9-_]) from a run ID, deterministically. A run ID that is already a
// valid name is returned unchanged; any other is sanitised, truncated and
// suffixed with a hash of the original, so two different run IDs never share
// a name in practice.
func ExecutionName(runID string) string {
	if runID != "" && len(runID) <= MaxExecutionNameLen && validName(runID) {
		return runID
	}
	sum := sha256.Sum256([]byte(runID))
	suffix := hex.EncodeToString(sum[:8]) // 16 chars
	var b strings.Builder
	for _, r := range runID {
		if b.Len() >= MaxExecutionNameLen-len(suffix)-1 {
			break
		}
		if nameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "run-" + suffix
	}
	return b.String() + "-" + suffix
}

func validName(s string) bool {
	for _, r := range s {
		if !nameChar(r) {
			return false
		}
	}
	return true
}

func nameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
