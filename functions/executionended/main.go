// Command executionended is the Lambda function that records, when a run's
// execution ends (Step Functions' status-change event on EventBridge), the
// state transitions it made on the run (internal/runcost).
package main

import (
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.ExecutionEnded, (*lambdafn.App).ExecutionEnded)
}
