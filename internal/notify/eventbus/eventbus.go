// Package eventbus publishes notices as events on an Amazon EventBridge
// bus (the account's default bus): source "eden-deploy", detail type
// "Eden Deploy Run Status Change" or "Eden Deploy Lifecycle Action
// Abandoned", detail the notice (docs/aws.md documents its schema). Users
// route them with rules of their own (SNS, e-mail, chat); the stack's own
// rule starts the notify state machine, which delivers them to webhooks.
// It implements notify.Publisher on AWS; locally notify.WorkflowPublisher
// stands in for it.
package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/notify"
)

// API is the part of the EventBridge client used.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Bus publishes to one event bus.
type Bus struct {
	API API
	// Name is the bus's name or ARN; empty is the default bus.
	Name string
}

var _ notify.Publisher = (*Bus)(nil)

// Publish implements notify.Publisher with one PutEvents entry. A failed
// entry (PutEvents reports those per entry, with a 200) is Transient.
func (b *Bus) Publish(ctx context.Context, n deploy.Notice) error {
	detail, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("eventbus: encode notice %s: %w", n.ID, err)
	}
	entry := types.PutEventsRequestEntry{
		Source: aws.String(notify.Source), DetailType: aws.String(notify.DetailType(n.Type)),
		Detail: aws.String(string(detail)), Time: aws.Time(n.Time), Resources: []string{},
	}
	if b.Name != "" {
		entry.EventBusName = aws.String(b.Name)
	}
	out, err := b.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("eventbus: put notice %s: %w", n.ID, deploy.Transient(err, "EventBridge did not take the event"))
	}
	if out.FailedEntryCount > 0 {
		why := "unknown"
		if len(out.Entries) > 0 {
			why = aws.ToString(out.Entries[0].ErrorCode) + ": " + aws.ToString(out.Entries[0].ErrorMessage)
		}
		return fmt.Errorf("eventbus: put notice %s: %w", n.ID, deploy.Transient(errors.New(why), "EventBridge refused the event"))
	}
	return nil
}
