package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func runsCommand(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "runs DEPLOYMENT",
		Short: "List a deployment's runs, newest first",
		Example: `  edenctl runs d-01hx5k0v6p8mzq3rj7t2c9w4fy
  edenctl runs d-01hx5k0v6p8mzq3rj7t2c9w4fy --limit 5 --output json`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, _ []string) error { return a.runs(ctx, dep, limit) }),
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "the most runs to list (at most 100)")
	return cmd
}

func (a *app) runs(ctx context.Context, dep string, limit int) error {
	var list httpapi.RunList
	resp, err := a.get(ctx, deploymentPath(dep)+"/runs?limit="+strconv.Itoa(limit), &list)
	if err != nil {
		return err
	}
	now := a.now()
	ids := make([]string, len(list.Items))
	for i, r := range list.Items {
		ids[i] = r.ID
	}
	return a.emit(resp.body, ids, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tKIND\tINSTANCE\tSTATUS\tCREATED\tELAPSED\tREQUESTER")
		for _, r := range list.Items {
			status := string(r.Status)
			if r.DryRun {
				status += " (dry run)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, dash(string(r.Instance)), status, ago(r.CreatedAt, now), elapsed(r.StartedAt, r.FinishedAt, now), dash(r.Requester))
		}
	})
}

func runCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:   "run",
		Short: "Show or cancel one run",
	}, runShowCommand(a), runCancelCommand(a))
}

func runShowCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show DEPLOYMENT RUN",
		Short: "Show a run: its status, steps and each host's results",
		Example: `  edenctl run show d-01hx5k0v6p8mzq3rj7t2c9w4fy r-01hx5m2a0q4d7k9n3v5b8c1e6g
  edenctl run show d-01hx5k0v6p8mzq3rj7t2c9w4fy r-01hx5m2a0q4d7k9n3v5b8c1e6g --output json`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argRun),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, args []string) error { return a.runShow(ctx, dep, args[0]) }),
	}
}

func (a *app) runShow(ctx context.Context, dep, runID string) error {
	var r deploy.Run
	resp, err := a.get(ctx, runPath(dep, runID), &r)
	if err != nil {
		return err
	}
	now := a.now()
	return a.emit(resp.body, []string{r.ID}, func(w io.Writer) { printRunTable(w, &r, now) })
}

func runCancelCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel DEPLOYMENT RUN",
		Short: "Cancel a queued or running run",
		Long: `Cancel a queued or running run: its workflow is stopped and the step running
on the hosts is cancelled; what it already changed stays changed.`,
		Example:           `  edenctl run cancel d-01hx5k0v6p8mzq3rj7t2c9w4fy r-01hx5m2a0q4d7k9n3v5b8c1e6g`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argRun),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, args []string) error { return a.runCancel(ctx, dep, args[0]) }),
	}
}

func (a *app) runCancel(ctx context.Context, dep, runID string) error {
	resp, err := a.call(ctx, request{method: http.MethodPost, path: runPath(dep, runID) + "/cancel"})
	if err != nil {
		return err
	}
	var r deploy.Run
	if err := decodeInto(resp, &r); err != nil {
		return err
	}
	return a.emit(resp.body, []string{r.ID}, func(w io.Writer) { fmt.Fprintf(w, "run %s %s\n", r.ID, r.Status) })
}

func logsCommand(a *app) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs DEPLOYMENT RUN",
		Short: "Print a run's full Ansible log, or follow it live with -f",
		Long: `Print a run's full Ansible log as it is (whatever --output says). With -f,
follow it live until the run ends, with its progress on stderr, and exit 1
unless the run succeeded.`,
		Example: `  edenctl logs d-01hx5k0v6p8mzq3rj7t2c9w4fy r-01hx5m2a0q4d7k9n3v5b8c1e6g
  edenctl logs -f d-01hx5k0v6p8mzq3rj7t2c9w4fy r-01hx5m2a0q4d7k9n3v5b8c1e6g`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argRun),
		RunE:              a.onDeployment(func(ctx context.Context, dep string, args []string) error { return a.logs(ctx, dep, args[0], follow) }),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log live until the run ends")
	return cmd
}

