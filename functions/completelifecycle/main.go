// Command completelifecycle is the Lambda function of the run state machine's CompleteLifecycle
// task (tasks.CompleteLifecycle; ${CompleteLifecycleFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.CompleteLifecycle, func(a *lambdafn.App, _ context.Context) (any, error) {
		t, err := a.NotifyingTasks()
		if err != nil {
			return nil, err
		}
		return t.CompleteLifecycle, nil
	})
}
