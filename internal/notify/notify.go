// Package notify tells the outside world when runs end and when Auto
// Scaling lifecycle actions are abandoned: an EventBridge-shaped event
// (Envelope, whose detail is a deploy.Notice) is published, and the
// notify state machine (statemachine/notify.asl.json) delivers it to the
// deployment's webhooks, each delivery signed with the webhook's secret and
// retried with backoff, every attempt recorded in the store.
//
// Publishing differs by plane. On AWS (notify/eventbus) the event goes to
// the default EventBridge bus, where users can route it to SNS, e-mail or
// chat, and a rule of template.yaml starts the notify state machine with
// it. Locally (WorkflowPublisher) there is no bus: the notify state
// machine is started directly on the local ASL engine, whose journal keeps
// pending retries across restarts. Either way the task functions of this
// package (PlanDeliveries, DeliverWebhook) do the delivering.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// The EventBridge source and detail types of the events.
const (
	Source                 = "eden-deploy"
	DetailTypeRunEnded     = "Eden Deploy Run Status Change"
	DetailTypeLifecycleAbd = "Eden Deploy Lifecycle Action Abandoned"
)

// DetailType returns the EventBridge detail type of a notice type.
func DetailType(noticeType string) string {
	if noticeType == deploy.NoticeLifecycleAbandoned {
		return DetailTypeLifecycleAbd
	}
	return DetailTypeRunEnded
}

// Envelope is an EventBridge event whose detail is a notice: what
// EventBridge hands the notify state machine on AWS, and what the local
// publisher starts it with.
type Envelope struct {
	Version    string        `json:"version"`
	ID         string        `json:"id"`
	DetailType string        `json:"detail-type"`
	Source     string        `json:"source"`
	Account    string        `json:"account"`
	Time       string        `json:"time"`
	Region     string        `json:"region"`
	Resources  []string      `json:"resources"`
	Detail     deploy.Notice `json:"detail"`
}

// Wrap returns the local envelope of n.
func Wrap(n deploy.Notice) Envelope {
	return Envelope{Version: "0", ID: n.ID, DetailType: DetailType(n.Type), Source: Source,
		Time: n.Time.UTC().Format(time.RFC3339), Resources: []string{}, Detail: n}
}

// Publisher publishes notices. Implementations are safe for concurrent
// use; publishing the same notice twice is harmless (deliveries are one
// per notice and webhook).
type Publisher interface {
	// Publish sends n on; a passing failure is Transient.
	Publish(ctx context.Context, n deploy.Notice) error
}

// NotifyMachine is the logical name of the notify state machine.
const NotifyMachine = "notify"

// WorkflowPublisher publishes by starting the notify state machine with
// the notice's envelope (the local plane: no EventBridge). The execution
// is named after the notice, so a notice is delivered once.
type WorkflowPublisher struct {
	Engine  workflow.Engine
	Machine string // default NotifyMachine
}

var _ Publisher = (*WorkflowPublisher)(nil)

// Publish implements Publisher.
func (p *WorkflowPublisher) Publish(ctx context.Context, n deploy.Notice) error {
	input, err := json.Marshal(Wrap(n))
	if err != nil {
		return fmt.Errorf("notify: encode notice %s: %w", n.ID, err)
	}
	machine := p.Machine
	if machine == "" {
		machine = NotifyMachine
	}
	_, err = p.Engine.StartExecution(ctx, machine, workflow.ExecutionName(n.ID), input)
	if errors.Is(err, workflow.ErrExecutionExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: start delivering notice %s: %w", n.ID, err)
	}
	return nil
}

// Multi publishes to every publisher (AWS: the bus; tests: several), and
// returns the first failure after trying them all.
type Multi []Publisher

// Publish implements Publisher.
func (m Multi) Publish(ctx context.Context, n deploy.Notice) error {
	var first error
	for _, p := range m {
		if err := p.Publish(ctx, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Notifier turns run ends and abandoned lifecycle actions into notices and
// publishes them. Its methods never fail their caller: a notice that
// cannot be published is logged (the run's end is recorded regardless).
type Notifier struct {
	Publisher   Publisher
	Deployments deploy.DeploymentStore
	// BaseURL is the API's base URL for the notices' links ("" for paths).
	BaseURL string
	Now     func() time.Time
	Log     *slog.Logger
}

func (n *Notifier) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// RunEnded publishes the end of r (a run that succeeded, failed or was
// cancelled). It fits tasks.Config.RunEnded and control.Config.RunEnded.
func (n *Notifier) RunEnded(ctx context.Context, r *deploy.Run) {
	if r == nil || !r.Status.Terminal() {
		return
	}
	d, err := n.Deployments.GetDeployment(ctx, r.DeploymentID)
	if err != nil {
		d = nil // deleted meanwhile: the notice names it by ID only
	}
	n.publish(ctx, deploy.RunEndedNotice(d, r, n.BaseURL))
}

// LifecycleAbandoned publishes that action was abandoned for deployment
// depID, by the end of run r (nil when no run started) or for reason.
func (n *Notifier) LifecycleAbandoned(ctx context.Context, depID string, action deploy.LifecycleAction, r *deploy.Run, reason string) {
	if depID == "" {
		return // no deployment, so no webhooks; EventBridge users see Auto Scaling's own events
	}
	d, err := n.Deployments.GetDeployment(ctx, depID)
	if err != nil {
		d = nil
	}
	n.publish(ctx, deploy.LifecycleAbandonedNotice(depID, d, action, r, reason, n.now(), n.BaseURL))
}

func (n *Notifier) publish(ctx context.Context, nt deploy.Notice) {
	if err := n.Publisher.Publish(ctx, nt); err != nil {
		n.log().ErrorContext(ctx, "a notification could not be published", "deployment", nt.Deployment.ID, "notice", nt.ID, "type", nt.Type, "err", err)
		return
	}
	n.log().InfoContext(ctx, "notification published", "deployment", nt.Deployment.ID, "notice", nt.ID, "type", nt.Type, "status", nt.Status)
}