func (a *app) logs(ctx context.Context, dep, runID string, follow bool) error {
	if follow {
		return a.follow(ctx, dep, runID, true)
	}
	// The whole log so far, chunk by chunk.
	var offset int64
	for {
		resp, err := a.call(ctx, request{method: http.MethodGet, path: fmt.Sprintf("%s/log?offset=%d&limit=%d", runPath(dep, runID), offset, httpapi.MaxLogChunk)})
		if err != nil {
			return err
		}
		if _, err := a.stdout.Write(resp.body); err != nil {
			return err
		}
		offset += int64(len(resp.body))
		size, _ := strconv.ParseInt(resp.header.Get("X-Log-Size"), 10, 64)
		if len(resp.body) == 0 || offset >= size {
			return nil
		}
	}
}

// maybeWait follows the run to its end when --wait was given. The log
// goes to stdout only with table output: JSON, YAML and --quiet keep
// stdout to what they printed, so that it can be parsed.
func (a *app) maybeWait(ctx context.Context, rf runFlags, r *deploy.Run) error {
	if !rf.wait || r == nil {
		return nil
	}
	return a.follow(ctx, r.DeploymentID, r.ID, a.output == "table" && !a.quiet)
}

// follow prints the run's log live (stdout, when showLog) and its progress
// (stderr, unless --quiet: "step n of m", each host's state, elapsed time)
// until the run ends. It returns a *runFailedError unless the run
// succeeded.
func (a *app) follow(ctx context.Context, dep, runID string, showLog bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &progress{a: a, w: a.stderr}
	if a.quiet {
		p.w = io.Discard
	}
	final := make(chan *deploy.Run, 1)
	streamDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		final <- a.watchRun(ctx, dep, runID, p, cancel, streamDone)
	}()
	var streamErr error
	if showLog {
		streamErr = a.streamLog(ctx, dep, runID)
	}
	close(streamDone)
	r := <-final
	cancel()
	wg.Wait()
	if r == nil {
		if streamErr != nil {
			return streamErr
		}
		return ctx.Err()
	}
	if r.Status != deploy.RunSucceeded {
		return &runFailedError{status: string(r.Status), reason: r.Error}
	}
	return nil
}

// watchRun polls the run, printing its progress, until it is terminal (and
// then, after a grace period for the log to finish, ends the stream) or
// ctx ends. It returns the last run read.
func (a *app) watchRun(ctx context.Context, dep, runID string, p *progress, stopStream context.CancelFunc, streamDone <-chan struct{}) *deploy.Run {
	var last *deploy.Run
	grace := time.Duration(0)
	logDone := false
	for {
		var r deploy.Run
		if _, err := a.get(ctx, runPath(dep, runID), &r); err == nil {
			last = &r
			p.show(&r)
		} else if ctx.Err() == nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status < 500 {
				ae.print(a.stderr)
				stopStream()
				return last
			}
		}
		if last != nil && last.Status.Terminal() {
			select {
			case <-streamDone:
				logDone = true
			default:
			}
			if logDone {
				return last
			}
			// The log normally completes with the run; if it does not
			// within a few polls, stop waiting for it.
			if grace >= 5*a.poll {
				stopStream()
				return last
			}
			grace += a.poll
		}
		select {
		case <-ctx.Done():
			return last
		case <-streamDone:
			// The log is complete: the run is ending; look again now.
			logDone, streamDone = true, nil
		case <-time.After(a.poll):
		}
	}
}

