// Package runner holds what the two deploy.Runner adapters share: how a
// step's end is signalled to the workflow, the Ansible callback plugin that
// reports per-host results, the parsers of its JSON file and of Ansible's
// own recap (the fallback), and the rules that turn them into a
// deploy.StepOutcome. The adapters are runner/ssh (ansible-playbook over SSH
// from this machine, local mode) and runner/ssm (SSM Run Command, AWS).
//
// # Signalling contract
//
// A runner's Dispatch returns as soon as the step started; its end is
// reported once, through the task token of the workflow state that waits for
// it (Dispatch.Token):
//
//   - When Ansible ran, whatever the hosts' results, the runner calls
//     SendTaskSuccess with a JSON deploy.StepOutcome: one HostResult per
//     dispatched host (in dispatch order), the LogKey, and Error, one line,
//     when the step failed:
//     "host unreachable: <host>: <Ansible's reason>" for an unreachable host,
//     "task \"<task name>\" failed on <host>: <msg>" for a failed task,
//     "timed out after 30m0s" when it ran past Dispatch.Timeout,
//     "cancelled" when it was cancelled, or
//     "ansible-playbook exited with status <n>" when Ansible failed without
//     blaming a host. The first failing host in dispatch order is named.
//     A host Ansible reported nothing for (timeout, cancel, crash) has
//     Failed = 1 and a Reason, so HostResult.Succeeded is false.
//   - Only when Ansible could not be run at all (bundle missing or unsafe,
//     secrets unreadable, ansible-playbook not startable, or it ended
//     without reporting on any host; on AWS: command undeliverable,
//     terminated, wrong platform) does the runner call SendTaskFailure with
//     error name "RunnerError" and a cause saying why.
//   - While a step runs, the local runner calls SendTaskHeartbeat every
//     heartbeat interval (default 30 s), so a state with HeartbeatSeconds
//     turns a lost runner into a failed run rather than a hang.
package runner

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Signaler reports the end of a step to the workflow that waits on its task
// token (workflow.Engine satisfies it).
type Signaler interface {
	SendTaskSuccess(ctx context.Context, token string, output []byte) error
	SendTaskFailure(ctx context.Context, token, errName, cause string) error
	SendTaskHeartbeat(ctx context.Context, token string) error
}

// ErrRunner is the error name of SendTaskFailure: Ansible could not run.
const ErrRunner = "RunnerError"

// The Ansible callback plugin that writes per-host results.
const (
	// CallbackName is the plugin's name, for ANSIBLE_CALLBACKS_ENABLED.
	CallbackName = "eden_results"
	// CallbackFile is the plugin's file name.
	CallbackFile = "eden_results.py"
	// BundleCallbackDir is the directory, relative to a bundle's root, that
	// holds CallbackFile in every rendered bundle (the SSM document points
	// ANSIBLE_CALLBACK_PLUGINS at it).
	BundleCallbackDir = "callback_plugins"
	// ResultsEnv names the environment variable with the path the plugin
	// writes its JSON to.
	ResultsEnv = "EDEN_RESULTS_FILE"
)

// CallbackPlugin is the source of the plugin
// (infra/ansible/callback_plugins/eden_results.py, embedded there).
var CallbackPlugin = ansible.CallbackPlugin()

// Results is what the callback plugin writes.
type Results struct {
	Version int          `json:"version"`
	Hosts   []HostReport `json:"hosts"`
}

// HostReport is one host's stats and first failure, as Ansible counted them.
type HostReport struct {
	Host         string   `json:"host"`
	OK           int      `json:"ok"`
	Changed      int      `json:"changed"`
	Failures     int      `json:"failures"`
	Unreachable  int      `json:"unreachable"`
	Skipped      int      `json:"skipped"`
	Rescued      int      `json:"rescued"`
	Ignored      int      `json:"ignored"`
	FirstFailure *Failure `json:"first_failure,omitempty"`
	// Backups are the dumps the host reported keeping (a db step of a run
	// that backs up).
	Backups []deploy.BackupReport `json:"backups,omitempty"`
}

