package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/testcert"
)

// checkTLS serves the prod instance of dep anew through PUT .../tls: a dry
// run with an own certificate reaches the web server's step as proposed
// (and the deployment keeps its URL), then a load balancer in front is
// applied for real. The key stays in the secret store: the caller's later
// checks look for every secret in the API's responses and the log.
func checkTLS(t *testing.T, alice client, srv *server, dep, web string) {
	t.Helper()
	const path, pattern = "/instances/prod/tls", "/v1/deployments/{id}/instances/{type}/tls"
	ca := testcert.NewCA(t, "e2e CA")
	leaf := ca.Issue(t, []string{"eden.example.org"})
	var started httpapi.RunStarted
	alice.must(202, "PUT", "/v1/deployments/"+dep+path, pattern, httpapi.PutTLSRequest{
		URL: "https://eden.example.org", DryRun: true,
		TLS: deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(leaf.Key)},
	}, &started)
	r := alice.waitRun(dep, started.Run.ID, 2*time.Minute)
	if r.Status != deploy.RunSucceeded || len(r.Steps) != 2 || r.Steps[1].Name != "webserver" {
		t.Fatalf("TLS dry run %s %q, steps %+v", r.Status, r.Error, r.Steps)
	}
	// A dry run's test roles record nothing (check mode): its bundle
	// shows what the web server's step was given.
	vars := bundleVars(t, srv, dep, r.ID, 1)
	_, keyName := deploy.TLSSecretNames(deploy.InstanceProd, leaf.SHA256)
	for _, want := range []string{`mode: !unsafe "own"`, `key_secret: !unsafe "` + keyName + `"`, `server_name: !unsafe "eden.example.org"`} {
		if !strings.Contains(vars, want) {
			t.Errorf("the web server's step of the dry run was not given the proposed TLS (%s):\n%s", want, vars)
		}
	}
	if strings.Contains(vars, "PRIVATE KEY") {
		t.Errorf("the bundle holds the private key")
	}
	var inst deploy.Instance
	alice.must(200, "GET", "/v1/deployments/"+dep+"/instances/prod", "/v1/deployments/{id}/instances/{type}", nil, &inst)
	if strings.HasPrefix(inst.URL, "https://") || inst.TLS.Mode != deploy.TLSNone {
		t.Errorf("a dry run changed the instance: %s %+v", inst.URL, inst.TLS)
	}

	alice.must(202, "PUT", "/v1/deployments/"+dep+path, pattern, httpapi.PutTLSRequest{
		URL: "https://eden.example.org", TLS: deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSFront, TrustedProxies: []string{"10.0.0.0/8"}}},
	}, &started)
	if r := alice.waitRun(dep, started.Run.ID, 2*time.Minute); r.Status != deploy.RunSucceeded {
		t.Fatalf("TLS run %s %q", r.Status, r.Error)
	}
	alice.must(200, "GET", "/v1/deployments/"+dep+"/instances/prod", "/v1/deployments/{id}/instances/{type}", nil, &inst)
	if inst.URL != "https://eden.example.org" || inst.TLS.Mode != deploy.TLSFront || inst.Settings["base.public_url"] != inst.URL {
		t.Errorf("after the TLS run: %s %+v public_url %v", inst.URL, inst.TLS, inst.Settings["base.public_url"])
	}
	if eden := mustJSON(t, recorded(t, srv.recordDir, web, "reconfigure", "nginx")["eden_instances"]); !strings.Contains(eden, `"trusted_proxies":["10.0.0.0/8"]`) {
		t.Errorf("the web server's step did not get the trusted proxies: %s", eden)
	}
}

// bundleVars returns vars/eden.yml of step index of a run, from the local
// control plane's blob store.
func bundleVars(t *testing.T, srv *server, dep, run string, index int) string {
	t.Helper()
	tgz, err := os.ReadFile(filepath.Join(srv.dataDir, "blobs", filepath.FromSlash(deploy.BundleKey(dep, run, index))))
	if err != nil {
		t.Fatalf("the bundle of step %d of %s: %v", index, run, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no vars/eden.yml in the bundle: %v", err)
		}
		if strings.TrimPrefix(h.Name, "./") == "vars/eden.yml" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
