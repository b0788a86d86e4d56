package bolt

import (
	"fmt"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type atomicTime struct {
	mu sync.Mutex
	t  time.Time
}

func (a *atomicTime) Store(t time.Time) { a.mu.Lock(); a.t = t; a.mu.Unlock() }
func (a *atomicTime) Load() time.Time   { a.mu.Lock(); defer a.mu.Unlock(); return a.t }

// fixture returns the i-th deployment (on host 10.<i>) with its first run.
func fixture(i int) (*deploy.Deployment, *deploy.Run) {
	created := t0.Add(time.Duration(i) * time.Second)
	id := fmt.Sprintf("d-%08d", i)
	host := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	d := &deploy.Deployment{
		ID: id, Name: fmt.Sprintf("site-%d", i), Owner: fmt.Sprintf("user-%d", i%7),
		Eden: deploy.DefaultEdenRepo, Web2py: deploy.DefaultWeb2pyRepo, Template: "default",
		Prepopulate: []string{"default"}, AdminEmail: "admin@example.org", SenderEmail: "admin@example.org",
		WebServer: "nginx", Database: "postgresql", Target: deploy.TargetSSH, SSHUser: "root",
		Servers: []deploy.Server{{Host: host, Role: deploy.RoleAll, Origin: deploy.OriginDeclared, AddedAt: created}},
		Instances: []deploy.Instance{{Type: deploy.InstanceProd, URL: "http://" + host, Status: deploy.InstancePending,
			Settings: deploy.Settings{"base.template": "default", "mail.limit": int64(5)}, SettingsVersion: 1, CreatedAt: created, UpdatedAt: created}},
		CreatedAt: created, UpdatedAt: created,
	}
	r := &deploy.Run{ID: fmt.Sprintf("r-%08d-0000", i), DeploymentID: id, Kind: deploy.RunDeploy, Instance: deploy.InstanceProd,
		Status: deploy.RunQueued, Requester: d.Owner, CreatedAt: created}
	r.Steps, _ = deploy.Plan(d, r)
	d.Instances[0].DeployRunID = r.ID
	return d, r
}
