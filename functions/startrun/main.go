// Command startrun is the Lambda function of the run state machine's StartRun
// task (tasks.StartRun; ${StartRunFunctionArn} in statemachine/run.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.StartRun, func(a *lambdafn.App, _ context.Context) (any, error) {
		t, err := a.Tasks()
		if err != nil {
			return nil, err
		}
		return t.StartRun, nil
	})
}
