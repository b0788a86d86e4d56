package installtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	"github.com/edendeploy/edendeploy/internal/playbook"
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

// runToEnd runs every step of the run req asks for as the state machine
// does when one fails: the steps after a failed one are skipped, except
// those that always run. It returns the run and the first failure ("" if
// none); unlike run, a failure does not fail the test.
func (p *plane) runToEnd(label string, req deploy.RunRequest) (*deploy.Run, string) {
	t := p.t
	t.Helper()
	d := p.d
	req.Requester = "installtest"
	if err := d.CheckRun(req, nil); err != nil {
		t.Fatalf("%s: CheckRun: %v", label, err)
	}
	now := time.Now()
	r, err := d.NewRun(deploy.NewID("r-", now), req, now)
	if err != nil {
		t.Fatalf("%s: NewRun: %v", label, err)
	}
	failure := ""
	for i := range r.Steps {
		step := &r.Steps[i]
		if failure != "" && !step.Always {
			step.Status = deploy.StepSkipped
			continue
		}
		b, err := playbook.Render(playbook.Input{Deployment: d, Run: r, Step: i}, playbook.Options{})
		if err != nil {
			t.Fatalf("%s: render step %d: %v", label, i, err)
		}
		tgz, err := b.TarGz()
		if err != nil {
			t.Fatal(err)
		}
		step.BundleKey = fmt.Sprintf("%s/bundles/%s/step-%d.tar.gz", d.ID, r.ID, i)
		ctx := context.Background()
		if err := p.blobs.PutBlob(ctx, step.BundleKey, tgz); err != nil {
			t.Fatal(err)
		}
		disp := deploy.Dispatch{DeploymentID: d.ID, RunID: r.ID, StepIndex: i, StepCount: len(r.Steps), StepName: step.Name,
			BundleKey: step.BundleKey, Playbook: step.Playbook, Token: r.ID + "/" + strconv.Itoa(i), Timeout: 20 * time.Minute,
			SSHUser: d.SSHUser, LogKey: "runs/" + r.ID + ".log"}
		for _, h := range step.Hosts {
			disp.Hosts = append(disp.Hosts, deploy.DispatchHost{Host: h})
		}
		if _, err := p.runner.Dispatch(ctx, disp); err != nil {
			t.Fatalf("%s: dispatch step %s: %v", label, step.Name, err)
		}
		var s signal
		select {
		case s = <-p.sig.ch(disp.Token):
		case <-time.After(25 * time.Minute):
			t.Fatalf("%s: step %s: no outcome signalled", label, step.Name)
		}
		step.Results, step.Status = s.outcome.Results, deploy.StepSucceeded
		if s.kind != "success" || s.outcome.Error != "" {
			step.Status = deploy.StepFailed
			if failure == "" {
				failure = fmt.Sprintf("step %s failed: %s%s", step.Name, s.cause, s.outcome.Error)
			}
		}
	}
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
// and url 200 once fn is done (when up).
func duringMaintenance(t *testing.T, url string, others []string, up bool, fn func()) {
	t.Helper()
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
		get(t, url) // 200 from the app
	}
}

// mark is a row that tells one database state from another: a user in
// auth_user, which Eden and the stand-in both have.
type mark struct {
	db    *testhost.Host
	name  string // database
	email string
}

func (m mark) put(t *testing.T) {
	t.Helper()
	psql(t, m.db, m.name, fmt.Sprintf(`DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'auth_user' AND column_name = 'uuid') THEN
    EXECUTE 'INSERT INTO auth_user (email, first_name, last_name, uuid) VALUES (''%[1]s'', ''Day'', ''Two'', ''urn:uuid:%[1]s'')';
  ELSE
    INSERT INTO auth_user (email, first_name, last_name) VALUES ('%[1]s', 'Day', 'Two');
  END IF;
END $$`, m.email))
}

func (m mark) remove(t *testing.T) {
	t.Helper()
	psql(t, m.db, m.name, "DELETE FROM auth_user WHERE email = '"+m.email+"'")
}

