package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

var _ httpapi.AccountService = (*Accounts)(nil)

// Password bounds. bcrypt reads at most 72 bytes, so a longer password
// would be silently cut: it is refused instead.
const (
	MinPasswordLen   = 10
	MaxPasswordBytes = 72
)

// DefaultSessionTTL is how long a password sign-in's token lasts.
const DefaultSessionTTL = 12 * time.Hour

// AccountsConfig configures Accounts.
type AccountsConfig struct {
	Store  deploy.AccountStore // required
	Tokens *Tokens             // required: sign-in issues session tokens
	// Registration lets anyone register an account (which waits for an
	// admin's approval). Off by default.
	Registration bool
	// SessionTTL is how long a sign-in lasts; default DefaultSessionTTL.
	SessionTTL time.Duration
	// BcryptCost is the hash's cost; default bcrypt.DefaultCost (tests
	// lower it to bcrypt.MinCost).
	BcryptCost int
	Now        func() time.Time // default time.Now
}

// Accounts registers local accounts, lets admins approve and disable them,
// and signs approved ones in with their password (a session token, which
// Tokens.Authenticate honours only while the account stays approved).
// Passwords are kept as bcrypt hashes (salted, slow). Safe for concurrent
// use.
type Accounts struct {
	cfg   AccountsConfig
	dummy []byte // a hash to compare against for unknown e-mail addresses
}

// NewAccounts returns Accounts for cfg, and makes cfg.Tokens honour the
// session tokens it issues.
func NewAccounts(cfg AccountsConfig) (*Accounts, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("auth: accounts need a store and tokens")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no account has this password"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: accounts: %w", err)
	}
	cfg.Tokens.accounts = cfg.Store
	return &Accounts{cfg: cfg, dummy: dummy}, nil
}

// RegistrationOpen reports whether anyone may register.
func (a *Accounts) RegistrationOpen() bool { return a.cfg.Registration }

// NormalizeEmail returns the account ID of an e-mail address: trimmed and
// lower-cased, or Invalid when it is not one plain address.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" || len(e) > 128 || checkUser(e) != nil || !strings.Contains(e, "@") {
		return "", deploy.Invalid("email", "is not an e-mail address such as alice@example.org")
	}
	return e, nil
}

func checkPassword(p string) error {
	switch {
	case utf8.RuneCountInString(p) < MinPasswordLen:
		return deploy.Invalid("password", "must have at least %d characters", MinPasswordLen)
	case len(p) > MaxPasswordBytes:
		return deploy.Invalid("password", "must have at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(p):
		return deploy.Invalid("password", "must be UTF-8 text")
	}
	return nil
}

// Register creates a pending account. Forbidden when registration is
// closed; Invalid for a bad e-mail address or password; Conflict when the
// address is registered already.
func (a *Accounts) Register(ctx context.Context, email, password string) (*deploy.Account, error) {
	if !a.cfg.Registration {
		return nil, deploy.Forbidden("registration is closed on this control plane: ask an admin for a token")
	}
	e, err := NormalizeEmail(email)
	if err := errors.Join(err, checkPassword(password)); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: hash the password of %s: %w", e, err)
	}
	now := a.cfg.Now()
	acc := &deploy.Account{Email: e, PasswordHash: hash, Status: deploy.AccountPending, CreatedAt: now, UpdatedAt: now}
	if err := a.cfg.Store.CreateAccount(ctx, acc); err != nil {
		return nil, fmt.Errorf("auth: register %s: %w", e, err)
	}
	return acc, nil
}

// SignIn checks an account's password and returns a session token for it.
// A wrong e-mail address or password is httpapi.ErrUnauthenticated (the
// same for both, and as slow); a right password of an account that is not
// approved is Forbidden, saying why.
func (a *Accounts) SignIn(ctx context.Context, email, password string) (httpapi.Session, error) {
	e, err := NormalizeEmail(email)
	if err != nil || len(password) > MaxPasswordBytes {
		_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		return httpapi.Session{}, httpapi.ErrUnauthenticated
	}
	acc, err := a.cfg.Store.GetAccount(ctx, e)
	if deploy.IsKind(err, deploy.KindNotFound) {
		_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		return httpapi.Session{}, httpapi.ErrUnauthenticated
	}
	if err != nil {
		return httpapi.Session{}, fmt.Errorf("auth: sign in %s: %w", e, err)
	}
	if bcrypt.CompareHashAndPassword(acc.PasswordHash, []byte(password)) != nil {
		return httpapi.Session{}, httpapi.ErrUnauthenticated
	}
	switch acc.Status {
	case deploy.AccountApproved:
	case deploy.AccountPending:
		return httpapi.Session{}, deploy.Forbidden("your account waits for an admin's approval")
	default:
		return httpapi.Session{}, deploy.Forbidden("your account is disabled")
	}
	expires := a.cfg.Now().Add(a.cfg.SessionTTL)
	secret, err := a.cfg.Tokens.create(ctx, deploy.Token{User: e, Name: "password sign-in", Session: true, ExpiresAt: expires})
	if err != nil {
		return httpapi.Session{}, err
	}
	return httpapi.Session{Token: secret, User: e, ExpiresAt: expires}, nil
}

// ListAccounts returns every account (admins only; Forbidden otherwise).
func (a *Accounts) ListAccounts(ctx context.Context, c control.Caller) ([]*deploy.Account, error) {
	if !c.Admin {
		return nil, deploy.Forbidden("only an admin may list accounts")
	}
	as, err := a.cfg.Store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: list accounts: %w", err)
	}
	return as, nil
}

// DecideAccount approves or disables an account (admins only). Disabling
// ends the account's sessions at once. NotFound for an unknown account;
// Invalid for another status.
func (a *Accounts) DecideAccount(ctx context.Context, c control.Caller, email string, status deploy.AccountStatus) (*deploy.Account, error) {
	if !c.Admin {
		return nil, deploy.Forbidden("only an admin may approve or disable accounts")
	}
	if status != deploy.AccountApproved && status != deploy.AccountDisabled {
		return nil, deploy.Invalid("status", "must be approved or disabled")
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil, deploy.NotFound("account %s not found", email)
	}
	for attempt := 0; ; attempt++ {
		acc, err := a.cfg.Store.GetAccount(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("auth: decide on %s: %w", e, err)
		}
		if acc.Status == status {
			return acc, nil
		}
		acc.Status, acc.DecidedBy, acc.UpdatedAt = status, c.User, a.cfg.Now()
		err = a.cfg.Store.UpdateAccount(ctx, acc)
		if deploy.IsKind(err, deploy.KindConflict) && attempt < 3 {
			continue // another admin decided at the same moment: read again
		}
		if err != nil {
			return nil, fmt.Errorf("auth: decide on %s: %w", e, err)
		}
		return acc, nil
	}
}
