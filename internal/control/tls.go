package control

import (
	"context"
	"fmt"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// tlsSecrets returns the secrets an instance's own certificate needs kept
// (its chain and key, named by the certificate's fingerprint), or nil
// when the instance has none.
func tlsSecrets(inst *deploy.Instance, spec deploy.TLSSpec) map[string][]byte {
	c := inst.TLS.Certificate
	if inst.TLS.Mode != deploy.TLSOwn || c == nil {
		return nil
	}
	chain, key := deploy.TLSSecretNames(inst.Type, c.SHA256)
	return map[string][]byte{chain: []byte(spec.Certificate), key: []byte(spec.PrivateKey)}
}

// keepTLSSecrets stores an own certificate's chain and key. Nothing needs
// undoing when a later step fails: the names carry the fingerprint, so
// they replace nothing an instance uses, and DeleteDeployment removes them
// with every other secret.
func (s *Service) keepTLSSecrets(ctx context.Context, deploymentID string, secrets map[string][]byte) error {
	for name, v := range secrets {
		if err := s.cfg.Secrets.PutSecret(ctx, deploymentID, name, v); err != nil {
			return fmt.Errorf("control: keep secret %s of %s: %w", name, deploymentID, err)
		}
	}
	return nil
}

// TLSRequest asks for an instance to be served at another URL or with
// other TLS (a new certificate, another mode).
type TLSRequest struct {
	// URL is the instance's new URL; empty keeps the current one.
	URL    string
	TLS    deploy.TLSSpec
	DryRun bool
}

// ReplaceTLS changes how the instance is served and starts the reconfigure
// run that applies it: 000_config.py (base.public_url) on the eden hosts,
// the site (and certbot, or the own certificate) on the web servers. An
// own certificate's chain and key go to the secret store only. A dry run
// shows what would change and the deployment keeps what it has.
func (s *Service) ReplaceTLS(ctx context.Context, c Caller, id string, t deploy.InstanceType, req TLSRequest) (*deploy.Run, error) {
	d, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, err
	}
	active, err := s.activeRun(ctx, id)
	if err != nil {
		return nil, err
	}
	runReq := deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: t, DryRun: req.DryRun, Requester: c.User}
	if err := d.CheckRun(runReq, active); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	inst, err := d.ReplaceTLS(t, req.URL, req.TLS, now)
	if err != nil {
		return nil, err
	}
	run, err := d.NewRun(deploy.NewID("r-", now), runReq, now)
	if err != nil {
		return nil, err
	}
	run.Settings, run.URL = inst.Settings, inst.URL
	tlsOf := inst.TLS
	run.TLS = &tlsOf
	if err := s.keepTLSSecrets(ctx, id, tlsSecrets(inst, req.TLS)); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	if !req.DryRun {
		_, err := deploy.UpdateDeployment(ctx, s.cfg.Store, id, func(d *deploy.Deployment) error {
			_, err := d.ReplaceTLS(t, req.URL, req.TLS, s.cfg.Now())
			return err
		})
		if err != nil {
			s.cancelQueued(ctx, run, "the new URL or TLS could not be kept: "+err.Error())
			return nil, err
		}
	}
	s.cfg.Log.InfoContext(ctx, "instance TLS replaced", "deployment", id, "instance", t, "mode", inst.TLS.Mode, "run", run.ID, "dry_run", req.DryRun)
	if err := s.start(ctx, run); err != nil {
		return run, err
	}
	return run, nil
}
