// Command schedule is the Lambda function EventBridge Scheduler invokes
// for a schedule's slot: it fires the slot (control.Service.Fire), which
// starts the schedule's run once however often Scheduler delivers it.
package main

import (
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.Schedule, (*lambdafn.App).Schedule)
}
