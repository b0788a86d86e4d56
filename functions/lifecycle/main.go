// Command lifecycle is the Lambda function that turns Auto Scaling
// lifecycle actions (EventBridge events, delivered through an SQS queue)
// into scale-out and scale-in runs (internal/lifecycle).
package main

import (
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.Lifecycle, (*lambdafn.App).Lifecycle)
}
