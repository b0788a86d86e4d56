package ssh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// ErrRunnerLost is the error name Recover signals for a step whose runner
// went away (the control plane stopped or crashed while Ansible ran). The
// run state machine retries the dispatch on it: Ansible is idempotent.
const ErrRunnerLost = "RunnerLost"

// inflight is what the runner keeps on disk about a step it dispatched and
// has not yet reported, so that a restarted control plane can tell the
// workflow the step was lost instead of leaving it waiting.
type inflight struct {
	CommandID    string `json:"command_id"`
	Token        string `json:"token"`
	DeploymentID string `json:"deployment_id"`
	RunID        string `json:"run_id"`
	Step         int    `json:"step"`
	PGID         int    `json:"pgid"`
}

func (r *Runner) inflightPath(id string) string {
	return filepath.Join(r.cfg.DataDir, "inflight", id+".json")
}

// remember records a started step; forget removes the record once its end
// was signalled.
func (r *Runner) remember(s *step, pgid int) error {
	b, err := json.Marshal(inflight{CommandID: s.id, Token: s.d.Token, DeploymentID: s.d.DeploymentID, RunID: s.d.RunID, Step: s.d.StepIndex, PGID: pgid})
	if err != nil {
		return err
	}
	p := r.inflightPath(s.id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (r *Runner) forget(id string) {
	if err := os.Remove(r.inflightPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.cfg.Logger.Warn("could not remove an in-flight record", "command_id", id, "err", err)
	}
}

// Recover reports every step that a previous process of this runner
// dispatched and never reported: its Ansible (if it outlived that process)
// is killed, and its workflow task fails with ErrRunnerLost so the run
// dispatches the step again. Call it once at start, after the workflow
// engine has resumed (it must know the tokens). It returns how many steps
// it reported.
func (r *Runner) Recover(ctx context.Context) (int, error) {
	dir := filepath.Join(r.cfg.DataDir, "inflight")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("runner/ssh: recover: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var f inflight
		if err := json.Unmarshal(b, &f); err != nil || f.Token == "" {
			r.cfg.Logger.Warn("unreadable in-flight record removed", "file", e.Name(), "err", err)
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		r.mu.Lock()
		_, live := r.cmds[f.CommandID]
		r.mu.Unlock()
		if live {
			continue
		}
		if f.PGID > 0 && isAnsible(f.PGID) {
			_ = syscall.Kill(-f.PGID, syscall.SIGKILL)
		}
		os.RemoveAll(filepath.Join(r.cfg.DataDir, "work", f.CommandID))
		cause := fmt.Sprintf("the control plane stopped while step %d ran (command %s); the step is dispatched again", f.Step+1, f.CommandID)
		r.appendLog(f.RunID, []byte("== "+cause+" ==\n"))
		err = r.cfg.Signaler.SendTaskFailure(ctx, f.Token, ErrRunnerLost, cause)
		if err != nil && !errors.Is(err, workflow.ErrTaskNotFound) {
			errs = append(errs, fmt.Errorf("signal lost step %s: %w", f.CommandID, err))
			continue
		}
		r.forget(f.CommandID)
		r.cfg.Logger.Info("lost step reported", "run_id", f.RunID, "deployment_id", f.DeploymentID, "command_id", f.CommandID)
		n++
	}
	return n, errors.Join(errs...)
}

// isAnsible reports whether process pid still runs ansible-playbook (a PID
// may have been reused since the record was written).
func isAnsible(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte("ansible"))
}
