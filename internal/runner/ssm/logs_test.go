package ssm_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/blob/fs"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner/ssm"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

func TestRunLogs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "eden.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d, err := deploy.NewDeployment(deploy.Spec{Name: "aws", AdminEmail: "a@example.org", Target: deploy.TargetSSM,
		Servers: []deploy.ServerSpec{
			{Host: "10.0.0.1", Role: deploy.RoleDB, InstanceID: "i-000000000000000d1"},
			{Host: "10.0.0.2", Role: deploy.RoleEden, InstanceID: "i-000000000000000e1"},
			{Host: "10.0.0.3", Role: deploy.RoleWebServer, InstanceID: "i-000000000000000f1"},
		}, Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}}, "d-1", "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := d.NewRun("r-1", deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, now)
	if err := st.CreateDeployment(ctx, d, r); err != nil {
		t.Fatal(err)
	}
	logs := &ssm.RunLogs{Blobs: blobs, Runs: st, Deployments: st, Poll: time.Millisecond}

	// The db step ran and SSM stored its output; the eden step runs.
	r, _ = deploy.UpdateRun(ctx, st, "d-1", "r-1", func(r *deploy.Run) error {
		r.Steps[0].CommandID, r.Steps[0].Status = "cmd-db", deploy.StepSucceeded
		r.Steps[1].CommandID, r.Steps[1].Status = "cmd-eden", deploy.StepRunning
		return r.MoveTo(deploy.RunRunning, now)
	})
	blobs.PutBlob(ctx, ssm.OutputKey(deploy.StepLogKey("d-1", "r-1", 0), "cmd-db", "i-000000000000000d1"), []byte("PLAY [db]\nok=3 changed=1"))
	data, size, complete, err := logs.ReadLog(ctx, "d-1", "r-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "== step 1/3 db on 10.0.0.1 ==\n-- 10.0.0.1 (i-000000000000000d1) --\nPLAY [db]\nok=3 changed=1\n== step 1/3 db succeeded ==\n== step 2/3 eden on 10.0.0.2 ==\n"
	if string(data) != want || size != int64(len(want)) || complete {
		t.Fatalf("log = %q (size %d, complete %v), want %q", data, size, complete, want)
	}
	part, _, _, _ := logs.ReadLog(ctx, "d-1", "r-1", 3, 4)
	if string(part) != want[3:7] {
		t.Errorf("range read %q, want %q", part, want[3:7])
	}

	// WaitLog returns once the eden output lands, here between its third
	// and fourth poll; meanwhile it reads the db output, which SSM never
	// rewrites, only once.
	dbKey := ssm.OutputKey(deploy.StepLogKey("d-1", "r-1", 0), "cmd-db", "i-000000000000000d1")
	edenKey := ssm.OutputKey(deploy.StepLogKey("d-1", "r-1", 1), "cmd-eden", "i-000000000000000e1")
	counted := &countingBlobs{Blobs: blobs, gets: map[string]int{}, after: map[string]func(){
		edenKey: func() { blobs.PutBlob(ctx, edenKey, []byte("PLAY [eden]\n")) },
	}, at: 3}
	waiting := &ssm.RunLogs{Blobs: counted, Runs: st, Deployments: st, Poll: time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- waiting.WaitLog(ctx, "d-1", "r-1", size) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitLog did not see the new output")
	}
	counted.mu.Lock()
	if counted.gets[edenKey] != 4 || counted.gets[dbKey] != 1 {
		t.Errorf("WaitLog read the eden output %d times (want 4: three polls, then found) and the db output %d times (want 1)", counted.gets[edenKey], counted.gets[dbKey])
	}
	counted.mu.Unlock()
	deploy.UpdateRun(ctx, st, "d-1", "r-1", func(r *deploy.Run) error { return r.MoveTo(deploy.RunFailed, now) })
	data, _, complete, _ = logs.ReadLog(ctx, "d-1", "r-1", 0, 0)
	if !complete || !strings.Contains(string(data), "PLAY [eden]") {
		t.Errorf("after the run ended: complete %v, log %q", complete, data)
	}
}

// countingBlobs counts GetBlob per key and runs after[key] once that key
// has been asked for at times.
type countingBlobs struct {
	deploy.Blobs
	mu    sync.Mutex
	gets  map[string]int
	after map[string]func()
	at    int
}

func (c *countingBlobs) GetBlob(ctx context.Context, key string) ([]byte, error) {
	b, err := c.Blobs.GetBlob(ctx, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets[key]++
	if f := c.after[key]; f != nil && c.gets[key] == c.at {
		f()
	}
	return b, err
}
