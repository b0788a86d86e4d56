package backups_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/backups"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// env is a service over a bbolt store, off-server copies in a directory
// and, when asked, a mirror in another.
type env struct {
	svc    *backups.Service
	store  *bolt.Store
	copies *blobfs.Store
	mirror *blobfs.Store
	d      *deploy.Deployment
}

func newEnv(t *testing.T, mirror bool, retention deploy.Retention) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "eden.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{store: st}
	if e.copies, err = blobfs.Open(filepath.Join(dir, "offsite")); err != nil {
		t.Fatal(err)
	}
	cfg := backups.Config{Store: st, Copies: e.copies, Retention: retention, Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mirror {
		if e.mirror, err = blobfs.Open(filepath.Join(dir, "mirror")); err != nil {
			t.Fatal(err)
		}
		cfg.Mirror = e.mirror
	}
	if e.svc, err = backups.New(cfg); err != nil {
		t.Fatal(err)
	}
	e.d = &deploy.Deployment{ID: "d-1", Name: "Eden", Servers: []deploy.Server{
		{Host: "10.0.0.2", Role: deploy.RoleDB}, {Host: "10.0.0.9", Role: deploy.RoleDB},
		{Host: "10.0.0.3", Role: deploy.RoleEden}, {Host: "10.0.0.4", Role: deploy.RoleWebServer},
	}, Instances: []deploy.Instance{{Type: deploy.InstanceProd, Status: deploy.InstanceDeployed}, {Type: deploy.InstanceTest, Status: deploy.InstanceDeployed}}}
	return e
}

// dump is a dump of instance t made on day d of March 2026, and its
// report as the db server sends it; offsite says the step pulled it (and
// the copy is put where the playbook puts it).
type dump struct {
	t       deploy.InstanceType
	day     int
	body    string
	current bool
	offsite bool
}

func (e *env) report(t *testing.T, dumps ...dump) []deploy.BackupReport {
	t.Helper()
	var out []deploy.BackupReport
	for _, x := range dumps {
		name := fmt.Sprintf("202603%02d-020000.dump", x.day)
		sum := sha256.Sum256([]byte(x.body))
		rep := deploy.BackupReport{Instance: x.t, Name: name, Path: "/var/backups/eden/" + string(x.t) + "/" + name,
			Size: int64(len(x.body)), SHA256: hex.EncodeToString(sum[:]), Current: x.current}
		if x.offsite {
			rep.Offsite = "pulled"
			e.put(t, deploy.BackupKey(e.d.ID, x.t, name), x.body)
		}
		out = append(out, rep)
	}
	return out
}

