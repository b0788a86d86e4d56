package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
)

var doc *openapitest.Doc

func init() {
	var err error
	doc, err = openapitest.Parse(httpapi.OpenAPI())
	if err != nil {
		panic(err)
	}
}

// check asserts the status of rec, validates its body against the
// document for the route, and returns the decoded body.
func check(t *testing.T, rec *httptest.ResponseRecorder, method, pattern string, want int) map[string]any {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, pattern, rec.Code, want, rec.Body)
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, pattern)
	}
	openapitest.ValidateResponse(t, doc, method, pattern, rec.Code, rec.Header(), rec.Body.Bytes())
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: error with Content-Type %q", method, pattern, ct)
		}
	}
	var m map[string]any
	if strings.Contains(rec.Header().Get("Content-Type"), "json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: %v", method, pattern, err)
		}
	}
	return m
}

// created makes a deployment for token and returns its ID and run ID.
func created(t *testing.T, e *httpapitest.Env, token, name, host string) (string, string) {
	t.Helper()
	rec := e.Do("POST", "/v1/deployments", token, httpapitest.AllInOneSpec(name, host))
	m := check(t, rec, "POST", "/v1/deployments", 201)
	d := m["deployment"].(map[string]any)
	r := m["run"].(map[string]any)
	return d["id"].(string), r["id"].(string)
}

// deployed makes a deployment whose first (prod) instance is deployed.
func deployed(t *testing.T, e *httpapitest.Env, token, name, host string) string {
	t.Helper()
	id, run := created(t, e, token, name, host)
	e.FinishRun(t, id, run, deploy.RunSucceeded)
	return id
}

