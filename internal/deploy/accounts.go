package deploy

import (
	"context"
	"time"
)

// AccountStatus is where a local account stands: registered accounts wait
// for an admin, who approves or disables them.
type AccountStatus string

// The statuses of a local account.
const (
	AccountPending  AccountStatus = "pending"  // registered, waiting for an admin
	AccountApproved AccountStatus = "approved" // may sign in with its password
	AccountDisabled AccountStatus = "disabled" // may not sign in; its sessions end
)

// Account is a person registered on the local control plane with an e-mail
// address and a password. Its user ID (the owner of what it creates) is
// its e-mail address. Only the password's slow, salted hash is kept;
// PasswordHash never leaves the control plane (it has no JSON name).
type Account struct {
	Email        string        `json:"email"`
	PasswordHash []byte        `json:"-"`
	Status       AccountStatus `json:"status"`
	// DecidedBy is the admin who last approved or disabled the account.
	DecidedBy string    `json:"decided_by,omitempty"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AccountStore keeps local accounts (store/bolt and store/dynamo implement
// it; storetest.RunAccounts is its conformance suite). Safe for concurrent
// use; errors carry a Kind.
type AccountStore interface {
	// CreateAccount stores a (Version 0 → 1) with its password hash. It
	// returns Conflict if an account with a.Email exists; nothing is
	// written then.
	CreateAccount(ctx context.Context, a *Account) error

	// GetAccount returns the account of email with its password hash, or
	// NotFound.
	GetAccount(ctx context.Context, email string) (*Account, error)

	// UpdateAccount stores a if the stored version equals a.Version, then
	// increments a.Version. A stale version is Conflict, a missing account
	// NotFound.
	UpdateAccount(ctx context.Context, a *Account) error

	// ListAccounts returns every account, oldest first (by CreatedAt,
	// then e-mail). Local control planes have few accounts; a store may
	// read them in several requests.
	ListAccounts(ctx context.Context) ([]*Account, error)
}

// StoredAccount is how adapters keep an account: its fields and the
// password hash, which Account's JSON leaves out on purpose.
type StoredAccount struct {
	Account
	PasswordHash []byte `json:"password_hash"`
}

// Stored returns a as adapters keep it.
func (a *Account) Stored() StoredAccount {
	return StoredAccount{Account: *a, PasswordHash: a.PasswordHash}
}

// Unstored returns the account an adapter kept.
func (s StoredAccount) Unstored() *Account {
	a := s.Account
	a.PasswordHash = s.PasswordHash
	return &a
}
