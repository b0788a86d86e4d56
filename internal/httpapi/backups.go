package httpapi

import (
	"context"
	"net/http"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// BackupLister is the part of *control.Service the backup routes call.
// Its contracts are control's: another user's deployment is NotFound.
type BackupLister interface {
	// ListBackups returns the deployment's backups, newest first (of
	// instance t only, when t is not empty; an unknown t is Invalid).
	ListBackups(ctx context.Context, c control.Caller, id string, t deploy.InstanceType) ([]*deploy.Backup, error)
	// GetBackup returns one backup of the deployment, or NotFound.
	GetBackup(ctx context.Context, c control.Caller, id, backupID string) (*deploy.Backup, error)
}

var _ BackupLister = (*control.Service)(nil)

// BackupList is the response of GET /v1/deployments/{id}/backups.
type BackupList struct {
	Items []*deploy.Backup `json:"items"`
}

func (a *API) listBackups(c *call) error {
	if a.cfg.Backups == nil {
		return notImplemented("listing backups")
	}
	q := c.r.URL.Query()
	for k := range q {
		if k != "instance" {
			return badRequest(k, "is not a parameter of this listing (instance is)")
		}
	}
	bs, err := a.cfg.Backups.ListBackups(c.r.Context(), c.caller, c.r.PathValue("id"), deploy.InstanceType(q.Get("instance")))
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []*deploy.Backup{}
	}
	return writeJSON(c.w, http.StatusOK, BackupList{Items: bs})
}

func (a *API) getBackup(c *call) error {
	if a.cfg.Backups == nil {
		return notImplemented("backups")
	}
	b, err := a.cfg.Backups.GetBackup(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("backup"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, b)
}