func TestHappyPaths(t *testing.T) {
	e := httpapitest.New(t)
	id, firstRun := created(t, e, e.Alice, "site", "10.0.0.5")

	t.Run("create", func(t *testing.T) {
		rec := e.Do("POST", "/v1/deployments", e.Alice, httpapitest.AllInOneSpec("other", "10.0.0.6"))
		m := check(t, rec, "POST", "/v1/deployments", 201)
		d := m["deployment"].(map[string]any)
		if got, want := rec.Header().Get("Location"), "/v1/deployments/"+d["id"].(string); got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
		if d["owner"] != "alice" || m["run"].(map[string]any)["kind"] != "deploy" {
			t.Errorf("created %v", m)
		}
	})
	t.Run("list", func(t *testing.T) {
		m := check(t, e.Do("GET", "/v1/deployments", e.Alice, ""), "GET", "/v1/deployments", 200)
		if n := len(m["items"].([]any)); n != 2 {
			t.Errorf("%d items, want 2", n)
		}
		m = check(t, e.Do("GET", "/v1/deployments?limit=1", e.Alice, ""), "GET", "/v1/deployments", 200)
		next, _ := m["next"].(string)
		if len(m["items"].([]any)) != 1 || next == "" {
			t.Fatalf("first page %v", m)
		}
		m = check(t, e.Do("GET", "/v1/deployments?limit=1&cursor="+next, e.Alice, ""), "GET", "/v1/deployments", 200)
		if len(m["items"].([]any)) != 1 || m["items"].([]any)[0].(map[string]any)["id"] != id {
			t.Errorf("second page %v", m)
		}
		if _, ok := m["next"]; ok {
			t.Errorf("last page has next: %v", m)
		}
	})
	t.Run("get", func(t *testing.T) {
		m := check(t, e.Do("GET", "/v1/deployments/"+id, e.Alice, ""), "GET", "/v1/deployments/{id}", 200)
		if m["active_run"].(map[string]any)["id"] != firstRun {
			t.Errorf("active_run %v, want %s", m["active_run"], firstRun)
		}
		insts := m["instances"].([]any)
		if len(insts) != 1 || insts[0].(map[string]any)["status"] != "pending" {
			t.Errorf("instances %v", insts)
		}
		if len(m["servers"].([]any)) != 1 {
			t.Errorf("servers %v", m["servers"])
		}
	})
	t.Run("runs", func(t *testing.T) {
		m := check(t, e.Do("GET", "/v1/deployments/"+id+"/runs", e.Alice, ""), "GET", "/v1/deployments/{id}/runs", 200)
		if len(m["items"].([]any)) != 1 {
			t.Errorf("runs %v", m)
		}
		m = check(t, e.Do("GET", "/v1/deployments/"+id+"/runs/"+firstRun, e.Alice, ""), "GET", "/v1/deployments/{id}/runs/{run}", 200)
		if m["id"] != firstRun || len(m["steps"].([]any)) != 1 {
			t.Errorf("run %v", m)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		m := check(t, e.Do("POST", "/v1/deployments/"+id+"/runs/"+firstRun+"/cancel", e.Alice, ""), "POST", "/v1/deployments/{id}/runs/{run}/cancel", 200)
		if m["status"] != "cancelled" {
			t.Errorf("cancelled run %v", m)
		}
		check(t, e.Do("POST", "/v1/deployments/"+id+"/runs/"+firstRun+"/cancel", e.Alice, ""), "POST", "/v1/deployments/{id}/runs/{run}/cancel", 409)
	})
	t.Run("retry deploy as a task", func(t *testing.T) {
		m := check(t, e.Do("POST", "/v1/deployments/"+id+"/instances/prod/tasks", e.Alice, `{"task":"deploy"}`), "POST", "/v1/deployments/{id}/instances/{type}/tasks", 202)
		run := m["run"].(map[string]any)
		e.FinishRun(t, id, run["id"].(string), deploy.RunSucceeded)
	})
	t.Run("instance", func(t *testing.T) {
		m := check(t, e.Do("GET", "/v1/deployments/"+id+"/instances/prod", e.Alice, ""), "GET", "/v1/deployments/{id}/instances/{type}", 200)
		if m["status"] != "deployed" {
			t.Errorf("instance %v", m)
		}
		check(t, e.Do("GET", "/v1/deployments/"+id+"/instances/test", e.Alice, ""), "GET", "/v1/deployments/{id}/instances/{type}", 404)
	})
	t.Run("add instance", func(t *testing.T) {
		rec := e.Do("POST", "/v1/deployments/"+id+"/instances", e.Alice, `{"type":"test","dry_run":false}`)
		m := check(t, rec, "POST", "/v1/deployments/{id}/instances", 201)
		if m["instance"].(map[string]any)["type"] != "test" || m["run"].(map[string]any)["kind"] != "add-instance" {
			t.Errorf("added %v", m)
		}
		if got := rec.Header().Get("Location"); got != "/v1/deployments/"+id+"/instances/test" {
			t.Errorf("Location %q", got)
		}
		e.FinishRun(t, id, m["run"].(map[string]any)["id"].(string), deploy.RunSucceeded)
	})
	t.Run("settings", func(t *testing.T) {
		rec := e.Do("GET", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, "")
		m := check(t, rec, "GET", "/v1/deployments/{id}/instances/{type}/settings", 200)
		v := int(m["version"].(float64))
		if rec.Header().Get("ETag") != fmt.Sprintf(`"%d"`, v) {
			t.Errorf("ETag %q for version %d", rec.Header().Get("ETag"), v)
		}
		body := `{"settings":{"base.system_name":"Relief","base.debug":true},"dry_run":false}`
		rec = e.Do("PUT", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, body, "If-Match", fmt.Sprintf(`"%d"`, v))
		m = check(t, rec, "PUT", "/v1/deployments/{id}/instances/{type}/settings", 202)
		if int(m["version"].(float64)) != v+1 || rec.Header().Get("ETag") != fmt.Sprintf(`"%d"`, v+1) {
			t.Errorf("replaced %v, ETag %q", m, rec.Header().Get("ETag"))
		}
		run := m["run"].(map[string]any)
		if run["kind"] != "reconfigure" {
			t.Errorf("run %v", run)
		}
		e.FinishRun(t, id, run["id"].(string), deploy.RunSucceeded)
		// The old version is stale now.
		check(t, e.Do("PUT", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, body, "If-Match", fmt.Sprintf(`"%d"`, v)),
			"PUT", "/v1/deployments/{id}/instances/{type}/settings", 412)
		m = check(t, e.Do("GET", "/v1/deployments/"+id+"/instances/prod/settings", e.Alice, ""), "GET", "/v1/deployments/{id}/instances/{type}/settings", 200)
		if m["settings"].(map[string]any)["base.system_name"] != "Relief" {
			t.Errorf("settings %v", m)
		}
	})
	t.Run("tasks", func(t *testing.T) {
		for _, task := range []string{"pull", "restart", "backup"} {
			rec := e.Do("POST", "/v1/deployments/"+id+"/instances/prod/tasks", e.Alice, `{"task":"`+task+`","dry_run":true}`)
			m := check(t, rec, "POST", "/v1/deployments/{id}/instances/{type}/tasks", 202)
			run := m["run"].(map[string]any)
			if run["kind"] != task || run["dry_run"] != true {
				t.Errorf("%s: run %v", task, run)
			}
			if !strings.HasPrefix(rec.Header().Get("Location"), "/v1/deployments/"+id+"/runs/") {
				t.Errorf("Location %q", rec.Header().Get("Location"))
			}
			e.FinishRun(t, id, run["id"].(string), deploy.RunSucceeded)
		}
		check(t, e.Do("POST", "/v1/deployments/"+id+"/instances/prod/tasks", e.Alice, `{"task":"clean"}`), "POST", "/v1/deployments/{id}/instances/{type}/tasks", 400)
		rec := e.Do("POST", "/v1/deployments/"+id+"/instances/prod/tasks", e.Alice, `{"task":"clean","confirm":"site"}`)
		m := check(t, rec, "POST", "/v1/deployments/{id}/instances/{type}/tasks", 202)
		e.FinishRun(t, id, m["run"].(map[string]any)["id"].(string), deploy.RunFailed)
	})
	t.Run("log", func(t *testing.T) {
		e.Logs.Append(firstRun, []byte("PLAY [all]\nTASK [x]\n"))
		rec := e.Do("GET", "/v1/deployments/"+id+"/runs/"+firstRun+"/log?offset=5&limit=4", e.Alice, "")
		check(t, rec, "GET", "/v1/deployments/{id}/runs/{run}/log", 200)
		if rec.Body.String() != "[all" || rec.Header().Get("X-Log-Size") != "20" || rec.Header().Get("X-Log-Complete") != "false" {
			t.Errorf("log %q size %s complete %s", rec.Body, rec.Header().Get("X-Log-Size"), rec.Header().Get("X-Log-Complete"))
		}
	})
	t.Run("health and document", func(t *testing.T) {
		check(t, e.Do("GET", "/v1/health", "", ""), "GET", "/v1/health", 200)
		rec := e.Do("GET", "/v1/openapi.yaml", "", "")
		check(t, rec, "GET", "/v1/openapi.yaml", 200)
		if !strings.HasPrefix(rec.Body.String(), "openapi: 3.1") {
			t.Errorf("document starts %q", rec.Body.String()[:20])
		}
	})
	t.Run("token", func(t *testing.T) {
		rec := e.Do("POST", "/v1/tokens", e.Root, `{"user":"carol","name":"laptop"}`)
		m := check(t, rec, "POST", "/v1/tokens", 201)
		tok := m["token"].(string)
		if !regexp.MustCompile(`^edt_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
			t.Fatalf("token %q", tok)
		}
		m = check(t, e.Do("GET", "/v1/deployments", tok, ""), "GET", "/v1/deployments", 200)
		if len(m["items"].([]any)) != 0 {
			t.Errorf("carol sees %v", m)
		}
		check(t, e.Do("POST", "/v1/tokens", e.Alice, `{"user":"mallory","admin":true}`), "POST", "/v1/tokens", 403)
		check(t, e.Do("POST", "/v1/tokens", e.Root, `{"user":""}`), "POST", "/v1/tokens", 400)
		check(t, e.Do("POST", "/v1/tokens", e.Root, `{"user":"dave"}`, "Idempotency-Key", "k1"), "POST", "/v1/tokens", 400)
	})
	t.Run("delete", func(t *testing.T) {
		rec := e.Do("DELETE", "/v1/deployments/"+id, e.Alice, "")
		check(t, rec, "DELETE", "/v1/deployments/{id}", 204)
		if rec.Body.Len() != 0 {
			t.Errorf("204 with body %q", rec.Body)
		}
		check(t, e.Do("GET", "/v1/deployments/"+id, e.Alice, ""), "GET", "/v1/deployments/{id}", 404)
		check(t, e.Do("DELETE", "/v1/deployments/"+id, e.Alice, ""), "DELETE", "/v1/deployments/{id}", 404)
	})
}