func (m mark) present(t *testing.T) bool {
	t.Helper()
	return psql(t, m.db, m.name, "SELECT count(*) FROM auth_user WHERE email = '"+m.email+"'") == "1"
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

// checkBackupsKept proves the backup b of inst is listed (newest first)
// with a server copy and an off-server copy, both matching its SHA-256.
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

// checkRestores proves restore on the instance of url: a backup, a
// change, a restore brings the backup's data back (through the app's page
// too) behind the maintenance page; a dump gone from the server is taken
// from the off-server copy; a corrupted copy is refused and the running
// database left as it was.
func checkRestores(t *testing.T, p *plane, db *testhost.Host, inst *deploy.Instance) {
	typ := inst.Type
	url := inst.URL + "/"
	m := mark{db: db, name: typ.DatabaseName(), email: "daytwo-" + strings.ToLower(p.d.ID[len(p.d.ID)-6:]) + "@example.org"}
	m.put(t)
	users := get(t, url).Users
	b := p.backupNow("backup before a restore", typ)
	checkBackupsKept(t, p, db, b)

	m.remove(t)
	if get(t, url).Users != users-1 {
		t.Fatalf("the app does not see the mark's removal")
	}
	duringMaintenance(t, url, nil, true, func() { p.run("restore", p.restoreReq(typ, b)) })
	if !m.present(t) {
		t.Errorf("after the restore the mark is not back in %s", m.name)
	}
	if pg := get(t, url); pg.Users != users || pg.DB != "ok" {
		t.Errorf("after the restore the app answers %+v, want %d users", pg, users)
	}

	// The server lost its dump: the off-server copy is taken.
	server := b.Copy(deploy.CopyServer).Path
	sh(t, db, "rm", "-f", server, server+".sha256", server+".sum")
	m.remove(t)
	r := p.run("restore from the off-server copy", p.restoreReq(typ, b))
	if !m.present(t) {
		t.Errorf("a restore from the off-server copy did not bring the mark back")
	}
	if log := p.logText(r.ID); !strings.Contains(log, "Send the control plane's copy") {
		t.Errorf("the restore did not send the off-server copy:\n%s", changedLines(log))
	}

	// The copy off the server is corrupted and the server has none: the
	// restore is refused and the running database keeps what it has.
	if err := os.WriteFile(b.Copy(deploy.CopyOffsite).Location, []byte("PGDMP corrupted"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.remove(t)
	before := psql(t, db, m.name, "SELECT count(*) FROM auth_user")
	var failure string
	duringMaintenance(t, url, nil, true, func() { _, failure = p.runToEnd("restore from a corrupted copy", p.restoreReq(typ, b)) })
	if !strings.Contains(failure, "no copy matches its SHA-256") || !strings.Contains(failure, "the database was not touched") {
		t.Errorf("a restore from a corrupted copy: %q, want refused as not matching", failure)
	}
	if after := psql(t, db, m.name, "SELECT count(*) FROM auth_user"); after != before || m.present(t) {
		t.Errorf("a refused restore changed the database: %s users, then %s", before, after)
	}
}

// checkDayTwo runs the day-two checks on inst (of an all-in-one
// deployment, or 3-tier with db, eden and web): restores, and with a test
// instance added, a restore of it from inst's backup behind its own
// maintenance page while inst keeps answering, then its removal.
func checkDayTwo(t *testing.T, p *plane, db, eden, web *testhost.Host, inst *deploy.Instance) {
	t.Run("restore", func(t *testing.T) { checkRestores(t, p, db, inst) })
	t.Run("test instance from a backup, then removed", func(t *testing.T) { checkTestInstance(t, p, db, eden, web, inst) })
}

// checkTestInstance adds a test instance, restores it from a backup of
// inst (its maintenance page up meanwhile, inst answering), removes it and
// proves its site, app, database and home gone, its final backup kept off
// the server, and inst still answering.
func checkTestInstance(t *testing.T, p *plane, db, eden, web *testhost.Host, inst *deploy.Instance) {
	d := p.d
	test, err := d.AddInstance(deploy.InstanceSpec{Type: deploy.InstanceTest}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d.Instances = append(d.Instances, test)
	p.run("add a test instance", deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest})
	testURL := d.Instance(deploy.InstanceTest).URL + "/"
	get(t, testURL)

	m := mark{db: db, name: inst.Type.DatabaseName(), email: "from-" + string(inst.Type) + "@example.org"}
	m.put(t)
	b := p.backupNow("backup to restore test from", inst.Type)
	m.remove(t)
	duringMaintenance(t, testURL, []string{inst.URL + "/"}, true, func() {
		p.run("restore test from "+string(inst.Type), p.restoreReq(deploy.InstanceTest, b))
	})
	if !(mark{db: db, name: deploy.InstanceTest.DatabaseName(), email: m.email}).present(t) {
		t.Errorf("the test instance was not restored from %s's backup", inst.Type)
	}

	var r *deploy.Run
	duringMaintenance(t, testURL, []string{inst.URL + "/"}, false, func() {
		r = p.run("remove test", deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceTest})
	})
	p.collect(r)
	if d.Instance(deploy.InstanceTest) != nil {
		t.Errorf("the deployment still has the test instance after its removal")
	}
	for h, paths := range map[*testhost.Host][]string{
		web:  {"etc/nginx/sites-enabled/eden-test", "etc/nginx/sites-available/eden-test", "etc/nginx/eden-maintenance/test"},
		eden: {"etc/uwsgi/apps-enabled/test.ini", "etc/uwsgi/apps-available/test.ini", "home/test"},
		db:   {"etc/cron.d/eden-backup-test", "usr/local/bin/eden-backup-test"},
	} {
		for _, path := range paths {
			if _, err := os.Lstat(filepath.Join(h.Root, path)); !os.IsNotExist(err) {
				t.Errorf("%s: /%s is still there after the removal (%v)", h.Name, path, err)
			}
		}
	}
	if pids := uwsgiPIDs(t, eden, deploy.InstanceTest); len(pids) != 0 {
		t.Errorf("the test instance's app still runs: %v", pids)
	}
	if n := psql(t, db, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'sahana-test'"); n != "0" {
		t.Errorf("the test database is still there")
	}
	if n := psql(t, db, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'sahana-test'"); n != "0" {
		t.Errorf("the test role is still there")
	}
	finals, err := p.backups().svc.List(context.Background(), d.ID, deploy.InstanceTest)
	if err != nil || len(finals) == 0 || finals[0].Origin != deploy.BackupFinal || finals[0].Copy(deploy.CopyOffsite) == nil {
		t.Errorf("the final backup of test: %v, %v; want one kept off the server", finals, err)
	}
	if pg := get(t, inst.URL+"/"); pg.DB != "ok" {
		t.Errorf("%s after the removal of test: %+v", inst.Type, pg)
	}
}