// streamLog copies the run's log to stdout over Server-Sent Events until
// the "end" event, reconnecting where it stopped when a stream ends early.
func (a *app) streamLog(ctx context.Context, dep, runID string) error {
	offset := int64(0)
	failures := 0
	for ctx.Err() == nil {
		ended, next, err := a.streamOnce(ctx, dep, runID, offset)
		if next > offset {
			offset, failures = next, 0
		}
		if ended {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) {
			if ae.status == http.StatusNotImplemented {
				// No logs on this control plane: the status is all there is.
				<-ctx.Done()
				return nil
			}
			return err
		}
		if err != nil {
			failures++
			if failures > 5 {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(a.poll):
		}
	}
	return nil
}

func (a *app) streamOnce(ctx context.Context, dep, runID string, offset int64) (ended bool, next int64, err error) {
	next = offset
	hr, err := a.newRequest(ctx, request{method: http.MethodGet, path: runPath(dep, runID) + "/log?follow=1"}, nil)
	if err != nil {
		return false, next, err
	}
	hr.Header.Set("Accept", "text/event-stream")
	if offset > 0 {
		hr.Header.Set("Last-Event-ID", strconv.FormatInt(offset, 10))
	}
	resp, err := a.httpc.Do(hr)
	if err != nil {
		return false, next, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(resp.Body)
		return false, next, problemOf(resp.StatusCode, data)
	}
	br := bufio.NewReader(resp.Body)
	var name, id string
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false, next, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line == "":
			switch name {
			case "end":
				return true, next, nil
			case "error":
				return false, next, fmt.Errorf("following the log: %s", strings.Join(data, " "))
			case "":
				if data != nil {
					if _, err := io.WriteString(a.stdout, strings.Join(data, "\n")); err != nil {
						return false, next, err
					}
				}
				if n, err := strconv.ParseInt(id, 10, 64); err == nil {
					next = n
				}
			}
			name, id, data = "", "", nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[len("id:"):])
		case strings.HasPrefix(line, "data:"):
			d := line[len("data:"):]
			data = append(data, strings.TrimPrefix(d, " "))
		}
	}
}

// progress prints what changed in a run since it last looked.
type progress struct {
	a      *app
	w      io.Writer
	status deploy.RunStatus
	steps  map[int]string // step index → what was printed last
}

func (p *progress) show(r *deploy.Run) {
	now := p.a.now()
	at := func() string {
		if r.StartedAt.IsZero() {
			return "[queued]"
		}
		return "[" + elapsed(r.StartedAt, r.FinishedAt, now) + "]"
	}
	if p.steps == nil {
		p.steps = map[int]string{}
	}
	for i, s := range r.Steps {
		if s.Status == deploy.StepPending {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "step %d of %d (%s): %s", i+1, len(r.Steps), s.Name, s.Status)
		if s.Status == deploy.StepRunning {
			fmt.Fprintf(&b, " on %s", strings.Join(s.Hosts, ", "))
		}
		if !s.StartedAt.IsZero() && s.Status != deploy.StepRunning {
			fmt.Fprintf(&b, " in %s", elapsed(s.StartedAt, s.FinishedAt, now))
		}
		for _, h := range s.Results {
			state := "ok"
			switch {
			case h.Unreachable > 0:
				state = "unreachable"
			case h.Failed > 0:
				state = "failed"
			}
			fmt.Fprintf(&b, "\n    %s %s (ok=%d changed=%d failed=%d unreachable=%d)", h.Host, state, h.OK, h.Changed, h.Failed, h.Unreachable)
			if h.Reason != "" {
				fmt.Fprintf(&b, ": %s", h.Reason)
			}
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "\n    %s", s.Error)
		}
		if line := b.String(); p.steps[i] != line {
			p.steps[i] = line
			fmt.Fprintf(p.w, "%s %s\n", at(), line)
		}
	}
	if r.Status != p.status {
		p.status = r.Status
		msg := fmt.Sprintf("%s run %s %s", at(), r.ID, r.Status)
		if r.Status.Terminal() && r.Error != "" {
			msg += ": " + r.Error
		}
		fmt.Fprintln(p.w, msg)
	}
}
