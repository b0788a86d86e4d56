// Command finishrun is the Lambda function of the run state machine's FinishRun
// task (tasks.FinishRun; ${FinishRunFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.FinishRun, func(a *lambdafn.App, _ context.Context) (any, error) {
		t, err := a.NotifyingTasks()
		if err != nil {
			return nil, err
		}
		return t.FinishRun, nil
	})
}
