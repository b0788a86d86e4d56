package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// AccountService registers local accounts, signs them in with their
// password and lets admins decide on them (auth.Accounts). Safe for
// concurrent use.
type AccountService interface {
	// RegistrationOpen reports whether anyone may register.
	RegistrationOpen() bool
	// Register creates a pending account: Forbidden when registration is
	// closed, Invalid for a bad e-mail address or password, Conflict when
	// the address is taken.
	Register(ctx context.Context, email, password string) (*deploy.Account, error)
	// SignIn returns a session for a right password of an approved
	// account. A wrong address or password wraps ErrUnauthenticated; an
	// account that is pending or disabled is Forbidden.
	SignIn(ctx context.Context, email, password string) (Session, error)
	// ListAccounts returns every account; Forbidden unless c is an admin.
	ListAccounts(ctx context.Context, c control.Caller) ([]*deploy.Account, error)
	// DecideAccount sets an account approved or disabled; Forbidden unless
	// c is an admin, NotFound for an unknown account.
	DecideAccount(ctx context.Context, c control.Caller, email string, status deploy.AccountStatus) (*deploy.Account, error)
}

// Session is a password sign-in: a bearer token that lasts until ExpiresAt.
type Session struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Credentials is the body of POST /v1/accounts and POST /v1/sessions.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// AccountCreated is the response to POST /v1/accounts.
type AccountCreated struct {
	Account *deploy.Account `json:"account"`
}

// AccountList is every local account.
type AccountList struct {
	Items []*deploy.Account `json:"items"`
}

// Me is who the caller is, as the API sees them.
type Me struct {
	User  string `json:"user"`
	Admin bool   `json:"admin"`
}

// accountRoutes are the routes of local accounts and of the caller's own
// identity. Registering and signing in are public, and take no
// Idempotency-Key: their caller is anonymous, so a key could not be scoped
// to them, and a session's token must never be stored for a replay.
func (a *API) accountRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/me", h: a.me},
		{method: "POST", pattern: "/v1/accounts", public: true, body: true, noIdempotency: true, h: a.register},
		{method: "GET", pattern: "/v1/accounts", h: a.listAccounts},
		{method: "POST", pattern: "/v1/accounts/{email}/approve", h: a.decideAccount(deploy.AccountApproved)},
		{method: "POST", pattern: "/v1/accounts/{email}/disable", h: a.decideAccount(deploy.AccountDisabled)},
		{method: "POST", pattern: "/v1/sessions", public: true, body: true, noIdempotency: true, h: a.signIn},
	}
}

func (a *API) me(c *call) error {
	return writeJSON(c.w, http.StatusOK, Me{User: c.caller.User, Admin: c.caller.Admin})
}

func (a *API) register(c *call) error {
	if a.cfg.Accounts == nil {
		return notImplemented("local accounts")
	}
	var req Credentials
	if err := decode(c, &req); err != nil {
		return err
	}
	acc, err := a.cfg.Accounts.Register(c.r.Context(), req.Email, req.Password)
	if err != nil {
		return err
	}
	a.log.InfoContext(c.r.Context(), "account registered", "request_id", RequestID(c.r.Context()), "account", acc.Email)
	return writeJSON(c.w, http.StatusCreated, AccountCreated{Account: acc})
}

func (a *API) signIn(c *call) error {
	if a.cfg.Accounts == nil {
		return notImplemented("local accounts")
	}
	var req Credentials
	if err := decode(c, &req); err != nil {
		return err
	}
	s, err := a.cfg.Accounts.SignIn(c.r.Context(), req.Email, req.Password)
	if errors.Is(err, ErrUnauthenticated) {
		return &httpError{status: http.StatusUnauthorized, typ: "unauthenticated", detail: "the e-mail address or the password is wrong"}
	}
	if err != nil {
		return err
	}
	c.caller.User = s.User // for the access log
	return writeJSON(c.w, http.StatusCreated, s)
}

func (a *API) listAccounts(c *call) error {
	if a.cfg.Accounts == nil {
		return notImplemented("local accounts")
	}
	as, err := a.cfg.Accounts.ListAccounts(c.r.Context(), c.caller)
	if err != nil {
		return err
	}
	if as == nil {
		as = []*deploy.Account{}
	}
	return writeJSON(c.w, http.StatusOK, AccountList{Items: as})
}

func (a *API) decideAccount(status deploy.AccountStatus) func(*call) error {
	return func(c *call) error {
		if a.cfg.Accounts == nil {
			return notImplemented("local accounts")
		}
		acc, err := a.cfg.Accounts.DecideAccount(c.r.Context(), c.caller, c.r.PathValue("email"), status)
		if err != nil {
			return err
		}
		a.log.InfoContext(c.r.Context(), "account "+string(status), "request_id", RequestID(c.r.Context()), "by", c.caller.User, "account", acc.Email)
		return writeJSON(c.w, http.StatusOK, acc)
	}
}
