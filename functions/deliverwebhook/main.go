// Command deliverwebhook is the Lambda function of the notify state
// machine's DeliverWebhook task (notify.Deliveries.DeliverWebhook;
// ${DeliverWebhookFunctionArn} in statemachine/notify.asl.json): one
// signed POST of a delivery, recorded.
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.DeliverWebhook, func(a *lambdafn.App, _ context.Context) (any, error) {
		d, err := a.Deliveries()
		if err != nil {
			return nil, err
		}
		return d.DeliverWebhook, nil
	})
}
