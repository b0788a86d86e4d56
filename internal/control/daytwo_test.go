package control_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/backups"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// dayTwoRig is the rig with backups kept, a deployed 3-tier deployment
// with prod and test instances, and a backup of prod recorded.
type dayTwoRig struct {
	*rig
	d      *deploy.Deployment
	backup *deploy.Backup
}

func newDayTwoRig(t *testing.T) *dayTwoRig {
	t.Helper()
	r := newRigWith(t, func(c *control.Config, st *bolt.Store) {
		bk, err := backups.New(backups.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		c.Backups = bk
	})
	st := r.store
	ctx := context.Background()
	d, run, err := r.svc.CreateDeployment(ctx, alice, threeTier())
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, run, deploy.RunSucceeded)
	_, run, err = r.svc.AddInstance(ctx, alice, d.ID, deploy.InstanceSpec{Type: deploy.InstanceTest}, false)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, run, deploy.RunSucceeded)
	name := "20260301-020000.dump"
	b := &deploy.Backup{ID: deploy.BackupID(d.ID, deploy.InstanceProd, name), DeploymentID: d.ID, Instance: deploy.InstanceProd,
		Name: name, CreatedAt: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), Size: 10, SHA256: strings.Repeat("ab", 32),
		Origin: deploy.BackupNightly, Copies: []deploy.BackupCopy{{Kind: deploy.CopyOffsite, Key: deploy.BackupKey(d.ID, deploy.InstanceProd, name)}}}
	if err := st.PutBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	d, _ = st.GetDeployment(ctx, d.ID)
	return &dayTwoRig{rig: r, d: d, backup: b}
}

func (r *dayTwoRig) runs(t *testing.T) int {
	t.Helper()
	rs, _, err := r.store.ListRuns(context.Background(), r.d.ID, deploy.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

func TestRestoreRefusesBadInput(t *testing.T) {
	r := newDayTwoRig(t)
	other := newDayTwoRig(t)
	for _, tc := range []struct {
		name   string
		req    control.TaskRequest
		kind   deploy.Kind
		reason string
	}{
		{"no backup named", control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest}, deploy.KindInvalid, "is required"},
		{"not a backup ID", control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Backup: "latest"}, deploy.KindInvalid, "is not a backup ID"},
		{"an unknown backup", control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Backup: deploy.BackupID(r.d.ID, deploy.InstanceProd, "20260302-020000.dump")},
			deploy.KindInvalid, "no backup"},
		{"a backup of another deployment", control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Backup: other.backup.ID},
			deploy.KindInvalid, "belongs to deployment " + other.d.ID},
		{"prod without the deployment's name", control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceProd, Backup: r.backup.ID},
			deploy.KindInvalid, "confirm with the deployment's name"},
		{"a backup with another task", control.TaskRequest{Kind: deploy.RunPull, Instance: deploy.InstanceTest, Backup: r.backup.ID},
			deploy.KindInvalid, "only a restore takes a backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.runs(t)
			run, err := r.svc.StartTask(context.Background(), alice, r.d.ID, tc.req)
			if run != nil || !deploy.IsKind(err, tc.kind) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("StartTask = %v, %v; want %s naming %q", run, err, tc.kind, tc.reason)
			}
			if after := r.runs(t); after != before {
				t.Errorf("a refused restore stored a run (%d runs, then %d)", before, after)
			}
		})
	}
	t.Run("while another run is active", func(t *testing.T) {
		ctx := context.Background()
		busy, err := r.svc.StartTask(ctx, alice, r.d.ID, control.TaskRequest{Kind: deploy.RunBackup, Instance: deploy.InstanceProd})
		if err != nil {
			t.Fatal(err)
		}
		before := r.runs(t)
		_, err = r.svc.StartTask(ctx, alice, r.d.ID, control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Backup: r.backup.ID})
		if !deploy.IsKind(err, deploy.KindConflict) || !strings.Contains(err.Error(), busy.ID) {
			t.Errorf("restore during run %s: %v, want Conflict naming it", busy.ID, err)
		}
		if after := r.runs(t); after != before {
			t.Errorf("a refused restore stored a run")
		}
		r.finish(t, busy, deploy.RunSucceeded)
	})
}

func TestRestoreAndRemoveStart(t *testing.T) {
	r := newDayTwoRig(t)
	ctx := context.Background()
	run, err := r.svc.StartTask(ctx, alice, r.d.ID, control.TaskRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Backup: r.backup.ID})
	if err != nil {
		t.Fatal(err)
	}
	if run.Restore == nil || run.Restore.Backup != r.backup.ID || run.Restore.Key != r.backup.Copies[0].Key || run.Instance != deploy.InstanceTest {
		t.Errorf("restore run %+v, restoring %+v", run, run.Restore)
	}
	if r.engine.Started() == 0 {
		t.Errorf("no execution started")
	}
	r.finish(t, run, deploy.RunSucceeded)
	_, err = r.svc.StartTask(ctx, alice, r.d.ID, control.TaskRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceProd})
	if !deploy.IsKind(err, deploy.KindInvalid) || !strings.Contains(err.Error(), "confirm") {
		t.Errorf("remove prod without confirmation: %v", err)
	}
	run, err = r.svc.StartTask(ctx, alice, r.d.ID, control.TaskRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceTest})
	if err != nil {
		t.Fatal(err)
	}
	r.finish(t, run, deploy.RunSucceeded)
	d, _, err := r.svc.GetDeployment(ctx, alice, r.d.ID)
	if err != nil || d.Instance(deploy.InstanceTest) != nil {
		t.Errorf("after the remove: %+v, %v", d, err)
	}
	// The type can be added again.
	if _, _, err := r.svc.AddInstance(ctx, alice, r.d.ID, deploy.InstanceSpec{Type: deploy.InstanceTest}, false); err != nil {
		t.Errorf("adding test again: %v", err)
	}
}

func TestListBackups(t *testing.T) {
	r := newDayTwoRig(t)
	ctx := context.Background()
	bs, err := r.svc.ListBackups(ctx, alice, r.d.ID, "")
	if err != nil || len(bs) != 1 || bs[0].ID != r.backup.ID {
		t.Errorf("ListBackups = %v, %v", bs, err)
	}
	if bs, err := r.svc.ListBackups(ctx, alice, r.d.ID, deploy.InstanceTest); err != nil || len(bs) != 0 {
		t.Errorf("ListBackups of test = %v, %v", bs, err)
	}
	if _, err := r.svc.ListBackups(ctx, alice, r.d.ID, "live"); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("ListBackups of an unknown type: %v", err)
	}
	bob := control.Caller{User: "bob"}
	if _, err := r.svc.ListBackups(ctx, bob, r.d.ID, ""); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("another user's ListBackups: %v, want NotFound", err)
	}
	if _, err := r.svc.GetBackup(ctx, bob, r.d.ID, r.backup.ID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("another user's GetBackup: %v, want NotFound", err)
	}
	b, err := r.svc.GetBackup(ctx, alice, r.d.ID, r.backup.ID)
	if err != nil || b.SHA256 != r.backup.SHA256 {
		t.Errorf("GetBackup = %+v, %v", b, err)
	}
}
