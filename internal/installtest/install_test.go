package installtest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// systemName is a setting no quote, backslash, newline or Jinja markup may
// break on its way into 000_config.py and Eden's pages.
const systemName = "Relief 'Ops' \"HQ\"\nline two \\ {{ lookup('env', 'HOME') }}"

// edenTitle is the title of Eden's default template's front page.
const edenTitle = "Sahana Eden Humanitarian Management Platform"

// adminEmail is the deployment's admin e-mail as the user typed it: Eden
// stores logins lowercased, and the administrator must still log in.
const adminEmail = "Admin@Example.ORG"

func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("installs Sahana Eden on disposable Debian and Ubuntu servers")
	}
	if os.Getenv(EnvInstallTest) == "0" {
		t.Skipf("%s=0: run it with make test-install", EnvInstallTest)
	}
	edenSources(t)
	prepareServers(t, map[string]testhost.Distro{"all-in-one": testhost.Debian12, "3-tier": testhost.Debian12, "ubuntu-24.04": testhost.Ubuntu2404})
	// Each deployment has its own servers, network and git daemon: they run
	// side by side, as much of a run is waiting (SSH, PostgreSQL, Eden's
	// first run on one core).
	t.Run("all-in-one", func(t *testing.T) { t.Parallel(); testAllInOne(t) })
	t.Run("3-tier", func(t *testing.T) { t.Parallel(); testThreeTier(t) })
	t.Run("ubuntu-24.04", func(t *testing.T) { t.Parallel(); testUbuntu(t) })
	t.Run("dry-run-bare", func(t *testing.T) { t.Parallel(); testDryRunBare(t) })
}

// newDeployment is the test's deployment on servers: Eden and web2py
// served by repos, at the default refs (Eden's master, web2py's 2.21.2
// commit), the default template with one prepopulate option beyond it
// (locations/NZ, New Zealand's map configuration), and settings whose
// values need escaping.
func newDeployment(t *testing.T, repos *gitRepos, servers []deploy.ServerSpec, typ deploy.InstanceType) *deploy.Deployment {
	t.Helper()
	now := time.Now()
	spec := deploy.Spec{
		Name:        `Eden "install test" {{ name }}`,
		Eden:        deploy.Repo{URL: repos.url("sahana/eden.git")},
		Web2py:      deploy.Repo{URL: repos.url("web2py/web2py.git")},
		Country:     "NZ",
		Prepopulate: []string{"locations/NZ"},
		AdminEmail:  adminEmail,
		Servers:     servers,
		Instance: deploy.InstanceSpec{Type: typ, Settings: deploy.Settings{
			"mail.limit": 500,
			"base.debug": false,
		}},
	}
	d, err := deploy.NewDeployment(spec, deploy.NewID("d-", now), "installtest", now)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	if d.Eden.Branch != deploy.DefaultEdenRepo.Branch || d.Web2py.Branch != deploy.DefaultWeb2pyRepo.Branch {
		t.Fatalf("the deployment does not check out the default refs: %v %v", d.Eden, d.Web2py)
	}
	return d
}

// dryRun runs a dry run of the first deploy of typ (edenctl deployment
// create --dry-run): it must succeed, report changes, and make nothing.
func dryRun(t *testing.T, p *plane, h *testhost.Host, typ deploy.InstanceType) *deploy.Run {
	t.Helper()
	r := p.run("dry run", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ, DryRun: true})
	if n := changed(r); n == 0 {
		t.Errorf("a dry run of a first deploy reports no change")
	}
	for _, path := range []string{typ.Home(), "/etc/nginx/sites-enabled/eden-" + string(typ),
		"/etc/uwsgi/apps-enabled/" + string(typ) + ".ini", "/etc/cron.d/eden-backup-" + string(typ),
		"/usr/local/bin/eden-backup-" + string(typ)} {
		if _, err := os.Lstat(filepath.Join(h.Root, path)); !os.IsNotExist(err) {
			t.Errorf("the dry run made %s (%v)", path, err)
		}
	}
	if passwd := sh(t, h, "cat", "/etc/passwd"); strings.Contains(passwd, "\nweb2py:") {
		t.Errorf("the dry run made the web2py user")
	}
	return r
}

// A dry run of a first deploy on a bare server (no package installed, no
// python3-apt either) says what it would install and stops short of what
// needs the packages, instead of failing.
func testDryRunBare(t *testing.T) {
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	c := testhost.StartDebian(t, 1, testhost.WithAptProxy())
	h := c.Hosts[0]
	repos := serveSources(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{{Host: h.Addr, Role: deploy.RoleAll}}, deploy.InstanceDemo)
	p := newPlane(t, "dry-run-bare", c, d)
	p.packages = "none"
	t.Cleanup(p.report)
	r := dryRun(t, p, h, deploy.InstanceDemo)
	if log := p.logText(r.ID); !strings.Contains(log, "Would install") || !strings.Contains(log, "postgresql") {
		t.Errorf("the dry run does not say what it would install:\n%s", log)
	}
}

