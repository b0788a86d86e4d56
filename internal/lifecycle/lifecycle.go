// Package lifecycle turns Amazon EC2 Auto Scaling lifecycle actions,
// delivered as EventBridge events, into scale-out and scale-in runs.
//
// A launching instance of a group that names a deployment and a role (tags
// eden-deploy:deployment and eden-deploy:role on the group, or the hook's
// NotificationMetadata JSON {"deployment_id": ..., "role": ...}) joins the
// deployment and is provisioned before it goes in service; the run then
// completes the action with CONTINUE, or ABANDON when provisioning failed.
// A terminating instance leaves its deployment; web servers rewrite their
// upstreams without it, then the run completes the action with CONTINUE.
//
// A group that names no deployment is left alone (logged, not touched);
// malformed metadata or an unknown deployment is ABANDON at once, with the
// reason logged; autoscaling:TEST_NOTIFICATION is ignored. The same event
// documents drive `edenctl serve` through an admin endpoint.
package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Tags on an Auto Scaling group that tie it to a deployment.
const (
	TagDeployment = "eden-deploy:deployment"
	TagRole       = "eden-deploy:role"
)

// Detail types of the EventBridge events this package handles.
const (
	LaunchDetailType    = "EC2 Instance-launch Lifecycle Action"
	TerminateDetailType = "EC2 Instance-terminate Lifecycle Action"
	TestNotification    = "autoscaling:TEST_NOTIFICATION"
	transitionLaunch    = "autoscaling:EC2_INSTANCE_LAUNCHING"
	transitionTerminate = "autoscaling:EC2_INSTANCE_TERMINATING"
)

// Event is an EventBridge event (the parts this package reads).
type Event struct {
	Version    string          `json:"version,omitempty"`
	ID         string          `json:"id"`
	Account    string          `json:"account,omitempty"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Detail is the detail of a lifecycle action event.
type Detail struct {
	LifecycleActionToken string `json:"LifecycleActionToken"`
	AutoScalingGroupName string `json:"AutoScalingGroupName"`
	LifecycleHookName    string `json:"LifecycleHookName"`
	EC2InstanceID        string `json:"EC2InstanceId"`
	LifecycleTransition  string `json:"LifecycleTransition"`
	NotificationMetadata string `json:"NotificationMetadata"`
	// Event is set on test notifications (autoscaling:TEST_NOTIFICATION).
	Event string `json:"Event"`
}

// Metadata is the hook's NotificationMetadata, when it names the
// deployment and role.
type Metadata struct {
	DeploymentID string      `json:"deployment_id"`
	Role         deploy.Role `json:"role"`
}

// Fleet reads what EC2 and Auto Scaling know about groups and instances.
type Fleet interface {
	// GroupTags returns the tags of the Auto Scaling group, or NotFound.
	GroupTags(ctx context.Context, group string) (map[string]string, error)
	// InstanceAddress returns the instance's private IPv4 address (or
	// private DNS name), or NotFound.
	InstanceAddress(ctx context.Context, instanceID string) (string, error)
}

// Scaler starts the runs (control.Service).
type Scaler interface {
	ScaleOut(ctx context.Context, deploymentID string, srv deploy.Server, action deploy.LifecycleAction) (*deploy.Run, error)
	ScaleIn(ctx context.Context, instanceID string, action deploy.LifecycleAction) (*deploy.Run, error)
}

// Completer completes lifecycle actions (autoscaling:CompleteLifecycleAction).
type Completer interface {
	CompleteLifecycleAction(ctx context.Context, a deploy.LifecycleAction, result string) error
}

// Handler handles lifecycle events.
type Handler struct {
	Fleet     Fleet
	Scaler    Scaler
	Completer Completer
	// Abandoned, if set, is told of every action Handle abandons at once,
	// with the deployment it named ("" when none) and the reason.
	Abandoned func(ctx context.Context, deploymentID string, action deploy.LifecycleAction, reason string)
	Log       *slog.Logger
}

// Outcome says what Handle did with an event.
type Outcome struct {
	// Action is one of "ignored", "left-alone", "abandoned", "scale-out",
	// "scale-in", "continued".
	Action string `json:"action"`
	RunID  string `json:"run_id,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Handle acts on one event. An error means the event should be delivered
// again (the deployment is busy, or a dependency failed); every decision
// about a bad event is an Outcome, not an error.
func (h *Handler) Handle(ctx context.Context, ev Event) (Outcome, error) {
	log := h.log()
	var d Detail
	if len(ev.Detail) > 0 {
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			log.WarnContext(ctx, "lifecycle event with unreadable detail ignored", "event", ev.ID, "err", err)
			return Outcome{Action: "ignored", Reason: "unreadable detail: " + err.Error()}, nil
		}
	}
	if d.Event == TestNotification || d.LifecycleTransition == TestNotification {
		log.InfoContext(ctx, "Auto Scaling test notification ignored", "group", d.AutoScalingGroupName)
		return Outcome{Action: "ignored", Reason: "test notification"}, nil
	}
	action := deploy.LifecycleAction{
		GroupName: d.AutoScalingGroupName, HookName: d.LifecycleHookName, Token: d.LifecycleActionToken,
		InstanceID: d.EC2InstanceID, Transition: d.LifecycleTransition,
	}
	if action.Token == "" || action.GroupName == "" || action.HookName == "" || action.InstanceID == "" {
		log.WarnContext(ctx, "lifecycle event without token, group, hook or instance ignored", "event", ev.ID, "detail_type", ev.DetailType)
		return Outcome{Action: "ignored", Reason: "not a lifecycle action"}, nil
	}
	log = log.With("group", action.GroupName, "instance", action.InstanceID, "transition", action.Transition)
	switch {
	case ev.DetailType == LaunchDetailType || action.Transition == transitionLaunch:
		return h.launch(ctx, log, d, action)
	case ev.DetailType == TerminateDetailType || action.Transition == transitionTerminate:
		return h.terminate(ctx, log, action)
	}
	log.WarnContext(ctx, "unknown lifecycle transition ignored", "detail_type", ev.DetailType)
	return Outcome{Action: "ignored", Reason: "unknown transition " + action.Transition}, nil
}

