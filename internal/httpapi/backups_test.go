package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

// fakeBackups answers for deployment d-1 of alice.
type fakeBackups struct{ asked []string }

var aBackup = &deploy.Backup{
	ID: "d-1.prod.20260301-020000", DeploymentID: "d-1", Instance: deploy.InstanceProd, Name: "20260301-020000.dump",
	CreatedAt: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), Size: 1234, SHA256: strings.Repeat("ab", 32),
	Origin: deploy.BackupNightly, RunID: "r-1", UpdatedAt: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC),
	Copies: []deploy.BackupCopy{
		{Kind: deploy.CopyServer, Location: "10.0.0.5:/var/backups/eden/prod/20260301-020000.dump", Host: "10.0.0.5",
			Path: "/var/backups/eden/prod/20260301-020000.dump", VerifiedAt: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)},
		{Kind: deploy.CopyOffsite, Location: "s3://bucket/backups/d-1/prod/20260301-020000.dump",
			Key: "backups/d-1/prod/20260301-020000.dump", VerifiedAt: time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)},
	},
}

func (f *fakeBackups) ListBackups(_ context.Context, c control.Caller, id string, t deploy.InstanceType) ([]*deploy.Backup, error) {
	f.asked = append(f.asked, c.User+" "+id+" "+string(t))
	if id != "d-1" || c.User != "alice" {
		return nil, deploy.NotFound("deployment %s not found", id)
	}
	return []*deploy.Backup{aBackup}, nil
}

func (f *fakeBackups) GetBackup(_ context.Context, c control.Caller, id, backupID string) (*deploy.Backup, error) {
	if id != "d-1" || c.User != "alice" || backupID != aBackup.ID {
		return nil, deploy.NotFound("backup %s not found", backupID)
	}
	return aBackup, nil
}

func TestBackupRoutes(t *testing.T) {
	fb := &fakeBackups{}
	env := httpapitest.New(t, func(c *httpapi.Config) { c.Backups = fb })
	const list, one = "/v1/deployments/{id}/backups", "/v1/deployments/{id}/backups/{backup}"

	body := check(t, env.Do("GET", "/v1/deployments/d-1/backups?instance=prod", env.Alice, ""), "GET", list, 200)
	items, _ := body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["sha256"] != aBackup.SHA256 {
		t.Errorf("listing: %v", body)
	}
	if len(fb.asked) != 1 || fb.asked[0] != "alice d-1 prod" {
		t.Errorf("asked %v", fb.asked)
	}
	check(t, env.Do("GET", "/v1/deployments/d-1/backups?type=prod", env.Alice, ""), "GET", list, 400)
	check(t, env.Do("GET", "/v1/deployments/d-1/backups", env.Bob, ""), "GET", list, 404)
	check(t, env.Do("GET", "/v1/deployments/d-1/backups/"+aBackup.ID, env.Alice, ""), "GET", one, 200)
	check(t, env.Do("GET", "/v1/deployments/d-1/backups/d-1.prod.20260302-020000", env.Alice, ""), "GET", one, 404)

	bare := httpapitest.New(t)
	check(t, bare.Do("GET", "/v1/deployments/d-1/backups", bare.Alice, ""), "GET", list, 501)
}

// A restore's problems come back as problems, and start nothing.
func TestRestoreTaskProblems(t *testing.T) {
	env := httpapitest.New(t)
	rec := env.Do("POST", "/v1/deployments", env.Alice, httpapitest.AllInOneSpec("Relief", "10.0.0.5"))
	created := check(t, rec, "POST", "/v1/deployments", 201)
	d := created["deployment"].(map[string]any)
	id := d["id"].(string)
	env.FinishRun(t, id, created["run"].(map[string]any)["id"].(string), deploy.RunSucceeded)
	started := env.Engine.Started()
	const tasks = "/v1/deployments/{id}/instances/{type}/tasks"
	path := "/v1/deployments/" + id + "/instances/prod/tasks"
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"task":"restore","confirm":"Relief"}`, 400, "backup"},
		{`{"task":"pull","backup":"x"}`, 400, "backup"},
		// This control plane keeps no backups.
		{`{"task":"restore","confirm":"Relief","backup":"` + id + `.prod.20260301-020000"}`, 409, "backup"},
	} {
		body := check(t, env.Do("POST", path, env.Alice, tc.body), "POST", tasks, tc.status)
		found := false
		for _, fe := range asSlice(body["errors"]) {
			found = found || fe.(map[string]any)["field"] == tc.field
		}
		if !found {
			t.Errorf("%s: problem %v does not name %s", tc.body, body, tc.field)
		}
	}
	if env.Engine.Started() != started {
		t.Errorf("a refused restore started an execution")
	}
}
