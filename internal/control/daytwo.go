package control

import (
	"context"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Backups lists a deployment's backups and finds the one a restore puts
// back (backups.Service).
type Backups interface {
	// List returns the deployment's backups, newest first; only those of
	// instance t when t is not empty.
	List(ctx context.Context, deploymentID string, t deploy.InstanceType) ([]*deploy.Backup, error)
	// Get returns one backup of the deployment, or NotFound.
	Get(ctx context.Context, deploymentID, id string) (*deploy.Backup, error)
	// RestoreSource returns what a restore of backup id on d needs: Invalid
	// when id is not a backup of d, Conflict when no copy of it is left.
	RestoreSource(ctx context.Context, d *deploy.Deployment, id string) (*deploy.RestoreSource, error)
}

// errNoBackups answers when the control plane keeps no backups.
var errNoBackups = deploy.Conflict("backup", "this control plane keeps no backups")

// ListBackups returns the deployment's backups, newest first (of instance
// t only, when t is not empty): time, size, SHA-256 and where each copy is.
func (s *Service) ListBackups(ctx context.Context, c Caller, id string, t deploy.InstanceType) ([]*deploy.Backup, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	if t != "" && !t.Valid() {
		return nil, deploy.Invalid("instance", "unknown instance type %q", t)
	}
	if s.cfg.Backups == nil {
		return []*deploy.Backup{}, nil
	}
	return s.cfg.Backups.List(ctx, id, t)
}

// GetBackup returns one backup of the deployment.
func (s *Service) GetBackup(ctx context.Context, c Caller, id, backupID string) (*deploy.Backup, error) {
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	if s.cfg.Backups == nil {
		return nil, deploy.NotFound("backup %s not found", backupID)
	}
	return s.cfg.Backups.Get(ctx, id, backupID)
}

// checkBackupNamed checks that a restore request names a backup, and
// that no other task does.
func checkBackupNamed(id string, req TaskRequest) error {
	switch {
	case req.Kind != deploy.RunRestore && req.Backup != "":
		return deploy.Invalid("backup", "only a restore takes a backup, not %s", req.Kind)
	case req.Kind == deploy.RunRestore && req.Backup == "":
		return deploy.Invalid("backup", "is required: the ID of the backup to restore (list them with GET /v1/deployments/%s/backups)", id)
	}
	return nil
}

// restoreSource returns the backup a restore of d names, checked: one of
// this deployment with a copy left.
func (s *Service) restoreSource(ctx context.Context, d *deploy.Deployment, backupID string) (*deploy.RestoreSource, error) {
	if s.cfg.Backups == nil {
		return nil, errNoBackups
	}
	return s.cfg.Backups.RestoreSource(ctx, d, backupID)
}