func (h *Handler) launch(ctx context.Context, log *slog.Logger, d Detail, action deploy.LifecycleAction) (Outcome, error) {
	target, ok, reason, err := h.target(ctx, d)
	if err != nil {
		return Outcome{}, err
	}
	if !ok {
		log.InfoContext(ctx, "group names no deployment: instance left alone")
		return Outcome{Action: "left-alone", Reason: "the group names no deployment"}, nil
	}
	if reason != "" {
		return h.abandon(ctx, log, target.DeploymentID, action, reason)
	}
	addr, err := h.Fleet.InstanceAddress(ctx, action.InstanceID)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return h.abandon(ctx, log, target.DeploymentID, action, fmt.Sprintf("instance %s has no address: %v", action.InstanceID, err))
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("lifecycle: address of %s: %w", action.InstanceID, err)
	}
	srv := deploy.Server{Host: addr, Role: target.Role, InstanceID: action.InstanceID, Origin: deploy.OriginAutoscaling}
	run, err := h.Scaler.ScaleOut(ctx, target.DeploymentID, srv, action)
	switch {
	case err == nil:
		log.InfoContext(ctx, "scale-out run started", "deployment", target.DeploymentID, "run", run.ID, "host", addr)
		return Outcome{Action: "scale-out", RunID: run.ID}, nil
	case deploy.IsKind(err, deploy.KindNotFound), deploy.IsKind(err, deploy.KindInvalid), deploy.IsKind(err, deploy.KindConflict):
		return h.abandon(ctx, log, target.DeploymentID, action, err.Error())
	}
	return Outcome{}, fmt.Errorf("lifecycle: scale out %s: %w", target.DeploymentID, err)
}

func (h *Handler) terminate(ctx context.Context, log *slog.Logger, action deploy.LifecycleAction) (Outcome, error) {
	run, err := h.Scaler.ScaleIn(ctx, action.InstanceID, action)
	switch {
	case err == nil:
		log.InfoContext(ctx, "scale-in run started", "deployment", run.DeploymentID, "run", run.ID)
		return Outcome{Action: "scale-in", RunID: run.ID}, nil
	case deploy.IsKind(err, deploy.KindNotFound):
		// Not a server of any deployment (or already removed): let it go.
		if cerr := h.Completer.CompleteLifecycleAction(ctx, action, "CONTINUE"); cerr != nil {
			return Outcome{}, fmt.Errorf("lifecycle: continue %s: %w", action.InstanceID, cerr)
		}
		log.InfoContext(ctx, "terminating instance belongs to no deployment: continued")
		return Outcome{Action: "continued", Reason: "the instance belongs to no deployment"}, nil
	}
	return Outcome{}, fmt.Errorf("lifecycle: scale in %s: %w", action.InstanceID, err)
}

// target reads the deployment and role from the hook's metadata, else
// from the group's tags. ok is false when neither names a deployment;
// reason is set when what they name is unusable.
func (h *Handler) target(ctx context.Context, d Detail) (m Metadata, ok bool, reason string, err error) {
	if d.NotificationMetadata != "" {
		if jerr := json.Unmarshal([]byte(d.NotificationMetadata), &m); jerr != nil {
			return m, true, "malformed NotificationMetadata: " + jerr.Error(), nil
		}
		if m.DeploymentID != "" {
			return m, true, checkRole(m.Role), nil
		}
	}
	tags, err := h.Fleet.GroupTags(ctx, d.AutoScalingGroupName)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return m, false, "", nil
	}
	if err != nil {
		return m, false, "", fmt.Errorf("lifecycle: tags of group %s: %w", d.AutoScalingGroupName, err)
	}
	m.DeploymentID = tags[TagDeployment]
	if m.DeploymentID == "" {
		return m, false, "", nil
	}
	m.Role = deploy.Role(tags[TagRole])
	return m, true, checkRole(m.Role), nil
}

func checkRole(r deploy.Role) string {
	if r != deploy.RoleEden && r != deploy.RoleWebServer {
		return fmt.Sprintf("role %q cannot scale: only eden and webserver groups can", r)
	}
	return ""
}

func (h *Handler) abandon(ctx context.Context, log *slog.Logger, deploymentID string, action deploy.LifecycleAction, reason string) (Outcome, error) {
	log.ErrorContext(ctx, "lifecycle action abandoned", "reason", reason)
	if err := h.Completer.CompleteLifecycleAction(ctx, action, "ABANDON"); err != nil {
		return Outcome{}, fmt.Errorf("lifecycle: abandon %s: %w", action.InstanceID, err)
	}
	if h.Abandoned != nil {
		h.Abandoned(ctx, deploymentID, action, reason)
	}
	return Outcome{Action: "abandoned", Reason: reason}, nil
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
