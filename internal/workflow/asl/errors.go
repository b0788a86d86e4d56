package asl

import "fmt"

// Predefined error names, as Step Functions reports them.
const (
	ErrAll              = "States.ALL"
	ErrTaskFailed       = "States.TaskFailed"
	ErrTimeout          = "States.Timeout"
	ErrHeartbeatTimeout = "States.HeartbeatTimeout"
	ErrRuntime          = "States.Runtime"
	ErrNoChoiceMatched  = "States.NoChoiceMatched"
)

// A stateError is a named failure inside an execution: the Error and Cause
// that Retry and Catch match and that end up in DescribeExecution.
type stateError struct {
	Name  string `json:"Error"`
	Cause string `json:"Cause"`
}

func (e *stateError) Error() string { return e.Name + ": " + e.Cause }

func runtimeErr(format string, args ...any) *stateError {
	return &stateError{Name: ErrRuntime, Cause: fmt.Sprintf(format, args...)}
}

// matches reports whether a Retrier's or Catcher's ErrorEquals name matches
// the error, following the Step Functions rules: States.ALL matches
// everything but States.Runtime; States.TaskFailed matches everything but
// the timeouts; States.Timeout also matches States.HeartbeatTimeout.
// States.Runtime is never retried nor caught: it always fails the execution.
func matches(pattern, name string) bool {
	if name == ErrRuntime {
		return false
	}
	switch pattern {
	case name:
		return true
	case ErrAll:
		return true
	case ErrTaskFailed:
		return name != ErrTimeout && name != ErrHeartbeatTimeout
	case ErrTimeout:
		return name == ErrHeartbeatTimeout
	}
	return false
}