// Failure is a host's first failed task or why it was unreachable.
type Failure struct {
	Task        string `json:"task"`
	Msg         string `json:"msg"`
	Unreachable bool   `json:"unreachable"`
}

// ParseResults decodes the plugin's JSON file.
func ParseResults(b []byte) (*Results, error) {
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("runner: parse results: %w", err)
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("runner: parse results: unknown version %d", r.Version)
	}
	return &r, nil
}

// Host returns the report of host, or nil.
func (r *Results) Host(host string) *HostReport {
	if r == nil {
		return nil
	}
	for i := range r.Hosts {
		if r.Hosts[i].Host == host {
			return &r.Hosts[i]
		}
	}
	return nil
}

// Ending says how the Ansible process ended, for Outcome.
type Ending struct {
	// Abort is set when the step was stopped ("timed out after 30m0s",
	// "cancelled"): it becomes the outcome's Error and the Reason of hosts
	// without a report.
	Abort string
	// ExitCode of ansible-playbook (-1 if unknown).
	ExitCode int
}

// Outcome turns Ansible's reports into the step's outcome: one HostResult
// per host of hosts, in that order, and the one-line Error of the contract
// (see the package comment).
func Outcome(hosts []string, res *Results, end Ending, logKey string) deploy.StepOutcome {
	out := deploy.StepOutcome{LogKey: logKey, Results: make([]deploy.HostResult, 0, len(hosts))}
	var firstErr string
	for _, h := range hosts {
		rep := res.Host(h)
		hr := deploy.HostResult{Host: h}
		switch {
		case rep == nil:
			hr.Failed = 1
			hr.Reason = "no result from Ansible"
			if end.Abort != "" {
				hr.Reason = end.Abort
			}
		default:
			hr.OK, hr.Changed, hr.Failed = rep.OK, rep.Changed, rep.Failures
			hr.Unreachable, hr.Skipped = rep.Unreachable, rep.Skipped
			hr.Backups = rep.Backups
			if f := rep.FirstFailure; f != nil && (rep.Failures > 0 || rep.Unreachable > 0) {
				if f.Unreachable {
					hr.Reason = "unreachable: " + oneLine(f.Msg)
				} else {
					hr.Reason = fmt.Sprintf("task %q failed: %s", oneLine(f.Task), oneLine(f.Msg))
				}
			} else if !hr.Succeeded() {
				hr.Reason = "failed (no message from Ansible)"
			}
		}
		if firstErr == "" && !hr.Succeeded() {
			firstErr = hostError(h, rep, hr.Reason)
		}
		out.Results = append(out.Results, hr)
	}
	switch {
	case end.Abort != "":
		out.Error = end.Abort
	case firstErr != "":
		out.Error = firstErr
	case end.ExitCode > 0:
		out.Error = fmt.Sprintf("ansible-playbook exited with status %d", end.ExitCode)
	}
	return out
}

func hostError(host string, rep *HostReport, reason string) string {
	if rep == nil || rep.FirstFailure == nil {
		return fmt.Sprintf("host %s failed: %s", host, reason)
	}
	f := rep.FirstFailure
	if f.Unreachable {
		return fmt.Sprintf("host unreachable: %s: %s", host, oneLine(f.Msg))
	}
	return fmt.Sprintf("task %q failed on %s: %s", oneLine(f.Task), host, oneLine(f.Msg))
}

// SignalOutcome sends o as the task's success output.
func SignalOutcome(ctx context.Context, sig Signaler, token string, o deploy.StepOutcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("runner: marshal outcome: %w", err)
	}
	if err := sig.SendTaskSuccess(ctx, token, b); err != nil {
		return fmt.Errorf("runner: send task success: %w", err)
	}
	return nil
}

// SignalRunnerError fails the task with ErrRunner and cause (one line).
func SignalRunnerError(ctx context.Context, sig Signaler, token, cause string) error {
	if err := sig.SendTaskFailure(ctx, token, ErrRunner, oneLine(cause)); err != nil {
		return fmt.Errorf("runner: send task failure: %w", err)
	}
	return nil
}
