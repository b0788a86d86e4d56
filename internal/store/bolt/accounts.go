package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

var _ deploy.AccountStore = (*Store)(nil)

func getAccount(tx *bbolt.Tx, email string) (*deploy.Account, error) {
	b := tx.Bucket(bAccounts).Get([]byte(email))
	if b == nil {
		return nil, deploy.NotFound("account %s not found", email)
	}
	var sa deploy.StoredAccount
	if err := record.DecodeJSON("account", b, &sa); err != nil {
		return nil, err
	}
	return sa.Unstored(), nil
}

func putAccount(tx *bbolt.Tx, a *deploy.Account) error {
	b, err := record.EncodeJSON("account", a.Stored())
	if err != nil {
		return err
	}
	return tx.Bucket(bAccounts).Put([]byte(a.Email), b)
}

// CreateAccount implements deploy.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a *deploy.Account) error {
	if err := checkID("email", a.Email); err != nil {
		return fmt.Errorf("bolt: create account: %w", err)
	}
	aa := *a
	aa.Version = 1
	err := s.update("create account "+a.Email, func(tx *bbolt.Tx) error {
		if tx.Bucket(bAccounts).Get([]byte(a.Email)) != nil {
			return deploy.Conflict("email", "an account with this e-mail address exists")
		}
		return putAccount(tx, &aa)
	})
	if err != nil {
		return err
	}
	a.Version = aa.Version
	return nil
}

// GetAccount implements deploy.AccountStore.
func (s *Store) GetAccount(ctx context.Context, email string) (*deploy.Account, error) {
	var a *deploy.Account
	err := s.view("get account "+email, func(tx *bbolt.Tx) (err error) {
		a, err = getAccount(tx, email)
		return err
	})
	return a, err
}

// UpdateAccount implements deploy.AccountStore.
func (s *Store) UpdateAccount(ctx context.Context, a *deploy.Account) error {
	aa := *a
	aa.Version++
	err := s.update("update account "+a.Email, func(tx *bbolt.Tx) error {
		stored, err := getAccount(tx, a.Email)
		if err != nil {
			return err
		}
		if stored.Version != a.Version {
			return deploy.Conflict("version", "account %s changed: stored version %d, yours %d", a.Email, stored.Version, a.Version)
		}
		return putAccount(tx, &aa)
	})
	if err != nil {
		return err
	}
	a.Version = aa.Version
	return nil
}

// ListAccounts implements deploy.AccountStore.
func (s *Store) ListAccounts(ctx context.Context) ([]*deploy.Account, error) {
	var as []*deploy.Account
	err := s.view("list accounts", func(tx *bbolt.Tx) error {
		return tx.Bucket(bAccounts).ForEach(func(k, v []byte) error {
			var sa deploy.StoredAccount
			if err := record.DecodeJSON("account", v, &sa); err != nil {
				return err
			}
			as = append(as, sa.Unstored())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	record.SortAccounts(as)
	return as, nil
}
