package deploy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestBackupID(t *testing.T) {
	id := deploy.BackupID("d-0123", deploy.InstanceProd, "20250301-020000.dump")
	if id != "d-0123.prod.20250301-020000" {
		t.Fatalf("BackupID = %q", id)
	}
	dep, typ, name, err := deploy.ParseBackupID("backup", id)
	if err != nil || dep != "d-0123" || typ != deploy.InstanceProd || name != "20250301-020000.dump" {
		t.Errorf("ParseBackupID(%q) = %q, %q, %q, %v", id, dep, typ, name, err)
	}
	for _, bad := range []string{"", "d-1", "d-1.prod", "d-1.live.20250301-020000", "d-1.prod.2025-03-01",
		"d-1.prod.20250301-020000.dump", "../x.prod.20250301-020000", "d-1.prod.20251301-020000"} {
		if _, _, _, err := deploy.ParseBackupID("backup", bad); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("ParseBackupID(%q): %v, want Invalid", bad, err)
		}
	}
	if k := deploy.BackupKey("d-1", deploy.InstanceTest, "20250301-020000.dump"); k != "backups/d-1/test/20250301-020000.dump" {
		t.Errorf("BackupKey = %q", k)
	}
	at, err := deploy.BackupTime("20250301-020304.dump")
	if err != nil || !at.Equal(time.Date(2025, 3, 1, 2, 3, 4, 0, time.UTC)) {
		t.Errorf("BackupTime = %v, %v", at, err)
	}
}

func TestCheckBackup(t *testing.T) {
	b := &deploy.Backup{ID: "d-1.prod.20250301-020000", DeploymentID: "d-1", Instance: deploy.InstanceProd, Name: "20250301-020000.dump"}
	if err := deploy.CheckBackup(b); err != nil {
		t.Errorf("CheckBackup: %v", err)
	}
	b.Instance = deploy.InstanceTest
	checkKind(t, deploy.CheckBackup(b), deploy.KindInvalid, "id")
}

// day is 2025-03-<d> at hh:00 UTC.
func day(d, hh int) time.Time { return time.Date(2025, 3, d, hh, 0, 0, 0, time.UTC) }

func TestRetentionKeep(t *testing.T) {
	tests := []struct {
		name   string
		r      deploy.Retention
		times  []time.Time
		wanted []bool
	}{
		{"the newest of each day", deploy.Retention{Daily: 7}, []time.Time{day(3, 2), day(3, 14), day(2, 2)}, []bool{false, true, true}},
		{"only the most recent days", deploy.Retention{Daily: 2}, []time.Time{day(1, 2), day(2, 2), day(3, 2), day(4, 2)}, []bool{false, false, true, true}},
		// 2025-03-02 is a Sunday (ISO week 9), 2025-03-03 a Monday (week 10).
		{"weekly reaches past the daily ones", deploy.Retention{Daily: 1, Weekly: 3},
			[]time.Time{day(10, 2), day(9, 2), day(3, 2), day(2, 2), day(1, 2)},
			[]bool{true, true, false, true, false}},
		{"days without a backup do not count", deploy.Retention{Daily: 2}, []time.Time{day(1, 2), day(20, 2)}, []bool{true, true}},
		{"the newest is always kept", deploy.Retention{Daily: 1}, []time.Time{day(1, 2)}, []bool{true}},
		{"none", deploy.DefaultRetention, nil, []bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.wanted, tt.r.Keep(tt.times)); diff != "" {
				t.Errorf("Keep (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []deploy.Retention{{Daily: 0}, {Daily: 400}, {Daily: 1, Weekly: -1}} {
		if err := bad.Validate(); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("%+v.Validate() = %v, want Invalid", bad, err)
		}
	}
	if err := deploy.DefaultRetention.Validate(); err != nil {
		t.Errorf("DefaultRetention: %v", err)
	}
}

func TestCheckRunDayTwo(t *testing.T) {
	src := &deploy.RestoreSource{Backup: "d-1.prod.20250301-020000", Instance: deploy.InstanceProd}
	withTest := func(t *testing.T) *deploy.Deployment {
		return withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceDeployed)
	}
	tests := []struct {
		name string
		d    func(*testing.T) *deploy.Deployment
		req  deploy.RunRequest
		want []problem
	}{
		{"restore test from a prod backup", withTest, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src}, nil},
		{"restore without a backup", withTest, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest}, invalid("backup")},
		{"restore prod unconfirmed", withTest, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceProd, Restore: src}, invalid("confirm")},
		{"restore prod confirmed", withTest, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceProd, Restore: src, Confirm: "Eden NZ"}, nil},
		{"restore an instance not deployed", func(t *testing.T) *deploy.Deployment {
			return withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceFailed)
		}, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src}, []problem{{deploy.KindConflict, "instance"}}},
		{"restore an unknown instance", withTest, deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceDemo, Restore: src}, []problem{{deploy.KindNotFound, ""}}},
		{"remove test", withTest, deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceTest}, nil},
		{"remove a failed instance", func(t *testing.T) *deploy.Deployment {
			return withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceFailed)
		}, deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceTest}, nil},
		{"remove prod unconfirmed", withTest, deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceProd, Confirm: "Eden"}, invalid("confirm")},
		{"remove prod confirmed", withTest, deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceProd, Confirm: "Eden NZ"}, nil},
		{"remove the only instance", func(t *testing.T) *deploy.Deployment { return deployed(t, allInOneSpec()) },
			deploy.RunRequest{Kind: deploy.RunRemove, Instance: deploy.InstanceProd, Confirm: "Eden NZ"}, []problem{{deploy.KindConflict, "instance"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d(t).CheckRun(tt.req, nil)
			checkProblems(t, err, tt.want)
			if tt.want == nil && err != nil {
				t.Errorf("CheckRun: %v", err)
			}
		})
	}
	t.Run("another run is active", func(t *testing.T) {
		active := &deploy.Run{ID: "r-1", Kind: deploy.RunBackup, Status: deploy.RunRunning}
		err := withTest(t).CheckRun(deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src}, active)
		checkKind(t, err, deploy.KindConflict, "run")
	})
}