// put writes a copy as the playbook's fetch does: straight to the file.
func (e *env) put(t *testing.T, key, body string) {
	t.Helper()
	p := filepath.Join(e.copies.Root(), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) collect(t *testing.T, kind deploy.RunKind, host string, reps []deploy.BackupReport) error {
	t.Helper()
	r := &deploy.Run{ID: "r-" + string(kind), DeploymentID: e.d.ID, Kind: kind}
	return e.svc.CollectStep(context.Background(), e.d, r, 0, []deploy.HostResult{{Host: host, OK: 3, Backups: reps}})
}

func (e *env) list(t *testing.T, typ deploy.InstanceType) []*deploy.Backup {
	t.Helper()
	bs, err := e.svc.List(context.Background(), e.d.ID, typ)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// summary is what a test checks of a record: "<id> <origin> <copy kinds>".
func summary(bs []*deploy.Backup) []string {
	var out []string
	for _, b := range bs {
		var kinds []string
		for _, c := range b.Copies {
			k := string(c.Kind)
			if c.VerifiedAt.IsZero() {
				k += "(unverified)"
			}
			kinds = append(kinds, k)
		}
		out = append(out, fmt.Sprintf("%s %s %s", strings.TrimPrefix(b.ID, "d-1."), b.Origin, strings.Join(kinds, ",")))
	}
	return out
}

func TestCollect(t *testing.T) {
	tests := []struct {
		name    string
		kind    deploy.RunKind
		host    string
		dumps   []dump
		corrupt string // an off-server copy to overwrite before collecting
		want    []string
		problem string // in the error, "" for none
	}{
		{"a backup run's dump, pulled", deploy.RunBackup, "10.0.0.2",
			[]dump{{deploy.InstanceProd, 9, "nightly", false, true}, {deploy.InstanceProd, 10, "manual", true, true}},
			"", []string{"prod.20260310-020000 manual server,offsite", "prod.20260309-020000 nightly server,offsite"}, ""},
		{"the final backup of a remove", deploy.RunRemove, "10.0.0.2",
			[]dump{{deploy.InstanceTest, 10, "last", true, true}},
			"", []string{"test.20260310-020000 final server,offsite"}, ""},
		{"a copy that does not match", deploy.RunBackup, "10.0.0.2",
			[]dump{{deploy.InstanceProd, 10, "manual", true, true}},
			"backups/d-1/prod/20260310-020000.dump", []string{"prod.20260310-020000 manual server"}, "does not match the dump"},
		{"a dump not copied off", deploy.RunBackup, "10.0.0.2",
			[]dump{{deploy.InstanceProd, 10, "manual", true, false}},
			"", []string{"prod.20260310-020000 manual server"}, "was not copied off the server"},
		{"another db server's dumps", deploy.RunBackup, "10.0.0.9",
			[]dump{{deploy.InstanceProd, 10, "manual", true, true}}, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, deploy.Retention{})
			reps := e.report(t, tt.dumps...)
			if tt.corrupt != "" {
				e.put(t, tt.corrupt, "corrupted")
			}
			err := e.collect(t, tt.kind, tt.host, reps)
			if tt.problem == "" && err != nil {
				t.Fatalf("CollectStep: %v", err)
			}
			if tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem) || !deploy.IsKind(err, deploy.KindInvalid)) {
				t.Fatalf("CollectStep: %v, want Invalid naming %q", err, tt.problem)
			}
			if diff := cmp.Diff(tt.want, summary(e.list(t, ""))); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCollectFollowsTheServer(t *testing.T) {
	e := newEnv(t, false, deploy.Retention{Daily: 2})
	ctx := context.Background()
	all := []dump{{deploy.InstanceProd, 6, "a", false, true}, {deploy.InstanceProd, 7, "b", false, true},
		{deploy.InstanceProd, 8, "c", false, true}, {deploy.InstanceProd, 9, "d", true, true}}
	reps := e.report(t, all...)
	// The server kept all four so far (its retention runs before it
	// reports): all four are recorded.
	if err := e.collect(t, deploy.RunBackup, "10.0.0.2", reps); err != nil {
		t.Fatal(err)
	}
	if n := len(e.list(t, deploy.InstanceProd)); n != 4 {
		t.Fatalf("%d records, want 4", n)
	}
	// Then it keeps the newest two: the others go off the server too.
	if err := e.collect(t, deploy.RunBackup, "10.0.0.2", reps[2:]); err != nil {
		t.Fatal(err)
	}
	want := []string{"prod.20260309-020000 manual server,offsite", "prod.20260308-020000 nightly server,offsite"}
	if diff := cmp.Diff(want, summary(e.list(t, deploy.InstanceProd))); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for _, gone := range []string{"20260306-020000.dump", "20260307-020000.dump"} {
		if _, err := e.copies.OpenCopy(ctx, deploy.BackupKey("d-1", deploy.InstanceProd, gone)); !deploy.IsKind(err, deploy.KindNotFound) {
			t.Errorf("the off-server copy of %s is still there (%v)", gone, err)
		}
	}
	// A dump removed from the server by hand keeps its off-server copy.
	if err := e.collect(t, deploy.RunBackup, "10.0.0.2", reps[3:]); err != nil {
		t.Fatal(err)
	}
	want = []string{"prod.20260309-020000 manual server,offsite", "prod.20260308-020000 nightly offsite"}
	if diff := cmp.Diff(want, summary(e.list(t, deploy.InstanceProd))); diff != "" {
		t.Errorf("records after a dump was removed on the server (-want +got):\n%s", diff)
	}
	// A dump that changed on the server is reported, not recorded.
	changed := e.report(t, dump{deploy.InstanceProd, 9, "not d", false, false})
	err := e.collect(t, deploy.RunBackup, "10.0.0.2", changed)
	if err == nil || !strings.Contains(err.Error(), "is not what was recorded") {
		t.Errorf("a changed dump: %v", err)
	}
	b, err := e.svc.Get(ctx, "d-1", "d-1.prod.20260309-020000")
	if err != nil || b.Size != 1 {
		t.Errorf("the record of the changed dump: %+v, %v", b, err)
	}
}

func TestCollectNothing(t *testing.T) {
	e := newEnv(t, false, deploy.Retention{})
	reps := e.report(t, dump{deploy.InstanceProd, 10, "x", true, true})
	r := &deploy.Run{ID: "r-1", DeploymentID: "d-1", Kind: deploy.RunBackup, DryRun: true}
	if err := e.svc.CollectStep(context.Background(), e.d, r, 0, []deploy.HostResult{{Host: "10.0.0.2", Backups: reps}}); err != nil {
		t.Fatal(err)
	}
	r.DryRun = false
	if err := e.svc.CollectStep(context.Background(), e.d, r, 0, []deploy.HostResult{{Host: "10.0.0.2"}}); err != nil {
		t.Fatal(err)
	}
	if bs := e.list(t, ""); len(bs) != 0 {
		t.Errorf("a dry run and a step without reports recorded %v", summary(bs))
	}
}

func TestMirror(t *testing.T) {
	e := newEnv(t, true, deploy.Retention{})
	ctx := context.Background()
	if err := e.collect(t, deploy.RunBackup, "10.0.0.2", e.report(t, dump{deploy.InstanceProd, 10, "dump", true, true})); err != nil {
		t.Fatal(err)
	}
	want := []string{"prod.20260310-020000 manual server,offsite,mirror"}
	if diff := cmp.Diff(want, summary(e.list(t, ""))); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	key := deploy.BackupKey("d-1", deploy.InstanceProd, "20260310-020000.dump")
	b, err := e.svc.Get(ctx, "d-1", "d-1.prod.20260310-020000")
	if err != nil || b.Copy(deploy.CopyMirror).Location != e.mirror.CopyLocation(key) {
		t.Fatalf("mirror copy: %+v, %v", b, err)
	}
	// A restore whose off-server copy is gone gets it back from the mirror.
	if err := e.copies.DeleteCopy(ctx, key); err != nil {
		t.Fatal(err)
	}
	src, err := e.svc.RestoreSource(ctx, e.d, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := &deploy.Run{ID: "r-2", DeploymentID: "d-1", Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src}
	if err := e.svc.PrepareStep(ctx, e.d, r, 0); err != nil {
		t.Fatalf("PrepareStep: %v", err)
	}
	rc, err := e.copies.OpenCopy(ctx, key)
	if err != nil {
		t.Fatalf("the off-server copy was not brought back: %v", err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if buf.String() != "dump" {
		t.Errorf("brought back %q", buf.String())
	}
	// A mirror that holds something else is refused.
	if err := e.copies.DeleteCopy(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := e.mirror.PutCopy(ctx, key, strings.NewReader("evil"), 4); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PrepareStep(ctx, e.d, r, 0); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("PrepareStep from a bad mirror: %v", err)
	}
}

func TestRestoreSource(t *testing.T) {
	e := newEnv(t, false, deploy.Retention{})
	ctx := context.Background()
	if err := e.collect(t, deploy.RunBackup, "10.0.0.2", e.report(t, dump{deploy.InstanceProd, 10, "dump", true, true})); err != nil {
		t.Fatal(err)
	}
	src, err := e.svc.RestoreSource(ctx, e.d, "d-1.prod.20260310-020000")
	want := &deploy.RestoreSource{Backup: "d-1.prod.20260310-020000", Instance: deploy.InstanceProd, Name: "20260310-020000.dump",
		Size: 4, Key: "backups/d-1/prod/20260310-020000.dump"}
	sum := sha256.Sum256([]byte("dump"))
	want.SHA256 = hex.EncodeToString(sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, src); diff != "" {
		t.Errorf("RestoreSource (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ id, reason string }{
		{"20260310-020000", "is not a backup ID"},
		{"d-2.prod.20260310-020000", "belongs to deployment d-2"},
		{"d-1.prod.20260311-020000", "no backup d-1.prod.20260311-020000"},
	} {
		_, err := e.svc.RestoreSource(ctx, e.d, tt.id)
		if !deploy.IsKind(err, deploy.KindInvalid) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("RestoreSource(%s) = %v, want Invalid %q", tt.id, err, tt.reason)
		}
	}
	if _, err := e.svc.Get(ctx, "d-1", "d-2.prod.20260310-020000"); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("Get of another deployment's backup: %v, want NotFound", err)
	}
}
