package installtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/testcert"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// TestHTTPS runs checkHTTPS on a web server of its own: a 3-tier
// deployment whose webserver steps alone run, on one disposable server,
// in front of a small uWSGI app standing in for the eden tier on that
// server's loopback (the deployment's eden host is 127.0.0.1; its db host
// is never reached). So HTTPS is proven whatever Eden the install
// sequence installs; checkHTTPS also belongs at the end of that
// sequence's all-in-one deployment (one line), where it proves the
// https public_url in Eden's 000_config.py too.
func TestHTTPS(t *testing.T) {
	if testing.Short() {
		t.Skip("installs nginx and certbot on a disposable Debian server")
	}
	if os.Getenv(EnvInstallTest) == "0" {
		t.Skipf("%s=0: run it with make test-install", EnvInstallTest)
	}
	c := servers(t, 1)
	h := c.Hosts[0]
	typ := deploy.InstanceDemo
	const app = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("eden stand-in, " + environ.get("wsgi.url_scheme", "")).encode()]
`
	appFile := filepath.Join(h.Root, "srv/eden-https-test/app.py")
	if err := os.MkdirAll(filepath.Dir(appFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(appFile, []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, h, "uwsgi", "--plugin", "python3", "--socket", "127.0.0.1:"+strconv.Itoa(typ.UWSGIPort()),
		"--wsgi-file", "/srv/eden-https-test/app.py", "--master", "--daemonize", "/var/log/eden-https-test-uwsgi.log")
	now := time.Now()
	d, err := deploy.NewDeployment(deploy.Spec{
		Name:       "Eden HTTPS test",
		AdminEmail: "admin@example.org",
		Servers: []deploy.ServerSpec{
			{Host: "192.0.2.10", Role: deploy.RoleDB}, {Host: "127.0.0.1", Role: deploy.RoleEden}, {Host: h.Addr, Role: deploy.RoleWebServer},
		},
		Instance: deploy.InstanceSpec{Type: typ},
	}, deploy.NewID("d-", now), "installtest", now)
	if err != nil {
		t.Fatal(err)
	}
	p := newPlane(t, "https", c, d)
	p.onlySteps = []string{"webserver"}
	t.Cleanup(p.report)
	p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	inst := d.Instance(typ)
	checkAnswered(t, inst.URL, curl(t, h.Addr, h.Addr, 80, inst.URL+"/"), "")
	checkHTTPS(t, p, c, h, inst)
}

// acmeServer is Pebble (Let's Encrypt's test CA) and its challenge test
// server on the cluster's gateway: DNS answers every name with one
// server's address, so Pebble validates HTTP-01 against that server's
// port 80, as Let's Encrypt would.
type acmeServer struct {
	// Directory is the ACME directory URL, over HTTPS.
	Directory string
	// ListenerCA signed the certificate of Pebble's own HTTPS listener.
	ListenerCA []byte
	mgmt       string // https://gateway:port of Pebble's management API
}

// startACME starts pebble-challtestsrv (DNS only) and pebble on c's
// gateway, listening on test addresses only, every name resolving to
// target; both stop with the test.
func startACME(t *testing.T, c *testhost.Cluster, target string) *acmeServer {
	t.Helper()
	testpeer.LookPath(t, "pebble")
	testpeer.LookPath(t, "pebble-challtestsrv")
	dir := t.TempDir()
	ca := testcert.NewCA(t, "Eden Deploy test: Pebble's listener")
	listener := ca.Issue(t, []string{c.Gateway})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dnsPort, acmePort, mgmtPort, challMgmt := freePort(t, c.Gateway), freePort(t, c.Gateway), freePort(t, c.Gateway), freePort(t, c.Gateway)
	at := func(port int) string { return net.JoinHostPort(c.Gateway, strconv.Itoa(port)) }
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": at(acmePort), "managementListenAddress": at(mgmtPort),
		"certificate": write("cert.pem", listener.Cert), "privateKey": write("key.pem", listener.Key),
		"httpPort": deploy.HTTPChallengePort, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	start(t, dir, "challtestsrv", []string{"pebble-challtestsrv", "-defaultIPv4", target, "-defaultIPv6", "",
		"-dns01", at(dnsPort), "-management", at(challMgmt), "-http01", "", "-https01", "", "-tlsalpn01", ""}, nil)
	start(t, dir, "pebble", []string{"pebble", "-config", write("pebble.json", cfg), "-dnsserver", at(dnsPort)},
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"})
	a := &acmeServer{Directory: "https://" + at(acmePort) + "/dir", ListenerCA: ca.PEM, mgmt: "https://" + at(mgmtPort)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := a.fetch("/roots/0")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble does not answer: %v\n%s", err, readFile(filepath.Join(dir, "pebble.log")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return a
}

// start runs argv in the background with its output in dir/<name>.log,
// and kills it (by its own PID) when the test ends.
func start(t *testing.T, dir, name string, argv, env []string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// fetch GETs a path of Pebble's management API.
func (a *acmeServer) fetch(path string) ([]byte, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(a.ListenerCA)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(a.mgmt + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &httpStatusError{resp.Status}
	}
	return b, err
}

type httpStatusError struct{ status string }

func (e *httpStatusError) Error() string { return e.status }

// root returns the root certificate Pebble issues under (PEM).
func (a *acmeServer) root(t *testing.T) []byte {
	t.Helper()
	b, err := a.fetch("/roots/0")
	if err != nil {
		t.Fatalf("pebble's root: %v", err)
	}
	return b
}

// trustCA adds caPEM to h's system trust store: certbot (Python requests
// on Debian's certifi) then trusts Pebble's directory as it trusts Let's
// Encrypt's.
func trustCA(t *testing.T, h *testhost.Host, caPEM []byte) {
	t.Helper()
	p := filepath.Join(h.Root, "usr/local/share/ca-certificates/eden-deploy-test-acme.crt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, h, "update-ca-certificates")
}

// servedCertificate connects to addr:port naming host (SNI) and returns
// the certificate chain the server sends, verified against rootPEM for
// host.
func servedCertificate(t *testing.T, addr string, port int, host string, rootPEM []byte) []*x509.Certificate {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("no certificate in the root PEM")
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)), &tls.Config{ServerName: host, RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS to %s:%d as %s: %v", addr, port, host, err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 or later", st.Version)
	}
	return st.PeerCertificates
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// curl runs curl on this machine with host resolved to addr and returns
// the response's status line and headers; an error fails the test.
func curl(t *testing.T, addr, host string, port int, args ...string) string {
	t.Helper()
	argv := append([]string{"--silent", "--show-error", "--max-time", "20", "--noproxy", "*", "--dump-header", "-", "--output", "/dev/null",
		"--resolve", host + ":" + strconv.Itoa(port) + ":" + addr}, args...)
	out, err := exec.Command("curl", argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return strings.ReplaceAll(string(out), "\r", "")
}

func status(headers string) string {
	line, _, _ := strings.Cut(headers, "\n")
	return line
}

// checkAnswered fails t unless the response whose headers curl printed is
// the app's answer (2xx, or a redirect, as Eden's front page may be) and,
// when scheme is set, a redirect stays on scheme: the app knew how it was
// reached.
func checkAnswered(t *testing.T, what, headers, scheme string) {
	t.Helper()
	fields := strings.Fields(status(headers))
	code := 0
	if len(fields) > 1 {
		code, _ = strconv.Atoi(fields[1])
	}
	if code < 200 || code >= 400 {
		t.Errorf("GET %s: %s", what, headers)
		return
	}
	for _, l := range strings.Split(headers, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "location") && scheme != "" {
			if v = strings.TrimSpace(v); strings.Contains(v, "://") && !strings.HasPrefix(v, scheme+"://") {
				t.Errorf("GET %s redirects to %s, not over %s", what, v, scheme)
			}
		}
	}
}

// checkPublicURL proves that the instance's 000_config.py on h sets
// settings.base.public_url to url (read as text: its quoting is the
// renderer's, tested elsewhere).
func checkPublicURL(t *testing.T, h *testhost.Host, inst *deploy.Instance, url string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root, strings.TrimPrefix(inst.Type.Home(), "/"), "applications/eden/models/000_config.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "settings.base.public_url") {
			if !strings.Contains(l, `"`+url+`"`) && !strings.Contains(l, `'`+url+`'`) {
				t.Errorf("000_config.py: %s, want %s", l, url)
			}
			return
		}
	}
	t.Errorf("000_config.py sets no settings.base.public_url")
}

// serveAnew changes how inst is served (d.ReplaceTLS, as PUT .../tls
// does) and runs the reconfigure that applies it.
func serveAnew(t *testing.T, p *plane, inst *deploy.Instance, label, url string, spec deploy.TLSSpec) *deploy.Run {
	t.Helper()
	if _, err := p.d.ReplaceTLS(inst.Type, url, spec, time.Now()); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return p.run(label, deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: inst.Type})
}

// checkHTTPS proves HTTPS on a deployed all-in-one instance: Let's
// Encrypt's protocol against a real ACME server (Pebble) through certbot
// and its nginx plugin, renewal, an own certificate, and the way back to
// plain HTTP, which it leaves the instance in.
func checkHTTPS(t *testing.T, p *plane, c *testhost.Cluster, h *testhost.Host, inst *deploy.Instance) {
	plainURL := inst.URL
	// Eden's 000_config.py is on this server when it is all-in-one.
	publicURL := func(t *testing.T, url string) {
		t.Helper()
		if p.d.AllInOne() {
			checkPublicURL(t, h, inst, url)
		}
	}
	acme := startACME(t, c, h.Addr)
	trustCA(t, h, acme.ListenerCA)
	const host = "eden-tls.installtest.test"
	url := "https://" + host

	t.Run("acme", func(t *testing.T) {
		serveAnew(t, p, inst, "https via ACME", url, deploy.TLSSpec{TLSOptions: deploy.TLSOptions{ACMEDirectory: acme.Directory}})
		root := acme.root(t)
		rootFile := filepath.Join(t.TempDir(), "pebble-root.pem")
		if err := os.WriteFile(rootFile, root, 0o644); err != nil {
			t.Fatal(err)
		}
		headers := curl(t, h.Addr, host, 443, "--cacert", rootFile, url+"/")
		checkAnswered(t, url, headers, "https")
		if !strings.Contains(strings.ToLower(headers), "strict-transport-security: max-age=31536000") {
			t.Errorf("GET %s: no HSTS header:\n%s", url, headers)
		}
		redirect := curl(t, h.Addr, host, 80, "http://"+host+"/default/index?x=1")
		if !strings.HasPrefix(status(redirect), "HTTP/1.1 301") || !strings.Contains(redirect, "Location: "+url+"/default/index?x=1\n") {
			t.Errorf("GET http://%s/: want a 301 to %s:\n%s", host, url, redirect)
		}
		challenge := curl(t, h.Addr, host, 80, "http://"+host+"/.well-known/acme-challenge/none")
		if !strings.HasPrefix(status(challenge), "HTTP/1.1 404") {
			t.Errorf("the ACME challenge path redirects or answers: %s", status(challenge))
		}
		publicURL(t, url)

		lineage := playbook.ACMELineage(host, acme.Directory)
		live := filepath.Join(h.Root, "etc/letsencrypt/live", lineage)
		chain := servedCertificate(t, h.Addr, 443, host, root)
		if want := certFile(t, filepath.Join(live, "cert.pem")); fingerprint(chain[0]) != fingerprint(want) {
			t.Errorf("nginx serves %s, certbot's lineage holds %s", fingerprint(chain[0]), fingerprint(want))
		}
		renewal := readFile(filepath.Join(h.Root, "etc/letsencrypt/renewal", lineage+".conf"))
		if !strings.Contains(renewal, "server = "+acme.Directory) || !strings.Contains(renewal, "authenticator = nginx") {
			t.Errorf("certbot's renewal configuration:\n%s", renewal)
		}
		if fi, err := os.Stat(filepath.Join(h.Root, "etc/letsencrypt/renewal-hooks/deploy/eden-reload-nginx")); err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("the deploy hook: %v %v", fi, err)
		}
		// Renewal runs from certbot's systemd timer, or without systemd
		// (as here) from its cron job.
		if _, err := os.Stat(filepath.Join(h.Root, "etc/cron.d/certbot")); err != nil {
			t.Errorf("certbot's renewal job: %v", err)
		}

		// Nothing to do a second time, for a reconfigure or a deploy (as
		// a retried deploy runs it): no new certificate, no reload (the
		// same nginx workers).
		workers := nginxWorkers(t, h)
		p.requireNoChange(p.run("https via ACME again", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: inst.Type}), "https via ACME again")
		kind := deploy.RunAddInstance
		if p.d.FirstInstance().Type == inst.Type {
			kind = deploy.RunDeploy
		}
		inst.Status = deploy.InstanceFailed // the rules refuse a deploy of a deployed instance
		p.requireNoChange(p.run("deploy with https again", deploy.RunRequest{Kind: kind, Instance: inst.Type}), "deploy with https again")
		if again := servedCertificate(t, h.Addr, 443, host, root); fingerprint(again[0]) != fingerprint(chain[0]) {
			t.Errorf("a second run changed the served certificate")
		}
		if after := nginxWorkers(t, h); after != workers {
			t.Errorf("a second run reloaded nginx: workers %s, then %s", workers, after)
		}

		// A forced renewal: certbot obtains a new certificate and its
		// deploy hook has nginx serve it.
		// Run without a terminal, certbot renew first sleeps up to 8
		// minutes (to spread Let's Encrypt's load) unless told not to.
		sh(t, h, "certbot", "renew", "--force-renewal", "--non-interactive", "--no-random-sleep-on-renew", "--cert-name", lineage)
		renewed := certFile(t, filepath.Join(live, "cert.pem"))
		if fingerprint(renewed) == fingerprint(chain[0]) {
			t.Fatalf("the forced renewal kept the certificate")
		}
		deadline := time.Now().Add(10 * time.Second)
		for served := servedCertificate(t, h.Addr, 443, host, root); fingerprint(served[0]) != fingerprint(renewed); served = servedCertificate(t, h.Addr, 443, host, root) {
			if time.Now().After(deadline) {
				t.Fatalf("after the renewal nginx serves %s, not the renewed %s", fingerprint(served[0]), fingerprint(renewed))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("own certificate", func(t *testing.T) {
		const host = "eden-own.installtest.test"
		ca := testcert.NewCA(t, "Eden Deploy test: an organisation's CA")
		leaf := ca.Issue(t, []string{host})
		url := "https://" + host
		// Refused before anything is written: another host's certificate,
		// another key.
		other := ca.Issue(t, []string{"elsewhere.installtest.test"})
		for _, spec := range []deploy.TLSSpec{
			{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(other.Chain), PrivateKey: string(other.Key)},
			{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(testcert.NewKeyPEM(t))},
		} {
			before, _ := json.Marshal(p.d)
			if _, err := p.d.ReplaceTLS(inst.Type, url, spec, time.Now()); !deploy.IsKind(err, deploy.KindInvalid) {
				t.Errorf("a certificate that does not fit was not refused: %v", err)
			}
			if after, _ := json.Marshal(p.d); !bytes.Equal(before, after) {
				t.Errorf("a refused certificate changed the deployment")
			}
		}

		// The control plane keeps the chain and key in the secret store
		// (control.ReplaceTLS), under the names the renderer gives.
		chainName, keyName := deploy.TLSSecretNames(inst.Type, leaf.SHA256)
		for name, v := range map[string][]byte{chainName: leaf.Chain, keyName: leaf.Key} {
			if err := p.secrets.PutSecret(context.Background(), p.d.ID, name, v); err != nil {
				t.Fatal(err)
			}
		}
		r := serveAnew(t, p, inst, "https with an own certificate", url, deploy.TLSSpec{
			TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(leaf.Key)})
		served := servedCertificate(t, h.Addr, 443, host, ca.PEM)
		if got := fingerprint(served[0]); got != leaf.SHA256 || inst.TLS.Certificate.SHA256 != leaf.SHA256 {
			t.Errorf("nginx serves %s, want the given certificate %s", got, leaf.SHA256)
		}
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, url, curl(t, h.Addr, host, 443, "--cacert", caFile, url+"/"), "https")
		publicURL(t, url)
		keyFile := filepath.Join(h.Root, "etc/nginx/eden-tls", string(inst.Type), "privkey.pem")
		if owner := strings.TrimSpace(sh(t, h, "stat", "-c", "%U:%a", "/etc/nginx/eden-tls/"+string(inst.Type)+"/privkey.pem")); owner != "root:600" {
			t.Errorf("the key on the server is %s, want root:600", owner)
		}
		p.requireNoChange(p.run("https with an own certificate again", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: inst.Type}), "own certificate again")

		// The key is nowhere else: not in the deployment, a run, a bundle,
		// the run logs, or anywhere else on the server.
		keyLines := keyProbes(leaf.Key)
		record, _ := json.Marshal(struct {
			D *deploy.Deployment
			R *deploy.Run
		}{p.d, r})
		found := findKey(t, keyLines, string(record), "the deployment and run records")
		for _, st := range r.Steps {
			if st.BundleKey == "" {
				continue // a step this test did not dispatch
			}
			found += findKey(t, keyLines, bundleText(t, p, st.BundleKey), "the bundle of step "+st.Name)
		}
		found += findKey(t, keyLines, p.logText(r.ID), "the run log")
		for _, dir := range []string{"etc", "root", "tmp", "var/log", "var/tmp", "var/www", "var/lib/letsencrypt", "home"} {
			found += findKeyIn(t, keyLines, filepath.Join(h.Root, dir), keyFile)
		}
		if found > 0 {
			t.Errorf("the key was found in %d places besides the secret store and %s", found, keyFile)
		}
		if v, err := p.secrets.GetSecret(context.Background(), p.d.ID, keyName); err != nil || !bytes.Equal(v, leaf.Key) {
			t.Errorf("the secret store lost the key: %v", err)
		}
	})

	t.Run("front", func(t *testing.T) {
		// A load balancer in front: nginx serves HTTP and believes
		// X-Forwarded-Proto only from the trusted proxies, here this
		// machine (the gateway), not the server itself. HSTS, sent only
		// on what nginx takes for HTTPS, shows what it believed.
		const host = "eden-front.installtest.test"
		url := "https://" + host
		serveAnew(t, p, inst, "https in front", url, deploy.TLSSpec{TLSOptions: deploy.TLSOptions{
			Mode: deploy.TLSFront, HSTSMaxAge: new(600), TrustedProxies: []string{c.Gateway}}})
		publicURL(t, url)
		trusted := curl(t, h.Addr, host, 80, "--header", "X-Forwarded-Proto: https", "http://"+host+"/")
		checkAnswered(t, "http://"+host+"/ with X-Forwarded-Proto https", trusted, "https")
		if !strings.Contains(strings.ToLower(trusted), "strict-transport-security: max-age=600") {
			t.Errorf("from the trusted proxy, X-Forwarded-Proto https: no HSTS:\n%s", trusted)
		}
		if plain := curl(t, h.Addr, host, 80, "http://"+host+"/"); strings.Contains(strings.ToLower(plain), "strict-transport-security") {
			t.Errorf("from the trusted proxy, plain HTTP: HSTS sent:\n%s", plain)
		}
		// Redirects are not followed: the answer itself is what counts.
		const prog = `import sys, urllib.request as u