// checkConfig proves that 000_config.py holds the instance's settings as
// Python literals (read back by Python itself) and the system-owned keys.
func checkConfig(t *testing.T, h *testhost.Host, d *deploy.Deployment, inst *deploy.Instance, dbHost string) {
	t.Helper()
	got, finished := config(t, h, inst.Type.Home())
	if !finished {
		t.Errorf("000_config.py: FINISHED_EDITING_CONFIG_FILE is not True")
	}
	for _, k := range inst.Settings.Keys() {
		if k == "base.prepopulate" {
			continue // past the first run the file turns prepopulate off
		}
		want, _ := json.Marshal(inst.Settings[k])
		have, _ := json.Marshal(setting(got, k))
		if string(want) != string(have) {
			t.Errorf("000_config.py: settings.%s = %s, want %s", k, have, want)
		}
	}
	owned := map[string]any{
		"base.prepopulate":  0.0,
		"base.migrate":      false,
		"database.db_type":  "postgres",
		"database.host":     dbHost,
		"database.port":     5432.0,
		"database.database": inst.Type.DatabaseName(),
		"database.username": inst.Type.DatabaseName(),
		"database.password": testSecrets[deploy.SecretDBPassword],
		"auth.hmac_key":     testSecrets[deploy.SecretHMACKey],
		"gis.spatialdb":     true,
		"base.template":     d.Template,
	}
	for k, want := range owned {
		if have := setting(got, k); have != want {
			t.Errorf("000_config.py: settings.%s = %#v, want %#v", k, have, want)
		}
	}
}

// checkDatabase proves PostgreSQL with PostGIS runs on db, with the
// instance's role and database, holding what Eden's first run made: its
// tables, the countries with their shapes (PostGIS geometry), the
// prepopulate option beyond the template's own (locations/NZ: New
// Zealand's map configuration), and the administrator (lowercased,
// approved, with a person record, in the ADMIN group).
func checkDatabase(t *testing.T, db *testhost.Host, inst *deploy.Instance) {
	t.Helper()
	name := inst.Type.DatabaseName()
	if v := psql(t, db, name, "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"); !strings.HasPrefix(v, "3.") {
		t.Errorf("PostGIS in %s: %q", name, v)
	}
	if owner := psql(t, db, "postgres", fmt.Sprintf("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'", name)); owner != name {
		t.Errorf("database %s is owned by %q", name, owner)
	}
	if n := atoi(t, psql(t, db, name, "SELECT count(*) FROM gis_location WHERE level = 'L0' AND the_geom IS NOT NULL AND ST_IsValid(the_geom)")); n < 200 {
		t.Errorf("%s holds %d countries with a shape, want the 240-odd of Eden's prepopulate", name, n)
	}
	if v := psql(t, db, name, "SELECT count(*) FROM gis_config WHERE name = 'NZ'"); v != "1" {
		t.Errorf("the prepopulate option locations/NZ made no map configuration NZ (%s)", v)
	}
	admin := psql(t, db, name, `SELECT u.email, u.registration_key, g.uuid, p.pe_id IS NOT NULL
		FROM auth_user u
		JOIN auth_membership m ON m.user_id = u.id AND m.deleted = 'F'
		JOIN auth_group g ON g.id = m.group_id AND g.uuid = 'ADMIN'
		LEFT JOIN pr_person_user p ON p.user_id = u.id
		WHERE lower(u.email) = lower('`+adminEmail+`')`)
	if want := strings.ToLower(adminEmail) + "||ADMIN|t"; admin != want {
		t.Errorf("administrator: %q, want %q (lowercased, approved, ADMIN, with a person)", admin, want)
	}
	if n := psql(t, db, name, "SELECT count(*) FROM auth_user WHERE email IN ('admin@example.com', 'normaluser@example.com')"); n != "0" {
		t.Errorf("Eden's demo users (well-known passwords) were made though no prepopulate option asked for them: %s", n)
	}
}

