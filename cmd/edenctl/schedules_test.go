package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	triggerlocal "github.com/edendeploy/edendeploy/internal/trigger/local"
)

type noFirer struct{}

func (noFirer) Fire(context.Context, string, string, time.Time, int) (*deploy.Fire, error) {
	return nil, nil
}

// scheduleCLI is the CLI against an API with schedules and webhooks over
// a bbolt store (the local scheduler as their trigger, not running).
func scheduleCLI(t *testing.T) (*cli, string) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sched, err := triggerlocal.New(triggerlocal.Config{Store: st, Firer: noFirer{}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := control.New(control.Config{Store: st, Secrets: &httpapitest.Secrets{}, Workflow: &httpapitest.Engine{}, Machine: "run",
		Schedules: st, Webhooks: st, Trigger: sched, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(st, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := tokens.Create(context.Background(), "alice", false, "test")
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Service: svc, Auth: tokens, Idempotency: st, Schedules: svc, Webhooks: svc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := &cli{t: t, srv: srv, env: map[string]string{"EDEN_ENDPOINT": srv.URL, "EDEN_TOKEN": alice, "HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}}
	d, _, err := svc.CreateDeployment(context.Background(), control.Caller{User: "alice"}, control.CreateRequest{
		Spec: deploy.Spec{Name: "Relief", AdminEmail: "a@example.org", Servers: []deploy.ServerSpec{{Host: "10.9.0.1", Role: deploy.RoleAll}},
			Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		SSHPrivateKey: []byte(httpapitest.SSHKey)})
	if err != nil {
		t.Fatal(err)
	}
	return c, d.ID
}

func TestScheduleAndWebhookCommands(t *testing.T) {
	c, dep := scheduleCLI(t)
	out := c.mustRun("schedule", "add", dep, "prod", "backup", "--cron", "0 3 * * *", "--tz", "Europe/Berlin")
	if !strings.Contains(out, "backup of prod") || !strings.Contains(out, "03:00:00 CE") {
		t.Errorf("schedule add printed %q", out)
	}
	var made control.ScheduleView
	if err := json.Unmarshal([]byte(c.mustRun("schedule", "add", dep, "prod", "restart", "--cron", "@weekly", "--output", "json")), &made); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := c.run("schedule", "add", dep, "prod", "clean", "--cron", "0 3 * * *"); code != 1 || !strings.Contains(errs, "clean of prod") {
		t.Errorf("scheduling a clean of prod: exit %d, %q", code, errs)
	}
	if code, _, _ := c.run("schedule", "add", dep, "prod", "backup"); code != 2 {
		t.Errorf("schedule add without --cron: exit %d, want 2", code)
	}
	c.mustRun("schedule", "pause", dep, made.ID)
	list := c.mustRun("schedule", "list", dep)
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 3 || !strings.Contains(list, "paused") || !strings.Contains(list, "Europe/Berlin") {
		t.Errorf("schedule list:\n%s", list)
	}
	c.mustRun("schedule", "resume", dep, made.ID)
	c.mustRun("schedule", "delete", dep, made.ID)
	if list := c.mustRun("schedule", "list", dep); strings.Contains(list, made.ID) {
		t.Errorf("a deleted schedule is listed:\n%s", list)
	}

	out = c.mustRun("webhook", "add", dep, "https://hooks.example.org/eden")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("webhook add printed %q", out)
	}
	id := strings.Fields(lines[0])[1]
	list = c.mustRun("webhook", "list", dep)
	if !strings.Contains(list, id) || strings.Contains(list, secret) {
		t.Errorf("webhook list:\n%s", list)
	}
	if d := c.mustRun("webhook", "deliveries", dep, id); !strings.HasPrefix(d, "DELIVERY") {
		t.Errorf("webhook deliveries:\n%s", d)
	}
	if code, _, errs := c.run("webhook", "add", dep, "ftp://example.org/x"); code != 1 || !bytes.Contains([]byte(errs), []byte("url")) {
		t.Errorf("an ftp webhook: exit %d, %q", code, errs)
	}
	c.mustRun("webhook", "delete", dep, id)
}
