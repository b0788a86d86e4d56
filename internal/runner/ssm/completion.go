package ssm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/workflow"
)

// The EventBridge event the handler consumes.
const (
	EventSource     = "aws.ssm"
	EventDetailType = "EC2 Command Status-change Notification"
)

// CommandDetail is the detail of an "EC2 Command Status-change
// Notification" event.
type CommandDetail struct {
	CommandID         string              `json:"command-id"`
	DocumentName      string              `json:"document-name"`
	Status            string              `json:"status"`
	RequestedDateTime string              `json:"requested-date-time"`
	ExpireAfter       string              `json:"expire-after"`
	Parameters        map[string][]string `json:"parameters"`
}

// CompletionHandler turns the end of an SSM command into the step's signal.
// Safe for concurrent use.
type CompletionHandler struct {
	api          API
	blobs        deploy.Blobs
	sig          runner.Signaler
	documentName string
	log          *slog.Logger
}

// NewCompletionHandler returns a handler for commands of documentName.
func NewCompletionHandler(api API, blobs deploy.Blobs, sig runner.Signaler, documentName string, log *slog.Logger) (*CompletionHandler, error) {
	if api == nil || blobs == nil || sig == nil || documentName == "" {
		return nil, deploy.Invalid("", "runner/ssm: completion handler needs an SSM client, blobs, a signaler and the document name")
	}
	if log == nil {
		log = slog.Default()
	}
	return &CompletionHandler{api: api, blobs: blobs, sig: sig, documentName: documentName, log: log}, nil
}

// Handle processes one EventBridge event. Events of other sources, types
// or documents and non-terminal statuses (Pending, InProgress, Delayed,
// Cancelling) are ignored (nil). For a terminal status (Success, Failed,
// TimedOut, Cancelled) it reads the command record, every host's
// invocation and results, and signals the step's task token: success with
// the StepOutcome, or RunnerError when Ansible ran on no host at all.
//
// It returns an error, so that Lambda's asynchronous retry delivers the
// event again, when the command record is not stored yet (the event can
// overtake Dispatch) or when AWS or the signal fails. A task the workflow
// no longer knows (a duplicate event) is not an error.
func (h *CompletionHandler) Handle(ctx context.Context, ev events.CloudWatchEvent) error {
	if ev.Source != EventSource || ev.DetailType != EventDetailType {
		return nil
	}
	var d CommandDetail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return fmt.Errorf("runner/ssm: event %s: bad detail: %w", ev.ID, err)
	}
	if !h.ours(d.DocumentName) || !terminal(d.Status) {
		return nil
	}
	log := h.log.With("command_id", d.CommandID, "status", d.Status)
	b, err := h.blobs.GetBlob(ctx, RecordKey(d.CommandID))
	if deploy.IsKind(err, deploy.KindNotFound) {
		return deploy.Transient(err, "runner/ssm: no record of command %s yet", d.CommandID)
	}
	if err != nil {
		return fmt.Errorf("runner/ssm: record of command %s: %w", d.CommandID, err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil || rec.CommandID != d.CommandID {
		return fmt.Errorf("runner/ssm: record of command %s is broken: %v", d.CommandID, err)
	}
	log = log.With("run_id", rec.RunID, "deployment_id", rec.DeploymentID, "step", rec.StepIndex)

	invs, err := h.invocations(ctx, d.CommandID)
	if err != nil {
		return err
	}
	o, cause := h.judge(ctx, &rec, d.Status, invs)
	if cause != "" {
		log.ErrorContext(ctx, "step could not run", "cause", cause)
		err = runner.SignalRunnerError(ctx, h.sig, rec.Token, cause)
	} else {
		log.InfoContext(ctx, "step ended", "error", o.Error)
		err = runner.SignalOutcome(ctx, h.sig, rec.Token, o)
	}
	if errors.Is(err, workflow.ErrTaskNotFound) {
		log.InfoContext(ctx, "task already closed: duplicate event or ended workflow")
		return nil
	}
	return err
}

func (h *CompletionHandler) ours(doc string) bool {
	// The event names the document as SendCommand did: its name, or an ARN
	// ending in document/<name>.
	return doc == h.documentName || strings.HasSuffix(doc, ":document/"+h.documentName) ||
		strings.HasSuffix(h.documentName, ":document/"+doc)
}

func terminal(status string) bool {
	switch status {
	case "Success", "Failed", "TimedOut", "Cancelled", "Canceled":
		return true
	}
	return false
}

func (h *CompletionHandler) invocations(ctx context.Context, commandID string) (map[string]types.CommandInvocation, error) {
	out := map[string]types.CommandInvocation{}
	p := ssm.NewListCommandInvocationsPaginator(h.api, &ssm.ListCommandInvocationsInput{
		CommandId: aws.String(commandID),
		Details:   true,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runner/ssm: invocations of %s: %w", commandID, kindOf(err))
		}
		for _, inv := range page.CommandInvocations {
			out[aws.ToString(inv.InstanceId)] = inv
		}
	}
	return out, nil
}

// squash normalises SSM's status details ("Delivery Timed Out",
// "InvalidPlatform") for comparison.
func squash(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s))
}

