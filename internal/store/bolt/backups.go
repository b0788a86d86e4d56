package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Backup records live in one more top-level bucket, made when first
// needed (files made before it exist without it):
//
//	store.backups    one nested bucket per deployment ID: record.BackupSortKey → backup JSON
//
// DeleteDeployment deletes a deployment's nested bucket with it.

var _ deploy.BackupStore = (*Store)(nil)

var bBackups = []byte("store.backups")

func backupKey(id string) ([]byte, error) {
	_, t, name, err := deploy.ParseBackupID("id", id)
	if err != nil {
		return nil, err
	}
	return []byte(record.BackupSortKey(t, name)), nil
}

// PutBackup implements deploy.BackupStore.
func (s *Store) PutBackup(ctx context.Context, b *deploy.Backup) error {
	if err := deploy.CheckBackup(b); err != nil {
		return fmt.Errorf("bolt: put backup %s: %w", b.ID, err)
	}
	k, err := backupKey(b.ID)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("bolt: put backup %s: %w", b.ID, err)
	}
	return s.update("put backup "+b.ID, func(tx *bbolt.Tx) error {
		all, err := tx.CreateBucketIfNotExists(bBackups)
		if err != nil {
			return err
		}
		dep, err := all.CreateBucketIfNotExists([]byte(b.DeploymentID))
		if err != nil {
			return err
		}
		return dep.Put(k, doc)
	})
}

// backups returns the deployment's bucket of backups, or nil.
func backups(tx *bbolt.Tx, depID string) *bbolt.Bucket {
	all := tx.Bucket(bBackups)
	if all == nil {
		return nil
	}
	return all.Bucket([]byte(depID))
}

// GetBackup implements deploy.BackupStore.
func (s *Store) GetBackup(ctx context.Context, deploymentID, id string) (*deploy.Backup, error) {
	k, err := backupKey(id)
	if err != nil {
		return nil, fmt.Errorf("bolt: get backup %s: %w", id, err)
	}
	var b *deploy.Backup
	err = s.view("get backup "+id, func(tx *bbolt.Tx) error {
		dep := backups(tx, deploymentID)
		var v []byte
		if dep != nil {
			v = dep.Get(k)
		}
		if v == nil {
			return deploy.NotFound("backup %s not found", id)
		}
		b = &deploy.Backup{}
		return json.Unmarshal(v, b)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// ListBackups implements deploy.BackupStore.
func (s *Store) ListBackups(ctx context.Context, deploymentID string) ([]*deploy.Backup, error) {
	var out []*deploy.Backup
	err := s.view("list backups of "+deploymentID, func(tx *bbolt.Tx) error {
		dep := backups(tx, deploymentID)
		if dep == nil {
			return nil
		}
		c := dep.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			b := &deploy.Backup{}
			if err := json.Unmarshal(v, b); err != nil {
				return fmt.Errorf("backup %s: %w", k, err)
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// DeleteBackup implements deploy.BackupStore.
func (s *Store) DeleteBackup(ctx context.Context, deploymentID, id string) error {
	k, err := backupKey(id)
	if err != nil {
		return fmt.Errorf("bolt: delete backup %s: %w", id, err)
	}
	return s.update("delete backup "+id, func(tx *bbolt.Tx) error {
		if dep := backups(tx, deploymentID); dep != nil {
			return dep.Delete(k)
		}
		return nil
	})
}

// deleteBackups removes every backup record of a deployment (its
// DeleteDeployment transaction).
func deleteBackups(tx *bbolt.Tx, depID string) error {
	if backups(tx, depID) == nil {
		return nil
	}
	return tx.Bucket(bBackups).DeleteBucket([]byte(depID))
}
