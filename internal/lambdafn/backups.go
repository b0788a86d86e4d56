package lambdafn

import (
	"github.com/edendeploy/edendeploy/internal/backups"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/tasks"
)

// renderBackups says where the database servers copy their dumps (the
// stack's bucket, under backups/<deployment>/) and how many they keep.
func (a *App) renderBackups() playbook.BackupOptions {
	return playbook.BackupOptions{Bucket: a.Config.Bucket, Retention: a.Config.BackupRetention}
}

// BackupRecords is the backups service over the table only: listing and
// finding backups (the API).
func (a *App) BackupRecords() (*backups.Service, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	return backups.New(backups.Config{Store: store, Retention: a.Config.BackupRetention, Log: a.Log})
}

// TasksKeepingBackups are the task functions with the backups service over
// the table and the bucket's copies: RecordStep checks each copy a db
// server put in the bucket, keeps its record and applies the retention.
// Only RecordStep needs it, so only its role may read and delete backups.
func (a *App) TasksKeepingBackups() (*tasks.Tasks, error) {
	store, err := a.Store()
	if err != nil {
		return nil, err
	}
	copies, err := a.Blobs()
	if err != nil {
		return nil, err
	}
	bk, err := backups.New(backups.Config{Store: store, Copies: copies, Retention: a.Config.BackupRetention, Log: a.Log})
	if err != nil {
		return nil, err
	}
	return a.tasks(func(c *tasks.Config) { c.Backups = bk })
}
