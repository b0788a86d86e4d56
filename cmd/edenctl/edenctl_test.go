package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

// cli runs edenctl commands against an API served over HTTP.
type cli struct {
	t   *testing.T
	e   *httpapitest.Env
	srv *httptest.Server
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	e := httpapitest.New(t)
	srv := httptest.NewServer(e.API)
	t.Cleanup(srv.Close)
	return &cli{t: t, e: e, srv: srv, env: map[string]string{
		"EDEN_ENDPOINT": srv.URL, "EDEN_TOKEN": e.Alice, "HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir(),
	}}
}

// run runs edenctl with args and returns its exit code, stdout and stderr.
func (c *cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return c.env[k] },
		httpc: c.srv.Client(), poll: 10 * time.Millisecond, now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := a.main(ctx, args)
	return code, out.String(), errb.String()
}

func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("edenctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// writeSpec writes an all-in-one spec on host with a key file beside it.
func writeSpec(t *testing.T, name, host string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(httpapitest.SSHKey), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := "name: " + name + "\nadmin_email: a@example.org\nssh_private_key_file: key\nservers:\n  - {host: " + host + ", role: all}\ninstance: {type: prod}\n"
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// create makes a deployment through the CLI and returns its ID and run.
func (c *cli) create(name, host string) (string, string) {
	c.t.Helper()
	out := c.mustRun("deployment", "create", "-f", writeSpec(c.t, name, host), "--output", "json")
	var created struct {
		Deployment deploy.Deployment `json:"deployment"`
		Run        deploy.Run        `json:"run"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		c.t.Fatalf("%v: %s", err, out)
	}
	return created.Deployment.ID, created.Run.ID
}

func TestDeploymentCommands(t *testing.T) {
	c := newCLI(t)
	out := c.mustRun("deployment", "create", "-f", writeSpec(t, "site", "10.0.0.5"))
	if !strings.Contains(out, "created deployment d-") || !strings.Contains(out, "(deploy) queued") {
		t.Errorf("create printed %q", out)
	}
	// The key file's content reached the secret store.
	found := false
	for _, s := range c.e.Secrets.Seen() {
		if string(s) == httpapitest.SSHKey {
			found = true
		}
	}
	if !found {
		t.Errorf("the SSH key did not reach the secret store")
	}
	id, _ := c.create("other", "10.0.0.6")

	out = c.mustRun("deployment", "list")
	if !strings.Contains(out, "ID") || !strings.Contains(out, id) || !strings.Contains(out, "site") || !strings.Contains(out, "prod:pending") {
		t.Errorf("list printed %q", out)
	}
	out = c.mustRun("--output", "yaml", "deployment", "list")
	var listed struct{ Items []map[string]any }
	if err := yaml.Unmarshal([]byte(out), &listed); err != nil || len(listed.Items) != 2 {
		t.Errorf("yaml list: %v %q", err, out)
	}
	out = c.mustRun("deployment", "show", id)
	for _, want := range []string{"id:", id, "10.0.0.6", "all", "prod", "pending", "active run:"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// Flags after positional arguments work too.
	out = c.mustRun("deployment", "show", id, "--output", "json")
	var d map[string]any
	if err := json.Unmarshal([]byte(out), &d); err != nil || d["id"] != id || d["active_run"] == nil {
		t.Errorf("show json: %v %q", err, out)
	}
	// Bob does not see it.
	code, _, errs := c.run("deployment", "show", id, "--token", c.e.Bob)
	if code != 1 || !strings.HasPrefix(errs, "edenctl: deployment "+id+" not found") {
		t.Errorf("bob: exit %d, %q", code, errs)
	}
	// An active run blocks the delete; cancelled, it goes.
	code, _, errs = c.run("deployment", "delete", id)
	if code != 1 || !strings.Contains(errs, "cancel it") {
		t.Errorf("delete with an active run: exit %d, %q", code, errs)
	}
	var created deploy.Deployment
	json.Unmarshal([]byte(out), &created)
	c.mustRun("run", "cancel", id, created.Instances[0].DeployRunID)
	if out := c.mustRun("deployment", "delete", id); !strings.Contains(out, "deleted deployment "+id) {
		t.Errorf("delete printed %q", out)
	}
}

func TestAPIErrorsAndUsage(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nadmin_email: nope\nservers: []\ninstance: {type: test}\nssh_private_key_file: /dev/null\n"), 0o600)
	code, _, errs := c.run("deployment", "create", "-f", bad)
	if code != 1 || !strings.HasPrefix(errs, "edenctl: the request has") || !strings.Contains(errs, "\n  admin_email: ") || !strings.Contains(errs, "\n  instance.type: ") {
		t.Errorf("invalid spec: exit %d\n%s", code, errs)
	}
	// A password Eden would refuse is refused before anything is made.
	os.WriteFile(filepath.Join(dir, "key"), []byte("k\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("abc\n"), 0o600)
	short := filepath.Join(dir, "short.yaml")
	os.WriteFile(short, []byte("name: x\nadmin_email: a@example.org\nservers: [{host: 10.0.0.1, role: all}]\ninstance: {type: prod}\nssh_private_key_file: key\nadmin_password_file: pw\n"), 0o600)
	if code, _, errs := c.run("deployment", "create", "-f", short); code != 1 || !strings.Contains(errs, "admin_password: Eden refuses a password shorter than 4 characters") {
		t.Errorf("a 3-character admin password: exit %d\n%s", code, errs)
	}
	var list struct{ Items []deploy.Deployment }
	if err := json.Unmarshal([]byte(c.mustRun("deployment", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, d := range list.Items {
		if d.Name == "x" {
			t.Errorf("a refused deployment was made: %s", d.ID)
		}
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("name: x\ncolour: red\n"), 0o600)
	if code, _, errs := c.run("deployment", "create", "-f", unknown); code != 1 || !strings.Contains(errs, "colour") {
		t.Errorf("unknown field: exit %d %q", code, errs)
	}
	usage := [][]string{
		{},
		{"frobnicate"},
		{"deployment"},
		{"deployment", "show"},
		{"deployment", "show", "a", "b"},
		{"deployment", "create"},
		{"deployment", "list", "--output", "xml"},
		{"task", "run", "d", "prod", "reboot"},
		{"config", "set", "d", "prod", "novalue"},
		{"token", "create"},
		{"logs", "--nope", "d", "r"},
	}
	for _, args := range usage {
		if code, _, errs := c.run(args...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
	c.env["EDEN_TOKEN"] = ""
	if code, _, errs := c.run("deployment", "list"); code != 1 || !strings.Contains(errs, "valid bearer token") {
		t.Errorf("no token: exit %d %q", code, errs)
	}
	// The token file is the last resort.
	os.MkdirAll(filepath.Join(c.env["XDG_CONFIG_HOME"], "edenctl"), 0o700)
	os.WriteFile(filepath.Join(c.env["XDG_CONFIG_HOME"], "edenctl", "token"), []byte(c.e.Alice+"\n"), 0o600)
	c.mustRun("deployment", "list")
	// An endpoint nobody serves.
	if code, _, errs := c.run("deployment", "list", "--endpoint", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errs, "cannot reach") {
		t.Errorf("unreachable: exit %d %q", code, errs)
	}
	if code, out, _ := c.run("help"); code != 0 || !strings.Contains(out, "usage:") {
		t.Errorf("help: exit %d", code)
	}
}

// finishLater plays the workflow: after a moment it writes the run's log,
// moves it to status and completes the log.
func finishLater(t *testing.T, e *httpapitest.Env, dep string, runID func() string, status deploy.RunStatus) {
	go func() {
		time.Sleep(50 * time.Millisecond)
		id := runID()
		e.Logs.Append(id, []byte("PLAY [eden]\n"))
		time.Sleep(30 * time.Millisecond)
		e.Logs.Append(id, []byte("TASK [restart uwsgi]\nok: [10.0.0.5]\n"))
		e.FinishRun(t, dep, id, status)
		e.Logs.Complete(id)
	}()
}

// activeRun returns a function that finds the deployment's active run.
func activeRun(e *httpapitest.Env, dep string) func() string {
	return func() string {
		for range 200 {
			if r, err := e.Store.ActiveRun(context.Background(), dep); err == nil {
				return r.ID
			}
			time.Sleep(5 * time.Millisecond)
		}
		return ""
	}
}

func TestWaitAndFollow(t *testing.T) {
	c := newCLI(t)
	id, first := c.create("site", "10.0.0.5")
	c.e.FinishRun(t, id, first, deploy.RunSucceeded)

	t.Run("task --wait succeeds", func(t *testing.T) {
		finishLater(t, c.e, id, activeRun(c.e, id), deploy.RunSucceeded)
		code, out, errs := c.run("task", "run", id, "prod", "restart", "--wait")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
		if !strings.Contains(out, "PLAY [eden]\nTASK [restart uwsgi]\nok: [10.0.0.5]\n") {
			t.Errorf("the log is not in the output:\n%s", out)
		}
		if !strings.Contains(errs, "step 1 of 1 (all): succeeded") || !strings.Contains(errs, "10.0.0.5 ok (ok=10 changed=3") || !strings.Contains(errs, "succeeded") {
			t.Errorf("progress:\n%s", errs)
		}
	})
	t.Run("task --wait fails", func(t *testing.T) {
		finishLater(t, c.e, id, activeRun(c.e, id), deploy.RunFailed)
		code, _, errs := c.run("task", "run", id, "prod", "pull", "--wait")
		if code != 1 || !strings.Contains(errs, "edenctl: the run failed") {
			t.Errorf("exit %d\n%s", code, errs)
		}
	})
	t.Run("logs -f of a finished run", func(t *testing.T) {
		c.e.Logs.Append(first, []byte("all done\n"))
		c.e.Logs.Complete(first)
		code, out, _ := c.run("logs", "-f", id, first)
		if code != 0 || out != "all done\n" {
			t.Errorf("exit %d, %q", code, out)
		}
		code, out, _ = c.run("logs", id, first)
		if code != 0 || out != "all done\n" {
			t.Errorf("plain: exit %d, %q", code, out)
		}
	})
	t.Run("runs and run show", func(t *testing.T) {
		out := c.mustRun("runs", id)
		if strings.Count(out, "\nr-") != 3 || !strings.Contains(out, "restart") || !strings.Contains(out, "failed") {
			t.Errorf("runs:\n%s", out)
		}
		out = c.mustRun("run", "show", id, first)
		if !strings.Contains(out, "step 1 of 1:") || !strings.Contains(out, "ok=10 changed=3") {
			t.Errorf("run show:\n%s", out)
		}
	})
}

func TestConfigCommands(t *testing.T) {
	c := newCLI(t)
	id, first := c.create("site", "10.0.0.5")
	c.e.FinishRun(t, id, first, deploy.RunSucceeded)

	out := c.mustRun("config", "get", id, "prod")
	if !strings.Contains(out, "# version 1") || !strings.Contains(out, "base.public_url") {
		t.Errorf("get:\n%s", out)
	}
	out = c.mustRun("config", "set", id, "prod", "base.system_name=Relief Ops", "base.debug=true", "mail.limit=50", "gis.countries=[NZ, AU]")
	if !strings.Contains(out, "settings version 2") || !strings.Contains(out, "(reconfigure) queued") {
		t.Errorf("set:\n%s", out)
	}
	s, v, err := c.e.Service.GetSettings(context.Background(), controlCaller("alice"), id, "prod")
	if err != nil || v != 2 || s["base.system_name"] != "Relief Ops" || s["base.debug"] != true || s["mail.limit"] != int64(50) {
		t.Errorf("stored %v v%d %v", s, v, err)
	}
	// While the reconfigure run is active, another change is refused.
	code, _, errs := c.run("config", "set", id, "prod", "base.debug=false")
	if code != 1 || !strings.Contains(errs, "still queued") {
		t.Errorf("second set: exit %d %q", code, errs)
	}
	r, _ := c.e.Store.ActiveRun(context.Background(), id)
	c.e.FinishRun(t, id, r.ID, deploy.RunSucceeded)

	t.Run("edit", func(t *testing.T) {
		editor := filepath.Join(t.TempDir(), "editor.sh")
		os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/Relief Ops/Relief Operations/' \"$1\"\n"), 0o700)
		c.env["EDITOR"] = editor
		out := c.mustRun("config", "edit", id, "prod", "--dry-run")
		if !strings.Contains(out, "(reconfigure (dry run)) queued") {
			t.Errorf("edit:\n%s", out)
		}
		r, _ := c.e.Store.ActiveRun(context.Background(), id)
		if r == nil || r.Settings["base.system_name"] != "Relief Operations" || !r.DryRun {
			t.Errorf("the dry run carries %v", r)
		}
		c.e.FinishRun(t, id, r.ID, deploy.RunSucceeded)
		// An editor that changes nothing sends nothing.
		c.env["EDITOR"] = "true"
		writes := c.e.Store.Writes()
		code, _, errs := c.run("config", "edit", id, "prod")
		if code != 0 || !strings.Contains(errs, "no changes") || c.e.Store.Writes() != writes {
			t.Errorf("unchanged edit: exit %d %q", code, errs)
		}
	})
}

func TestInstanceAndToken(t *testing.T) {
	c := newCLI(t)
	id, first := c.create("site", "10.0.0.5")
	c.e.FinishRun(t, id, first, deploy.RunSucceeded)
	out := c.mustRun("instance", "add", id, "test", "--dry-run")
	if !strings.Contains(out, "added instance test (http://10.0.0.5:8026)") || !strings.Contains(out, "(add-instance (dry run)) queued") {
		t.Errorf("instance add:\n%s", out)
	}
	code, _, errs := c.run("token", "create", "--user", "carol")
	if code != 1 || !strings.Contains(errs, "only an admin") {
		t.Errorf("token as alice: exit %d %q", code, errs)
	}
	out = c.mustRun("token", "create", "--user", "carol", "--name", "laptop", "--token", c.e.Root)
	tok := strings.TrimSpace(out)
	if !strings.HasPrefix(tok, "edt_") {
		t.Fatalf("token %q", out)
	}
	c.mustRun("deployment", "list", "--token", tok)
}

func TestExamplesAreValidSpecs(t *testing.T) {
	for _, name := range []string{"all-in-one.yaml", "3-tier.yaml"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
			if err != nil {
				t.Fatal(err)
			}
			var sf specFile
			dec := yaml.NewDecoder(bytes.NewReader(src))
			dec.KnownFields(true)
			if err := dec.Decode(&sf); err != nil {
				t.Fatal(err)
			}
			if sf.SSHPrivateKeyFile == "" {
				t.Errorf("no ssh_private_key_file")
			}
			if _, err := deploy.NewDeployment(sf.Spec, "d-example", "someone", time.Now()); err != nil {
				t.Errorf("invalid: %v", err)
			}
		})
	}
}

func controlCaller(user string) control.Caller { return control.Caller{User: user} }
