package deploy

import (
	"regexp"
	"strings"
	"time"
)

// The types of notification.
const (
	// NoticeRunEnded: a run succeeded, failed or was cancelled.
	NoticeRunEnded = "run.ended"
	// NoticeLifecycleAbandoned: an Auto Scaling lifecycle action of the
	// deployment was completed with ABANDON (the instance does not join,
	// or is terminated).
	NoticeLifecycleAbandoned = "lifecycle.abandoned"
)

// Notice is the notification document: the body of a webhook delivery and
// the detail of the EventBridge event, the same JSON on both planes.
// docs/aws.md documents its schema.
type Notice struct {
	// ID is unique per notification; a repeated notification of the same
	// end has the same ID (receivers may deduplicate on it).
	ID         string           `json:"id"`
	Type       string           `json:"type"`
	Time       time.Time        `json:"time"`
	Deployment NoticeDeployment `json:"deployment"`
	// Kind and Status summarise: the run's kind and status, or for an
	// abandoned lifecycle action with no run, the transition and
	// "abandoned".
	Kind   string `json:"kind"`
	Status string `json:"status"`
	// Run is the run that ended (or whose end abandoned the action).
	Run *NoticeRun `json:"run,omitempty"`
	// Failed names where a failed run failed.
	Failed    *NoticeFailure   `json:"failed,omitempty"`
	Lifecycle *NoticeLifecycle `json:"lifecycle,omitempty"`
	// Links are API URLs (absolute when the control plane knows its base
	// URL, else paths): deployment, run and log.
	Links map[string]string `json:"links"`
}

// NoticeDeployment names the deployment.
type NoticeDeployment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NoticeRun is the run's part of a notice.
type NoticeRun struct {
	ID         string       `json:"id"`
	Kind       RunKind      `json:"kind"`
	Instance   InstanceType `json:"instance,omitempty"`
	Status     RunStatus    `json:"status"`
	Error      string       `json:"error,omitempty"`
	Requester  string       `json:"requester,omitempty"`
	ScheduleID string       `json:"schedule_id,omitempty"`
	DryRun     bool         `json:"dry_run,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	StartedAt  time.Time    `json:"started_at,omitzero"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
}

// NoticeFailure is where a run failed: the step, the first failed host,
// the Ansible task that failed on it (when known) and the reason.
type NoticeFailure struct {
	Step   string `json:"step,omitempty"`
	Host   string `json:"host,omitempty"`
	Task   string `json:"task,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// NoticeLifecycle is the abandoned lifecycle action (its token left out).
type NoticeLifecycle struct {
	GroupName  string `json:"group_name"`
	HookName   string `json:"hook_name"`
	InstanceID string `json:"instance_id"`
	Transition string `json:"transition"`
	Reason     string `json:"reason,omitempty"`
}

// RunEndedNotice returns the notice of r's end on d (d may be nil when the
// deployment is gone: its name is then empty). base is the API's base URL
// ("" for paths only).
func RunEndedNotice(d *Deployment, r *Run, base string) Notice {
	n := Notice{
		ID: DerivedID("ev-", r.FinishedAt, "run.ended|"+r.DeploymentID+"|"+r.ID), Type: NoticeRunEnded, Time: r.FinishedAt.UTC(),
		Deployment: NoticeDeployment{ID: r.DeploymentID},
		Kind:       string(r.Kind), Status: string(r.Status),
		Run: &NoticeRun{ID: r.ID, Kind: r.Kind, Instance: r.Instance, Status: r.Status, Error: r.Error, Requester: r.Requester,
			DryRun: r.DryRun, CreatedAt: r.CreatedAt.UTC(), StartedAt: r.StartedAt.UTC(), FinishedAt: r.FinishedAt.UTC()},
		Links: runLinks(base, r.DeploymentID, r.ID),
	}
	if n.Time.IsZero() {
		n.Time = r.CreatedAt.UTC()
	}
	if d != nil {
		n.Deployment.Name = d.Name
	}
	if id, ok := strings.CutPrefix(r.Requester, "schedule:"); ok {
		n.Run.ScheduleID = id
	}
	if r.Status == RunFailed {
		n.Failed = failureOf(r)
	}
	return n
}

// LifecycleAbandonedNotice returns the notice of an abandoned lifecycle
// action of deployment depID (d may be nil), with the run whose end
// abandoned it (nil when it was abandoned before any run).
func LifecycleAbandonedNotice(depID string, d *Deployment, a LifecycleAction, r *Run, reason string, now time.Time, base string) Notice {
	n := Notice{
		ID: DerivedID("ev-", now, "lifecycle.abandoned|"+a.Token+"|"+a.InstanceID), Type: NoticeLifecycleAbandoned, Time: now.UTC(),
		Deployment: NoticeDeployment{ID: depID}, Kind: a.Transition, Status: "abandoned",
		Lifecycle: &NoticeLifecycle{GroupName: a.GroupName, HookName: a.HookName, InstanceID: a.InstanceID, Transition: a.Transition, Reason: reason},
		Links:     map[string]string{"deployment": link(base, "/v1/deployments/"+depID)},
	}
	if d != nil {
		n.Deployment.Name = d.Name
	}
	if r != nil {
		// One notice per action whatever redelivers it: the run's end names it.
		n.ID = DerivedID("ev-", r.FinishedAt, "lifecycle.abandoned|"+r.DeploymentID+"|"+r.ID)
		n.Time = r.FinishedAt.UTC()
		n.Kind = string(r.Kind)
		n.Run = &NoticeRun{ID: r.ID, Kind: r.Kind, Status: r.Status, Error: r.Error, Requester: r.Requester,
			CreatedAt: r.CreatedAt.UTC(), StartedAt: r.StartedAt.UTC(), FinishedAt: r.FinishedAt.UTC()}
		n.Links = runLinks(base, r.DeploymentID, r.ID)
		if r.Status == RunFailed {
			n.Failed = failureOf(r)
		}
		if n.Lifecycle.Reason == "" {
			n.Lifecycle.Reason = r.Error
		}
	}
	return n
}

func runLinks(base, depID, runID string) map[string]string {
	dep := "/v1/deployments/" + depID
	return map[string]string{
		"deployment": link(base, dep),
		"run":        link(base, dep+"/runs/"+runID),
		"log":        link(base, dep+"/runs/"+runID+"/log"),
	}
}

func link(base, path string) string { return strings.TrimSuffix(base, "/") + path }

// failedTask reads the Ansible task out of a host's failure reason, as the
// runners word it: `task "NAME" failed: ...`.
var failedTask = regexp.MustCompile(`^task "((?:[^"\\]|\\.)*)" failed`)

// failureOf names the first failed step and host of r.
func failureOf(r *Run) *NoticeFailure {
	f := &NoticeFailure{Reason: r.Error}
	for _, st := range r.Steps {
		if st.Status != StepFailed {
			continue
		}
		f.Step = st.Name
		for _, h := range st.Results {
			if h.Succeeded() {
				continue
			}
			f.Host = h.Host
			if m := failedTask.FindStringSubmatch(h.Reason); m != nil {
				f.Task = strings.ReplaceAll(m[1], `\"`, `"`)
			}
			if h.Reason != "" {
				f.Reason = h.Reason
			}
			break
		}
		break
	}
	return f
}
