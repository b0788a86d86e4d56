package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Backup records are items of their deployment's partition:
//
//	PK          SK                          what            other attributes
//	DEP#<id>    BACKUP#<stamp>#<type>       a backup        doc
//
// <stamp> is the dump's time (yyyymmdd-hhmmss), so a Query of the
// partition with begins_with(SK, "BACKUP#"), descending, lists them newest
// first, and DeleteDeployment (which deletes the whole partition) deletes
// them with the deployment. Records are written whole and unconditionally:
// only the run that collects a deployment's backups writes them, and a
// deployment has one active run at a time.

var _ deploy.BackupStore = (*Store)(nil)

const pfxBackup = "BACKUP#"

func backupKey(depID, id string) (item, error) {
	_, t, name, err := deploy.ParseBackupID("id", id)
	if err != nil {
		return nil, err
	}
	return key(pfxDeployment+depID, pfxBackup+record.BackupSortKey(t, name)), nil
}

// PutBackup implements deploy.BackupStore.
func (s *Store) PutBackup(ctx context.Context, b *deploy.Backup) error {
	op := "put backup " + b.ID
	if err := deploy.CheckBackup(b); err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	it, err := backupKey(b.DeploymentID, b.ID)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	doc, err := record.EncodeJSON("backup", b)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := packDoc(it, "backup "+b.ID, doc); err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it}); err != nil {
		return wrap(op, err)
	}
	return nil
}

// GetBackup implements deploy.BackupStore.
func (s *Store) GetBackup(ctx context.Context, deploymentID, id string) (*deploy.Backup, error) {
	op := "get backup " + id
	k, err := backupKey(deploymentID, id)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	it, err := s.getItem(ctx, op, k)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("backup %s not found", id))
	}
	b, err := decodeBackup(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return b, nil
}

func decodeBackup(it item) (*deploy.Backup, error) {
	doc, err := unpackDoc(it)
	if err != nil {
		return nil, err
	}
	var b deploy.Backup
	if err := record.DecodeJSON("backup", doc, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ListBackups implements deploy.BackupStore.
func (s *Store) ListBackups(ctx context.Context, deploymentID string) ([]*deploy.Backup, error) {
	op := "list backups of " + deploymentID
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :b)"),
		ExpressionAttributeValues: item{":pk": str(pfxDeployment + deploymentID), ":b": str(pfxBackup)},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	var out []*deploy.Backup
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, wrap(op, err)
		}
		for _, it := range page.Items {
			if !strings.HasPrefix(getS(it, AttrSK), pfxBackup) {
				continue
			}
			b, err := decodeBackup(it)
			if err != nil {
				return nil, fmt.Errorf("dynamo: %s: %w", op, err)
			}
			out = append(out, b)
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// DeleteBackup implements deploy.BackupStore.
func (s *Store) DeleteBackup(ctx context.Context, deploymentID, id string) error {
	op := "delete backup " + id
	k, err := backupKey(deploymentID, id)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: k}); err != nil {
		return wrap(op, err)
	}
	return nil
}
