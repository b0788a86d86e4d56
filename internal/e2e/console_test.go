package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// gate is an ansible-playbook wrapper for `edenctl serve --ansible-playbook`:
// a step whose inventory names the host written in the gate file waits
// until the test removes the file, then runs the real ansible-playbook.
// It lets the test see a run in the middle of its steps (earlier steps'
// log lines on the page, a step running) and cancel it there; every step
// still runs real Ansible over SSH against the test hosts.
type gate struct{ script, file string }

func newGate(t *testing.T) *gate {
	dir := t.TempDir()
	g := &gate{script: filepath.Join(dir, "ansible-playbook"), file: filepath.Join(dir, "hold")}
	real := testpeer.LookPath(t, "ansible-playbook")
	body := fmt.Sprintf(`#!/bin/sh
# Test gate: hold the step whose inventory (-i FILE) names the host in %[1]s.
if [ -f %[1]s ] && [ "$1" = "-i" ] && grep -qF "\"$(cat %[1]s)\"" "$2"; then
  echo "console test: this step waits for the test to let it go"
  while [ -f %[1]s ]; do sleep 0.1; done
fi
exec %[2]s "$@"
`, g.file, real)
	if err := os.WriteFile(g.script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gate) hold(t *testing.T, host string) {
	if err := os.WriteFile(g.file, []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (g *gate) release() { os.Remove(g.file) }

// TestConsole drives the web console in a real headless Chromium against
// `edenctl serve` with SSH test hosts and the recording roles, as people
// would: register, be approved, sign in, create a 3-tier deployment with
// the form, watch its run, add an instance, pull, edit settings (and meet
// the version check), cancel a run; another user sees nothing of it; hostile
// strings are shown literally; a failed run says which host failed. It
// saves screenshots of the main pages (see screenshotDir).
func TestConsole(t *testing.T) {
	b := newBrowser(t)
	testpeer.Root(t)
	testpeer.LookPath(t, "go")
	hosts := testhost.Start(t, 4, testhost.Unreachable("h4"))
	db, eden, web, gone := hosts.Host("h1").Addr, hosts.Host("h2").Addr, hosts.Host("h3").Addr, hosts.Host("h4").Addr
	g := newGate(t)
	t.Cleanup(g.release)

	srv := newServer(t, buildEdenctl(t))
	srv.extraArgs = []string{"--registration", "--ansible-playbook", g.script}
	srv.start()
	base := "http://" + srv.addr
	var seen [][]byte
	admin := client{t: t, base: base, token: srv.adminToken(), doc: openapitest.MustParse(t, httpapi.OpenAPI()), mu: &sync.Mutex{}, seen: &seen}
	t.Logf("screenshots go to %s", b.shotsDir)
	start := time.Now()
	phase := func(name string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), name) }

	// --- Register, be approved by an admin, sign in.
	const aliceEmail, alicePassword = "alice@example.org", "a long enough password"
	alice := b.tab("alice")
	alice.goTo(base, "#/register")
	alice.run("register",
		setValue(`main input[name=email]`, aliceEmail), setValue(`main input[name=password]`, alicePassword),
		click(`main form button[type=submit]`))
	alice.waitFor("the registration", `document.querySelector('main').textContent.includes('An admin must approve')`)

	signInPassword := func() {
		alice.goTo(base, "#/signin")
		alice.run("sign in with the password",
			setValue(`main input[name=email]`, aliceEmail), setValue(`main input[name=password]`, alicePassword),
			click(`form[aria-labelledby=pw-h] button[type=submit]`))
	}
	signInPassword()
	alice.waitFor("the pending message", `document.querySelector('form[aria-labelledby=pw-h] .form-errors').textContent.includes("approval")`)

	adm := b.tab("admin")
	adm.goTo(base, "#/signin")
	adm.run("sign in with the admin token", setValue(`main input[name=token]`, admin.token),
		click(`form[aria-labelledby=tok-h] button[type=submit]`))
	adm.waitFor("the deployments page", `location.hash === '#/' && document.querySelector('main h1')?.textContent === 'Deployments'`)
	adm.goTo(base, "#/accounts")
	adm.run("approve alice", click(`button[aria-label="Approve alice@example.org"]`))
	adm.waitFor("alice approved", `document.querySelector('tr[data-email="alice@example.org"] .badge')?.textContent === 'approved'`)

	signInPassword()
	alice.waitFor("alice signed in", `location.hash === '#/' && document.querySelector('#nav .who')?.textContent === 'alice@example.org' && document.querySelector('main h1')?.textContent === 'Deployments' && !document.querySelector('main .loading')`)
	if s := alice.text("main"); !strings.Contains(s, "No deployments yet") {
		t.Errorf("alice's first deployments page says %q", s)
	}

	phase("signed in")
	// --- Create a 3-tier deployment with the form: first a host the API
	// refuses, whose problem shows beside its field.
	alice.goTo(base, "#/new")
	alice.run("fill the form",
		setValue(`input[name=name]`, "Relief"), setValue(`input[name=admin_email]`, "admin@example.org"),
		setValue(`input[name=ssh_user]`, hosts.User), setValue(`textarea[name=ssh_private_key]`, string(hosts.PrivateKey)),
		setValue(`input[name=host0]`, db), setValue(`select[name=role0]`, "db"),
		clickButton("Add a server"),
		setValue(`input[name=host1]`, "-not a host"), setValue(`select[name=role1]`, "eden"),
		clickButton("Add a server"),
		setValue(`input[name=host2]`, web), setValue(`select[name=role2]`, "webserver"),
		click(`form.create button[type=submit]`))
	alice.waitFor("the host's problem beside it", `(() => { const el = document.querySelector('[data-field="servers[1].host"]');
		const err = el && document.getElementById(el.id + '-err'); return !!err && !err.hidden && err.textContent.length > 0 && el.getAttribute('aria-invalid') === 'true'; })()`)
	var fieldErr string
	alice.eval(`(() => { const el = document.querySelector('[data-field="servers[1].host"]'); return document.getElementById(el.id + '-err').textContent; })()`, &fieldErr)
	t.Logf("the API's problem shown beside servers[1].host: %q", fieldErr)
	alice.shot("create")
	checkLabelled(t, alice)
	if got := listDeployments(t, admin); got != 0 {
		t.Fatalf("a refused create stored %d deployments", got)
	}

	phase("form problems shown")
	g.hold(t, web) // the webserver step waits, so the run is seen mid-way
	alice.run("fix the host and create",
		setValue(`input[name=host1]`, eden), click(`form.create button[type=submit]`))
	alice.waitFor("the run page", `location.hash.includes('/runs/') && document.querySelector('main h1')?.textContent.startsWith('Run ')`)
	depID, runID := routeIDs(t, alice)

	// Log lines appear while the run runs: the db and eden steps' Ansible
	// output is on the page while the webserver step is held.
	alice.waitFor("log lines while running", `document.querySelector('pre.log').textContent.includes('PLAY RECAP')
		&& document.querySelector('.run-status .badge').textContent === 'running'
		&& document.querySelector('[data-step=webserver] .badge')?.textContent === 'running'`)
	var liveLines int
	alice.eval(`document.querySelector('pre.log').textContent.split('\n').length`, &liveLines)
	alice.shot("run-in-progress")
	phase("run seen mid-way")
	g.release()
	alice.waitFor("the run's success", `document.querySelector('.run-status .badge').textContent === 'succeeded' && document.querySelector('pre.log').dataset.complete === 'true'`)
	var steps []string
	alice.eval(`[...document.querySelectorAll('.step')].map(s => s.dataset.step + ' ' + s.querySelector('.badge').textContent)`, &steps)
	if strings.Join(steps, ", ") != "db succeeded, eden succeeded, webserver succeeded" {
		t.Errorf("the run page's steps: %v", steps)
	}
	var finalLines int
	alice.eval(`document.querySelector('pre.log').textContent.split('\n').length`, &finalLines)
	if liveLines < 5 || finalLines <= liveLines {
		t.Errorf("log lines on the page: %d while running, %d at the end; want some while running and more after", liveLines, finalLines)
	}
	if r := admin.waitRun(depID, runID, pageLimit); r.Status != deploy.RunSucceeded {
		t.Fatalf("the API says the run %s", r.Status)
	}

	phase("3-tier run succeeded")
	// --- The deployment's page, then add a demo instance.
	alice.goTo(base, "#/d/"+depID)
	page := alice.text("main")
	for _, want := range []string{db, eden, web, "webserver", "prod", "deployed"} {
		if !strings.Contains(page, want) {
			t.Errorf("the deployment's page lacks %q", want)
		}
	}
	checkLabelled(t, alice)
	alice.run("add a demo instance", setValue(`form.add-instance select[name=type]`, "demo"),
		click(`form.add-instance button[type=submit]`))
	waitRunPage(t, alice, "succeeded")

	phase("demo added")
	// --- Pull prod.
	alice.goTo(base, "#/d/"+depID)
	alice.run("pull prod", click(`button[aria-label="Pull prod"]`))
	waitRunPage(t, alice, "succeeded")
	if log := orderLog(t, srv.recordDir, eden); !containsPrefix(log, "pull ") {
		t.Errorf("the eden host never ran the pull playbook: %v", log)
	}

	phase("pulled")
	// --- Edit a setting; then save over a version someone else replaced.
	alice.goTo(base, "#/d/"+depID)
	alice.run("open prod's settings", clickButton("Settings of prod"))
	alice.waitFor("the settings", `(document.querySelector('textarea[name=settings-prod]')?.value || '').startsWith('{')`)
	alice.run("set the language", js(`(() => { const t = document.querySelector('textarea[name=settings-prod]');
		const s = JSON.parse(t.value); s['L10n.default_language'] = 'fr'; t.value = JSON.stringify(s, null, 2); })()`),
		click(`form.settings-form button[type=submit]`))
	alice.waitFor("the save", `document.querySelector('.settings-msg').textContent.includes('Saved')`)
	waitIdle(t, admin, depID)
	if rec := recorded(t, srv.recordDir, eden, "reconfigure", "eden"); !strings.Contains(mustJSON(t, rec["eden_instances"]), `"L10n.default_language":"fr"`) {
		t.Errorf("the reconfigure run did not apply the setting from the console: %v", rec["eden_instances"])
	}
	phase("setting applied")
	alice.goTo(base, "#/d/"+depID)
	alice.run("open prod's settings again", clickButton("Settings of prod"))
	alice.waitFor("the settings", `(document.querySelector('textarea[name=settings-prod]')?.value || '').includes('"fr"')`)
	// Someone else replaces them meanwhile (through the API, as admin).
	var cur httpapi.SettingsDoc
	h := admin.must(200, "GET", "/v1/deployments/"+depID+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings", nil, &cur)
	cur.Settings["L10n.default_language"] = "es"
	if status, _, body := admin.do("PUT", "/v1/deployments/"+depID+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings",
		httpapi.PutSettingsRequest{Settings: cur.Settings}, map[string]string{"If-Match": h.Get("ETag")}); status != 202 {
		t.Fatalf("the other writer's PUT → %d %s", status, body)
	}
	waitIdle(t, admin, depID)
	alice.run("save over the other change", js(`(() => { const t = document.querySelector('textarea[name=settings-prod]');
		const s = JSON.parse(t.value); s['L10n.default_language'] = 'de'; t.value = JSON.stringify(s, null, 2); })()`),
		click(`form.settings-form button[type=submit]`))
	alice.waitFor("the conflict message", `document.querySelector('.settings-msg .conflict')?.textContent.includes('Someone else changed these settings')`)
	alice.shot("settings-conflict")
	admin.must(200, "GET", "/v1/deployments/"+depID+"/instances/prod/settings", "/v1/deployments/{id}/instances/{type}/settings", nil, &cur)
	if cur.Settings["L10n.default_language"] != "es" {
		t.Errorf("a stale save changed the settings: language %v, want the other writer's es", cur.Settings["L10n.default_language"])
	}

	phase("conflict shown")
	// --- Cancel a running run.
	g.hold(t, eden)
	alice.goTo(base, "#/d/"+depID)
	alice.run("restart prod", click(`button[aria-label="Restart prod"]`))
	alice.waitFor("the restart running", `location.hash.includes('/runs/') && document.querySelector('[data-step=eden] .badge')?.textContent === 'running'`)
	alice.run("cancel", clickButton("Cancel run"))
	alice.waitFor("the run cancelled", `document.querySelector('.run-status .badge').textContent === 'cancelled'`)
	g.release()
	_, cancelled := routeIDs(t, alice)
	if r := admin.waitRun(depID, cancelled, pageLimit); r.Status != deploy.RunCancelled {
		t.Errorf("the API says the cancelled run is %s", r.Status)
	}

	phase("cancelled")
	// --- Deployments at a glance (alice's).
	alice.goTo(base, "#/")
	alice.waitFor("the list", `document.querySelector('table.deployments tbody tr') !== null`)
	alice.shot("deployments")

	// --- An admin makes a token for bob in the console; bob sees nothing
	// of alice's, and her deployment's URL is "not found" for him.
	adm.goTo(base, "#/tokens")
	adm.run("make bob's token", setValue(`main input[name=user]`, "bob"), setValue(`main input[name=name]`, "console test"),
		click(`main form button[type=submit]`))
	adm.waitFor("the token", `(document.querySelector('input.secret')?.value || '').startsWith('edt_')`)
	var bobToken string
	adm.eval(`document.querySelector('input.secret').value`, &bobToken)
	bob := b.tab("bob")
	bob.goTo(base, "#/signin")
	// By keyboard alone: type the token into its field and press Enter.
	bob.run("bob signs in by keyboard", chromedp.SendKeys(chromedp.CSS(`main input[name=token]`), bobToken+"\r"))
	bob.waitFor("bob's deployments", `location.hash === '#/' && document.querySelector('#nav .who')?.textContent === 'bob' && document.querySelector('main h1')?.textContent === 'Deployments' && !document.querySelector('main .loading')`)
	if s := bob.text("main"); strings.Contains(s, "Relief") || !strings.Contains(s, "No deployments yet") {
		t.Errorf("bob's deployments page: %q", s)
	}
	bob.goTo(base, "#/d/"+depID)
	if h1 := bob.text("main h1"); h1 != "Not found" {
		t.Errorf("bob opening alice's deployment sees %q, want Not found", h1)
	}

	phase("bob checked")
	// --- Hostile strings are shown literally and run nothing; a failed
	// run says which host failed.
	hostileName := `<script>window.edenPwned=1;alert(1)</script> {{ 7*7 }}`
	hostileSettings := deploy.Settings{
		"L10n.default_language": `<img src=x onerror="window.edenPwned=2;alert(2)">`,
		"base.system_name":      "{{ lookup('env','HOME') }} \u202Eevil\u202C ${7*7}",
	}
	var created httpapi.DeploymentCreated
	admin.must(201, "POST", "/v1/deployments", "/v1/deployments", httpapi.CreateDeploymentRequest{
		Spec: deploy.Spec{Name: hostileName, AdminEmail: "admin@example.org", SSHUser: hosts.User,
			Servers:  []deploy.ServerSpec{{Host: gone, Role: deploy.RoleAll}},
			Instance: deploy.InstanceSpec{Type: deploy.InstanceProd, Settings: hostileSettings}},
		SSHPrivateKey: string(hosts.PrivateKey),
	}, &created)
	if r := admin.waitRun(created.Deployment.ID, created.Run.ID, pageLimit); r.Status != deploy.RunFailed {
		t.Fatalf("the run on an unreachable host %s", r.Status)
	}
	phase("hostile run failed")
	adm.goTo(base, "#/d/"+created.Deployment.ID+"/runs/"+created.Run.ID)
	adm.waitFor("the failure", `document.querySelector('.failure')?.hidden === false && document.querySelector('.failure').textContent.includes('failed')`)
	failure := adm.text(".failure")
	if !strings.Contains(failure, gone) {
		t.Errorf("the failed run's page does not name the host %s: %q", gone, failure)
	}
	adm.shot("run-failed")
	adm.goTo(base, "#/")
	adm.waitFor("the list", `document.querySelectorAll('table.deployments tbody tr').length === 2`)
	adm.shot("deployments-admin")
	var names []string
	adm.eval(`[...document.querySelectorAll('a.dep-name')].map(a => a.textContent)`, &names)
	if !contains(names, hostileName) {
		t.Errorf("the list shows the names %q, want %q among them, literally", names, hostileName)
	}
	adm.goTo(base, "#/d/"+created.Deployment.ID)
	if h1 := adm.text("main h1"); h1 != hostileName {
		t.Errorf("the deployment's heading is %q, want the name literally: %q", h1, hostileName)
	}
	adm.run("open the hostile settings", clickButton("Settings of prod"))
	adm.waitFor("the settings", `(document.querySelector('textarea[name=settings-prod]')?.value || '').includes('onerror')`)
	var settingsText string
	adm.eval(`document.querySelector('textarea[name=settings-prod]').value`, &settingsText)
	var shown map[string]any
	if err := json.Unmarshal([]byte(settingsText), &shown); err != nil || shown["base.system_name"] != hostileSettings["base.system_name"] || shown["L10n.default_language"] != hostileSettings["L10n.default_language"] {
		t.Errorf("the settings editor shows %s, want the hostile values literally", settingsText)
	}
	if strings.ContainsRune(settingsText, '\u202E') || !strings.Contains(settingsText, `\u202e`) {
		t.Errorf("the right-to-left override is not shown as an escape in the settings editor: %q", settingsText)
	}
	adm.shot("hostile-deployment")
	var pwned any
	var injected int
	adm.eval(`window.edenPwned === undefined ? null : window.edenPwned`, &pwned)
	adm.eval(`document.querySelectorAll('main script, main img, main [onerror]').length`, &injected)
	if pwned != nil || injected != 0 {
		t.Errorf("a hostile string ran or became markup: edenPwned=%v, %d injected elements", pwned, injected)
	}

	// --- Delete a deployment, its name typed to confirm.
	adm.run("type a wrong name", setValue(`input[name=confirm-delete]`, "not its name"), click(`form.danger-zone button[type=submit]`))
	adm.waitFor("the refusal", `document.querySelector('form.danger-zone .field-error')?.hidden === false`)
	adm.run("delete", setValue(`input[name=confirm-delete]`, hostileName), click(`form.danger-zone button[type=submit]`))
	adm.waitFor("the list without it", `location.hash === '#/' && document.querySelectorAll('table.deployments tbody tr').length === 1`)
	if status, _, _ := admin.do("GET", "/v1/deployments/"+created.Deployment.ID, "", nil, nil); status != 404 {
		t.Errorf("the deployment deleted in the console → %d, want 404", status)
	}

	// --- A phone-sized window: nothing wider than the screen.
	adm.run("phone size", chromedp.EmulateViewport(390, 844))
	adm.goTo(base, "#/")
	var overflow bool
	adm.eval(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
	if overflow {
		t.Errorf("the deployments page is wider than a phone's window")
	}
	adm.shot("deployments-phone")

	phase("hostile shown, phone checked")
	// --- Tokens never in a URL, the page's HTML or the server's log.
	secrets := []string{admin.token, bobToken}
	var aliceSession string
	alice.eval(`JSON.parse(sessionStorage.getItem('eden.session')).token`, &aliceSession)
	secrets = append(secrets, aliceSession)
	for _, tb := range []*tab{alice, adm, bob} {
		var html, href string
		tb.eval(`document.documentElement.outerHTML`, &html)
		tb.eval(`location.href`, &href)
		for _, s := range secrets {
			if strings.Contains(html, s) || strings.Contains(href, s) {
				t.Errorf("%s: a token is in the page's HTML or address", tb.name)
			}
		}
	}
	logText := srv.output()
	for i, s := range secrets[1:] { // the first admin token is printed once, at first start, by design
		if strings.Contains(logText, s) {
			t.Errorf("token %d is in the server's log", i+1)
		}
	}
	if strings.Contains(logText, alicePassword) {
		t.Errorf("alice's password is in the server's log")
	}

	alerts, exceptions := b.problems()
	if len(alerts) > 0 {
		t.Errorf("pages opened dialogs (a script ran): %v", alerts)
	}
	if len(exceptions) > 0 {
		t.Errorf("pages threw: %v", exceptions)
	}
	t.Logf("console test: %s of browser work after the server started; screenshots in %s", time.Since(start).Round(time.Second), b.shotsDir)
}

// routeIDs reads the deployment and run IDs from a run page's address.
func routeIDs(t *testing.T, tb *tab) (dep, run string) {
	t.Helper()
	var hash string
	tb.eval(`location.hash`, &hash)
	parts := strings.Split(strings.TrimPrefix(hash, "#/d/"), "/runs/")
	if len(parts) != 2 {
		t.Fatalf("not a run page: %s", hash)
	}
	return parts[0], parts[1]
}

// waitRunPage waits on a run page until the run has the status want.
func waitRunPage(t *testing.T, tb *tab, want string) {
	t.Helper()
	tb.waitFor("the run page", `location.hash.includes('/runs/') && document.querySelector('.run-status .badge') !== null`)
	tb.waitFor("the run "+want, `['succeeded','failed','cancelled'].includes(document.querySelector('.run-status .badge').textContent)`)
	if got := tb.text(".run-status .badge"); got != want {
		t.Fatalf("the run ended %s, want %s: %s", got, want, tb.text("main"))
	}
}

// waitIdle waits until the deployment has no active run.
func waitIdle(t *testing.T, c client, dep string) {
	t.Helper()
	deadline := time.Now().Add(pageLimit)
	for {
		var d httpapi.DeploymentDetail
		c.must(200, "GET", "/v1/deployments/"+dep, "/v1/deployments/{id}", nil, &d)
		if d.ActiveRun == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s still runs %s", dep, d.ActiveRun.ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func listDeployments(t *testing.T, c client) int {
	var l httpapi.DeploymentList
	c.must(200, "GET", "/v1/deployments", "/v1/deployments", nil, &l)
	return len(l.Items)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// checkLabelled fails the test for any form control on the page that a
// screen reader could not name (no <label>, aria-label or aria-labelledby)
// and any clickable element that is not a link or a button (so not
// reachable by keyboard).
func checkLabelled(t *testing.T, tb *tab) {
	t.Helper()
	var unnamed []string
	tb.eval(`[...document.querySelectorAll('main input, main select, main textarea')]
		.filter(el => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
		.map(el => el.outerHTML.slice(0, 80))`, &unnamed)
	if len(unnamed) > 0 {
		t.Errorf("%s: controls without a label: %v", location(tb), unnamed)
	}
	var clickable []string
	tb.eval(`[...document.querySelectorAll('main [onclick], main [role=button], main div[tabindex]:not([tabindex="-1"]), main span[tabindex]:not([tabindex="-1"])')].map(el => el.outerHTML.slice(0, 80))`, &clickable)
	if len(clickable) > 0 {
		t.Errorf("%s: clickable elements that are not links or buttons: %v", location(tb), clickable)
	}
}

func location(tb *tab) string {
	var hash string
	tb.eval(`location.hash`, &hash)
	return hash
}
