package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Local accounts (deploy.AccountStore), one item each:
//
//	PK                SK        what            other attributes
//	ACCOUNT#<email>   ACCOUNT   a local account doc (with its password hash), ver,
//	                                            GSI2PK=ACCOUNTS, GSI2SK=<created>#<email>
//
// ListAccounts queries GSI2's ACCOUNTS partition (no Scan); CreateAccount
// is a PutItem if attribute_not_exists(PK), UpdateAccount a PutItem if
// ver matches.

var _ deploy.AccountStore = (*Store)(nil)

const (
	pfxAccount   = "ACCOUNT#"
	skAccount    = "ACCOUNT"
	allAccounts  = "ACCOUNTS"
	accountsList = "list accounts"
)

func accountKey(email string) item { return key(pfxAccount+email, skAccount) }

func accountItem(a *deploy.Account) (item, error) {
	b, err := record.EncodeJSON("account", a.Stored())
	if err != nil {
		return nil, err
	}
	it := accountKey(a.Email)
	it[attrDoc] = str(string(b))
	it[attrVer] = num(int64(a.Version))
	it[AttrGSI2PK] = str(allAccounts)
	it[AttrGSI2SK] = str(record.CreatedKey(a.CreatedAt, a.Email))
	return it, nil
}

func decodeAccount(it item) (*deploy.Account, error) {
	var sa deploy.StoredAccount
	if err := record.DecodeJSON("account", []byte(getS(it, attrDoc)), &sa); err != nil {
		return nil, err
	}
	return sa.Unstored(), nil
}

// CreateAccount implements deploy.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a *deploy.Account) error {
	op := "create account " + a.Email
	if a.Email == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("email", "is required"))
	}
	aa := *a
	aa.Version = 1
	it, err := accountItem(&aa)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putIf(ctx, op, it, "attribute_not_exists(PK)", nil, nil, func(item) error {
		return deploy.Conflict("email", "an account with this e-mail address exists")
	}); err != nil {
		return err
	}
	a.Version = aa.Version
	return nil
}

// GetAccount implements deploy.AccountStore.
func (s *Store) GetAccount(ctx context.Context, email string) (*deploy.Account, error) {
	op := "get account " + email
	it, err := s.getItem(ctx, op, accountKey(email))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("account %s not found", email))
	}
	a, err := decodeAccount(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return a, nil
}

// UpdateAccount implements deploy.AccountStore.
func (s *Store) UpdateAccount(ctx context.Context, a *deploy.Account) error {
	op := "update account " + a.Email
	aa := *a
	aa.Version++
	it, err := accountItem(&aa)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(a.Version)
	if err := s.putIf(ctx, op, it, "attribute_exists(PK) AND "+cond, nil, vals, func(old item) error {
		if old == nil {
			return deploy.NotFound("account %s not found", a.Email)
		}
		v, _ := getN(old, attrVer)
		return deploy.Conflict("version", "account %s changed: stored version %d, yours %d", a.Email, v, a.Version)
	}); err != nil {
		return err
	}
	a.Version = aa.Version
	return nil
}

// ListAccounts implements deploy.AccountStore.
func (s *Store) ListAccounts(ctx context.Context) ([]*deploy.Account, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexAll),
		KeyConditionExpression:    aws.String(AttrGSI2PK + " = :pk"),
		ExpressionAttributeValues: item{":pk": str(allAccounts)},
		ScanIndexForward:          aws.Bool(true),
	}
	var as []*deploy.Account
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, wrap(accountsList, err)
		}
		for _, it := range out.Items {
			a, err := decodeAccount(it)
			if err != nil {
				return nil, fmt.Errorf("dynamo: %s: %w", accountsList, err)
			}
			as = append(as, a)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	// GSI2SK orders by creation time already; sorting again orders
	// accounts that share a timestamp as the contract says.
	record.SortAccounts(as)
	return as, nil
}
