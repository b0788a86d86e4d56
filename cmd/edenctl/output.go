package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// emit prints what a command has to say: with --quiet, only ids, one a
// line; else, as --output asks, the API's JSON body as sent (indented), the
// same as YAML (with the same field names), or a table, which the function
// given prints.
func (a *app) emit(body []byte, ids []string, table func(w io.Writer)) error {
	if a.quiet {
		for _, id := range ids {
			if _, err := fmt.Fprintln(a.stdout, id); err != nil {
				return err
			}
		}
		return nil
	}
	switch a.output {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := a.stdout.Write(buf.Bytes())
		return err
	case "yaml":
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(out)
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// elapsed is how long a run or step has taken (so far).
func elapsed(start, end, now time.Time) string {
	if start.IsZero() {
		return "-"
	}
	if end.IsZero() {
		end = now
	}
	d := end.Sub(start).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printRunTable(w io.Writer, r *deploy.Run, now time.Time) {
	fmt.Fprintf(w, "run:\t%s\n", r.ID)
	fmt.Fprintf(w, "kind:\t%s\n", r.Kind)
	if r.Instance != "" {
		fmt.Fprintf(w, "instance:\t%s\n", r.Instance)
	}
	if r.Host != "" {
		fmt.Fprintf(w, "host:\t%s (%s)\n", r.Host, r.HostRole)
	}
	status := string(r.Status)
	if r.DryRun {
		status += " (dry run)"
	}
	fmt.Fprintf(w, "status:\t%s\n", status)
	if r.Error != "" {
		fmt.Fprintf(w, "error:\t%s\n", r.Error)
	}
	fmt.Fprintf(w, "requester:\t%s\n", dash(r.Requester))
	fmt.Fprintf(w, "created:\t%s\n", ago(r.CreatedAt, now))
	fmt.Fprintf(w, "elapsed:\t%s\n", elapsed(r.StartedAt, r.FinishedAt, now))
	fmt.Fprintf(w, "transitions:\t%d\n", r.Transitions)
	for i, s := range r.Steps {
		fmt.Fprintf(w, "step %d of %d:\t%s (%s) %s\t%s\t%s\n", i+1, len(r.Steps), s.Name, s.Role, s.Status, strings.Join(s.Hosts, ","), elapsed(s.StartedAt, s.FinishedAt, now))
		for _, h := range s.Results {
			fmt.Fprintf(w, "  %s\tok=%d changed=%d failed=%d unreachable=%d skipped=%d\t%s\n", h.Host, h.OK, h.Changed, h.Failed, h.Unreachable, h.Skipped, h.Reason)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  error:\t%s\n", s.Error)
		}
	}
}

// runIDs is the ID of a run that a command started, for --quiet.
func runIDs(r *deploy.Run) []string {
	if r == nil {
		return nil
	}
	return []string{r.ID}
}
