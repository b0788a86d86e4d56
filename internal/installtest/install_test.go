package installtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// systemName is a setting no quote, backslash, newline or Jinja markup may
// break on its way into 000_config.py.
const systemName = "Relief 'Ops' \"HQ\"\nline two \\ {{ lookup('env', 'HOME') }}"

func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("installs Eden's stack on disposable Debian and Ubuntu servers")
	}
	if os.Getenv(EnvInstallTest) == "0" {
		t.Skipf("%s=0: run it with make test-install", EnvInstallTest)
	}
	// A file:// URL would do as well as git://: the domain accepts both.
	if err := deploy.ValidateRepo("eden", deploy.Repo{URL: "file:///srv/git/eden.git", Branch: edenBranch}); err != nil {
		t.Errorf("file:// repo refused: %v", err)
	}
	prepareServers(t, map[string]testhost.Distro{"all-in-one": testhost.Debian12, "3-tier": testhost.Debian12, "ubuntu-24.04": testhost.Ubuntu2404})
	t.Run("all-in-one", func(t *testing.T) { testAllInOne(t, testhost.Debian12) })
	t.Run("3-tier", testThreeTier)
	t.Run("ubuntu-24.04", testUbuntu)
	t.Run("dry-run-bare", testDryRunBare)
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
	repos := serveRepos(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{{Host: h.Addr, Role: deploy.RoleAll}}, deploy.InstanceDemo)
	p := newPlane(t, "dry-run-bare", c, d)
	p.packages = "none"
	t.Cleanup(p.report)
	r := dryRun(t, p, h, deploy.InstanceDemo)
	if log := p.logText(r.ID); !strings.Contains(log, "Would install") || !strings.Contains(log, "postgresql") {
		t.Errorf("the dry run does not say what it would install:\n%s", log)
	}
}

