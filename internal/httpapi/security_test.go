package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
)

func TestRoutesMatchDocument(t *testing.T) {
	e := httpapitest.New(t)
	var served []openapitest.Operation
	for _, r := range e.API.Routes() {
		served = append(served, openapitest.Operation{Method: r.Method, Path: r.Pattern})
	}
	documented := doc.Operations()
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("%s %s is served but not documented", op.Method, op.Path)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("%s %s is documented but not served", op.Method, op.Path)
		}
	}
	if bad := doc.Refs(); len(bad) > 0 {
		t.Errorf("unresolved $refs: %v", bad)
	}
}

// deploymentRoutes are the routes under a deployment, with a body that
// would be accepted.
func deploymentRoutes(id, run string) []struct{ method, pattern, path, body string } {
	d := "/v1/deployments/" + id
	return []struct{ method, pattern, path, body string }{
		{"GET", "/v1/deployments/{id}", d, ""},
		{"DELETE", "/v1/deployments/{id}", d, ""},
		{"POST", "/v1/deployments/{id}/instances", d + "/instances", `{"type":"test"}`},
		{"GET", "/v1/deployments/{id}/instances/{type}", d + "/instances/prod", ""},
		{"GET", "/v1/deployments/{id}/instances/{type}/settings", d + "/instances/prod/settings", ""},
		{"PUT", "/v1/deployments/{id}/instances/{type}/settings", d + "/instances/prod/settings", `{"settings":{}}`},
		{"POST", "/v1/deployments/{id}/instances/{type}/tasks", d + "/instances/prod/tasks", `{"task":"restart"}`},
		{"GET", "/v1/deployments/{id}/runs", d + "/runs", ""},
		{"GET", "/v1/deployments/{id}/runs/{run}", d + "/runs/" + run, ""},
		{"POST", "/v1/deployments/{id}/runs/{run}/cancel", d + "/runs/" + run + "/cancel", ""},
		{"GET", "/v1/deployments/{id}/runs/{run}/log", d + "/runs/" + run + "/log", ""},
	}
}

func TestOtherUsersDeploymentIsNotFound(t *testing.T) {
	e := httpapitest.New(t)
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	e.Logs.Append(run, []byte("secret-ish log line\n"))
	writes, started := e.Store.Writes(), e.Engine.Started()
	for _, rt := range deploymentRoutes(id, run) {
		t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
			rec := e.Do(rt.method, rt.path, e.Bob, rt.body, "If-Match", `"1"`)
			check(t, rec, rt.method, rt.pattern, 404)
			if strings.Contains(rec.Body.String(), "alice") || strings.Contains(rec.Body.String(), "secret-ish") {
				t.Errorf("404 tells about alice's deployment: %s", rec.Body)
			}
		})
	}
	if e.Store.Writes() != writes || e.Engine.Started() != started {
		t.Errorf("bob's requests changed something: writes %d→%d, started %d→%d", writes, e.Store.Writes(), started, e.Engine.Started())
	}
	// An admin sees it.
	check(t, e.Do("GET", "/v1/deployments/"+id, e.Root, ""), "GET", "/v1/deployments/{id}", 200)
}

func TestUnauthenticated(t *testing.T) {
	e := httpapitest.New(t)
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	routes := append(deploymentRoutes(id, run),
		struct{ method, pattern, path, body string }{"POST", "/v1/deployments", "/v1/deployments", httpapitest.AllInOneSpec("x", "10.0.0.9")},
		struct{ method, pattern, path, body string }{"GET", "/v1/deployments", "/v1/deployments", ""},
		struct{ method, pattern, path, body string }{"POST", "/v1/tokens", "/v1/tokens", `{"user":"x"}`},
	)
	writes := e.Store.Writes()
	near := []byte(e.Alice)
	near[len(near)-1] ^= 1 // a near miss of a real token
	for _, token := range []string{"", "edt_unknown", string(near), "not-a-token", e.Alice + "x"} {
		for _, rt := range routes {
			rec := e.Do(rt.method, rt.path, token, rt.body)
			check(t, rec, rt.method, rt.pattern, 401)
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", rt.method, rt.path, rec.Header().Get("WWW-Authenticate"))
			}
		}
	}
	// Another scheme carrying a valid secret is not a bearer token.
	req := httptest.NewRequest("GET", "/v1/deployments", nil)
	req.Header.Set("Authorization", "Basic "+e.Alice)
	rec := httptest.NewRecorder()
	e.API.ServeHTTP(rec, req)
	check(t, rec, "GET", "/v1/deployments", 401)
	if e.Store.Writes() != writes {
		t.Errorf("unauthenticated requests wrote %d times", e.Store.Writes()-writes)
	}
}

