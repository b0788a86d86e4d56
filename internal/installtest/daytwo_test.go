package installtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/backups"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	"github.com/edendeploy/edendeploy/internal/testhost"
)

// The day-two checks: backups listed and kept off the server, restore,
// remove, and the maintenance page. They use the harness's plane (its
// deployment, runner and servers) and, as the control plane does, the
// backups service over a store and the copies the runner pulls to
// plane.offsite.

// dayTwo is a plane's backups service.
type dayTwo struct {
	svc    *backups.Service
	copies *blobfs.Store
}

var (
	dayTwosMu sync.Mutex
	dayTwos   = map[*plane]*dayTwo{}
)

// backups returns p's backups service, made on first use.
func (p *plane) backups() *dayTwo {
	t := p.t
	t.Helper()
	dayTwosMu.Lock()
	defer dayTwosMu.Unlock()
	if b := dayTwos[p]; b != nil {
		return b
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	copies, err := blobfs.Open(p.offsite)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := backups.New(backups.Config{Store: st, Copies: copies, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b := &dayTwo{svc: svc, copies: copies}
	dayTwos[p] = b
	return b
}

// collect hands every step of r to the backups service, as the run's
// RecordStep task does.
func (p *plane) collect(r *deploy.Run) {
	p.t.Helper()
	for i, s := range r.Steps {
		if err := p.backups().svc.CollectStep(context.Background(), p.d, r, i, s.Results); err != nil {
			p.t.Fatalf("run %s step %s: the backups were not kept: %v", r.Kind, s.Name, err)
		}
	}
}

// backupNow runs a backup of typ and returns the backup that holds the
// database as it is now.
func (p *plane) backupNow(label string, typ deploy.InstanceType) *deploy.Backup {
	t := p.t
	t.Helper()
	r := p.run(label, deploy.RunRequest{Kind: deploy.RunBackup, Instance: typ})
	p.collect(r)
	var current string
	for _, s := range r.Steps {
		for _, h := range s.Results {
			for _, rep := range h.Backups {
				if rep.Current && rep.Instance == typ {
					current = deploy.BackupID(p.d.ID, typ, rep.Name)
				}
			}
		}
	}
	if current == "" {
		t.Fatalf("%s: the db step reported no current dump: %+v", label, r.Steps)
	}
	b, err := p.backups().svc.Get(context.Background(), p.d.ID, current)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return b
}

// restoreReq is the request of a restore of b into typ.
func (p *plane) restoreReq(typ deploy.InstanceType, b *deploy.Backup) deploy.RunRequest {
	p.t.Helper()
	src, err := p.backups().svc.RestoreSource(context.Background(), p.d, b.ID)
	if err != nil {
		p.t.Fatalf("restore source %s: %v", b.ID, err)
	}
	return deploy.RunRequest{Kind: deploy.RunRestore, Instance: typ, Restore: src, Confirm: p.d.Name}
}

// runToEnd runs the run req asks for as the state machine does when a
// step fails: the steps after it are skipped, but those that always run
// still run (as a run of their own here). It returns the run and the first
// failure ("" if none); unlike run, a failure does not fail the test.
func (p *plane) runToEnd(label string, req deploy.RunRequest) (*deploy.Run, string) {
	p.t.Helper()
	r := p.start(label, req)
	failure := p.steps(label, r)
	if failure == "" {
		p.end(r, deploy.RunSucceeded)
		return r, ""
	}
	rest := *r
	rest.ID += "-always"
	rest.Steps = nil
	failed := false
	for _, s := range r.Steps {
		failed = failed || s.Status == deploy.StepFailed
		if failed && s.Always {
			rest.Steps = append(rest.Steps, s)
		}
	}
	if more := p.steps(label+", the steps that always run", &rest); more != "" {
		p.t.Errorf("%s", more)
	}
	p.end(r, deploy.RunFailed)
	return r, failure
}

// watch polls url, and the URLs of the other instances that must keep
// answering, until stop is closed, and returns the statuses url answered
// (in order, without repeats) and the problems it saw.
func watch(url string, others []string, stop <-chan struct{}) (statuses []string, problems []string) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	get := func(u string) (int, string) {
		resp, err := client.Get(u)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for {
		select {
		case <-stop:
			return statuses, problems
		case <-time.After(100 * time.Millisecond):
		}
		code, retry := get(url)
		st := strconv.Itoa(code)
		if code == http.StatusServiceUnavailable {
			if n, err := strconv.Atoi(retry); err != nil || n <= 0 {
				problems = append(problems, fmt.Sprintf("503 from %s without a Retry-After (%q)", url, retry))
			}
		}
		if len(statuses) == 0 || statuses[len(statuses)-1] != st {
			statuses = append(statuses, st)
		}
		for _, o := range others {
			if code, msg := get(o); code != http.StatusOK {
				problems = append(problems, fmt.Sprintf("%s answered %d %s meanwhile", o, code, msg))
			}
		}
	}
}

// duringMaintenance runs fn while watching url: it must answer 503 with
// Retry-After while fn's run is in its middle, the others 200 all along,
// and url Eden's front page, titled as before, once fn is done (when up).
func duringMaintenance(t *testing.T, url string, others []string, up bool, fn func()) {
	t.Helper()
	var title string
	if up {
		title = newEdenClient(t, url).get("/").Title()
	}
	stop := make(chan struct{})
	var statuses, problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		statuses, problems = watch(url, others, stop)
	}()
	fn()
	close(stop)
	<-done
	for _, p := range problems {
		t.Error(p)
	}
	if !strings.Contains(strings.Join(statuses, " "), "503") {
		t.Errorf("%s answered %v while the run ran: never 503, the maintenance page", url, statuses)
	}
	if up {
		if after := newEdenClient(t, url).get("/").Title(); after != title {
			t.Errorf("%s after the run: title %q, want Eden's front page as before (%q)", url, after, title)
		}
	}
}

// organisation is data made through Eden's pages that tells one database
// state from another: an organisation, listed by Eden when it is there.
type organisation struct {
	url  string // the instance's
	db   *testhost.Host
	name string
}

func newOrganisation(inst *deploy.Instance, db *testhost.Host, label string) organisation {
	return organisation{url: inst.URL, db: db, name: fmt.Sprintf("Day two %s %d", label, time.Now().UnixNano())}
}

// admin is a client logged in as the deployment's administrator.
func admin(t *testing.T, url string) *edenClient {
	t.Helper()
	c := newEdenClient(t, url)
	c.login(adminEmail, testSecrets[deploy.SecretAdminPassword])
	return c
}

// create makes the organisation through Eden's form.
func (o organisation) create(t *testing.T) {
	t.Helper()
	r := admin(t, o.url).submit("/eden/org/organisation/create", "org_organisation/", url.Values{"name": {o.name}})
	if !strings.Contains(r.Location, "/org/organisation/") {
		t.Fatalf("creating organisation %q: redirected to %q", o.name, r.Location)
	}
}

// remove deletes the organisation's row, as a mistake or a bad import
// would.
func (o organisation) remove(t *testing.T, dbName string) {
	t.Helper()
	psql(t, o.db, dbName, "DELETE FROM org_organisation WHERE name = '"+o.name+"'")
}

// listed reports whether Eden at url lists the organisation.
func (o organisation) listed(t *testing.T, url string) bool {
	t.Helper()
	return strings.Contains(admin(t, url).get("/eden/org/organisation.json").Body, o.name)
}

// fileSum is the SHA-256 of a file of this machine, "" if it is missing.
func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkBackupsKept proves the backup b is listed first (newest first),
// with a server copy and an off-server copy under the control plane's
// directory, both matching its SHA-256.
func checkBackupsKept(t *testing.T, p *plane, db *testhost.Host, b *deploy.Backup) {
	t.Helper()
	list, err := p.backups().svc.List(context.Background(), p.d.ID, b.Instance)
	if err != nil || len(list) == 0 || list[0].ID != b.ID {
		t.Fatalf("backups of %s: %v, %v; want %s first", b.Instance, list, err, b.ID)
	}
	for i := 1; i < len(list); i++ {
		if list[i].CreatedAt.After(list[i-1].CreatedAt) {
			t.Errorf("backups not newest first: %s before %s", list[i-1].ID, list[i].ID)
		}
	}
	server, off := b.Copy(deploy.CopyServer), b.Copy(deploy.CopyOffsite)
	if server == nil || off == nil || off.VerifiedAt.IsZero() {
		t.Fatalf("backup %s: copies %+v, want a server copy and a checked off-server copy", b.ID, b.Copies)
	}
	if got := fileSum(filepath.Join(db.Root, server.Path)); got != b.SHA256 {
		t.Errorf("the server's dump %s: sha256 %q, recorded %s", server.Path, got, b.SHA256)
	}
	if got := fileSum(off.Location); got != b.SHA256 {
		t.Errorf("the off-server copy %s: sha256 %q, recorded %s", off.Location, got, b.SHA256)
	}
	if !strings.HasPrefix(off.Location, p.offsite+"/") {
		t.Errorf("the off-server copy is at %s, not under the control plane's %s", off.Location, p.offsite)
	}
}

// checkRestores proves restore on inst: an organisation made through Eden,
// a backup, the organisation deleted and the server's dump gone, a restore
// behind the maintenance page takes the off-server copy and brings the
// organisation back on Eden's pages; then, the off-server copy corrupted,
// a restore is refused and the running database left as it was. (A
// restore from the server's own dump is checkOtherInstance's.)
func checkRestores(t *testing.T, p *plane, db *testhost.Host, inst *deploy.Instance) {
	typ := inst.Type
	name := typ.DatabaseName()
	org := newOrganisation(inst, db, string(typ))
	org.create(t)
	b := p.backupNow("backup before a restore", typ)
	checkBackupsKept(t, p, db, b)

	org.remove(t, name)
	if org.listed(t, inst.URL) {
		t.Fatalf("Eden still lists %q after its row was deleted", org.name)
	}
	server := b.Copy(deploy.CopyServer).Path
	sh(t, db, "rm", "-f", server, server+".sha256", server+".sum")
	var r *deploy.Run
	duringMaintenance(t, inst.URL, nil, true, func() { r = p.run("restore from the off-server copy", p.restoreReq(typ, b)) })
	if !org.listed(t, inst.URL) {
		t.Errorf("after the restore Eden does not list %q", org.name)
	}
	if log := p.logText(r.ID); !strings.Contains(log, "Send the control plane's copy") {
		t.Errorf("the restore did not send the off-server copy:\n%s", changedLines(log))
	}

	// The copy off the server is corrupted and the server has none: the
	// restore is refused and the running database keeps what it has.
	if err := os.WriteFile(b.Copy(deploy.CopyOffsite).Location, []byte("PGDMP corrupted"), 0o600); err != nil {
		t.Fatal(err)
	}
	org.remove(t, name)
	before := psql(t, db, name, "SELECT count(*) FROM org_organisation")
	var failure string
	duringMaintenance(t, inst.URL, nil, true, func() { _, failure = p.runToEnd("restore from a corrupted copy", p.restoreReq(typ, b)) })
	if !strings.Contains(failure, "no copy matches its SHA-256") || !strings.Contains(failure, "the database was not touched") {
		t.Errorf("a restore from a corrupted copy: %q, want refused as not matching", failure)
	}
	if after := psql(t, db, name, "SELECT count(*) FROM org_organisation"); after != before || org.listed(t, inst.URL) {
		t.Errorf("a refused restore changed the database: %s organisations, then %s", before, after)
	}
}

// checkDayTwo runs the day-two checks on inst (of an all-in-one deployment,
// or 3-tier with db, eden and web): restores and, with another instance
// other, its restore from a backup of inst behind its own maintenance page
// while inst keeps answering, then its removal.
func checkDayTwo(t *testing.T, p *plane, db, eden, web *testhost.Host, inst, other *deploy.Instance) {
	t.Run("restore", func(t *testing.T) { checkRestores(t, p, db, inst) })
	if other != nil {
		t.Run(string(other.Type)+" from a "+string(inst.Type)+" backup, then removed", func(t *testing.T) {
			checkOtherInstance(t, p, db, eden, web, inst, other)
		})
	}
}

// checkOtherInstance restores other from a backup of inst (its maintenance
// page up meanwhile, inst answering), removes it and proves its site, app,
// database and home gone, its final backup kept off the server, and inst
// still answering.
func checkOtherInstance(t *testing.T, p *plane, db, eden, web *testhost.Host, inst, other *deploy.Instance) {
	d := p.d
	typ := other.Type
	title := newEdenClient(t, inst.URL).get("/").Title()
	org := newOrganisation(inst, db, "from "+string(inst.Type))
	org.create(t)
	b := p.backupNow("backup to restore "+string(typ)+" from", inst.Type)
	org.remove(t, inst.Type.DatabaseName())
	duringMaintenance(t, other.URL, []string{inst.URL + "/"}, true, func() {
		p.run("restore "+string(typ)+" from "+string(inst.Type), p.restoreReq(typ, b))
	})
	if !org.listed(t, other.URL) {
		t.Errorf("%s does not list %q: not restored from %s's backup", typ, org.name, inst.Type)
	}

	var r *deploy.Run
	duringMaintenance(t, other.URL, []string{inst.URL + "/"}, false, func() {
		r = p.run("remove "+string(typ), deploy.RunRequest{Kind: deploy.RunRemove, Instance: typ, Confirm: d.Name})
	})
	p.collect(r)
	if d.Instance(typ) != nil {
		t.Errorf("the deployment still has the %s instance after its removal", typ)
	}
	site := "etc/nginx/sites-enabled/eden-" + string(typ)
	for h, paths := range map[*testhost.Host][]string{
		web:  {site, "etc/nginx/sites-available/eden-" + string(typ), "etc/nginx/eden-maintenance/" + string(typ)},
		eden: {"etc/uwsgi/apps-enabled/" + string(typ) + ".ini", "etc/uwsgi/apps-available/" + string(typ) + ".ini", strings.TrimPrefix(typ.Home(), "/")},
		db:   {"etc/cron.d/eden-backup-" + string(typ), "usr/local/bin/eden-backup-" + string(typ)},
	} {
		for _, path := range paths {
			if _, err := os.Lstat(filepath.Join(h.Root, path)); !os.IsNotExist(err) {
				t.Errorf("%s: /%s is still there after the removal (%v)", h.Name, path, err)
			}
		}
	}
	if pids := uwsgiPIDs(t, eden, typ); len(pids) != 0 {
		t.Errorf("the %s instance's app still runs: %v", typ, pids)
	}
	for _, q := range []string{"pg_database WHERE datname", "pg_roles WHERE rolname"} {
		if n := psql(t, db, "postgres", "SELECT count(*) FROM "+q+" = '"+typ.DatabaseName()+"'"); n != "0" {
			t.Errorf("%s: %s is still there", q, typ.DatabaseName())
		}
	}
	finals, err := p.backups().svc.List(context.Background(), d.ID, typ)
	if err != nil || len(finals) == 0 || finals[0].Origin != deploy.BackupFinal || finals[0].Copy(deploy.CopyOffsite) == nil {
		t.Errorf("the final backup of %s: %v, %v; want one kept off the server", typ, finals, err)
	}
	if after := newEdenClient(t, inst.URL).get("/").Title(); after != title {
		t.Errorf("%s after the removal of %s: title %q, want %q as before", inst.Type, typ, after, title)
	}
}
