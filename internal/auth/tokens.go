package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// TokenPrefix starts every local token's secret, so that a leaked one is
// recognisable (and secret scanners can find it).
const TokenPrefix = "edt_"

// secretLen is the length of a secret: the prefix and 32 random bytes in
// unpadded URL-safe base64.
var secretLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// NewToken returns a new token secret: TokenPrefix followed by 256 random
// bits.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: new token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken returns what is stored of a secret: its SHA-256, in hex. The
// secret has 256 random bits, so a fast hash is enough: there is nothing
// to guess.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Tokens authenticates and issues local bearer tokens. It is safe for
// concurrent use.
type Tokens struct {
	store deploy.TokenStore
	now   func() time.Time
	// accounts, set by NewAccounts, decides whether a session token's
	// account may still sign in; without it session tokens are refused.
	accounts deploy.AccountStore
}

// NewTokens returns Tokens kept in store; now defaults to time.Now.
func NewTokens(store deploy.TokenStore, now func() time.Time) (*Tokens, error) {
	if store == nil {
		return nil, errors.New("auth: a token store is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{store: store, now: now}, nil
}

// Authenticate returns the caller whose token r bears. A request without
// "Authorization: Bearer edt_…", or with a token that is not stored, is
// httpapi.ErrUnauthenticated; a store failure is returned as it is (with
// its kind).
func (t *Tokens) Authenticate(r *http.Request) (control.Caller, error) {
	secret, ok := bearer(r)
	if !ok || len(secret) != secretLen || !strings.HasPrefix(secret, TokenPrefix) {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	hash := HashToken(secret)
	tok, err := t.store.GetToken(r.Context(), hash)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	if err != nil {
		return control.Caller{}, fmt.Errorf("auth: look up token: %w", err)
	}
	// The lookup is by hash already; comparing in constant time as well
	// keeps a store that matched loosely (a prefix, another case) from
	// letting a near miss in.
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 || tok.User == "" {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	if !tok.ExpiresAt.IsZero() && !t.now().Before(tok.ExpiresAt) {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	if tok.Session {
		if err := t.sessionAllowed(r.Context(), tok.User); err != nil {
			return control.Caller{}, err
		}
	}
	return control.Caller{User: tok.User, Admin: tok.Admin}, nil
}

// bearer returns the credentials of "Authorization: Bearer <x>" (the
// scheme is case-insensitive).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// IssueToken creates a token for req.User if c is an admin, and returns its
// secret (shown once; only its hash is kept).
func (t *Tokens) IssueToken(ctx context.Context, c control.Caller, req httpapi.TokenRequest) (string, error) {
	if !c.Admin {
		return "", deploy.Forbidden("only an admin may issue tokens")
	}
	return t.Create(ctx, req.User, req.Admin, req.Name)
}

// Create makes a token for user without asking who wants it: for the local
// control plane's first admin token, and for IssueToken once it has checked
// the caller.
func (t *Tokens) Create(ctx context.Context, user string, admin bool, name string) (string, error) {
	var errs []error
	if err := checkUser(user); err != nil {
		errs = append(errs, err)
	}
	if len(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		errs = append(errs, deploy.Invalid("name", "at most 100 printable characters"))
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return t.create(ctx, deploy.Token{User: user, Admin: admin, Name: name})
}

// create stores tok under a new secret and returns the secret.
func (t *Tokens) create(ctx context.Context, tok deploy.Token) (string, error) {
	secret, err := NewToken()
	if err != nil {
		return "", err
	}
	tok.Hash, tok.CreatedAt = HashToken(secret), t.now()
	if err := t.store.PutToken(ctx, tok); err != nil {
		return "", fmt.Errorf("auth: store token for %s: %w", tok.User, err)
	}
	return secret, nil
}

// sessionAllowed lets a password sign-in's token through only while its
// account is approved, so that disabling an account ends its sessions.
func (t *Tokens) sessionAllowed(ctx context.Context, user string) error {
	if t.accounts == nil {
		return httpapi.ErrUnauthenticated
	}
	acc, err := t.accounts.GetAccount(ctx, user)
	switch {
	case deploy.IsKind(err, deploy.KindNotFound):
		return httpapi.ErrUnauthenticated
	case err != nil:
		return fmt.Errorf("auth: look up the account of a session: %w", err)
	case acc.Status != deploy.AccountApproved:
		return httpapi.ErrUnauthenticated
	}
	return nil
}

func checkUser(user string) error {
	if user == "" {
		return deploy.Invalid("user", "is required")
	}
	if len(user) > 128 || !utf8.ValidString(user) || strings.ContainsFunc(user, func(r rune) bool { return isControl(r) || r == ' ' }) {
		return deploy.Invalid("user", "at most 128 printable characters, no spaces")
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