func newDeployment(t *testing.T, repos *gitRepos, servers []deploy.ServerSpec, typ deploy.InstanceType) *deploy.Deployment {
	t.Helper()
	now := time.Now()
	spec := deploy.Spec{
		Name:       `Eden "install test" {{ name }}`,
		Eden:       deploy.Repo{URL: repos.url("eden"), Branch: edenBranch},
		Web2py:     deploy.Repo{URL: repos.url("web2py"), Branch: web2pyBranch},
		Country:    "NZ",
		AdminEmail: "admin@example.org",
		Servers:    servers,
		Instance: deploy.InstanceSpec{Type: typ, Settings: deploy.Settings{
			"base.system_name": systemName,
			"mail.limit":       500,
			"base.debug":       false,
		}},
	}
	d, err := deploy.NewDeployment(spec, deploy.NewID("d-", now), "installtest", now)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	return d
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
// instance's role and database, and the administrator the first run made.
func checkDatabase(t *testing.T, db *testhost.Host, inst *deploy.Instance) {
	t.Helper()
	name := inst.Type.DatabaseName()
	if v := psql(t, db, name, "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"); !strings.HasPrefix(v, "3.") {
		t.Errorf("PostGIS in %s: %q", name, v)
	}
	if owner := psql(t, db, "postgres", fmt.Sprintf("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'", name)); owner != name {
		t.Errorf("database %s is owned by %q", name, owner)
	}
	sum := sha256.Sum256([]byte(testSecrets[deploy.SecretAdminPassword]))
	admin := psql(t, db, name, "SELECT u.password, m.role FROM auth_user u JOIN auth_membership m ON m.user_id = u.id WHERE u.email = 'admin@example.org'")
	if want := "sha256$" + hex.EncodeToString(sum[:]) + "|ADMIN"; admin != want {
		t.Errorf("administrator: %q, want %q (the admin-password secret, hashed)", admin, want)
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
// newest one, and reports a change only then.
func checkBackups(t *testing.T, p *plane, db *testhost.Host, inst *deploy.Instance) {
	t.Helper()
	typ := inst.Type
	before := dumps(t, db, typ)
	r := p.run("backup", deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ})
	ds := dumps(t, db, typ)
	if len(ds) != len(before)+1 || changed(r) == 0 {
		t.Fatalf("a backup made dumps %v (before: %v), changed=%d; want one more dump, changed", ds, before, changed(r))
	}
	list := sh(t, db, "pg_restore", "--list", strings.TrimPrefix(ds[len(ds)-1], db.Root))
	if !strings.Contains(list, "TABLE public auth_user") {
		t.Errorf("the dump holds no auth_user table:\n%s", list)
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

	// A write: the next backup dumps it.
	const row = "written after the backup"
	psql(t, db, typ.DatabaseName(), "INSERT INTO standin_prepopulate (option) VALUES ('"+row+"')")
	r = p.run("backup after a write", deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ})
	after := dumps(t, db, typ)
	if len(after) != len(ds)+1 || changed(r) == 0 {
		t.Fatalf("a backup after a write: dumps %v, then %v, changed=%d; want one more dump, changed", ds, after, changed(r))
	}
	if data := sh(t, db, "pg_restore", "--data-only", "--file=-", strings.TrimPrefix(after[len(after)-1], db.Root)); !strings.Contains(data, row) {
		t.Errorf("the dump made after the write lacks the row %q", row)
	}
	psql(t, db, typ.DatabaseName(), "DELETE FROM standin_prepopulate WHERE option = '"+row+"'")
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
// first clean cleans (nothing was recorded since the deploy), a second one
// changes nothing and keeps the app's processes; with more, a write makes
// the next clean clean, and so do new settings (reconfigure, when not nil,
// changes a setting of inst).
func checkCleans(t *testing.T, p *plane, db, eden *testhost.Host, inst *deploy.Instance, confirm string, more bool, reconfigure func()) {
	t.Helper()
	typ := inst.Type
	url := inst.URL + "/"
	clean := func(label string) *deploy.Run {
		t.Helper()
		since := time.Now()
		r := p.run(label, deploy.RunRequest{Kind: deploy.RunClean, Instance: typ, Confirm: confirm})
		if ev := standinEvents(t, eden, typ, since); !slices.ContainsFunc(ev, func(e standinEvent) bool { return e.Prepopulated }) {
			t.Errorf("%s did not prepopulate a new database: web2py ran %+v", label, ev)
		}
		if v := psql(t, db, typ.DatabaseName(), "SELECT to_regclass('standin_marker') IS NULL"); v != "t" {
			t.Errorf("%s kept the old database (standin_marker still there)", label)
		}
		checkDatabase(t, db, inst)
		if pg := get(t, url); pg.DB != "ok" || pg.Users != 1 {
			t.Errorf("after %s: %+v", label, pg)
		}
		if changed(r) == 0 {
			t.Errorf("%s changed nothing", label)
		}
		return r
	}

	psql(t, db, typ.DatabaseName(), "CREATE TABLE standin_marker (x int)")
	clean("clean")

	// Nothing written since: the same database, the same app.
	pids := uwsgiPIDs(t, eden, typ)
	since := time.Now()
	p.requireNoChange(p.run("clean again", deploy.RunRequest{Kind: deploy.RunClean, Instance: typ, Confirm: confirm}), "clean again")
	if ev := standinEvents(t, eden, typ, since); len(ev) != 0 {
		t.Errorf("a clean of an unchanged database ran web2py: %+v", ev)
	}
	if after := uwsgiPIDs(t, eden, typ); !slices.Equal(after, pids) {
		t.Errorf("a clean of an unchanged database restarted the app: processes %v, then %v", pids, after)
	}

	if !more {
		return
	}
	// A write since the clean: the next one cleans.
	psql(t, db, typ.DatabaseName(), "CREATE TABLE standin_marker (x int)")
	clean("clean after a write")

	// Nothing written, but new settings: a clean would prepopulate with
	// them, so it cleans.
	if reconfigure != nil {
		reconfigure()
		clean("clean after a reconfigure")
	}
}

func testAllInOne(t *testing.T, distro testhost.Distro) {
	c := distroServers(t, 1, distro)
	h := c.Hosts[0]
	repos := serveRepos(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{{Host: h.Addr, Role: deploy.RoleAll}}, deploy.InstanceDemo)
	p := newPlane(t, "all-in-one", c, d)
	t.Cleanup(p.report)
	typ := deploy.InstanceDemo
	inst := d.Instance(typ)
	url := inst.URL + "/"

	// The packages are there (the layer): the dry run goes through every
	// role's configuration.
	dryRun(t, p, h, typ)
	p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})

	t.Run("deployed", func(t *testing.T) {
		checkDatabase(t, h, inst)
		if out, err := pgConnect(h, "localhost", typ.DatabaseName(), typ.DatabaseName()); err != nil || !strings.HasPrefix(out, typ.DatabaseName()+" 3.") {
			t.Errorf("connect as %s with the secret's password: %q, %v", typ.DatabaseName(), out, err)
		}
		if pids := uwsgiPIDs(t, h, typ); len(pids) < 2 {
			t.Errorf("uWSGI processes of %s: %v, want a master and workers", typ, pids)
		}
		if ss := sh(t, h, "ss", "-ltnH"); !strings.Contains(ss, fmt.Sprintf("127.0.0.1:%d ", typ.UWSGIPort())) {
			t.Errorf("nothing listens on 127.0.0.1:%d:\n%s", typ.UWSGIPort(), ss)
		}
		pg := get(t, url)
		if pg.Instance != "demo" || pg.Home != "/home/demo" || pg.DB != "ok" || pg.DBName != "sahana-demo" ||
			pg.DBUser != "sahana-demo" || pg.SystemName != systemName || pg.PublicURL != inst.URL ||
			pg.Template != "default" || pg.EdenVersion != "stand-in 1" || pg.Users != 1 || !strings.HasPrefix(pg.PostGIS, "3.") {
			t.Errorf("GET %s through nginx: %+v", url, pg)
		}
		checkConfig(t, h, d, inst, "localhost")
		checkBackupCron(t, h, inst, 30)
	})

	// The rules refuse a deploy of a deployed instance; the same run again
	// is what a retried deploy does, and must change nothing.
	inst.Status = deploy.InstanceFailed
	r := p.run("deploy-again", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	p.requireNoChange(r, "deploy-again")

	t.Run("backup", func(t *testing.T) { checkBackups(t, p, h, inst) })

	t.Run("pull", func(t *testing.T) {
		repos.commit(t, "eden", edenBranch, "VERSION", "stand-in 2\n", "stand-in 2")
		since := time.Now()
		p.run("pull", deploy.RunRequest{Kind: deploy.RunPull, Instance: typ})
		pg := waitRestarted(t, url, since)
		if pg.EdenVersion != "stand-in 2" || pg.DB != "ok" {
			t.Errorf("after pull: %+v", pg)
		}
		if ev := standinEvents(t, h, typ, since); !slices.ContainsFunc(ev, func(e standinEvent) bool {
			return e.Phase == "migrate" && e.Script == "eden-deploy/first_run.py"
		}) {
			t.Errorf("pull did not migrate: web2py ran %+v", ev)
		}
		// Nothing new to pull: nothing migrates, compiles or restarts.
		before := uwsgiPIDs(t, h, typ)
		p.requireNoChange(p.run("pull again", deploy.RunRequest{Kind: deploy.RunPull, Instance: typ}), "pull again")
		if after := uwsgiPIDs(t, h, typ); !slices.Equal(after, before) {
			t.Errorf("a pull with nothing new restarted the app: processes %v, then %v", before, after)
		}
	})

	t.Run("restart", func(t *testing.T) {
		old := uwsgiPIDs(t, h, typ)
		before := get(t, url)
		since := time.Now()
		r := p.run("restart", deploy.RunRequest{Kind: deploy.RunRestart, Instance: typ})
		pg := waitRestarted(t, url, since)
		if pg.PID == before.PID || slices.Contains(old, fmt.Sprint(pg.PID)) {
			t.Errorf("restart: the app answers from pid %d, one of the old processes %v", pg.PID, old)
		}
		// The same request again (a retried step) restarts nothing.
		restarted := uwsgiPIDs(t, h, typ)
		p.runSteps("restart again", r)
		p.requireNoChange(r, "restart again")
		if after := uwsgiPIDs(t, h, typ); !slices.Equal(after, restarted) {
			t.Errorf("a retried restart restarted the app again: processes %v, then %v", restarted, after)
		}
		// A new request restarts again.
		since = time.Now()
		p.run("restart, a new request", deploy.RunRequest{Kind: deploy.RunRestart, Instance: typ})
		if pg := waitRestarted(t, url, since); slices.Contains(restarted, fmt.Sprint(pg.PID)) {
			t.Errorf("a second restart request: the app answers from pid %d, one of the old processes %v", pg.PID, restarted)
		}
	})

	t.Run("reconfigure", func(t *testing.T) {
		s := maps.Clone(inst.Settings)
		s["base.system_name"] = "Reconfigured \"Eden\" 'two'\n{{ again }}"
		s["L10n.default_language"] = "de"
		if _, err := d.ReplaceSettings(typ, s, inst.SettingsVersion, time.Now()); err != nil {
			t.Fatal(err)
		}
		since := time.Now()
		p.run("reconfigure", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: typ})
		checkConfig(t, h, d, inst, "localhost")
		pg := waitRestarted(t, url, since)
		if pg.SystemName != s["base.system_name"] {
			t.Errorf("after reconfigure the app says system_name %q", pg.SystemName)
		}
		r := p.run("reconfigure-again", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: typ})
		p.requireNoChange(r, "reconfigure-again")
	})

	t.Run("clean", func(t *testing.T) {
		checkCleans(t, p, h, h, inst, "", true, func() {
			s := maps.Clone(inst.Settings)
			s["base.system_name"] = "Cleaned anew"
			if _, err := d.ReplaceSettings(typ, s, inst.SettingsVersion, time.Now()); err != nil {
				t.Fatal(err)
			}
			p.run("reconfigure before a clean", deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: typ})
		})
	})

	t.Run("day two", func(t *testing.T) { checkDayTwo(t, p, h, h, h, inst) })
}

