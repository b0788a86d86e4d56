// Command plandeliveries is the Lambda function of the notify state
// machine's PlanDeliveries task (notify.Deliveries.PlanDeliveries;
// ${PlanDeliveriesFunctionArn} in statemachine/notify.asl.json).
package main

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.PlanDeliveries, func(a *lambdafn.App, _ context.Context) (any, error) {
		d, err := a.Deliveries()
		if err != nil {
			return nil, err
		}
		return d.PlanDeliveries, nil
	})
}
