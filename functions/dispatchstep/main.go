// Command dispatchstep is the Lambda function of the run state machine's DispatchStep
// task (tasks.DispatchStep; ${DispatchStepFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.DispatchStep, func(a *lambdafn.App, _ context.Context) (any, error) {
		t, err := a.Tasks()
		if err != nil {
			return nil, err
		}
		return t.DispatchStep, nil
	})
}
