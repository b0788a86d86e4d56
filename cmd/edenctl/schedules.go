package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func schedulePath(dep, id string) string { return deploymentPath(dep) + "/schedules/" + esc(id) }

func webhookPath(dep, id string) string { return deploymentPath(dep) + "/webhooks/" + esc(id) }

func cmdScheduleAdd(ctx context.Context, a *app, args []string) error {
	fs := a.flags("schedule add")
	cron := fs.String("cron", "", "")
	tz := fs.String("tz", "", "")
	pos, err := a.parse(fs, args, 3, 3, `DEPLOYMENT INSTANCE TASK --cron "EXPR" [--tz ZONE]`)
	if err != nil {
		return err
	}
	if *cron == "" {
		return usagef(`schedule add needs --cron, such as --cron "0 3 * * *" (03:00 every day)`)
	}
	body := deploy.ScheduleSpec{Instance: deploy.InstanceType(pos[1]), Task: deploy.RunKind(pos[2]), Cron: *cron, TimeZone: *tz}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(pos[0]) + "/schedules", body: body})
	if err != nil {
		return err
	}
	var out control.ScheduleView
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
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

func cmdScheduleList(ctx context.Context, a *app, args []string) error {
	fs := a.flags("schedule list")
	pos, err := a.parse(fs, args, 1, 1, "DEPLOYMENT")
	if err != nil {
		return err
	}
	var all []*control.ScheduleView
	cursor := ""
	for {
		var page httpapi.ScheduleList
		path := deploymentPath(pos[0]) + "/schedules?limit=100"
		if cursor != "" {
			path += "&cursor=" + esc(cursor)
		}
		if _, err := a.get(ctx, path, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if all == nil {
		all = []*control.ScheduleView{}
	}
	body, err := jsonOf(httpapi.ScheduleList{Items: all})
	if err != nil {
		return err
	}
	return a.emit(body, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tINSTANCE\tTASK\tCRON\tTIME ZONE\tSTATE\tNEXT FIRE\tLAST FIRE")
		for _, s := range all {
			state := "active"
			if s.Paused {
				state = "paused"
			}
			next := "-"
			if len(s.NextFires) > 0 {
				next = fireTimes(s.NextFires[:1], s.TimeZone)
			}
			last := "-"
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

func cmdSchedulePause(ctx context.Context, a *app, args []string) error {
	return a.scheduleAction(ctx, "pause", args)
}

func cmdScheduleResume(ctx context.Context, a *app, args []string) error {
	return a.scheduleAction(ctx, "resume", args)
}

func (a *app) scheduleAction(ctx context.Context, action string, args []string) error {
	fs := a.flags("schedule " + action)
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT SCHEDULE")
	if err != nil {
		return err
	}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: schedulePath(pos[0], pos[1]) + "/" + action})
	if err != nil {
		return err
	}
	var out control.ScheduleView
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
		if out.Paused {
			fmt.Fprintf(w, "schedule %s paused\n", out.ID)
			return
		}
		fmt.Fprintf(w, "schedule %s resumed; next fires: %s\n", out.ID, fireTimes(out.NextFires, out.TimeZone))
	})
}

func cmdScheduleDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags("schedule delete")
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT SCHEDULE")
	if err != nil {
		return err
	}
	if _, err := a.call(ctx, request{method: http.MethodDelete, path: schedulePath(pos[0], pos[1])}); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "schedule %s deleted\n", pos[1])
	return nil
}

func cmdWebhookAdd(ctx context.Context, a *app, args []string) error {
	fs := a.flags("webhook add")
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT URL")
	if err != nil {
		return err
	}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(pos[0]) + "/webhooks", body: httpapi.WebhookRequest{URL: pos[1]}, noIdempotency: true})
	if err != nil {
		return err
	}
	var out httpapi.WebhookCreated
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
		fmt.Fprintf(w, "webhook %s → %s\n", out.Webhook.ID, out.Webhook.URL)
		fmt.Fprintf(w, "signing secret (shown once; check Eden-Signature with it):\n%s\n", out.Secret)
	})
}

func cmdWebhookList(ctx context.Context, a *app, args []string) error {
	fs := a.flags("webhook list")
	pos, err := a.parse(fs, args, 1, 1, "DEPLOYMENT")
	if err != nil {
		return err
	}
	var page httpapi.WebhookList
	resp, err := a.get(ctx, deploymentPath(pos[0])+"/webhooks?limit=100", &page)
	if err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tURL\tCREATED BY\tCREATED")
		for _, h := range page.Items {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", h.ID, h.URL, h.CreatedBy, ago(h.CreatedAt, a.now()))
		}
	})
}

func cmdWebhookDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags("webhook delete")
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT WEBHOOK")
	if err != nil {
		return err
	}
	if _, err := a.call(ctx, request{method: http.MethodDelete, path: webhookPath(pos[0], pos[1])}); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "webhook %s deleted\n", pos[1])
	return nil
}

func cmdWebhookDeliveries(ctx context.Context, a *app, args []string) error {
	fs := a.flags("webhook deliveries")
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT WEBHOOK")
	if err != nil {
		return err
	}
	var page httpapi.DeliveryList
	resp, err := a.get(ctx, webhookPath(pos[0], pos[1])+"/deliveries?limit=100", &page)
	if err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
		fmt.Fprintln(w, "DELIVERY\tEVENT\tRUN\tSTATUS\tATTEMPTS\tLAST ATTEMPT")
		for _, d := range page.Items {
			last := "-"
			if n := len(d.Attempts); n > 0 {
				at := d.Attempts[n-1]
				last = ago(at.At, a.now())
				if at.StatusCode != 0 {
					last += " HTTP " + strconv.Itoa(at.StatusCode)
				}
				if at.Error != "" && at.StatusCode == 0 {
					last += " " + at.Error
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.EventType, dash(d.RunID), d.Status, len(d.Attempts), last)
		}
	})
}