func TestNewRunCarriesRestore(t *testing.T) {
	d := withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceDeployed)
	src := &deploy.RestoreSource{Backup: "d-1.prod.20250301-020000", Instance: deploy.InstanceProd, Name: "20250301-020000.dump"}
	r, err := d.NewRun("r-1", deploy.RunRequest{Kind: deploy.RunRestore, Instance: deploy.InstanceTest, Restore: src}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Restore != src {
		t.Errorf("Restore = %+v, want %+v", r.Restore, src)
	}
	if len(r.Steps) != 3 || !r.Steps[2].Always || r.Steps[1].Always {
		t.Errorf("steps %+v: want maintenance-on, all, maintenance-off (always)", r.Steps)
	}
}

func TestObserveRemove(t *testing.T) {
	tests := []struct {
		status deploy.RunStatus
		dry    bool
		want   []deploy.InstanceType
		test   deploy.InstanceStatus // the test instance's status, when kept
	}{
		{deploy.RunRunning, false, []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceTest}, deploy.InstanceDeployed},
		{deploy.RunSucceeded, false, []deploy.InstanceType{deploy.InstanceProd}, ""},
		{deploy.RunSucceeded, true, []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceTest}, deploy.InstanceDeployed},
		{deploy.RunFailed, false, []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceTest}, deploy.InstanceFailed},
		{deploy.RunCancelled, false, []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceTest}, deploy.InstanceFailed},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			d := withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceDeployed)
			d.ObserveRun(&deploy.Run{Kind: deploy.RunRemove, Instance: deploy.InstanceTest, Status: tt.status, DryRun: tt.dry}, now)
			var got []deploy.InstanceType
			for _, inst := range d.Instances {
				got = append(got, inst.Type)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
			if inst := d.Instance(deploy.InstanceTest); inst != nil && inst.Status != tt.test {
				t.Errorf("test instance %s, want %s", inst.Status, tt.test)
			}
			if d.Instance(deploy.InstanceProd).Status != deploy.InstanceDeployed {
				t.Errorf("prod changed: %+v", d.Instance(deploy.InstanceProd))
			}
		})
	}
	// Removed, the type can be added again.
	d := withInstance(t, deployed(t, allInOneSpec()), deploy.InstanceTest, deploy.InstanceDeployed)
	d.ObserveRun(&deploy.Run{Kind: deploy.RunRemove, Instance: deploy.InstanceTest, Status: deploy.RunSucceeded}, now)
	if _, err := d.AddInstance(deploy.InstanceSpec{Type: deploy.InstanceTest}, nil, now); err != nil {
		t.Errorf("adding test again: %v", err)
	}
}

func TestCheckRestoreSource(t *testing.T) {
	d := deployed(t, allInOneSpec())
	b := &deploy.Backup{ID: "d-1.prod.20250301-020000", DeploymentID: d.ID, Instance: deploy.InstanceProd,
		Copies: []deploy.BackupCopy{{Kind: deploy.CopyOffsite, Key: "backups/d-1/prod/20250301-020000.dump"}}}
	if err := deploy.CheckRestoreSource(d, b); err != nil {
		t.Errorf("CheckRestoreSource: %v", err)
	}
	if src := deploy.RestoreSourceOf(b); src.Key != "backups/d-1/prod/20250301-020000.dump" || src.Backup != b.ID {
		t.Errorf("RestoreSourceOf = %+v", src)
	}
	other := *b
	other.DeploymentID = "d-2"
	checkKind(t, deploy.CheckRestoreSource(d, &other), deploy.KindInvalid, "backup")
	gone := *b
	gone.Copies = nil
	checkKind(t, deploy.CheckRestoreSource(d, &gone), deploy.KindConflict, "backup")
}

func TestBackupCopies(t *testing.T) {
	var b deploy.Backup
	b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyMirror, Location: "s3://m/k"})
	b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyOffsite, Location: "/data/k"})
	b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyServer, Location: "h:/p"})
	b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyServer, Location: "h:/q"})
	var kinds []deploy.CopyKind
	for _, c := range b.Copies {
		kinds = append(kinds, c.Kind)
	}
	if diff := cmp.Diff([]deploy.CopyKind{deploy.CopyServer, deploy.CopyOffsite, deploy.CopyMirror}, kinds); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	if c := b.Copy(deploy.CopyServer); c == nil || c.Location != "h:/q" {
		t.Errorf("server copy %+v", c)
	}
	b.DropCopy(deploy.CopyOffsite)
	if b.Copy(deploy.CopyOffsite) != nil || len(b.Copies) != 2 {
		t.Errorf("after DropCopy: %+v", b.Copies)
	}
}

func TestParseRetention(t *testing.T) {
	r, err := deploy.ParseRetention("14d8w")
	if err != nil || r != (deploy.Retention{Daily: 14, Weekly: 8}) || r.String() != "14d8w" {
		t.Errorf("ParseRetention(14d8w) = %+v, %v", r, err)
	}
	for _, bad := range []string{"", "7", "7d", "d4w", "0d4w", "7d-1w", "7w4d", "1000d1w"} {
		if _, err := deploy.ParseRetention(bad); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("ParseRetention(%q) = %v, want Invalid", bad, err)
		}
	}
}
