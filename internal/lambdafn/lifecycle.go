package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
)

// Lifecycle returns the Auto Scaling lifecycle handler. It takes what
// template.yaml delivers, an SQS event whose messages are EventBridge
// events (one per invocation, with ReportBatchItemFailures), and a plain
// EventBridge event (sam local invoke with events/*.json).
func (a *App) Lifecycle(ctx context.Context) (any, error) {
	svc, store, err := a.Control(false)
	if err != nil {
		return nil, err
	}
	fleet := a.Fleet()
	n := a.Notifier(store)
	h := &lifecycle.Handler{Fleet: fleet, Scaler: svc, Completer: fleet, Log: a.Log,
		Abandoned: func(ctx context.Context, depID string, action deploy.LifecycleAction, reason string) {
			n.LifecycleAbandoned(ctx, depID, action, nil, reason)
		}}
	return LifecycleHandler(h), nil
}

// LifecycleHandler adapts h to the events the function receives. For an
// SQS event it returns the messages to deliver again (Handle returned an
// error: the deployment is busy or a dependency failed) as batch item
// failures, so SQS redelivers them after the queue's visibility timeout;
// a message that is not an event at all is logged and dropped, since
// delivering it again cannot help. For an EventBridge event it returns
// Handle's outcome, or its error.
func LifecycleHandler(h *lifecycle.Handler) func(context.Context, json.RawMessage) (any, error) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records []json.RawMessage `json:"Records"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("lifecycle: event is not a JSON object: %w", err)
		}
		if probe.Records == nil {
			var ev lifecycle.Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("lifecycle: event is not an EventBridge event: %w", err)
			}
			return h.Handle(ctx, ev)
		}
		var sqs events.SQSEvent
		if err := json.Unmarshal(raw, &sqs); err != nil {
			return nil, fmt.Errorf("lifecycle: event is not an SQS event: %w", err)
		}
		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		for _, m := range sqs.Records {
			var ev lifecycle.Event
			dec := json.NewDecoder(bytes.NewReader([]byte(m.Body)))
			if err := dec.Decode(&ev); err != nil {
				log.ErrorContext(ctx, "lifecycle message is not an EventBridge event: dropped", "message", m.MessageId, "err", err)
				continue
			}
			out, err := h.Handle(ctx, ev)
			if err != nil {
				log.WarnContext(ctx, "lifecycle event will be delivered again", "message", m.MessageId, "event", ev.ID,
					"receive_count", m.Attributes["ApproximateReceiveCount"], "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				continue
			}
			log.InfoContext(ctx, "lifecycle event handled", "message", m.MessageId, "event", ev.ID, "action", out.Action, "run", out.RunID, "reason", out.Reason)
		}
		return resp, nil
	}
}