// checkEden proves, from this machine through nginx, that the instance is a
// working Eden: its front page, a static file, the administrator's login
// through Eden's own form with the password from the secret store, a page
// that needs it, the profile page, and an organisation made through Eden's
// form and read back through its REST interface. It returns the client,
// logged in, and the organisation's name.
func checkEden(t *testing.T, inst *deploy.Instance, label string) (*edenClient, string) {
	t.Helper()
	c := newEdenClient(t, inst.URL)
	front := c.get("/")
	if front.Title() != edenTitle {
		t.Errorf("GET %s/: title %q, want %q", inst.URL, front.Title(), edenTitle)
	}
	static := c.get("/eden/static/img/sahanalarge_14.png")
	if ct := static.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("a static file: Content-Type %q", ct)
	}
	c.login(adminEmail, testSecrets[deploy.SecretAdminPassword])
	orgs := c.get("/eden/org/organisation")
	if !strings.Contains(orgs.Body, strings.ToLower(adminEmail)) && !strings.Contains(orgs.Body, "Admin") {
		t.Errorf("/eden/org/organisation logged in does not show the user:\n%s", excerpt(orgs.Body))
	}
	if profile := c.get("/eden/default/person"); !strings.Contains(profile.Body, strings.ToLower(adminEmail)) {
		t.Errorf("the administrator's profile page does not show the administrator:\n%s", excerpt(profile.Body))
	}
	org := fmt.Sprintf("Install test %s %d", label, time.Now().UnixNano())
	r := c.submit("/eden/org/organisation/create", "org_organisation/", url.Values{"name": {org}, "acronym": {"IT"}})
	if !strings.Contains(r.Location, "/org/organisation/") {
		t.Errorf("creating an organisation: redirected to %q", r.Location)
	}
	if list := c.get("/eden/org/organisation.json"); !strings.Contains(list.Body, org) {
		t.Errorf("/eden/org/organisation.json lacks %q:\n%s", org, excerpt(list.Body))
	}
	return c, org
}

// checkWarm proves that no user pays for a cold start: when a run reported
// success, every worker of the instance's app has answered a request
// already (uWSGI's stats). It logs how long the first request through nginx
// took, and a warm one.
func checkWarm(t *testing.T, eden *testhost.Host, inst *deploy.Instance, label string) {
	t.Helper()
	ws := uwsgiWorkers(t, eden, inst.Type)
	if len(ws) == 0 {
		t.Fatalf("%s: no uWSGI workers of %s", label, inst.Type)
	}
	for _, w := range ws {
		if w.Requests == 0 {
			t.Errorf("%s: worker %d (pid %d) of %s has answered no request: the first user would wait for it", label, w.ID, w.PID, inst.Type)
		}
	}
	c := newEdenClient(t, inst.URL)
	first := c.get("/")
	warm := c.get("/")
	t.Logf("timing: %s first request %v, warm %v", label, first.Took.Round(time.Millisecond), warm.Took.Round(time.Millisecond))
}

// uwsgiWorker is a worker in uWSGI's stats.
type uwsgiWorker struct {
	ID       int `json:"id"`
	PID      int `json:"pid"`
	Requests int `json:"requests"`
}

