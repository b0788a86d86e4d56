package control

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// autoscaler is the requester recorded on runs that Auto Scaling started.
const autoscaler = "autoscaling"

// LifecycleRunID derives a run's ID from an Auto Scaling lifecycle action
// token, so a redelivered lifecycle event names the run it already started
// (and its execution, named after the run, is started only once).
func LifecycleRunID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "r-lc" + fmt.Sprintf("%x", sum[:12])
}

// ScaleOut adds srv (a server that an Auto Scaling group launched) to the
// deployment and starts the scale-out run that provisions it; the run
// completes action when it ends (CONTINUE on success, ABANDON otherwise).
// A redelivered event (same action token) starts nothing new and returns
// the run it started before. While another run is active on the deployment
// the result is Transient: deliver the event again later.
func (s *Service) ScaleOut(ctx context.Context, deploymentID string, srv deploy.Server, action deploy.LifecycleAction) (*deploy.Run, error) {
	runID := LifecycleRunID(action.Token)
	if r, err := s.cfg.Store.GetRun(ctx, deploymentID, runID); err == nil {
		return r, s.start(ctx, r)
	} else if !deploy.IsKind(err, deploy.KindNotFound) {
		return nil, err
	}
	d, err := s.cfg.Store.GetDeployment(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	if d.AllInOne() {
		return nil, deploy.Invalid("role", "deployment %s is all-in-one and cannot scale", d.ID)
	}
	if srv.Role != deploy.RoleEden && srv.Role != deploy.RoleWebServer {
		return nil, deploy.Invalid("role", "only eden and webserver servers can scale out, not %q", srv.Role)
	}
	if err := deploy.ValidateServers(append(append([]deploy.Server(nil), d.Servers...), srv)); err != nil {
		if existing := d.Server(srv.Host); existing == nil || existing.InstanceID != srv.InstanceID {
			return nil, err
		}
	}
	if err := s.busy(ctx, d.ID); err != nil {
		return nil, err
	}
	srv.Origin = deploy.OriginAutoscaling
	srv.AddedAt = s.cfg.Now()
	if existing := d.Server(srv.Host); existing == nil {
		if err := s.cfg.Store.AddServer(ctx, d.ID, srv); err != nil {
			return nil, err
		}
		if d, err = s.cfg.Store.GetDeployment(ctx, deploymentID); err != nil {
			return nil, err
		}
	}
	req := deploy.RunRequest{Kind: deploy.RunScaleOut, Host: srv.Host, HostRole: srv.Role, Requester: autoscaler}
	if err := d.CheckRun(req, nil); err != nil {
		return nil, err
	}
	return s.startLifecycleRun(ctx, d, runID, req, action)
}

// ScaleIn removes the server of EC2 instance instanceID (leaving its Auto
// Scaling group) from its deployment and starts the scale-in run that
// rewrites the web servers' upstreams without it and then completes action
// with CONTINUE. A db server leaving marks the deployment degraded. An
// instance that belongs to no deployment is NotFound.
func (s *Service) ScaleIn(ctx context.Context, instanceID string, action deploy.LifecycleAction) (*deploy.Run, error) {
	depID, srv, err := s.cfg.Store.FindServerByInstanceID(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	runID := LifecycleRunID(action.Token)
	if r, err := s.cfg.Store.GetRun(ctx, depID, runID); err == nil {
		return r, s.start(ctx, r)
	}
	if err := s.busy(ctx, depID); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.RemoveServer(ctx, depID, srv.Host); err != nil && !deploy.IsKind(err, deploy.KindNotFound) {
		return nil, err
	}
	d, err := s.cfg.Store.GetDeployment(ctx, depID)
	if err != nil {
		return nil, err
	}
	if srv.Role == deploy.RoleDB || srv.Role == deploy.RoleAll || len(d.HostsOf(srv.Role)) == 0 {
		d.Degraded = fmt.Sprintf("its %s server %s (%s) left its Auto Scaling group; the deployment cannot work until one is back", srv.Role, srv.Host, instanceID)
		s.cfg.Log.ErrorContext(ctx, "deployment degraded: a server it needs left", "deployment", d.ID, "host", srv.Host, "role", srv.Role, "instance", instanceID)
		if err := s.cfg.Store.UpdateDeployment(ctx, d); err != nil {
			return nil, err
		}
	}
	req := deploy.RunRequest{Kind: deploy.RunScaleIn, Host: srv.Host, HostRole: srv.Role, Requester: autoscaler}
	return s.startLifecycleRun(ctx, d, runID, req, action)
}

// busy returns a Transient error while another run is active.
func (s *Service) busy(ctx context.Context, deploymentID string) error {
	active, err := s.activeRun(ctx, deploymentID)
	if err != nil {
		return err
	}
	if active != nil {
		return deploy.Transient(errors.New("deployment busy"), "run %s is still %s on deployment %s: try again when it ends", active.ID, active.Status, deploymentID)
	}
	return nil
}

func (s *Service) startLifecycleRun(ctx context.Context, d *deploy.Deployment, runID string, req deploy.RunRequest, action deploy.LifecycleAction) (*deploy.Run, error) {
	now := s.cfg.Now()
	run, err := d.NewRun(runID, req, now)
	if err != nil {
		return nil, err
	}
	run.Lifecycle = &action
	s.expectExecution(run)
	if err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		if deploy.IsKind(err, deploy.KindConflict) {
			if r, gerr := s.cfg.Store.GetRun(ctx, d.ID, runID); gerr == nil {
				return r, s.start(ctx, r)
			}
			return nil, deploy.Transient(err, "deployment %s is busy", d.ID)
		}
		return nil, err
	}
	s.cfg.Log.InfoContext(ctx, "lifecycle run created", "deployment", d.ID, "run", run.ID, "kind", run.Kind, "host", req.Host, "instance", action.InstanceID)
	return run, s.start(ctx, run)
}