class Stay(u.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
req = u.Request("http://" + sys.argv[1] + "/", headers={"Host": sys.argv[2], "X-Forwarded-Proto": "https"})
try:
    r = u.build_opener(Stay).open(req, timeout=20)
    status, headers = r.status, r.headers
except u.HTTPError as e:
    status, headers = e.code, e.headers
print(status < 400, headers.get("Strict-Transport-Security"))
`
		if out := strings.TrimSpace(sh(t, h, "python3", "-c", prog, h.Addr, host)); out != "True None" {
			t.Errorf("from an untrusted address (the server itself), X-Forwarded-Proto https: %q, want an answer without HSTS", out)
		}
	})

	t.Run("back to plain HTTP", func(t *testing.T) {
		serveAnew(t, p, inst, "plain HTTP again", plainURL, deploy.TLSSpec{})
		publicURL(t, plainURL)
		host, port := inst.Endpoint()
		checkAnswered(t, plainURL, curl(t, h.Addr, host, port, plainURL+"/"), "")
		if _, err := os.Lstat(filepath.Join(h.Root, "etc/nginx/sites-enabled/eden-"+string(inst.Type))); err != nil {
			t.Error(err)
		}
	})
}

// nginxWorkers lists the PIDs of nginx's worker processes on h: a reload
// replaces them.
func nginxWorkers(t *testing.T, h *testhost.Host) string {
	t.Helper()
	out, _ := shErr(h, "pgrep", "-f", "nginx: worker")
	return strings.Join(strings.Fields(out), " ")
}

func certFile(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", p)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bundleText returns the files of a stored bundle, concatenated.
func bundleText(t *testing.T, p *plane, key string) string {
	t.Helper()
	tgz, err := p.blobs.GetBlob(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyProbes are the base64 lines of a PEM key.
func keyProbes(key []byte) []string {
	var out []string
	for _, l := range strings.Split(string(key), "\n") {
		if len(l) >= 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func findKey(t *testing.T, probes []string, text, where string) int {
	t.Helper()
	for _, pr := range probes {
		if strings.Contains(text, pr) {
			t.Errorf("the private key is in %s", where)
			return 1
		}
	}
	return 0
}

// findKeyIn looks for the key in every regular file under dir but allowed.
func findKeyIn(t *testing.T, probes []string, dir, allowed string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() || p == allowed {
			return nil
		}
		if fi, err := e.Info(); err != nil || fi.Size() > 16<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		n += findKey(t, probes, string(b), p)
		return nil
	})
	return n
}