// uwsgiWorkers reads the instance's app's workers from its stats server.
func uwsgiWorkers(t testing.TB, h *testhost.Host, typ deploy.InstanceType) []uwsgiWorker {
	t.Helper()
	const prog = `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())
`
	out := sh(t, h, "python3", "-c", prog, "/run/uwsgi/app/"+string(typ)+"/stats")
	var st struct {
		Workers []uwsgiWorker `json:"workers"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("uWSGI stats of %s: %v: %s", typ, err, out)
	}
	return st.Workers
}

// workerPIDs are the PIDs of the instance's uWSGI workers, sorted.
func workerPIDs(t testing.TB, h *testhost.Host, typ deploy.InstanceType) []int {
	var pids []int
	for _, w := range uwsgiWorkers(t, h, typ) {
		pids = append(pids, w.PID)
	}
	slices.Sort(pids)
	return pids
}

// checkScheduler proves that Eden's scheduler runs for the instance: the
// daily maintenance that Eden's first run queued has run, and a task queued
// now through Eden's own scheduler reaches COMPLETED.
func checkScheduler(t *testing.T, eden, db *testhost.Host, inst *deploy.Instance) {
	t.Helper()
	name := inst.Type.DatabaseName()
	const queue = `t = current.s3task.scheduler.queue_task("maintenance", pvars={"period": "daily"}, repeats=1, timeout=300, immediate=True, task_name="installtest")
if t.errors:
    raise SystemExit("queue_task: %s" % t.errors)
db.commit()
print("queued %d" % t.id)
`
	// In the instance's home: a server's /tmp is a tmpfs of its own.
	script := inst.Type.Home() + "/installtest_queue.py"
	if err := os.WriteFile(filepath.Join(eden.Root, script), []byte(queue), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(eden.Root, script))
	out := sh(t, eden, "sh", "-c", `cd "$1" && runuser -u web2py -- python3 web2py.py --no-banner -S eden -M -R "$2"`, "sh", inst.Type.Home(), script)
	var id int
	for _, l := range strings.Split(out, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "queued "); ok {
			id = atoi(t, n)
		}
	}
	if id == 0 {
		t.Fatalf("queueing a task in Eden: %s", out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		status := psql(t, db, name, "SELECT status FROM scheduler_task WHERE id = "+strconv.Itoa(id))
		if status == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) || status == "FAILED" || status == "TIMEOUT" {
			t.Fatalf("the task queued in Eden is %s, want COMPLETED (Eden's scheduler: %s)", status,
				psql(t, db, name, "SELECT worker_name || ' ' || status || ' ' || last_heartbeat FROM scheduler_worker"))
		}
		time.Sleep(time.Second)
	}
	// (web2py's scheduler deletes the record of a run that returned
	// nothing: the task's own counts say it ran.)
	if v := psql(t, db, name, "SELECT times_run > 0 AND times_failed = 0 FROM scheduler_task WHERE function_name = 'maintenance' AND task_name <> 'installtest'"); v != "t" {
		t.Errorf("the daily maintenance that Eden's first run queued has not run (%q)", v)
	}
}

// checkNoTickets proves Eden logged no error ticket on the instance.
func checkNoTickets(t *testing.T, eden *testhost.Host, inst *deploy.Instance) {
	t.Helper()
	dir := filepath.Join(eden.Root, strings.TrimPrefix(inst.Type.Home(), "/"), "applications/eden/errors")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		t.Errorf("Eden error ticket %s on %s: %s", e.Name(), eden.Name, excerpt(string(b)))
	}
}

// checkBackupCron proves the nightly backup is in cron.
func checkBackupCron(t *testing.T, db *testhost.Host, inst *deploy.Instance, minute int) {
	t.Helper()
	typ := string(inst.Type)
	b, err := os.ReadFile(filepath.Join(db.Root, "etc/cron.d/eden-backup-"+typ))
	want := fmt.Sprintf("%d 2 * * * root /usr/local/bin/eden-backup-%s", minute, typ)
	if err != nil || !strings.Contains(string(b), want) {
		t.Errorf("cron: %q, %v; want a line %q", b, err, want)
	}
}

// dumps lists the backup dumps of an instance on db, oldest first (their
// names are the times they were made).
func dumps(t *testing.T, db *testhost.Host, typ deploy.InstanceType) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(db.Root, "var/backups/eden", string(typ), "[0-9]*.dump"))
	return m
}

// dumpDay is the UTC day a dump was made, from its name
// (<yyyymmdd>-<hhmmss>.dump).
func dumpDay(path string) string {
	day, _, _ := strings.Cut(filepath.Base(path), "-")
	return day
}

// changed sums what every host of every step of r reported changed.
func changed(r *deploy.Run) int {
	n := 0
	for _, s := range r.Steps {
		for _, hr := range s.Results {
			n += hr.Changed
		}
	}
	return n
}

// checkBackups runs backups of inst on db as backup.yml and as the nightly
// cron job: each makes a dump only when the database changed since the
// newest one, and reports a change only then; the dump restores into a
// scratch database and holds what Eden wrote (an organisation made through
// Eden's form).
func checkBackups(t *testing.T, p *plane, db *testhost.Host, inst *deploy.Instance, eden *edenClient) {
	t.Helper()
	typ := inst.Type
	before := dumps(t, db, typ)
	r := p.run("backup", deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ})
	ds := dumps(t, db, typ)
	if len(ds) != len(before)+1 || changed(r) == 0 {
		t.Fatalf("a backup made dumps %v (before: %v), changed=%d; want one more dump, changed", ds, before, changed(r))
	}

	// Nothing written since: no new dump, nothing changed.
	p.requireNoChange(p.run("backup again", deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ}), "backup again")
	if again := dumps(t, db, typ); !slices.Equal(again, ds) {
		t.Errorf("a backup of an unchanged database: dumps %v, then %v", ds, again)
	}
	// The nightly job, run as cron runs it, finds the same.
	job := cronJob(t, db, inst)
	sh(t, db, "sh", "-c", job)
	if again := dumps(t, db, typ); !slices.Equal(again, ds) {
		t.Errorf("the cron job %q on an unchanged database: dumps %v, then %v", job, ds, again)
	}

	// A write through Eden: the next backup dumps it, and the dump restores.
	org := fmt.Sprintf("Backed up %d", time.Now().UnixNano())
	eden.submit("/eden/org/organisation/create", "org_organisation/", url.Values{"name": {org}})
	r = p.run("backup after a write", deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ})
	after := dumps(t, db, typ)
	if len(after) == 0 || slices.Contains(ds, after[len(after)-1]) || changed(r) == 0 {
		t.Fatalf("a backup after a write: dumps %v, then %v, changed=%d; want a new dump, changed", ds, after, changed(r))
	}
	// The retention (7 days, 4 weeks by default) keeps the newest dump of a
	// day: the new one takes the place of the earlier ones of its day.
	newest := after[len(after)-1]
	var want []string
	for _, d := range ds {
		if dumpDay(d) != dumpDay(newest) {
			want = append(want, d)
		}
	}
	if want = append(want, newest); !slices.Equal(after, want) {
		t.Errorf("a backup after a write: dumps %v, then %v; want %v (the newest of each day)", ds, after, want)
	}
	scratch := "installtest_restore"
	psql(t, db, "postgres", "DROP DATABASE IF EXISTS "+scratch)
	psql(t, db, "postgres", "CREATE DATABASE "+scratch)
	sh(t, db, "runuser", "-u", "postgres", "--", "pg_restore", "--no-owner", "--dbname="+scratch, strings.TrimPrefix(after[len(after)-1], db.Root))
	if n := psql(t, db, scratch, "SELECT count(*) FROM org_organisation WHERE name = '"+org+"'"); n != "1" {
		t.Errorf("the dump restored into a scratch database holds %s organisations %q, want 1", n, org)
	}
	psql(t, db, "postgres", "DROP DATABASE "+scratch)
}

// cronJob returns the command of the nightly backup's cron line.
func cronJob(t *testing.T, db *testhost.Host, inst *deploy.Instance) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(db.Root, "etc/cron.d/eden-backup-"+string(inst.Type)))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if _, job, ok := strings.Cut(l, " root "); ok && !strings.HasPrefix(l, "#") {
			return job
		}
	}
	t.Fatalf("no cron line runs as root:\n%s", b)
	return ""
}

// checkCleans runs cleans of inst and proves that a clean recreates and
// prepopulates the database unless it is as the last clean left it: the
// first clean cleans (nothing was recorded since the deploy): the
// organisation org is gone, the prepopulated data and the administrator are
// back; a second one changes nothing and keeps the app's workers; with
// more, a write (an organisation made through Eden) makes the next clean
// clean.
func checkCleans(t *testing.T, p *plane, db, eden *testhost.Host, inst *deploy.Instance, confirm, org string, more bool) {
	t.Helper()
	typ := inst.Type
	name := typ.DatabaseName()
	clean := func(label, org string) {
		t.Helper()
		r := p.run(label, deploy.RunRequest{Kind: deploy.RunClean, Instance: typ, Confirm: confirm})
		if changed(r) == 0 {
			t.Errorf("%s changed nothing", label)
		}
		if n := psql(t, db, name, "SELECT count(*) FROM org_organisation WHERE name = '"+org+"'"); n != "0" {
			t.Errorf("%s kept the organisation %q", label, org)
		}
		checkDatabase(t, db, inst)
		checkWarm(t, eden, inst, label)
	}
	// loggedIn proves the administrator logs in again, and that Eden no
	// longer lists org; logging in is a write (Eden logs the event).
	loggedIn := func(label, org string) *edenClient {
		t.Helper()
		c := newEdenClient(t, inst.URL)
		c.login(adminEmail, testSecrets[deploy.SecretAdminPassword])
		if list := c.get("/eden/org/organisation.json"); strings.Contains(list.Body, org) {
			t.Errorf("after %s Eden still lists %q", label, org)
		}
		return c
	}
	clean("clean", org)

	// Nothing written since: the same database, the same app.
	pids := workerPIDs(t, eden, typ)
	p.requireNoChange(p.run("clean again", deploy.RunRequest{Kind: deploy.RunClean, Instance: typ, Confirm: confirm}), "clean again")
	if after := workerPIDs(t, eden, typ); !slices.Equal(after, pids) {
		t.Errorf("a clean of an unchanged database restarted the app: workers %v, then %v", pids, after)
	}
	c := loggedIn("clean", org)
	if !more {
		return
	}
	// A write since the clean: the next one cleans.
	org = fmt.Sprintf("Written after a clean %d", time.Now().UnixNano())
	c.submit("/eden/org/organisation/create", "org_organisation/", url.Values{"name": {org}})
	clean("clean after a write", org)

	// A script that web2py runs and that fails (here Eden refuses the
	// administrator's password, a secret changed behind the API's back)
	// fails its task, and the run says which and why; the next clean, with
	// the password put back, repairs the instance.
	ctx := context.Background()
	if err := p.secrets.PutSecret(ctx, p.d.ID, deploy.SecretAdminPassword, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	psql(t, db, name, "CREATE TABLE installtest_marker (x int)")
	failure := p.runFailing("clean with a password Eden refuses", deploy.RunRequest{Kind: deploy.RunClean, Instance: typ, Confirm: confirm})
	if !strings.Contains(failure, `"eden : Check that the administrator was made"`) || !strings.Contains(failure, "admin_user.py: Eden refuses the administrator's password") {
		t.Errorf("a clean whose administrator could not be made failed with %q, want the task and Eden's reason", failure)
	}
	if err := p.secrets.PutSecret(ctx, p.d.ID, deploy.SecretAdminPassword, []byte(testSecrets[deploy.SecretAdminPassword])); err != nil {
		t.Fatal(err)
	}
	clean("clean after a failed clean", org)
	loggedIn("clean after a failed clean", org)
}

func testAllInOne(t *testing.T) {
	c := distroServers(t, 1, testhost.Debian12)
	h := c.Hosts[0]
	repos := serveSources(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{{Host: h.Addr, Role: deploy.RoleAll}}, deploy.InstanceProd)
	p := newPlane(t, "all-in-one", c, d)
	t.Cleanup(p.report)
	typ := deploy.InstanceProd
	inst := d.Instance(typ)

	// The packages are there (the layer): the dry run goes through every
	// role's configuration.
	dryRun(t, p, h, typ)
	r := p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	logFirstRun(t, p, r)
	checkWarm(t, h, inst, "deploy")
	eden, org := checkEden(t, inst, "all-in-one")
	if org == "" {
		t.FailNow()
	}

	t.Run("deployed", func(t *testing.T) {
		checkDatabase(t, h, inst)
		if out, err := pgConnect(h, "localhost", typ.DatabaseName(), typ.DatabaseName()); err != nil || !strings.HasPrefix(out, typ.DatabaseName()+" 3.") {
			t.Errorf("connect as %s with the secret's password: %q, %v", typ.DatabaseName(), out, err)
		}
		if ss := sh(t, h, "ss", "-ltnH"); !strings.Contains(ss, fmt.Sprintf("127.0.0.1:%d ", typ.UWSGIPort())) {
			t.Errorf("nothing listens on 127.0.0.1:%d:\n%s", typ.UWSGIPort(), ss)
		}
		if l, err := os.Readlink(filepath.Join(h.Root, "home/prod")); err != nil || l != "/home/web2py" {
			t.Errorf("/home/prod links to %q, %v", l, err)
		}
		// nginx serves Eden's static files itself (they never reach uWSGI).
		static := eden.get("/eden/static/img/sahanalarge_14.png")
		if cc := static.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=315360000") {
			t.Errorf("a static file is not nginx's (Cache-Control %q)", cc)
		}
		checkConfig(t, h, d, inst, "localhost")
		checkBackupCron(t, h, inst, 0)
		checkScheduler(t, h, h, inst)
	})

	// The rules refuse a deploy of a deployed instance; the same run again
	// is what a retried deploy does. A checkout that a failed run left
	// half-done (a file of Eden's missing, a submodule of web2py's not
	// checked out) is finished, not taken as done; then nothing changes.
	inst.Status = deploy.InstanceFailed
	sh(t, h, "rm", typ.Home()+"/applications/eden/VERSION")
	sh(t, h, "runuser", "-u", "web2py", "--", "git", "-C", typ.Home(), "submodule", "deinit", "-q", "-f", "gluon/packages/yatl")
	if r := p.run("deploy after a half-done checkout", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ}); changed(r) == 0 {
		t.Errorf("a deploy over a half-done checkout changed nothing")
	}
	for _, f := range []string{"applications/eden/VERSION", "gluon/packages/yatl/yatl/template.py"} {
		if _, err := os.Stat(filepath.Join(h.Root, typ.Home(), f)); err != nil {
			t.Errorf("the half-done checkout was not finished: %v", err)
		}
	}
	inst.Status = deploy.InstanceFailed
	p.requireNoChange(p.run("deploy again", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ}), "deploy again")
	inst.Status = deploy.InstanceDeployed

	t.Run("backup", func(t *testing.T) { checkBackups(t, p, h, inst, eden) })

	t.Run("pull", func(t *testing.T) {
		const marker = "Pulled by the install test"
		footer := "modules/templates/default/views/footer.html"
		b, err := os.ReadFile(filepath.Join(repos.work, footer))
		if err != nil {
			t.Fatal(err)
		}
		repos.commitEden(t, footer, string(b)+"\n<p id=\"installtest\">"+marker+"</p>\n", "A visible change")
		before := workerPIDs(t, h, typ)
		p.run("pull", deploy.RunRequest{Kind: deploy.RunPull, Instance: typ})
		checkWarm(t, h, inst, "pull")
		if front := newEdenClient(t, inst.URL).get("/"); !strings.Contains(front.Body, marker) {
			t.Errorf("after pull the front page lacks the pulled change %q", marker)
		}
		if after := workerPIDs(t, h, typ); slices.Equal(after, before) {
			t.Errorf("pull did not restart the app: workers %v", after)
		}
		// Nothing new to pull: nothing migrates, compiles or restarts.
		before = workerPIDs(t, h, typ)
		p.requireNoChange(p.run("pull again", deploy.RunRequest{Kind: deploy.RunPull, Instance: typ}), "pull again")
		if after := workerPIDs(t, h, typ); !slices.Equal(after, before) {
			t.Errorf("a pull with nothing new restarted the app: workers %v, then %v", before, after)
		}
	})

	t.Run("restart", func(t *testing.T) {
		old := workerPIDs(t, h, typ)
		r := p.run("restart", deploy.RunRequest{Kind: deploy.RunRestart, Instance: typ})
		checkWarm(t, h, inst, "restart")
		restarted := workerPIDs(t, h, typ)
		for _, pid := range restarted {
			if slices.Contains(old, pid) {
				t.Errorf("restart: worker %d is one of the old ones %v", pid, old)
			}
		}
		// The same request again (a retried step) restarts nothing.
		p.runSteps("restart again", r)
		p.requireNoChange(r, "restart again")
		if after := workerPIDs(t, h, typ); !slices.Equal(after, restarted) {
			t.Errorf("a retried restart restarted the app again: workers %v, then %v", restarted, after)
		}
		// A new request restarts again.
		p.run("restart, a new request", deploy.RunRequest{Kind: deploy.RunRestart, Instance: typ})
		for _, pid := range workerPIDs(t, h, typ) {
			if slices.Contains(restarted, pid) {
				t.Errorf("a second restart request: worker %d is one of the old ones %v", pid, restarted)
			}
		}
	})

	t.Run("reconfigure", func(t *testing.T) {
		s := maps.Clone(inst.Settings)
		s["base.system_name"] = systemName
		s["base.system_name_short"] = "Relief <Ops>"
		if _, err := d.ReplaceSettings(typ, s, inst.SettingsVersion, time.Now()); err != nil {
			t.Fatal(err)
		}
		p.run("reconfigure", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: typ})
		checkConfig(t, h, d, inst, "localhost")
		checkWarm(t, h, inst, "reconfigure")
		front := newEdenClient(t, inst.URL).get("/")
		if !strings.Contains(front.Body, "Relief &#x27;Ops&#x27; &quot;HQ&quot;") && !strings.Contains(front.Body, "Relief 'Ops' \"HQ\"") {
			t.Errorf("after reconfigure the front page does not show the system name %q:\n%s", systemName, excerpt(front.Body))
		}
		if strings.Contains(front.Body, "Relief <Ops>") {
			t.Errorf("the short system name reached the page unescaped")
		}
		p.requireNoChange(p.run("reconfigure again", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: typ}), "reconfigure again")
	})

	t.Run("https", func(t *testing.T) { checkHTTPS(t, p, c, h, inst) })

	t.Run("clean", func(t *testing.T) { checkCleans(t, p, h, h, inst, d.Name, org, true) })

	t.Run("demo instance", func(t *testing.T) {
		spec := deploy.InstanceSpec{Type: deploy.InstanceDemo}
		demo, err := d.NewInstance(spec, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d.Instances = append(d.Instances, demo)
		r := p.run("add demo", deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceDemo})
		demoInst := d.Instance(deploy.InstanceDemo)
		logFirstRun(t, p, r)
		checkWarm(t, h, demoInst, "add demo")
		if demoInst.URL == inst.URL {
			t.Fatalf("the demo instance shares prod's URL %s", inst.URL)
		}
		_, demoOrg := checkEden(t, demoInst, "demo")
		checkDatabase(t, h, demoInst)
		if n := psql(t, h, typ.DatabaseName(), "SELECT count(*) FROM org_organisation WHERE name = '"+demoOrg+"'"); n != "0" {
			t.Errorf("the demo instance wrote into prod's database")
		}
		if front := newEdenClient(t, inst.URL).get("/"); front.Status != 200 {
			t.Errorf("prod after adding demo: %d", front.Status)
		}
		checkNoTickets(t, h, demoInst)
	})
	checkNoTickets(t, h, inst)

	t.Run("day two", func(t *testing.T) { checkDayTwo(t, p, h, h, h, inst, d.Instance(deploy.InstanceDemo)) })
}

// logFirstRun logs how long r took, and Eden's own account of its first run
// (tables, each prepopulate set), which the eden role puts in the run log.
func logFirstRun(t *testing.T, p *plane, r *deploy.Run) {
	t.Helper()
	var total time.Duration
	for _, s := range r.Steps {
		total += s.FinishedAt.Sub(s.StartedAt)
	}
	var eden []string
	for _, m := range regexp.MustCompile(`"([^"]*\(\d+\.\d+ sec\))"`).FindAllStringSubmatch(p.logText(r.ID), -1) {
		eden = append(eden, m[1])
	}
	t.Logf("timing: %s %s: %v in all; Eden's first run: %s", p.label, r.Kind, total.Round(100*time.Millisecond), strings.Join(eden, "; "))
	if len(eden) == 0 {
		t.Errorf("the run log does not say what Eden's first run did")
	}
}

