package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/testcert"
)

// TestOwnCertificateFiles: edenctl reads an own certificate's chain and
// key from files, beside the spec as it reads the SSH key, and sends
// them; the control plane keeps the key in its secret store and no output
// shows it.
func TestOwnCertificateFiles(t *testing.T) {
	c := newCLI(t)
	// The fake clock's time is 2025.
	valid := []testcert.Option{testcert.ValidFrom(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), testcert.ValidUntil(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))}
	ca := testcert.NewCA(t, "Test CA")
	leaf := ca.Issue(t, []string{"eden.example.org"}, valid...)
	next := ca.Issue(t, []string{"eden.example.org"}, valid...)
	dir := t.TempDir()
	files := map[string][]byte{"key": []byte(httpapitest.SSHKey), "eden.crt": leaf.Chain, "eden.key": leaf.Key, "next.crt": next.Chain, "next.key": next.Key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec := "name: tls\nadmin_email: a@example.org\nssh_private_key_file: key\nservers:\n  - {host: 10.0.0.8, role: all}\n" +
		"instance:\n  type: prod\n  url: https://eden.example.org\n  tls: {mode: own}\ntls_certificate_file: eden.crt\ntls_private_key_file: eden.key\n"
	specPath := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.mustRun("deployment", "create", "-f", specPath, "--output", "json")
	var created struct {
		Deployment deploy.Deployment `json:"deployment"`
		Run        deploy.Run        `json:"run"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	id := created.Deployment.ID
	if tls := created.Deployment.Instances[0].TLS; tls.Mode != deploy.TLSOwn || tls.Certificate == nil || tls.Certificate.SHA256 != leaf.SHA256 {
		t.Errorf("created with TLS %+v", tls)
	}
	_, keyName := deploy.TLSSecretNames(deploy.InstanceProd, leaf.SHA256)
	if k, err := c.e.Secrets.GetSecret(context.Background(), id, keyName); err != nil || string(k) != string(leaf.Key) {
		t.Errorf("the key in the secret store: %v", err)
	}
	c.e.FinishRun(t, id, created.Run.ID, deploy.RunSucceeded)

	replaced := c.mustRun("instance", "tls", id, "prod", "--certificate", filepath.Join(dir, "next.crt"), "--private-key", filepath.Join(dir, "next.key"), "--output", "json")
	out += replaced
	var started struct {
		Run deploy.Run `json:"run"`
	}
	if err := json.Unmarshal([]byte(replaced), &started); err != nil || started.Run.Kind != deploy.RunReconfigure {
		t.Fatalf("instance tls: %v\n%s", err, replaced)
	}
	c.e.FinishRun(t, id, started.Run.ID, deploy.RunSucceeded)
	show := c.mustRun("deployment", "show", id, "--output", "json")
	if !strings.Contains(show, next.SHA256) {
		t.Errorf("the instance does not serve the new certificate:\n%s", show)
	}
	// A key that does not fit: refused, exit 1, the field named.
	code, _, errs := c.run("instance", "tls", id, "prod", "--certificate", filepath.Join(dir, "eden.crt"), "--private-key", filepath.Join(dir, "next.key"))
	if code != exitFailed || !strings.Contains(errs, "tls.private_key") {
		t.Errorf("a mismatched key: exit %d, %s", code, errs)
	}
	if code, _, _ := c.run("instance", "tls", id, "prod", "--certificate", filepath.Join(dir, "eden.crt")); code != exitUsage {
		t.Errorf("a certificate without its key: exit %d, want usage", code)
	}
	for _, l := range strings.Split(string(leaf.Key)+string(next.Key), "\n") {
		if len(l) > 16 && strings.Contains(out+show+errs, l) {
			t.Errorf("edenctl printed a private key")
		}
	}
}
