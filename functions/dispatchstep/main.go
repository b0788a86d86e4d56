// Command dispatchstep is the Lambda function of the run state machine's DispatchStep
// task (tasks.DispatchStep; ${DispatchStepFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.DispatchStep, func(a *lambdafn.App, ctx context.Context) (any, error) {
		return a.Task("DispatchStepFunctionArn")
	})
}