func testThreeTier(t *testing.T) {
	c := servers(t, 3)
	db, eden, web := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	repos := serveSources(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{
		{Host: db.Addr, Role: deploy.RoleDB},
		{Host: eden.Addr, Role: deploy.RoleEden},
		{Host: web.Addr, Role: deploy.RoleWebServer},
	}, deploy.InstanceProd)
	p := newPlane(t, "3-tier", c, d)
	t.Cleanup(p.report)
	typ := deploy.InstanceProd
	inst := d.Instance(typ)

	r := p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	logFirstRun(t, p, r)
	checkWarm(t, eden, inst, "3-tier deploy")
	edenc, org := checkEden(t, inst, "3-tier")

	t.Run("deployed", func(t *testing.T) {
		checkDatabase(t, db, inst)
		if out, err := pgConnect(eden, db.Addr, "sahana", "sahana"); err != nil || !strings.HasPrefix(out, "sahana 3.") {
			t.Errorf("eden host connecting to %s: %q, %v", db.Addr, out, err)
		}
		// pg_hba admits only the deployment's eden hosts.
		if _, err := shErr(web, "python3", "-c", "import psycopg2"); err != nil {
			sh(t, web, "apt-get", "install", "-y", "-q", "python3-psycopg2")
		}
		out, err := pgConnect(web, db.Addr, "sahana", "sahana")
		if err == nil || !strings.Contains(out+err.Error(), "no pg_hba.conf entry for host \""+web.Addr+"\"") {
			t.Errorf("the webserver host connecting to the database: %q, %v; want refused by pg_hba", out, err)
		}
		if ss := sh(t, eden, "ss", "-ltnH"); !strings.Contains(ss, fmt.Sprintf("0.0.0.0:%d ", typ.UWSGIPort())) {
			t.Errorf("nothing listens on 0.0.0.0:%d on the eden host:\n%s", typ.UWSGIPort(), ss)
		}
		site, err := os.ReadFile(filepath.Join(web.Root, "etc/nginx/sites-available/eden-prod"))
		if err != nil || !strings.Contains(string(site), fmt.Sprintf("server %s:%d;", eden.Addr, typ.UWSGIPort())) {
			t.Errorf("nginx site: %v\n%s", err, site)
		}
		// Eden's data is on the db server only: no PostgreSQL runs on the
		// eden server (the test's package layer installed it everywhere).
		if out, err := shErr(eden, "pgrep", "-x", "postgres"); err == nil {
			t.Errorf("PostgreSQL runs on the eden server: %s", out)
		}
		checkConfig(t, eden, d, inst, db.Addr)
		checkBackupCron(t, db, inst, 0)
		checkScheduler(t, eden, db, inst)
	})

	inst.Status = deploy.InstanceFailed
	p.requireNoChange(p.run("deploy again", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ}), "deploy again")
	inst.Status = deploy.InstanceDeployed

	t.Run("backup", func(t *testing.T) { checkBackups(t, p, db, inst, edenc) })

	// The db step decides and recreates, the eden step finishes and records
	// what the clean left, through the database.
	t.Run("clean", func(t *testing.T) { checkCleans(t, p, db, eden, inst, d.Name, org, false) })
	checkNoTickets(t, eden, inst)

	t.Run("day two", func(t *testing.T) { checkDayTwo(t, p, db, eden, web, inst, nil) })
}

