package control

import (
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// executionIDs is what a workflow engine may also tell: the ID an
// execution will have before it starts. Both engines can (asl.Engine and
// stepfn.Client: the ID derives from the machine and the name), so a run
// records its execution with its first write, and starting it needs no
// second write: one durable write fewer between a request and its answer.
type executionIDs interface {
	// ExecutionID returns the ID of machine's execution named name, started
	// or not; an error when the engine does not know machine.
	ExecutionID(machine, name string) (string, error)
}

// expectExecution records on run, before it is stored, the ID of the
// execution that start will start for it, when the engine can tell. Should
// the start fail, the run is failed with that ID on it, naming an execution
// that does not exist (StopExecution of it is NotFound, which cancelling
// ignores).
func (s *Service) expectExecution(run *deploy.Run) {
	e, ok := s.cfg.Workflow.(executionIDs)
	if !ok {
		return
	}
	if id, err := e.ExecutionID(s.cfg.Machine, workflow.ExecutionName(run.ID)); err == nil {
		run.ExecutionID = id
	}
}
