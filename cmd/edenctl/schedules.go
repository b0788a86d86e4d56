package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func schedulePath(dep, id string) string { return deploymentPath(dep) + "/schedules/" + esc(id) }

func scheduleCommand(a *app) *cobra.Command {
	return group(&cobra.Command{
		Use:     "schedule",
		Aliases: []string{"schedules"},
		Short:   "Run tasks on their own, on cron expressions in a time zone",
	}, scheduleAddCommand(a), scheduleListCommand(a), scheduleActionCommand(a, "pause"), scheduleActionCommand(a, "resume"), scheduleDeleteCommand(a))
}

func scheduleAddCommand(a *app) *cobra.Command {
	var spec deploy.ScheduleSpec
	cmd := &cobra.Command{
		Use:   "add DEPLOYMENT INSTANCE TASK",
		Short: "Run a task on an instance on a cron expression",
		Long: `Run a task on an instance on a cron expression, read in a time zone:

  backup       dump the instance's database
  pull         update Eden's code, migrate, compile, restart
  restart      restart the instance's services
  reconfigure  write 000_config.py from the settings again
  clean        recreate the database (not of prod: that needs a person)

The expression has five fields (minute hour day-of-month month
day-of-week), or is @hourly, @daily, @weekly, @monthly or @yearly;
day-of-month and day-of-week cannot both be restricted. The local control
plane also takes a sixth, leading, seconds field; EventBridge Scheduler on
AWS fires at minute granularity. A fire that finds a run going is skipped,
and "schedule list" says why.`,
		Example: `  edenctl schedule add relief prod backup --cron "0 3 * * *" --tz Europe/Berlin
  edenctl schedule add relief test pull --cron "30 1 * * MON-FRI"
  edenctl schedule add relief prod restart --cron @weekly`,
		Args:              exactArgs(3),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			if spec.Cron == "" {
				return usagef(`schedule add needs --cron, such as --cron "0 3 * * *" (03:00 every day)`)
			}
			spec.Instance, spec.Task = deploy.InstanceType(args[0]), deploy.RunKind(args[1])
			return a.scheduleAdd(ctx, dep, spec)
		}),
	}
	cmd.Flags().StringVar(&spec.Cron, "cron", "", `the cron expression, an "EXPR" such as "0 3 * * *"`)
	cmd.Flags().StringVar(&spec.TimeZone, "tz", "", "the IANA time `ZONE` the expression is read in (default UTC)")
	return cmd
}

func (a *app) scheduleAdd(ctx context.Context, dep string, spec deploy.ScheduleSpec) error {
	resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(dep) + "/schedules", body: spec})
	if err != nil {
		return err
	}
	var out control.ScheduleView
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, []string{out.ID}, func(w io.Writer) {
		fmt.Fprintf(w, "schedule %s: %s of %s at %q (%s)\n", out.ID, out.Task, out.Instance, out.Cron, out.TimeZone)
		fmt.Fprintf(w, "next fires:\t%s\n", fireTimes(out.NextFires, out.TimeZone))
	})
}

// fireTimes shows times in the schedule's own zone.
func fireTimes(ts []time.Time, tz string) string {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.In(loc).Format("2006-01-02 15:04:05 MST"))
	}
	return dash(strings.Join(out, ", "))
}

func scheduleListCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list DEPLOYMENT",
		Aliases: []string{"ls"},
		Short:   "List a deployment's schedules, with each one's next and last fire",
		Example: `  edenctl schedule list relief
  edenctl schedule list d-01hx5k0v6p8mzq3rj7t2c9w4fy --output json`,
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, _ []string) error {
			return a.scheduleList(ctx, dep)
		}),
	}
}

func (a *app) scheduleList(ctx context.Context, dep string) error {
	var all []*control.ScheduleView
	cursor := ""
	for {
		var page httpapi.ScheduleList
		path := deploymentPath(dep) + "/schedules?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, err := a.get(ctx, path, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if all == nil {
		all = []*control.ScheduleView{}
	}
	body, err := json.Marshal(httpapi.ScheduleList{Items: all})
	if err != nil {
		return err
	}
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = s.ID
	}
	return a.emit(body, ids, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tINSTANCE\tTASK\tCRON\tTIME ZONE\tSTATE\tNEXT FIRE\tLAST FIRE")
		for _, s := range all {
			state, next, last := "active", "-", "-"
			if s.Paused {
				state = "paused"
			}
			if len(s.NextFires) > 0 {
				next = fireTimes(s.NextFires[:1], s.TimeZone)
			}
			if f := s.LastFire; f != nil {
				last = fireTimes([]time.Time{f.Slot}, s.TimeZone) + " " + string(f.Status)
				if f.Reason != "" {
					last += ": " + f.Reason
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Instance, s.Task, s.Cron, s.TimeZone, state, next, last)
		}
	})
}

func scheduleActionCommand(a *app, action string) *cobra.Command {
	short := "Stop a schedule firing until it is resumed"
	if action == "resume" {
		short = "Fire a paused schedule again, from now on (paused slots are not caught up)"
	}
	return &cobra.Command{
		Use:               action + " DEPLOYMENT SCHEDULE",
		Short:             short,
		Example:           "  edenctl schedule " + action + " relief s-01hx5m2b3c4d5e6f7g8h9j0kmn",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			resp, err := a.call(ctx, request{method: http.MethodPost, path: schedulePath(dep, args[0]) + "/" + action})
			if err != nil {
				return err
			}
			var out control.ScheduleView
			if err := decodeInto(resp, &out); err != nil {
				return err
			}
			return a.emit(resp.body, []string{out.ID}, func(w io.Writer) {
				if out.Paused {
					fmt.Fprintf(w, "schedule %s paused\n", out.ID)
					return
				}
				fmt.Fprintf(w, "schedule %s resumed; next fires: %s\n", out.ID, fireTimes(out.NextFires, out.TimeZone))
			})
		}),
	}
}

func scheduleDeleteCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "delete DEPLOYMENT SCHEDULE",
		Aliases:           []string{"rm"},
		Short:             "Delete a schedule and its record of fires",
		Example:           "  edenctl schedule delete relief s-01hx5m2b3c4d5e6f7g8h9j0kmn",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			if _, err := a.call(ctx, request{method: http.MethodDelete, path: schedulePath(dep, args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "schedule %s deleted\n", args[0])
			return nil
		}),
	}
}