// standinEvent is a line of the stand-in web2py's databases/standin.log.
type standinEvent struct {
	At           float64 `json:"at"`
	Phase        string  `json:"phase"`
	Script       string  `json:"script"`
	Prepopulated bool    `json:"prepopulated"`
}

// standinEvents returns what the stand-in web2py ran on h since a time.
func standinEvents(t *testing.T, h *testhost.Host, typ deploy.InstanceType, since time.Time) []standinEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root, strings.TrimPrefix(typ.Home(), "/"), "applications/eden/databases/standin.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []standinEvent
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e standinEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("standin.log: %v: %q", err, l)
		}
		if e.At >= float64(since.UnixNano())/1e9 {
			out = append(out, e)
		}
	}
	return out
}

func testThreeTier(t *testing.T) {
	c := servers(t, 3)
	db, eden, web := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	repos := serveRepos(t, c)
	d := newDeployment(t, repos, []deploy.ServerSpec{
		{Host: db.Addr, Role: deploy.RoleDB},
		{Host: eden.Addr, Role: deploy.RoleEden},
		{Host: web.Addr, Role: deploy.RoleWebServer},
	}, deploy.InstanceProd)
	p := newPlane(t, "3-tier", c, d)
	t.Cleanup(p.report)
	typ := deploy.InstanceProd
	inst := d.Instance(typ)
	url := inst.URL + "/"

	p.run("deploy", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})

	t.Run("deployed", func(t *testing.T) {
		checkDatabase(t, db, inst)
		if out, err := pgConnect(eden, db.Addr, "sahana", "sahana"); err != nil || !strings.HasPrefix(out, "sahana 3.") {
			t.Errorf("eden host connecting to %s: %q, %v", db.Addr, out, err)
		}
		// pg_hba admits only the deployment's eden hosts. The webserver has
		// no psycopg2 unless the package layer brought it: add it.
		if _, err := shErr(web, "python3", "-c", "import psycopg2"); err != nil {
			sh(t, web, "apt-get", "install", "-y", "-q", "python3-psycopg2")
		}
		out, err := pgConnect(web, db.Addr, "sahana", "sahana")
		if err == nil || !strings.Contains(out+err.Error(), "no pg_hba.conf entry for host \""+web.Addr+"\"") {
			t.Errorf("the webserver host connecting to the database: %q, %v; want refused by pg_hba", out, err)
		}
		if pids := uwsgiPIDs(t, eden, typ); len(pids) < 2 {
			t.Errorf("uWSGI processes of prod on the eden host: %v", pids)
		}
		if ss := sh(t, eden, "ss", "-ltnH"); !strings.Contains(ss, fmt.Sprintf("0.0.0.0:%d ", typ.UWSGIPort())) {
			t.Errorf("nothing listens on 0.0.0.0:%d on the eden host:\n%s", typ.UWSGIPort(), ss)
		}
		// Links inside a server's root are read as links: their targets are
		// paths in that root, not on this machine.
		if l, err := os.Readlink(filepath.Join(web.Root, "etc/nginx/sites-enabled/eden-prod")); err != nil || l != "/etc/nginx/sites-available/eden-prod" {
			t.Errorf("nginx site enabled: %q, %v", l, err)
		}
		site, err := os.ReadFile(filepath.Join(web.Root, "etc/nginx/sites-available/eden-prod"))
		if err != nil || !strings.Contains(string(site), fmt.Sprintf("server %s:%d;", eden.Addr, typ.UWSGIPort())) {
			t.Errorf("nginx site: %v\n%s", err, site)
		}
		pg := get(t, url)
		if pg.Instance != "prod" || pg.Home != "/home/web2py" || pg.Host != eden.Name || pg.DB != "ok" ||
			pg.DBServer != db.Addr || pg.DBName != "sahana" || pg.SystemName != systemName || pg.PublicURL != inst.URL {
			t.Errorf("GET %s through nginx on %s: %+v", url, web.Addr, pg)
		}
		if l, err := os.Readlink(filepath.Join(eden.Root, "home/prod")); err != nil || l != "/home/web2py" {
			t.Errorf("/home/prod links to %q, %v", l, err)
		}
		checkConfig(t, eden, d, inst, db.Addr)
		checkBackupCron(t, db, inst, 0)
	})

	inst.Status = deploy.InstanceFailed
	r := p.run("deploy-again", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: typ})
	p.requireNoChange(r, "deploy-again")

	t.Run("backup", func(t *testing.T) { checkBackups(t, p, db, inst) })

	// The db step decides and recreates, the eden step finishes and records
	// what the clean left, through the database: the first clean and the
	// second prove that; what makes a clean clean is all-in-one's part.
	t.Run("clean", func(t *testing.T) { checkCleans(t, p, db, eden, inst, d.Name, false, nil) })

	t.Run("day two", func(t *testing.T) { checkDayTwo(t, p, db, eden, web, inst) })
}
