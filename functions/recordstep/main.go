// Command recordstep is the Lambda function of the run state machine's RecordStep
// task (tasks.RecordStep; ${RecordStepFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.RecordStep, func(a *lambdafn.App, _ context.Context) (any, error) {
		t, err := a.TasksKeepingBackups()
		if err != nil {
			return nil, err
		}
		return t.RecordStep, nil
	})
}
