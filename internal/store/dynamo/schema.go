package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's schema: template.yaml declares exactly this (see the package
// doc), and TableSchema builds it for tests and local runs.
const (
	// AttrPK and AttrSK are the table's partition and sort keys (S).
	AttrPK = "PK"
	AttrSK = "SK"
	// IndexOwner (GSI1) lists an owner's deployments newest first.
	IndexOwner = "GSI1"
	AttrGSI1PK = "GSI1PK"
	AttrGSI1SK = "GSI1SK"
	// IndexAll (GSI2) lists every deployment newest first.
	IndexAll   = "GSI2"
	AttrGSI2PK = "GSI2PK"
	AttrGSI2SK = "GSI2SK"
	// AttrTTL is the table's TimeToLiveSpecification attribute (N, epoch
	// seconds).
	AttrTTL = "ttl"
)

// TableSchema returns the CreateTable input of the store's table: on-demand
// billing, keys PK/SK, GSI1 and GSI2 projecting ALL. TTL on AttrTTL is
// enabled separately (UpdateTimeToLive; in template.yaml
// TimeToLiveSpecification), which minidyn and dynalite do not implement:
// the store hides expired items itself.
func TableSchema(table string) *dynamodb.CreateTableInput {
	str := types.ScalarAttributeTypeS
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: str},
			{AttributeName: aws.String(AttrSK), AttributeType: str},
			{AttributeName: aws.String(AttrGSI1PK), AttributeType: str},
			{AttributeName: aws.String(AttrGSI1SK), AttributeType: str},
			{AttributeName: aws.String(AttrGSI2PK), AttributeType: str},
			{AttributeName: aws.String(AttrGSI2SK), AttributeType: str},
		},
		KeySchema: key(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(IndexOwner), KeySchema: key(AttrGSI1PK, AttrGSI1SK), Projection: all},
			{IndexName: aws.String(IndexAll), KeySchema: key(AttrGSI2PK, AttrGSI2SK), Projection: all},
		},
	}
}

// CreateTable creates the store's table (for tests and local runs; on AWS
// the SAM template does) and waits until it is usable. It polls
// DescribeTable itself rather than using the SDK's table-exists waiter:
// minidyn reports no TableStatus at all, which counts as ready here.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.CreateTable(ctx, TableSchema(s.table)); err != nil {
		return fmt.Errorf("dynamo: create table %s: %w", s.table, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
		if err != nil {
			return fmt.Errorf("dynamo: create table %s: wait until active: %w", s.table, err)
		}
		if st := out.Table.TableStatus; st == "" || st == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynamo: create table %s: still %s: %w", s.table, out.Table.TableStatus, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