// judge builds the outcome from every host's invocation and results; cause
// is set instead when Ansible ran on no host.
func (h *CompletionHandler) judge(ctx context.Context, rec *Record, status string, invs map[string]types.CommandInvocation) (deploy.StepOutcome, string) {
	res := &runner.Results{Version: 1}
	var hosts, notRun []string
	abort := ""
	switch status {
	case "TimedOut":
		abort = fmt.Sprintf("timed out after %v", rec.Timeout)
	case "Cancelled", "Canceled":
		abort = "cancelled"
	}
	exit := 0
	ran := 0
	for _, dh := range rec.Hosts {
		hosts = append(hosts, dh.Host)
		inv, ok := invs[dh.InstanceID]
		details := "no invocation"
		var code int32
		var output string
		if ok {
			details = aws.ToString(inv.StatusDetails)
			if details == "" {
				details = string(inv.Status)
			}
			if len(inv.CommandPlugins) > 0 {
				code = inv.CommandPlugins[0].ResponseCode
				output = aws.ToString(inv.CommandPlugins[0].Output)
			}
		}
		if code > 0 && exit == 0 {
			exit = int(code)
		}
		switch squash(details) {
		case "executiontimedout":
			if abort == "" {
				abort = fmt.Sprintf("timed out after %v", rec.Timeout)
			}
		case "cancelled", "canceled":
			if abort == "" {
				abort = "cancelled"
			}
		}
		rep := h.hostReport(ctx, rec, dh)
		if rep != nil {
			ran++
			rep.Host = dh.Host
			res.Hosts = append(res.Hosts, *rep)
			continue
		}
		switch squash(details) {
		case "undeliverable", "terminated", "invalidplatform", "accessdenied", "deliverytimedout", "noinvocation":
			notRun = append(notRun, fmt.Sprintf("%s (%s): %s", dh.Host, dh.InstanceID, details))
			res.Hosts = append(res.Hosts, runner.HostReport{Host: dh.Host, Unreachable: 1,
				FirstFailure: &runner.Failure{Unreachable: true, Msg: "SSM could not run the command: " + details}})
		case "failed":
			// The document failed before Ansible reported anything.
			notRun = append(notRun, fmt.Sprintf("%s (%s): %s", dh.Host, dh.InstanceID, lastLine(output)))
			res.Hosts = append(res.Hosts, runner.HostReport{Host: dh.Host, Failures: 1,
				FirstFailure: &runner.Failure{Task: "apply-bundle", Msg: fmt.Sprintf("exit status %d: %s", code, lastLine(output))}})
		default:
			// Success without results (a bundle without the callback), or
			// stopped: Outcome says "no result from Ansible" or the abort.
		}
	}
	if ran == 0 && abort == "" && len(notRun) == len(rec.Hosts) {
		return deploy.StepOutcome{}, fmt.Sprintf("command %s ran Ansible on no host: %s", rec.CommandID, strings.Join(notRun, "; "))
	}
	logKey := rec.LogKey + "/" + rec.CommandID + "/"
	return runner.Outcome(hosts, res, runner.Ending{Abort: abort, ExitCode: exit}, logKey), ""
}

// hostReport returns the host's results: the callback's JSON the document
// uploaded, or else the recap in the host's full output; nil if neither.
func (h *CompletionHandler) hostReport(ctx context.Context, rec *Record, dh deploy.DispatchHost) *runner.HostReport {
	if b, err := h.blobs.GetBlob(ctx, rec.ResultsKey+"/"+dh.InstanceID+".json"); err == nil {
		if r, err := runner.ParseResults(b); err == nil && len(r.Hosts) == 1 {
			return &r.Hosts[0] // "localhost": one host per instance
		} else if err != nil {
			h.log.WarnContext(ctx, "unreadable results", "instance", dh.InstanceID, "err", err)
		}
	}
	out, err := h.blobs.GetBlob(ctx, OutputKey(rec.LogKey, rec.CommandID, dh.InstanceID))
	if err != nil {
		return nil
	}
	var scan runner.RecapScanner
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		scan.Line(sc.Text())
	}
	if r := scan.Results(); r != nil && len(r.Hosts) == 1 {
		return &r.Hosts[0]
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no output"
	}
	return s
}