// testUbuntu proves that Eden really runs on Ubuntu 24.04, whose Python
// 3.12 has no imp module (web2py 2.x imports it; the common role gives
// web2py one).
func testUbuntu(t *testing.T) {
	c := distroServers(t, 1, testhost.Ubuntu2404)
	h := c.Hosts[0]
	repos := serveSources(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{{Host: h.Addr, Role: deploy.RoleAll}}, deploy.InstanceProd)
	p := newPlane(t, "all-in-one", c, d)
	t.Cleanup(p.report)
	typ := deploy.InstanceProd
	inst := d.Instance(typ)

	r := p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	logFirstRun(t, p, r)
	if v := sh(t, h, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"); strings.TrimSpace(v) != "3.12" {
		t.Errorf("Ubuntu 24.04's python3 is %s, want 3.12 (the case this test is for)", v)
	}
	checkWarm(t, h, inst, "ubuntu deploy")
	checkEden(t, inst, "ubuntu")
	checkDatabase(t, h, inst)
	checkConfig(t, h, d, inst, "localhost")
	checkScheduler(t, h, h, inst)
	inst.Status = deploy.InstanceFailed
	p.requireNoChange(p.run("deploy again", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ}), "deploy again")
	inst.Status = deploy.InstanceDeployed
	checkNoTickets(t, h, inst)
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
