package ssh_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/playbook"
)

// TestSSHRenderedThreeTierDeploy runs the real rendered bundles of a 3-tier
// deploy (test roles: they record what they received and change nothing)
// step by step through the runner on three SSH hosts, one per role: the
// bundle layout, secrets.json, eden_secrets_dir and the inventory meet the
// renderer's contract.
func TestSSHRenderedThreeTierDeploy(t *testing.T) {
	e, c, rec := realEnv(t, 3, nil)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	spec := deploy.Spec{
		Name:       "Relief Ops",
		Eden:       deploy.Repo{URL: "https://github.com/sahana/eden-stable.git", Branch: "master"},
		Template:   "default",
		AdminEmail: "admin@example.org",
		Servers: []deploy.ServerSpec{
			{Host: c.Hosts[0].Addr, Role: deploy.RoleDB},
			{Host: c.Hosts[1].Addr, Role: deploy.RoleEden},
			{Host: c.Hosts[2].Addr, Role: deploy.RoleWebServer},
		},
		Instance: deploy.InstanceSpec{Type: deploy.InstanceProd, URL: "http://eden.example.org"},
	}
	d, err := deploy.NewDeployment(spec, "d-1", "owner", now)
	if err != nil {
		t.Fatal(err)
	}
	run, err := d.NewRun("r-1", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.secrets.PutSecret(ctx, "d-1", deploy.SecretSSHKey, c.PrivateKey); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{deploy.SecretDBPassword, deploy.SecretAdminPassword, deploy.SecretHMACKey} {
		if err := e.secrets.PutSecret(ctx, "d-1", n, []byte("secret-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	for i, step := range run.Steps {
		b, err := playbook.Render(playbook.Input{Deployment: d, Run: run, Step: i}, playbook.Options{Roles: ansible.TestRoles()})
		if err != nil {
			t.Fatal(err)
		}
		tgz, err := b.TarGz()
		if err != nil {
			t.Fatal(err)
		}
		key := "d-1/bundles/r-1/" + step.Name + ".tar.gz"
		if err := e.blobs.PutBlob(ctx, key, tgz); err != nil {
			t.Fatal(err)
		}
		disp := deploy.Dispatch{DeploymentID: "d-1", RunID: "r-1", StepIndex: i, StepName: step.Name, BundleKey: key,
			Playbook: step.Playbook, Token: "token-" + step.Name, Timeout: 2 * time.Minute, SSHUser: c.User, LogKey: "r-1"}
		for _, h := range step.Hosts {
			disp.Hosts = append(disp.Hosts, deploy.DispatchHost{Host: h})
		}
		if _, err := e.runner.Dispatch(ctx, disp); err != nil {
			t.Fatalf("step %s: %v", step.Name, err)
		}
		s := e.sig.wait(t, 2*time.Minute)
		if s.Kind != "success" || s.Outcome.Error != "" || s.Token != "token-"+step.Name {
			t.Fatalf("step %s: %+v\n%s", step.Name, s, e.logText(t, "r-1"))
		}
		for _, h := range step.Hosts {
			order, err := os.ReadFile(filepath.Join(rec, h, "order.log"))
			if err != nil || !strings.Contains(string(order), "deploy ") {
				t.Errorf("step %s: %s recorded %q, %v", step.Name, h, order, err)
			}
		}
	}
	log := e.logText(t, "r-1")
	for i, st := range run.Steps {
		if !strings.Contains(log, "== step "+string(rune('1'+i))+" "+st.Name+" on ") {
			t.Errorf("log lacks the header of step %s", st.Name)
		}
	}
	if strings.Contains(log, "secret-db-password") {
		t.Error("a secret value reached the log")
	}
}