// TestSecretsNeverLeak looks for every secret the service stored
// (generated passwords, HMAC key, SSH key) in every response and in
// everything logged.
func TestSecretsNeverLeak(t *testing.T) {
	e := httpapitest.New(t)
	var bodies bytes.Buffer
	do := func(method, path, token, body string, h ...string) *httptest.ResponseRecorder {
		rec := e.Do(method, path, token, body, h...)
		bodies.Write(rec.Body.Bytes())
		for k, vs := range rec.Header() {
			bodies.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		return rec
	}
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	do("GET", "/v1/deployments/"+id, e.Alice, "")
	do("GET", "/v1/deployments", e.Alice, "")
	do("GET", "/v1/deployments", e.Root, "")
	do("GET", "/v1/deployments/"+id+"/runs/"+run, e.Alice, "")
	do("GET", "/v1/deployments/"+id+"/runs", e.Alice, "")
	e.FinishRun(t, id, run, deploy.RunSucceeded)
	do("GET", "/v1/deployments/"+id+"/instances/prod", e.Alice, "")
	do("GET", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, "")
	do("PUT", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, `{"settings":{}}`, "If-Match", `"1"`)
	// A refused create with a key (duplicate host) and one with the same
	// key replayed.
	do("POST", "/v1/deployments", e.Alice, httpapitest.AllInOneSpec("again", "10.0.0.5"), "Idempotency-Key", "k")
	do("POST", "/v1/deployments", e.Alice, httpapitest.AllInOneSpec("again", "10.0.0.5"), "Idempotency-Key", "k")
	// A malformed body around a key.
	do("POST", "/v1/deployments", e.Alice, `{"ssh_private_key":"`+strings.ReplaceAll(httpapitest.SSHKey, "\n", `\n`)+`", "bogus": 1}`)
	do("POST", "/v1/deployments", e.Alice, `{"ssh_private_key":1}`)

	secrets := e.Secrets.Seen()
	if len(secrets) < 4 {
		t.Fatalf("only %d secrets stored; the test proves nothing", len(secrets))
	}
	logs := e.LogOutput.String()
	for _, s := range secrets {
		for _, probe := range probes(s) {
			if strings.Contains(bodies.String(), probe) {
				t.Errorf("a response holds a secret (%.12s…)", probe)
			}
			if strings.Contains(logs, probe) {
				t.Errorf("the log holds a secret (%.12s…)", probe)
			}
		}
	}
	for _, rec := range e.Store.IdempotencyRecords() {
		if bytes.Contains(rec.Body, []byte("PRIVATE KEY")) || strings.Contains(rec.Header, "PRIVATE KEY") {
			t.Errorf("an idempotency record holds the SSH key")
		}
	}
	for _, tok := range []string{e.Alice, e.Bob, e.Root} {
		if strings.Contains(logs, tok) {
			t.Errorf("the log holds a bearer token")
		}
	}
}

// probes are the substrings of a secret to look for: the whole of it and,
// for a multi-line key, each long line of it.
func probes(secret []byte) []string {
	out := []string{string(secret)}
	for _, line := range strings.Split(string(secret), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

func TestRefusedBodiesWriteNothing(t *testing.T) {
	e := httpapitest.New(t)
	id := deployed(t, e, e.Alice, "site", "10.0.0.5")
	valid := httpapitest.AllInOneSpec("new", "10.0.0.7")
	big := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, pattern, path, body, ctype string
		want                                     int
		field                                    string
	}{
		{"too large", "POST", "/v1/deployments", "/v1/deployments", big, "application/json", 413, ""},
		{"not JSON content type", "POST", "/v1/deployments", "/v1/deployments", valid, "text/plain", 415, ""},
		{"no content type", "POST", "/v1/deployments", "/v1/deployments", valid, "", 415, ""},
		{"malformed", "POST", "/v1/deployments", "/v1/deployments", `{"name":`, "application/json", 400, ""},
		{"syntax error", "POST", "/v1/deployments", "/v1/deployments", `{"name" "x"}`, "application/json", 400, ""},
		{"unknown field", "POST", "/v1/deployments", "/v1/deployments", `{"name":"x","colour":"red"}`, "application/json", 400, "colour"},
		{"unknown nested field", "POST", "/v1/deployments", "/v1/deployments", `{"name":"x","instance":{"type":"prod","size":"xl"}}`, "application/json", 400, "size"},
		{"trailing data", "POST", "/v1/deployments", "/v1/deployments", valid + `{}`, "application/json", 400, ""},
		{"trailing garbage", "POST", "/v1/deployments", "/v1/deployments", valid + `x`, "application/json", 400, ""},
		{"wrong type", "POST", "/v1/deployments", "/v1/deployments", `{"name":"x","dry_run":"yes"}`, "application/json", 400, "dry_run"},
		{"not an object", "POST", "/v1/deployments", "/v1/deployments", `[1,2]`, "application/json", 400, ""},
		{"empty", "POST", "/v1/deployments", "/v1/deployments", ``, "application/json", 400, ""},
		{"invalid spec", "POST", "/v1/deployments", "/v1/deployments", `{"name":"","admin_email":"nope","servers":[],"instance":{"type":"test"},"ssh_private_key":"k"}`, "application/json", 400, "admin_email"},
		{"body on cancel", "POST", "/v1/deployments/{id}/runs/{run}/cancel", "/v1/deployments/" + id + "/runs/r-x/cancel", `{}`, "application/json", 400, ""},
		{"bad task", "POST", "/v1/deployments/{id}/instances/{type}/tasks", "/v1/deployments/" + id + "/instances/prod/tasks", `{"task":"reboot"}`, "application/json", 400, "task"},
		{"no task", "POST", "/v1/deployments/{id}/instances/{type}/tasks", "/v1/deployments/" + id + "/instances/prod/tasks", `{}`, "application/json", 400, "task"},
		{"bad setting", "PUT", "/v1/deployments/{id}/instances/{type}/settings", "/v1/deployments/" + id + "/instances/prod/settings", `{"settings":{"database.password":"x"}}`, "application/json", 400, "settings.database.password"},
		{"no settings", "PUT", "/v1/deployments/{id}/instances/{type}/settings", "/v1/deployments/" + id + "/instances/prod/settings", `{"dry_run":true}`, "application/json", 400, "settings"},
		{"instance bad type", "POST", "/v1/deployments/{id}/instances", "/v1/deployments/" + id + "/instances", `{"type":"staging"}`, "application/json", 400, "instance.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writes, started, secrets := e.Store.Writes(), e.Engine.Started(), len(e.Secrets.Seen())
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			req.Header.Set("Authorization", "Bearer "+e.Alice)
			req.Header.Set("If-Match", `"1"`)
			rec := httptest.NewRecorder()
			e.API.ServeHTTP(rec, req)
			m := check(t, rec, tt.method, tt.pattern, tt.want)
			if tt.field != "" {
				found := false
				for _, fe := range asSlice(m["errors"]) {
					if fe.(map[string]any)["field"] == tt.field {
						found = true
					}
				}
				if !found {
					t.Errorf("no error for field %q: %s", tt.field, rec.Body)
				}
			}
			if e.Store.Writes() != writes || e.Engine.Started() != started || len(e.Secrets.Seen()) != secrets {
				t.Errorf("a refused request wrote: store %d→%d, started %d→%d, secrets %d→%d",
					writes, e.Store.Writes(), started, e.Engine.Started(), secrets, len(e.Secrets.Seen()))
			}
		})
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func TestProtocolErrors(t *testing.T) {
	e := httpapitest.New(t)
	id := deployed(t, e, e.Alice, "site", "10.0.0.5")
	settings := "/v1/deployments/" + id + "/instances/prod/settings"
	tests := []struct {
		name, method, pattern, path, body string
		header                            []string
		want                              int
	}{
		{"no If-Match", "PUT", "/v1/deployments/{id}/instances/{type}/settings", settings, `{"settings":{}}`, nil, 428},
		{"unquoted If-Match", "PUT", "/v1/deployments/{id}/instances/{type}/settings", settings, `{"settings":{}}`, []string{"If-Match", "1"}, 412},
		{"star If-Match", "PUT", "/v1/deployments/{id}/instances/{type}/settings", settings, `{"settings":{}}`, []string{"If-Match", "*"}, 412},
		{"stale If-Match", "PUT", "/v1/deployments/{id}/instances/{type}/settings", settings, `{"settings":{}}`, []string{"If-Match", `"7"`}, 412},
		{"bad limit", "GET", "/v1/deployments", "/v1/deployments?limit=0", "", nil, 400},
		{"huge limit", "GET", "/v1/deployments", "/v1/deployments?limit=1000", "", nil, 400},
		{"forged cursor", "GET", "/v1/deployments", "/v1/deployments?cursor=abc", "", nil, 400},
		{"runs forged cursor", "GET", "/v1/deployments/{id}/runs", "/v1/deployments/" + id + "/runs?cursor=zz", "", nil, 400},
		{"bad log offset", "GET", "/v1/deployments/{id}/runs/{run}/log", "/v1/deployments/" + id + "/runs/r-none/log?offset=-1", "", nil, 404},
		{"missing run", "GET", "/v1/deployments/{id}/runs/{run}", "/v1/deployments/" + id + "/runs/r-none", "", nil, 404},
		{"bad idempotency key", "POST", "/v1/deployments/{id}/instances/{type}/tasks", "/v1/deployments/" + id + "/instances/prod/tasks", `{"task":"restart"}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, e.Do(tt.method, tt.path, e.Alice, tt.body, tt.header...), tt.method, tt.pattern, tt.want)
		})
	}
	t.Run("not found", func(t *testing.T) {
		rec := e.Do("GET", "/v1/nothing", e.Alice, "")
		if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
	})
	t.Run("not found with a body", func(t *testing.T) {
		rec := e.Do("POST", "/v1/nothing", e.Alice, `{"a":1}`)
		if rec.Code != 404 {
			t.Errorf("status %d", rec.Code)
		}
	})
	t.Run("method not allowed", func(t *testing.T) {
		rec := e.Do("PATCH", "/v1/deployments/"+id, e.Alice, "")
		if rec.Code != 405 || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Allow") != "GET, DELETE, HEAD" {
			t.Errorf("status %d, type %q, Allow %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Allow"))
		}
	})
}

func TestAccessLog(t *testing.T) {
	e := httpapitest.New(t)
	id, run := created(t, e, e.Alice, "site", "10.0.0.5")
	rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+run, e.Alice, "")
	rid := rec.Header().Get("X-Request-Id")
	var line string
	for _, l := range strings.Split(e.LogOutput.String(), "\n") {
		if strings.Contains(l, "request_id="+rid) {
			line = l
		}
	}
	for _, want := range []string{"msg=request", "user=alice", "deployment=" + id, "run=" + run, "status=200", `route=/v1/deployments/{id}/runs/{run}`} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line %q lacks %q", line, want)
		}
	}
	if strings.Contains(e.LogOutput.String(), "Bearer") || strings.Contains(e.LogOutput.String(), "admin@example.org\",\"servers") {
		t.Errorf("the log holds credentials or bodies")
	}
	// The created deployment and run are named in the create's access log.
	found := false
	for _, l := range strings.Split(e.LogOutput.String(), "\n") {
		if strings.Contains(l, "msg=request") && strings.Contains(l, "method=POST") && strings.Contains(l, "deployment="+id) && strings.Contains(l, "run="+run) {
			found = true
		}
	}
	if !found {
		t.Errorf("the create's access log names neither deployment nor run:\n%s", e.LogOutput)
	}
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	e := httpapitest.New(t)
	// Client errors are not logged as failures.
	e.Do("GET", "/v1/deployments/d-none", e.Alice, "")
	if strings.Contains(e.LogOutput.String(), "request failed") {
		t.Errorf("a 404 was logged as a failure")
	}
	// A store failure inside control is internal: 500, a generic detail,
	// and the cause in the log with the request ID.
	e.Store.Fail(errors.New("disk on fire"))
	rec := e.Do("GET", "/v1/deployments", e.Alice, "")
	m := check(t, rec, "GET", "/v1/deployments", 500)
	if strings.Contains(rec.Body.String(), "disk on fire") {
		t.Errorf("500 shows its cause: %s", rec.Body)
	}
	if m["request_id"] != rec.Header().Get("X-Request-Id") {
		t.Errorf("problem request_id %v, header %q", m["request_id"], rec.Header().Get("X-Request-Id"))
	}
	logs := e.LogOutput.String()
	if !strings.Contains(logs, "disk on fire") || !strings.Contains(logs, "request_id="+rec.Header().Get("X-Request-Id")) {
		t.Errorf("the cause is not logged with the request ID:\n%s", logs)
	}
	// A transient failure is 503 with Retry-After, its reason shown.
	e.Store.Fail(deploy.Transient(errors.New("throttled"), "the store is busy"))
	rec = e.Do("GET", "/v1/deployments", e.Alice, "")
	check(t, rec, "GET", "/v1/deployments", 503)
	if rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "throttled") {
		t.Errorf("503: Retry-After %q, body %s", rec.Header().Get("Retry-After"), rec.Body)
	}
}

func TestLifecycleTokenNotShown(t *testing.T) {
	e := httpapitest.New(t)
	id, first := created(t, e, e.Alice, "site", "10.0.0.5")
	e.FinishRun(t, id, first, deploy.RunSucceeded)
	now := e.Clock.Now()
	r := &deploy.Run{ID: "r-scale", DeploymentID: id, Kind: deploy.RunScaleIn, Host: "10.0.0.9", HostRole: deploy.RoleEden,
		Status: deploy.RunQueued, Requester: "autoscaling", CreatedAt: now,
		Lifecycle: &deploy.LifecycleAction{GroupName: "g", HookName: "h", Token: "lc-secret-token", InstanceID: "i-0123456789abcdef0", Transition: "autoscaling:EC2_INSTANCE_TERMINATING"}}
	if err := e.Store.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []struct{ pattern, path string }{
		{"/v1/deployments/{id}/runs/{run}", "/v1/deployments/" + id + "/runs/r-scale"},
		{"/v1/deployments/{id}/runs", "/v1/deployments/" + id + "/runs"},
		{"/v1/deployments/{id}", "/v1/deployments/" + id},
	} {
		rec := e.Do("GET", rt.path, e.Alice, "")
		check(t, rec, "GET", rt.pattern, 200)
		if strings.Contains(rec.Body.String(), "lc-secret-token") || !strings.Contains(rec.Body.String(), "i-0123456789abcdef0") {
			t.Errorf("%s: %s", rt.path, rec.Body)
		}
	}
}
