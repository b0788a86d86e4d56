package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }

func cmdInstanceAdd(ctx context.Context, a *app, args []string) error {
	fs := a.flags("instance add")
	url := fs.String("url", "", "")
	var rf runFlags
	rf.bind(fs)
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT TYPE [--url URL] [--dry-run] [--wait]")
	if err != nil {
		return err
	}
	body := httpapi.AddInstanceRequest{InstanceSpec: deploy.InstanceSpec{Type: deploy.InstanceType(pos[1]), URL: *url}, DryRun: rf.dryRun}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: deploymentPath(pos[0]) + "/instances", body: body})
	if err != nil {
		return err
	}
	var out httpapi.InstanceAdded
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, func(w io.Writer) {
		fmt.Fprintf(w, "added instance %s (%s)\n", out.Instance.Type, out.Instance.URL)
		printStarted(w, out.Run)
	}); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}

func cmdTaskRun(ctx context.Context, a *app, args []string) error {
	fs := a.flags("task run")
	confirm := fs.String("confirm", "", "")
	var rf runFlags
	rf.bind(fs)
	pos, err := a.parse(fs, args, 3, 3, "DEPLOYMENT INSTANCE TASK [--confirm NAME] [--dry-run] [--wait]")
	if err != nil {
		return err
	}
	switch pos[2] {
	case "clean", "pull", "restart", "backup", "deploy", "add-instance":
	default:
		return usagef("unknown task %q: use clean, pull, restart, backup or deploy", pos[2])
	}
	body := httpapi.TaskRequest{Task: pos[2], Confirm: *confirm, DryRun: rf.dryRun}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: instancePath(pos[0], pos[1]) + "/tasks", body: body})
	if err != nil {
		return err
	}
	var out httpapi.RunStarted
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, func(w io.Writer) { printStarted(w, out.Run) }); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}

func cmdTokenCreate(ctx context.Context, a *app, args []string) error {
	fs := a.flags("token create")
	user := fs.String("user", "", "")
	admin := fs.Bool("admin", false, "")
	name := fs.String("name", "", "")
	if _, err := a.parse(fs, args, 0, 0, "--user USER [--admin] [--name NAME]"); err != nil {
		return err
	}
	if *user == "" {
		return usagef("token create needs --user")
	}
	resp, err := a.call(ctx, request{method: http.MethodPost, path: "/v1/tokens", body: httpapi.TokenRequest{User: *user, Admin: *admin, Name: *name}})
	if err != nil {
		return err
	}
	var out httpapi.TokenCreated
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	return a.emit(resp.body, func(w io.Writer) {
		fmt.Fprintln(w, out.Token)
	})
}
