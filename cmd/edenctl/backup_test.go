package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

// backupsOf answers the backup routes with the backups it holds, by
// deployment.
type backupsOf map[string][]*deploy.Backup

func (b backupsOf) ListBackups(_ context.Context, _ control.Caller, id string, t deploy.InstanceType) ([]*deploy.Backup, error) {
	var out []*deploy.Backup
	for _, x := range b[id] {
		if t == "" || x.Instance == t {
			out = append(out, x)
		}
	}
	return out, nil
}

func (b backupsOf) GetBackup(_ context.Context, _ control.Caller, id, backupID string) (*deploy.Backup, error) {
	for _, x := range b[id] {
		if x.ID == backupID {
			return x, nil
		}
	}
	return nil, deploy.NotFound("backup %s not found", backupID)
}

func TestBackupCommands(t *testing.T) {
	held := backupsOf{}
	e := httpapitest.New(t, func(c *httpapi.Config) { c.Backups = held })
	srv := httptest.NewServer(e.API)
	t.Cleanup(srv.Close)
	c := &cli{t: t, e: e, srv: srv, env: map[string]string{
		"EDEN_ENDPOINT": srv.URL, "EDEN_TOKEN": e.Alice, "HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir(),
	}}
	id, first := c.create("relief", "10.0.0.5")
	c.e.FinishRun(t, id, first, deploy.RunSucceeded)
	at := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	b := &deploy.Backup{ID: deploy.BackupID(id, deploy.InstanceProd, "20260301-020000.dump"), DeploymentID: id, Instance: deploy.InstanceProd,
		Name: "20260301-020000.dump", CreatedAt: at, Size: 3 << 20, SHA256: strings.Repeat("0f", 32), Origin: deploy.BackupManual,
		Copies: []deploy.BackupCopy{
			{Kind: deploy.CopyServer, Location: "10.0.0.5:/var/backups/eden/prod/20260301-020000.dump", VerifiedAt: at},
			{Kind: deploy.CopyOffsite, Location: "/srv/edendeploy/offsite/backups/x", VerifiedAt: at},
		}}
	held[id] = []*deploy.Backup{b}

	out := c.mustRun("backup", "list", "relief")
	for _, want := range []string{"ID", b.ID, "prod", "3.0 MiB", "manual", "0f0f0f0f0f0f", "server,offsite"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup list lacks %q:\n%s", want, out)
		}
	}
	if out := c.mustRun("backup", "list", id, "test"); strings.Contains(out, b.ID) {
		t.Errorf("backup list of test lists prod's:\n%s", out)
	}
	if out := c.mustRun("backup", "list", id, "-q"); strings.TrimSpace(out) != b.ID {
		t.Errorf("backup list -q: %q", out)
	}
	out = c.mustRun("backup", "show", id, b.ID)
	for _, want := range []string{"sha256:", b.SHA256, "copy (server):", "10.0.0.5:/var/backups/eden/prod", "copy (offsite):", "/srv/edendeploy/offsite"} {
		if !strings.Contains(out, want) {
			t.Errorf("backup show lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := c.run("backup", "show", id, id+".prod.20260302-020000"); code != 1 || !strings.Contains(errs, "not found") {
		t.Errorf("show of an unknown backup: exit %d %q", code, errs)
	}

	// The restore reaches the API with the backup named (this test API's
	// control plane keeps no backups, so it is refused with that reason);
	// prod's restore needs the name first.
	if code, _, errs := c.run("backup", "restore", id, "prod", b.ID); code != 1 || !strings.Contains(errs, "confirm") {
		t.Errorf("restore of prod without --confirm: exit %d %q", code, errs)
	}
	if code, _, errs := c.run("task", "run", id, "prod", "restore", "--backup", b.ID, "--confirm", "relief"); code != 1 || !strings.Contains(errs, "keeps no backups") {
		t.Errorf("restore: exit %d %q", code, errs)
	}
	if code, _, errs := c.run("backup", "restore", id, "prod"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Errorf("restore without a backup: exit %d %q", code, errs)
	}

	// remove: a second instance goes; the only one may not.
	c.mustRun("instance", "add", id, "demo")
	d, _, err := e.Service.GetDeployment(context.Background(), control.Caller{User: "alice"}, id)
	if err != nil {
		t.Fatal(err)
	}
	c.e.FinishRun(t, id, d.Instance(deploy.InstanceDemo).DeployRunID, deploy.RunSucceeded)
	out = c.mustRun("instance", "remove", id, "demo")
	if !strings.Contains(out, "(remove) queued") {
		t.Errorf("instance remove:\n%s", out)
	}
}
