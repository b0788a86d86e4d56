// Command ssmstatus is the Lambda function that turns the SSM command
// status changes of the apply-bundle document (EventBridge) into the
// outcome of the waiting DispatchStep task (internal/runner/ssm).
package main

import (
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.SSMStatus, (*lambdafn.App).SSMStatus)
}
