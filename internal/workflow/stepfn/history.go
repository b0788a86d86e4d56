package stepfn

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// historyPage is the largest page GetExecutionHistory returns.
const historyPage = 1000

// Transitions counts the state transitions execution id made, as Step
// Functions bills them for a Standard workflow (and as the local engine
// counts them): one per state entered, at any depth, plus one per retry.
// It reads the execution's whole history without its data
// (GetExecutionHistory, 1,000 events a page). A retry is an attempt of a
// Task state beyond its first: within one entry of the state, Step
// Functions schedules the function (or the integration) again without
// entering the state again. An unknown execution wraps
// workflow.ErrNotFound.
func (c *Client) Transitions(ctx context.Context, id string) (int, error) {
	var entered, taskStates, attempts int
	in := &sfn.GetExecutionHistoryInput{
		ExecutionArn:         aws.String(id),
		IncludeExecutionData: aws.Bool(false),
		MaxResults:           historyPage,
	}
	for {
		out, err := c.api.GetExecutionHistory(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("stepfn: history of %s: %w", id, mapErr(err))
		}
		for _, ev := range out.Events {
			switch t := ev.Type; {
			case t == types.HistoryEventTypeTaskStateEntered:
				entered++
				taskStates++
			case strings.HasSuffix(string(t), "StateEntered"):
				entered++
			case t == types.HistoryEventTypeLambdaFunctionScheduled, t == types.HistoryEventTypeLambdaFunctionScheduleFailed,
				t == types.HistoryEventTypeTaskScheduled,
				t == types.HistoryEventTypeActivityScheduled, t == types.HistoryEventTypeActivityScheduleFailed:
				attempts++
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return entered + max(attempts-taskStates, 0), nil
}
