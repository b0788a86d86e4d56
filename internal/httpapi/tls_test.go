package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/testcert"
)

// ownSpec is an all-in-one spec whose prod instance is served at url with
// an own certificate.
func ownSpec(t *testing.T, name, host, url string, chain, key []byte) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"name": name, "admin_email": "admin@example.org", "ssh_private_key": httpapitest.SSHKey,
		"servers":  []map[string]string{{"host": host, "role": "all"}},
		"instance": map[string]any{"type": "prod", "url": url, "tls": map[string]string{"mode": "own", "certificate": string(chain), "private_key": string(key)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOwnCertificate(t *testing.T) {
	e := httpapitest.New(t)
	// The fake clock's time: 2025.
	valid := []testcert.Option{testcert.ValidFrom(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), testcert.ValidUntil(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))}
	ca := testcert.NewCA(t, "Test CA")
	leaf := ca.Issue(t, []string{"eden.example.org"}, valid...)
	other := ca.Issue(t, []string{"other.example.org"}, valid...)
	renewed := ca.Issue(t, []string{"eden.example.org", "www.eden.example.org"}, valid...)

	t.Run("refused, nothing written", func(t *testing.T) {
		for _, tt := range []struct {
			name, body, field string
		}{
			{"mismatched key", ownSpec(t, "x", "10.0.0.9", "https://eden.example.org", leaf.Chain, testcert.NewKeyPEM(t)), "instance.tls.private_key"},
			{"wrong host", ownSpec(t, "x", "10.0.0.9", "https://eden.example.org", other.Chain, other.Key), "instance.tls.certificate"},
			{"not PEM", ownSpec(t, "x", "10.0.0.9", "https://eden.example.org", []byte("hello"), leaf.Key), "instance.tls.certificate"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				writes, started, secrets := e.Store.Writes(), e.Engine.Started(), len(e.Secrets.Seen())
				rec := e.Do("POST", "/v1/deployments", e.Alice, tt.body)
				m := check(t, rec, "POST", "/v1/deployments", 400)
				if !hasField(m, tt.field) {
					t.Errorf("no problem names %s: %s", tt.field, rec.Body)
				}
				if e.Store.Writes() != writes || e.Engine.Started() != started || len(e.Secrets.Seen()) != secrets {
					t.Errorf("a refused certificate wrote: store %d→%d, started %d→%d, secrets %d→%d",
						writes, e.Store.Writes(), started, e.Engine.Started(), secrets, len(e.Secrets.Seen()))
				}
				assertNoKey(t, rec.Body.String(), leaf.Key, other.Key)
			})
		}
	})

	rec := e.Do("POST", "/v1/deployments", e.Alice, ownSpec(t, "tls", "10.0.0.5", "https://eden.example.org", leaf.Chain, leaf.Key))
	m := check(t, rec, "POST", "/v1/deployments", 201)
	d := m["deployment"].(map[string]any)
	id := d["id"].(string)
	tls := d["instances"].([]any)[0].(map[string]any)["tls"].(map[string]any)
	if tls["mode"] != "own" || tls["certificate"].(map[string]any)["sha256"] != leaf.SHA256 || tls["hsts_max_age"] != float64(deploy.DefaultHSTSMaxAge) {
		t.Errorf("the instance's TLS: %v", tls)
	}
	chainName, keyName := deploy.TLSSecretNames(deploy.InstanceProd, leaf.SHA256)
	if k, err := e.Secrets.GetSecret(t.Context(), id, keyName); err != nil || string(k) != string(leaf.Key) {
		t.Errorf("secret %s: %v", keyName, err)
	}
	if c, err := e.Secrets.GetSecret(t.Context(), id, chainName); err != nil || string(c) != string(leaf.Chain) {
		t.Errorf("secret %s: %v", chainName, err)
	}
	bodies := rec.Body.String()
	bodies += e.Do("GET", "/v1/deployments/"+id, e.Alice, "").Body.String()
	e.FinishRun(t, id, m["run"].(map[string]any)["id"].(string), deploy.RunSucceeded)

	path := "/v1/deployments/" + id + "/instances/prod/tls"
	const pattern = "/v1/deployments/{id}/instances/{type}/tls"
	put := func(body map[string]any) string {
		b, _ := json.Marshal(body)
		return string(b)
	}
	ownTLS := func(l testcert.Leaf) map[string]any {
		return map[string]any{"mode": "own", "certificate": string(l.Chain), "private_key": string(l.Key)}
	}

	t.Run("replacement refused", func(t *testing.T) {
		writes, secrets := e.Store.Writes(), len(e.Secrets.Seen())
		rec := e.Do("PUT", path, e.Alice, put(map[string]any{"tls": map[string]any{"mode": "own", "certificate": string(renewed.Chain), "private_key": string(leaf.Key)}}))
		if m := check(t, rec, "PUT", pattern, 400); !hasField(m, "tls.private_key") {
			t.Errorf("no problem names tls.private_key: %s", rec.Body)
		}
		if e.Store.Writes() != writes || len(e.Secrets.Seen()) != secrets {
			t.Errorf("a refused replacement wrote")
		}
	})

	t.Run("dry run keeps the certificate", func(t *testing.T) {
		m := check(t, e.Do("PUT", path, e.Alice, put(map[string]any{"tls": ownTLS(renewed), "dry_run": true})), "PUT", pattern, 202)
		run := m["run"].(map[string]any)
		if run["kind"] != "reconfigure" || run["dry_run"] != true || run["tls"].(map[string]any)["certificate"].(map[string]any)["sha256"] != renewed.SHA256 {
			t.Errorf("dry run %v", run)
		}
		if steps := run["steps"].([]any); len(steps) != 1 || steps[0].(map[string]any)["playbook"] != "reconfigure.yml" {
			t.Errorf("steps %v", steps)
		}
		inst := check(t, e.Do("GET", "/v1/deployments/"+id+"/instances/prod", e.Alice, ""), "GET", "/v1/deployments/{id}/instances/{type}", 200)
		if inst["tls"].(map[string]any)["certificate"].(map[string]any)["sha256"] != leaf.SHA256 {
			t.Errorf("a dry run changed the certificate: %v", inst["tls"])
		}
		e.FinishRun(t, id, run["id"].(string), deploy.RunSucceeded)
	})

	t.Run("replaced with a new URL", func(t *testing.T) {
		rec := e.Do("PUT", path, e.Alice, put(map[string]any{"url": "https://www.eden.example.org", "tls": ownTLS(renewed)}))
		m := check(t, rec, "PUT", pattern, 202)
		bodies += rec.Body.String()
		run := m["run"].(map[string]any)
		e.FinishRun(t, id, run["id"].(string), deploy.RunSucceeded)
		rec = e.Do("GET", "/v1/deployments/"+id+"/instances/prod", e.Alice, "")
		bodies += rec.Body.String()
		inst := check(t, rec, "GET", "/v1/deployments/{id}/instances/{type}", 200)
		if inst["url"] != "https://www.eden.example.org" || inst["settings"].(map[string]any)["base.public_url"] != inst["url"] ||
			inst["tls"].(map[string]any)["certificate"].(map[string]any)["sha256"] != renewed.SHA256 {
			t.Errorf("after the replacement: %v", inst)
		}
	})

	t.Run("front needs trusted proxies", func(t *testing.T) {
		rec := e.Do("PUT", path, e.Alice, put(map[string]any{"tls": map[string]any{"mode": "front"}}))
		if m := check(t, rec, "PUT", pattern, 400); !hasField(m, "tls.trusted_proxies") {
			t.Errorf("no problem names tls.trusted_proxies: %s", rec.Body)
		}
		m := check(t, e.Do("PUT", path, e.Alice, put(map[string]any{"tls": map[string]any{"mode": "front", "trusted_proxies": []string{"10.0.0.0/16"}}})), "PUT", pattern, 202)
		e.FinishRun(t, id, m["run"].(map[string]any)["id"].(string), deploy.RunSucceeded)
	})

	assertNoKey(t, bodies+e.LogOutput.String(), leaf.Key, renewed.Key)
}

func hasField(problem map[string]any, field string) bool {
	for _, fe := range asSlice(problem["errors"]) {
		if fe.(map[string]any)["field"] == field {
			return true
		}
	}
	return false
}

// assertNoKey fails t if text holds any long line of the keys.
func assertNoKey(t *testing.T, text string, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		for _, p := range probes(k) {
			if strings.Contains(text, p) {
				t.Errorf("a response or log holds a private key (%.12s…)", p)
			}
		}
	}
}
