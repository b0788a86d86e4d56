package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RunBackups runs the conformance suite of deploy.BackupStore. newStore
// returns a new, empty store, which must also be a deploy.BackupStore.
func RunBackups(t *testing.T, newStore func(t *testing.T, env Env) deploy.Store, opt Options) {
	for _, c := range []testCase{
		{"Backups/put, get, replace, delete", "", testBackupRoundTrip},
		{"Backups/list newest first, per deployment", "", testListBackups},
		{"Backups/an ID that does not name the record is Invalid", "", testBackupBadID},
		{"Backups/DeleteDeployment deletes them", txDelete, testDeleteDeploymentBackups},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.tx != "" && opt.NoTransactions {
				t.Skipf("needs TransactWriteItems: %s", c.tx)
			}
			clk := &clock{now: t0}
			s := newStore(t, Env{Now: clk.Now, Retention: Retention})
			if _, ok := s.(deploy.BackupStore); !ok {
				t.Fatalf("%T is not a deploy.BackupStore", s)
			}
			c.run(&harness{t: t, ctx: context.Background(), clk: clk, racers: opt.Racers, s: s})
		})
	}
}

func (h *harness) backups() deploy.BackupStore { return h.s.(deploy.BackupStore) }

// backup returns a backup record of instance t of deployment dep, made at.
func backup(dep string, t deploy.InstanceType, at time.Time) *deploy.Backup {
	name := at.UTC().Format("20060102-150405") + ".dump"
	return &deploy.Backup{
		ID: deploy.BackupID(dep, t, name), DeploymentID: dep, Instance: t, Name: name,
		CreatedAt: at.UTC(), Size: 123456, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Origin: deploy.BackupManual, RunID: "r-1",
		Copies: []deploy.BackupCopy{
			{Kind: deploy.CopyServer, Location: "10.0.0.5:/var/backups/eden/" + string(t) + "/" + name, Host: "10.0.0.5", Path: "/var/backups/eden/" + string(t) + "/" + name, VerifiedAt: at.UTC()},
			{Kind: deploy.CopyOffsite, Location: "s3://bucket/" + deploy.BackupKey(dep, t, name), Key: deploy.BackupKey(dep, t, name), VerifiedAt: at.UTC()},
		},
		UpdatedAt: at.UTC(),
	}
}

func backupIDs(bs []*deploy.Backup) []string {
	return ids(bs, func(b *deploy.Backup) string { return b.ID })
}

func testBackupRoundTrip(h *harness) {
	s, t := h.backups(), h.t
	b := backup("d-1", deploy.InstanceProd, t0)
	wantNoError(t, s.PutBackup(h.ctx, b), "PutBackup")
	got, err := s.GetBackup(h.ctx, "d-1", b.ID)
	wantNoError(t, err, "GetBackup")
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	_, err = s.GetBackup(h.ctx, "d-2", b.ID)
	wantKind(t, err, deploy.KindNotFound, "GetBackup of another deployment's ID under d-2")
	_, err = s.GetBackup(h.ctx, "d-1", deploy.BackupID("d-1", deploy.InstanceProd, "20260301-090001.dump"))
	wantKind(t, err, deploy.KindNotFound, "GetBackup of a missing backup")

	b.DropCopy(deploy.CopyServer)
	b.Size = 7
	wantNoError(t, s.PutBackup(h.ctx, b), "PutBackup again")
	got, err = s.GetBackup(h.ctx, "d-1", b.ID)
	wantNoError(t, err, "GetBackup after replace")
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}

	wantNoError(t, s.DeleteBackup(h.ctx, "d-1", b.ID), "DeleteBackup")
	_, err = s.GetBackup(h.ctx, "d-1", b.ID)
	wantKind(t, err, deploy.KindNotFound, "GetBackup after DeleteBackup")
	wantNoError(t, s.DeleteBackup(h.ctx, "d-1", b.ID), "DeleteBackup of a missing backup")
	_, err = s.GetBackup(h.ctx, "d-1", "not-an-id")
	wantKind(t, err, deploy.KindInvalid, "GetBackup of a malformed ID")
}

func testListBackups(h *harness) {
	s, t := h.backups(), h.t
	bs, err := s.ListBackups(h.ctx, "d-1")
	wantNoError(t, err, "ListBackups of none")
	if len(bs) != 0 {
		t.Errorf("ListBackups of none: %v", backupIDs(bs))
	}
	var want []string
	for i, typ := range []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceTest, deploy.InstanceProd, deploy.InstanceDemo} {
		b := backup("d-1", typ, t0.Add(time.Duration(i)*25*time.Hour))
		wantNoError(t, s.PutBackup(h.ctx, b), "PutBackup "+b.ID)
		want = append([]string{b.ID}, want...)
	}
	// Two of the same second: by instance type, descending.
	same := backup("d-1", deploy.InstanceSetup, t0.Add(75*time.Hour))
	wantNoError(t, s.PutBackup(h.ctx, same), "PutBackup "+same.ID)
	want = append([]string{same.ID}, want...)
	wantNoError(t, s.PutBackup(h.ctx, backup("d-2", deploy.InstanceProd, t0)), "PutBackup of d-2")
	bs, err = s.ListBackups(h.ctx, "d-1")
	wantNoError(t, err, "ListBackups")
	if diff := cmp.Diff(want, backupIDs(bs)); diff != "" {
		t.Errorf("ListBackups (-want +got):\n%s", diff)
	}
}

func testBackupBadID(h *harness) {
	s, t := h.backups(), h.t
	b := backup("d-1", deploy.InstanceProd, t0)
	b.Instance = deploy.InstanceTest
	wantKind(t, s.PutBackup(h.ctx, b), deploy.KindInvalid, "PutBackup of a record its ID does not name")
	bs, err := s.ListBackups(h.ctx, "d-1")
	wantNoError(t, err, "ListBackups")
	if len(bs) != 0 {
		t.Errorf("a refused PutBackup stored %v", backupIDs(bs))
	}
}

func testDeleteDeploymentBackups(h *harness) {
	s, t := h.backups(), h.t
	d, r := h.createOn("10.0.0.5")
	other, _ := h.createOn("10.0.0.6")
	h.finish(r, deploy.RunSucceeded)
	wantNoError(t, s.PutBackup(h.ctx, backup(d.ID, deploy.InstanceProd, t0)), "PutBackup")
	kept := backup(other.ID, deploy.InstanceProd, t0)
	wantNoError(t, s.PutBackup(h.ctx, kept), "PutBackup of the other deployment")
	wantNoError(t, h.s.DeleteDeployment(h.ctx, d.ID), "DeleteDeployment")
	bs, err := s.ListBackups(h.ctx, d.ID)
	wantNoError(t, err, "ListBackups of the deleted deployment")
	if len(bs) != 0 {
		t.Errorf("backups left of a deleted deployment: %v", backupIDs(bs))
	}
	bs, err = s.ListBackups(h.ctx, other.ID)
	wantNoError(t, err, "ListBackups of the other deployment")
	if diff := cmp.Diff([]string{kept.ID}, backupIDs(bs)); diff != "" {
		t.Errorf("the other deployment's backups (-want +got):\n%s", diff)
	}
}
