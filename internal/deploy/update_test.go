package deploy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// racyRuns is a RunStore whose first conflicts UpdateRun calls lose to
// another writer, as a version check would make them.
type racyRuns struct {
	deploy.RunStore
	run       deploy.Run
	conflicts int
	writes    int
}

func (s *racyRuns) GetRun(context.Context, string, string) (*deploy.Run, error) {
	r := s.run
	return &r, nil
}

func (s *racyRuns) UpdateRun(_ context.Context, r *deploy.Run) error {
	if s.conflicts > 0 {
		s.conflicts--
		s.run.Version++ // someone else wrote
		return deploy.Conflict("version", "stale")
	}
	if r.Version != s.run.Version {
		return deploy.Conflict("version", "stale")
	}
	s.writes++
	r.Version++
	s.run = *r
	return nil
}

func TestUpdateRun(t *testing.T) {
	ctx := context.Background()
	setError := func(r *deploy.Run) error { r.Error = "changed"; return nil }
	tests := []struct {
		name       string
		conflicts  int
		change     func(*deploy.Run) error
		wantErr    deploy.Kind
		wantWrites int
		wantError  string
	}{
		{"no race", 0, setError, "", 1, "changed"},
		{"lost two races, then won", 2, setError, "", 1, "changed"},
		{"always loses", deploy.MaxUpdateAttempts, setError, deploy.KindConflict, 0, ""},
		{"nothing to change", 0, func(*deploy.Run) error { return deploy.ErrNoChange }, "", 0, ""},
		{"change refuses", 0, func(*deploy.Run) error { return deploy.Invalid("x", "no") }, deploy.KindInvalid, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &racyRuns{run: deploy.Run{ID: "r-1", Version: 1}, conflicts: tt.conflicts}
			r, err := deploy.UpdateRun(ctx, s, "d-1", "r-1", tt.change)
			if deploy.KindOf(err) != tt.wantErr {
				t.Fatalf("error %v, want kind %q", err, tt.wantErr)
			}
			if s.writes != tt.wantWrites || s.run.Error != tt.wantError {
				t.Errorf("writes %d error %q, want %d %q", s.writes, s.run.Error, tt.wantWrites, tt.wantError)
			}
			if err == nil && r.Version != s.run.Version {
				t.Errorf("returned version %d, stored %d", r.Version, s.run.Version)
			}
		})
	}
}

type racyDeployments struct {
	deploy.DeploymentStore
	d         deploy.Deployment
	conflicts int
}

func (s *racyDeployments) GetDeployment(context.Context, string) (*deploy.Deployment, error) {
	d := s.d
	return &d, nil
}

func (s *racyDeployments) UpdateDeployment(_ context.Context, d *deploy.Deployment) error {
	if s.conflicts > 0 {
		s.conflicts--
		return deploy.Conflict("version", "stale")
	}
	d.Version++
	s.d = *d
	return nil
}

func TestUpdateDeployment(t *testing.T) {
	s := &racyDeployments{d: deploy.Deployment{ID: "d-1", Version: 3}, conflicts: 1}
	calls := 0
	d, err := deploy.UpdateDeployment(context.Background(), s, "d-1", func(d *deploy.Deployment) error {
		calls++
		d.Degraded = "db left"
		return nil
	})
	if err != nil || calls != 2 || d.Version != 4 || s.d.Degraded != "db left" {
		t.Errorf("UpdateDeployment = %+v, %v after %d calls", d, err, calls)
	}
	boom := errors.New("store down")
	_, err = deploy.UpdateDeployment(context.Background(), failingDeployments{boom}, "d-1", func(*deploy.Deployment) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("a store error became %v", err)
	}
}

type failingDeployments struct{ err error }

func (failingDeployments) GetDeployment(context.Context, string) (*deploy.Deployment, error) {
	return &deploy.Deployment{}, nil
}
func (f failingDeployments) UpdateDeployment(context.Context, *deploy.Deployment) error { return f.err }
func (failingDeployments) CreateDeployment(context.Context, *deploy.Deployment, *deploy.Run) error {
	return nil
}
func (failingDeployments) ListDeployments(context.Context, string, deploy.Page) ([]*deploy.Deployment, string, error) {
	return nil, "", nil
}
func (failingDeployments) AddInstance(context.Context, string, int, deploy.Instance, *deploy.Run) error {
	return nil
}
func (failingDeployments) DeleteDeployment(context.Context, string) error         { return nil }
func (failingDeployments) AddServer(context.Context, string, deploy.Server) error { return nil }
func (failingDeployments) RemoveServer(context.Context, string, string) error     { return nil }
func (failingDeployments) FindServerByHost(context.Context, string) (string, deploy.Server, error) {
	return "", deploy.Server{}, nil
}
func (failingDeployments) FindServerByInstanceID(context.Context, string) (string, deploy.Server, error) {
	return "", deploy.Server{}, nil
}
