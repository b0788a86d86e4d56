package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// TestLocalProduct drives `edenctl serve` through HTTP only, as a user
// would, on four SSH test hosts (the fourth has no sshd: unreachable).
func TestLocalProduct(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end test runs Ansible against test hosts")
	}
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	testpeer.LookPath(t, "go")
	hosts := testhost.Start(t, 4, testhost.Unreachable("h4"))
	db, eden, web, gone := hosts.Host("h1").Addr, hosts.Host("h2").Addr, hosts.Host("h3").Addr, hosts.Host("h4").Addr

	srv := newServer(t, buildEdenctl(t))
	srv.start()
	var seen [][]byte
	admin := client{t: t, base: "http://" + srv.addr, token: srv.adminToken(),
		doc: openapitest.MustParse(t, httpapi.OpenAPI()), mu: &sync.Mutex{}, seen: &seen}
	alice := admin.as(admin.createToken("alice"))
	bob := admin.as(admin.createToken("bob"))

	spec := func(name string, servers ...deploy.ServerSpec) httpapi.CreateDeploymentRequest {
		return httpapi.CreateDeploymentRequest{
			Spec: deploy.Spec{Name: name, AdminEmail: "admin@example.org", SSHUser: hosts.User,
				Servers: servers, Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
			SSHPrivateKey: string(hosts.PrivateKey),
		}
	}
	const runPath = "/v1/deployments/{id}/runs/{run}"

	// A 3-tier deployment: db, then eden, then webserver, and the eden
	// step knows where the database is.
	var created httpapi.DeploymentCreated
	alice.must(201, "POST", "/v1/deployments", "/v1/deployments",
		spec("Relief", deploy.ServerSpec{Host: db, Role: deploy.RoleDB}, deploy.ServerSpec{Host: eden, Role: deploy.RoleEden},
			deploy.ServerSpec{Host: web, Role: deploy.RoleWebServer}), &created)
	dep := created.Deployment.ID
	run := alice.waitRun(dep, created.Run.ID, 3*time.Minute)
	if run.Status != deploy.RunSucceeded {
		t.Fatalf("deploy run %s: %s\n%s", run.Status, run.Error, srv.output())
	}
	var names []string
	for _, s := range run.Steps {
		names = append(names, s.Name+" "+string(s.Status))
	}
	if diff := cmp.Diff([]string{"db succeeded", "eden succeeded", "webserver succeeded"}, names); diff != "" {
		t.Errorf("deploy steps (-want +got):\n%s", diff)
	}
	if got := recorded(t, srv.recordDir, eden, "deploy", "eden")["eden_db_host"]; got != db {
		t.Errorf("the eden step saw database host %v, want %s", got, db)
	}
	if got := recorded(t, srv.recordDir, web, "deploy", "nginx"); !strings.Contains(mustJSON(t, got["eden_instances"]), eden) {
		t.Errorf("the webserver step's upstreams do not name the eden host %s: %v", eden, got["eden_instances"])
	}
	var got deploy.Deployment
	alice.must(200, "GET", "/v1/deployments/"+dep, "/v1/deployments/{id}", nil, &got)
	if s := got.Instance(deploy.InstanceProd).Status; s != deploy.InstanceDeployed {
		t.Errorf("prod instance is %s after its deploy, want deployed", s)
	}
	// What the run cost, as Step Functions bills it: one transition per
	// state entered (StartRun, RunSteps, four per step: PrepareStep,
	// DispatchOrSkip, DispatchStep, RecordStep; RecordSuccess,
	// HasLifecycleAction, Outcome, Done), on the run once its execution
	// has ended.
	if n := alice.waitTransitions(dep, run.ID, 30*time.Second).Transitions; n != 2+3*4+4 {
		t.Errorf("the 3-tier deploy run cost %d transitions, want %d", n, 2+3*4+4)
	}

	// A second instance, then a management task on the first.
	var added httpapi.InstanceAdded
	alice.must(201, "POST", "/v1/deployments/"+dep+"/instances", "/v1/deployments/{id}/instances",
		httpapi.AddInstanceRequest{InstanceSpec: deploy.InstanceSpec{Type: deploy.InstanceDemo}}, &added)
	if r := alice.waitRun(dep, added.Run.ID, 3*time.Minute); r.Status != deploy.RunSucceeded {
		t.Fatalf("add-instance run %s: %s", r.Status, r.Error)
	}
	var started httpapi.RunStarted
	alice.must(202, "POST", "/v1/deployments/"+dep+"/instances/prod/tasks", "/v1/deployments/{id}/instances/{type}/tasks",
		httpapi.TaskRequest{Task: "pull"}, &started)
	// The web server shows prod's maintenance page around the pull.
	if r := alice.waitRun(dep, started.Run.ID, 2*time.Minute); r.Status != deploy.RunSucceeded || len(r.Steps) != 3 || r.Steps[1].Name != "eden" {
		t.Fatalf("pull run %s %q, steps %+v", r.Status, r.Error, r.Steps)
	}
	if log := orderLog(t, srv.recordDir, eden); !containsPrefix(log, "pull ") {
		t.Errorf("the eden host never ran the pull playbook: %v", log)
	}
	if log := orderLog(t, srv.recordDir, web); !containsPrefix(log, "maintenance-on nginx maintenance") || !containsPrefix(log, "maintenance-off nginx maintenance") {
		t.Errorf("the web host did not switch the maintenance page around the pull: %v", log)
	}

	// Settings: read with their version, replace with If-Match, and the
	// reconfigure run applies them.
	var settings struct {
		Settings deploy.Settings `json:"settings"`
		Version  int             `json:"version"`
	}
	h := alice.must(200, "GET", "/v1/deployments/"+dep+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings", nil, &settings)
	settings.Settings["L10n.default_language"] = "fr"
	status, _, body := alice.do("PUT", "/v1/deployments/"+dep+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings",
		httpapi.PutSettingsRequest{Settings: settings.Settings}, map[string]string{"If-Match": h.Get("ETag")})
	if status != 202 {
		t.Fatalf("PUT settings → %d: %s", status, body)
	}
	var replaced httpapi.SettingsReplaced
	mustDecode(t, body, &replaced)
	if r := alice.waitRun(dep, replaced.Run.ID, 2*time.Minute); r.Status != deploy.RunSucceeded || r.Kind != deploy.RunReconfigure {
		t.Fatalf("reconfigure run %s %s %q", r.Kind, r.Status, r.Error)
	}
	rec := recorded(t, srv.recordDir, eden, "reconfigure", "eden")
	if !strings.Contains(mustJSON(t, rec["eden_instances"]), `"L10n.default_language":"fr"`) {
		t.Errorf("the reconfigure run did not apply the new setting: %v", rec["eden_instances"])
	}
	// The old version is stale now.
	status, _, _ = alice.do("PUT", "/v1/deployments/"+dep+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings",
		httpapi.PutSettingsRequest{Settings: settings.Settings}, map[string]string{"If-Match": h.Get("ETag")})
	if status != 412 {
		t.Errorf("PUT settings with a stale If-Match → %d, want 412", status)
	}
	checkTLS(t, alice, srv, dep, web)

	// An unreachable host fails its run with the reason, and the instance
	// is marked failed.
	alice.must(201, "POST", "/v1/deployments", "/v1/deployments", spec("Gone", deploy.ServerSpec{Host: gone, Role: deploy.RoleAll}), &created)
	failed := alice.waitRun(created.Deployment.ID, created.Run.ID, 2*time.Minute)
	if failed.Status != deploy.RunFailed || !strings.Contains(failed.Error, "host unreachable: "+gone) {
		t.Errorf("run on an unreachable host: %s %q, want failed with host unreachable: %s", failed.Status, failed.Error, gone)
	}
	alice.must(200, "GET", "/v1/deployments/"+created.Deployment.ID, "/v1/deployments/{id}", nil, &got)
	if s := got.Instance(deploy.InstanceProd).Status; s != deploy.InstanceFailed {
		t.Errorf("instance on an unreachable host is %s, want failed", s)
	}

	// Another user sees none of it: 404 on every route of the deployment.
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/v1/deployments/" + dep, ""}, {"DELETE", "/v1/deployments/" + dep, ""},
		{"POST", "/v1/deployments/" + dep + "/instances", `{"type":"test"}`},
		{"GET", "/v1/deployments/" + dep + "/instances/prod", ""},
		{"GET", "/v1/deployments/" + dep + "/instances/prod/settings", ""},
		{"PUT", "/v1/deployments/" + dep + "/instances/prod/settings", `{"settings":{}}`},
		{"POST", "/v1/deployments/" + dep + "/instances/prod/tasks", `{"task":"pull"}`},
		{"GET", "/v1/deployments/" + dep + "/runs", ""},
		{"GET", "/v1/deployments/" + dep + "/runs/" + run.ID, ""},
		{"POST", "/v1/deployments/" + dep + "/runs/" + run.ID + "/cancel", ""},
		{"GET", "/v1/deployments/" + dep + "/runs/" + run.ID + "/log", ""},
	} {
		var b []byte
		if rt.body != "" {
			b = []byte(rt.body)
		}
		if status, _, out := bob.do(rt.method, rt.path, "", b, map[string]string{"If-Match": `"1"`}); status != 404 {
			t.Errorf("bob: %s %s → %d, want 404: %s", rt.method, rt.path, status, out)
		}
	}

	// Bad bodies are refused with problems, and nothing is written.
	var before struct{ Items []any }
	alice.must(200, "GET", "/v1/deployments", "/v1/deployments", nil, &before)
	for name, body := range map[string][]byte{
		"malformed":     []byte(`{"name": "x",`),
		"unknown field": []byte(`{"name": "x", "colour": "blue"}`),
		"oversized":     append([]byte(`{"name": "`), append(bytes.Repeat([]byte("a"), 2<<20), `"}`...)...),
	} {
		status, h, _ := alice.do("POST", "/v1/deployments", "", body, nil)
		if status < 400 || status >= 500 || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s body → %d %s, want a 4xx problem", name, status, h.Get("Content-Type"))
		}
	}
	var after struct{ Items []any }
	alice.must(200, "GET", "/v1/deployments", "/v1/deployments", nil, &after)
	if len(after.Items) != len(before.Items) {
		t.Errorf("refused bodies wrote deployments: %d before, %d after", len(before.Items), len(after.Items))
	}

	// A crash in the middle of a run: kill -9, start again, and the run
	// ends (succeeded, or failed with a reason), never stuck.
	alice.must(202, "POST", "/v1/deployments/"+dep+"/instances/prod/tasks", "/v1/deployments/{id}/instances/{type}/tasks",
		httpapi.TaskRequest{Task: "restart"}, &started)
	waitStepRunning(t, alice, dep, started.Run.ID)
	srv.kill()
	srv.start()
	crashed := alice.waitRun(dep, started.Run.ID, 3*time.Minute)
	if crashed.Status == deploy.RunFailed && crashed.Error == "" {
		t.Errorf("the run interrupted by a crash failed without a reason")
	}
	t.Logf("the run interrupted by kill -9 ended %s %q", crashed.Status, crashed.Error)

	// SIGTERM stops the server cleanly.
	srv.stop()

	// Secrets never reach an API response or the server's log.
	secretDir := filepath.Join(srv.dataDir, "secrets", dep)
	entries, err := os.ReadDir(secretDir)
	if err != nil || len(entries) < 4 {
		t.Fatalf("secrets of %s: %v (%d files)", dep, err, len(entries))
	}
	logText := srv.output()
	for _, e := range entries {
		v, err := os.ReadFile(filepath.Join(secretDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, probe := range secretProbes(v) {
			if strings.Contains(logText, probe) {
				t.Errorf("secret %s appears in the server's log", e.Name())
			}
			for _, b := range seen {
				if bytes.Contains(b, []byte(probe)) {
					t.Errorf("secret %s appears in an API response", e.Name())
					break
				}
			}
		}
	}
}

// secretProbes returns what must never be seen of a secret: the value, or
// for a PEM key a line of its body.
func secretProbes(v []byte) []string {
	s := strings.TrimSpace(string(v))
	if !strings.Contains(s, "PRIVATE KEY") {
		return []string{s}
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if len(line) > 40 && !strings.Contains(line, "PRIVATE KEY") {
			out = append(out, line)
		}
	}
	return out
}

func waitStepRunning(t *testing.T, c client, dep, run string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var r deploy.Run
		c.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, "/v1/deployments/{id}/runs/{run}", nil, &r)
		for _, s := range r.Steps {
			if s.Status == deploy.StepRunning && s.CommandID != "" {
				return
			}
		}
		if r.Status.Terminal() {
			t.Fatalf("run %s ended (%s) before a step was seen running", run, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no step of run %s started running in a minute", run)
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
