package dynamo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

// seed writes items as the transactional methods would, one PutItem each,
// so that peers without TransactWriteItems can test everything else.
func seed(t *testing.T, s *Store, its ...item) {
	t.Helper()
	for _, it := range its {
		if _, err := s.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &s.table, Item: it}); err != nil {
			t.Fatalf("seed %s/%s: %v", getS(it, AttrPK), getS(it, AttrSK), err)
		}
	}
}

func seedDeployment(t *testing.T, s *Store, i int, owner string, active *deploy.Run, runs ...*deploy.Run) *deploy.Deployment {
	t.Helper()
	created := t0.Add(time.Duration(i) * time.Minute)
	host := fmt.Sprintf("10.0.0.%d", i)
	d := &deploy.Deployment{
		ID: fmt.Sprintf("d-%03d", i), Name: fmt.Sprintf("site-%d", i), Owner: owner, Version: 1,
		Servers:   []deploy.Server{{Host: host, Role: deploy.RoleAll, InstanceID: fmt.Sprintf("i-%017d", i), Origin: deploy.OriginDeclared, AddedAt: created}},
		Instances: []deploy.Instance{{Type: deploy.InstanceProd, URL: "http://" + host, Settings: deploy.Settings{"mail.limit": int64(3)}}},
		CreatedAt: created, UpdatedAt: created,
	}
	meta, err := s.deploymentItem(d)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := claimItems(d.ID, d.Servers[0])
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s, append(claims, meta)...)
	for _, r := range runs {
		it, err := s.runItem(r)
		if err != nil {
			t.Fatal(err)
		}
		seed(t, s, it)
	}
	if active != nil {
		lock := activeKey(d.ID)
		lock[attrRun] = str(active.ID)
		seed(t, s, lock)
	}
	return d
}

// testSingleItemWrites covers what needs no transaction: reads, listings
// with cursors on the table and both GSIs, versioned single-item updates.
func testSingleItemWrites(t *testing.T, p *peer) {
	rec := &opRecorder{}
	defer rec.check(t)
	s := p.newStore(t, rec, storetest.Env{Now: func() time.Time { return t0 }, Retention: time.Hour})
	ctx := context.Background()
	var deps []*deploy.Deployment
	var runs []*deploy.Run
	for i := range 5 {
		r := &deploy.Run{ID: fmt.Sprintf("r-%03d", i), DeploymentID: "d-000", Kind: deploy.RunRestart, Status: deploy.RunFailed, Version: 1, CreatedAt: t0}
		runs = append(runs, r)
	}
	active := &deploy.Run{ID: "r-005", DeploymentID: "d-000", Kind: deploy.RunPull, Status: deploy.RunQueued, Version: 1, CreatedAt: t0,
		Steps: []deploy.Step{{Name: "all", Role: deploy.RoleAll, Hosts: []string{"10.0.0.0"}, Status: deploy.StepPending}}}
	runs = append(runs, active)
	deps = append(deps, seedDeployment(t, s, 0, "alice", active, runs...))
	for i := 1; i < 5; i++ {
		owner := "alice"
		if i%2 == 0 {
			owner = "bob"
		}
		deps = append(deps, seedDeployment(t, s, i, owner, nil))
	}

	got, err := s.GetDeployment(ctx, "d-000")
	if err != nil || !cmp.Equal(deps[0], got) {
		t.Errorf("GetDeployment: %v %s", err, cmp.Diff(deps[0], got))
	}
	for _, tt := range []struct {
		owner string
		want  []string
	}{{"alice", []string{"d-003", "d-001", "d-000"}}, {"bob", []string{"d-004", "d-002"}}, {"", []string{"d-004", "d-003", "d-002", "d-001", "d-000"}}} {
		var ids []string
		page := deploy.Page{Limit: 2}
		for {
			ds, next, err := s.ListDeployments(ctx, tt.owner, page)
			if err != nil {
				t.Fatalf("ListDeployments(%q): %v", tt.owner, err)
			}
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("ListDeployments(%q) (-want +got):\n%s", tt.owner, diff)
		}
	}
	if dep, srv, err := s.FindServerByInstanceID(ctx, "i-00000000000000003"); err != nil || dep != "d-003" || srv.Host != "10.0.0.3" {
		t.Errorf("FindServerByInstanceID: %s %+v %v", dep, srv, err)
	}

	// UpdateDeployment is one conditional PutItem.
	d := deps[1]
	d.Name = "renamed"
	if err := s.UpdateDeployment(ctx, d); err != nil || d.Version != 2 {
		t.Fatalf("UpdateDeployment: %v, version %d", err, d.Version)
	}
	d.Version = 1
	if err := s.UpdateDeployment(ctx, d); !deploy.IsKind(err, deploy.KindConflict) {
		t.Errorf("UpdateDeployment with a stale version: %v", err)
	}

	// Runs: listing newest first in pages, forward moves, refused moves.
	var ids []string
	page := deploy.Page{Limit: 4}
	for {
		rs, next, err := s.ListRuns(ctx, "d-000", page)
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if diff := cmp.Diff([]string{"r-005", "r-004", "r-003", "r-002", "r-001", "r-000"}, ids); diff != "" {
		t.Errorf("ListRuns (-want +got):\n%s", diff)
	}
	if a, err := s.ActiveRun(ctx, "d-000"); err != nil || a.ID != "r-005" {
		t.Errorf("ActiveRun: %v %v", a, err)
	}
	if err := active.MoveTo(deploy.RunRunning, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, active); err != nil || active.Version != 2 {
		t.Fatalf("UpdateRun to running: %v (version %d)", err, active.Version)
	}
	stale := *active
	stale.Version = 1
	if err := s.UpdateRun(ctx, &stale); !deploy.IsKind(err, deploy.KindConflict) {
		t.Errorf("UpdateRun with a stale version: %v", err)
	}
	back := *active
	back.Status = deploy.RunQueued
	if err := s.UpdateRun(ctx, &back); !deploy.IsKind(err, deploy.KindConflict) {
		t.Errorf("UpdateRun backwards: %v", err)
	}
	if got, err := s.GetRun(ctx, "d-000", "r-005"); err != nil || !cmp.Equal(active, got) {
		t.Errorf("GetRun: %v %s", err, cmp.Diff(active, got))
	}
}

func TestSingleItemWritesMinidyn(t *testing.T) { testSingleItemWrites(t, startMinidyn(t)) }
