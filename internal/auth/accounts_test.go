package auth_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// noService stands in for the deployments' use cases, which these tests
// never reach.
type noService struct{ httpapi.Service }

type accountsEnv struct {
	t     *testing.T
	srv   *httptest.Server
	store *bolt.Store
	now   time.Time
	admin string
	doc   *openapitest.Doc
}

func newAccountsEnv(t *testing.T, registration bool) *accountsEnv {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{SweepInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &accountsEnv{t: t, store: store, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return e.now }
	tokens, err := auth.NewTokens(store, clock)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := auth.NewAccounts(auth.AccountsConfig{Store: store, Tokens: tokens, Registration: registration, BcryptCost: bcrypt.MinCost, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Service: noService{}, Auth: tokens, Idempotency: store, Tokens: tokens, Accounts: accounts})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(api)
	t.Cleanup(e.srv.Close)
	if e.admin, err = tokens.Create(t.Context(), "admin", true, "test"); err != nil {
		t.Fatal(err)
	}
	if e.doc, err = openapitest.Parse(httpapi.OpenAPI()); err != nil {
		t.Fatal(err)
	}
	return e
}

// do sends a request, checks the response against the OpenAPI document
// and returns its status and body.
func (e *accountsEnv) do(method, path, pattern, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	openapitest.ValidateResponse(e.t, e.doc, method, pattern, resp.StatusCode, resp.Header, out)
	return resp.StatusCode, out
}

func TestRegistrationClosedByDefault(t *testing.T) {
	e := newAccountsEnv(t, false)
	status, body := e.do("POST", "/v1/accounts", "/v1/accounts", "", httpapi.Credentials{Email: "a@example.org", Password: "long enough password"})
	if status != 403 || !strings.Contains(string(body), "registration is closed") {
		t.Errorf("register with registration closed → %d %s, want 403 saying it is closed", status, body)
	}
	if as, err := e.store.ListAccounts(t.Context()); err != nil || len(as) != 0 {
		t.Errorf("a refused registration stored %v (%v)", as, err)
	}
}

func TestAccountLifecycle(t *testing.T) {
	e := newAccountsEnv(t, true)
	const pw = "correct horse battery"
	creds := httpapi.Credentials{Email: " Alice@Example.org ", Password: pw}

	// Registration: bad input names its fields; a good one is pending.
	status, body := e.do("POST", "/v1/accounts", "/v1/accounts", "", httpapi.Credentials{Email: "not an address", Password: "short"})
	if status != 400 || !strings.Contains(string(body), `"field":"email"`) || !strings.Contains(string(body), `"field":"password"`) {
		t.Errorf("bad registration → %d %s, want 400 naming email and password", status, body)
	}
	status, body = e.do("POST", "/v1/accounts", "/v1/accounts", "", creds)
	var created httpapi.AccountCreated
	if status != 201 || json.Unmarshal(body, &created) != nil || created.Account.Email != "alice@example.org" || created.Account.Status != deploy.AccountPending {
		t.Fatalf("register → %d %s, want 201 pending alice@example.org", status, body)
	}
	if strings.Contains(string(body), "hash") || strings.Contains(string(body), "$2a$") {
		t.Errorf("the registration response shows the password hash: %s", body)
	}
	if status, _ := e.do("POST", "/v1/accounts", "/v1/accounts", "", creds); status != 409 {
		t.Errorf("second registration of one address → %d, want 409", status)
	}
	stored, err := e.store.GetAccount(t.Context(), "alice@example.org")
	if err != nil || bcrypt.CompareHashAndPassword(stored.PasswordHash, []byte(pw)) != nil || bytes.Contains(stored.PasswordHash, []byte(pw)) {
		t.Fatalf("stored account %+v (%v): want a bcrypt hash of the password", stored, err)
	}

	signIn := func(password string) (int, httpapi.Session, string) {
		status, body := e.do("POST", "/v1/sessions", "/v1/sessions", "", httpapi.Credentials{Email: "alice@example.org", Password: password})
		var s httpapi.Session
		_ = json.Unmarshal(body, &s)
		return status, s, string(body)
	}
	if status, _, body := signIn(pw); status != 403 || !strings.Contains(body, "approval") {
		t.Errorf("sign-in of a pending account → %d %s, want 403 waiting for approval", status, body)
	}
	for _, wrong := range []string{"wrong password!", ""} {
		if status, _, body := signIn(wrong); status != 401 || strings.Contains(body, "approval") {
			t.Errorf("sign-in with password %q → %d %s, want 401 that says nothing of the account", wrong, status, body)
		}
	}
	if status, _ := e.do("POST", "/v1/sessions", "/v1/sessions", "", httpapi.Credentials{Email: "nobody@example.org", Password: pw}); status != 401 {
		t.Errorf("sign-in of an unknown address → %d, want 401", status)
	}

	// Only an admin lists and approves.
	status, body = e.do("GET", "/v1/accounts", "/v1/accounts", e.admin, nil)
	if status != 200 || !strings.Contains(string(body), `"status":"pending"`) {
		t.Errorf("admin lists accounts → %d %s", status, body)
	}
	if status, _ := e.do("POST", "/v1/accounts/nobody@example.org/approve", "/v1/accounts/{email}/approve", e.admin, nil); status != 404 {
		t.Errorf("approve an unknown account → %d, want 404", status)
	}
	if status, body := e.do("POST", "/v1/accounts/alice@example.org/approve", "/v1/accounts/{email}/approve", e.admin, nil); status != 200 || !strings.Contains(string(body), `"decided_by":"admin"`) {
		t.Fatalf("approve → %d %s", status, body)
	}

	// Approved: the password signs in, and the session is alice's.
	status, sess, sbody := signIn(pw)
	if status != 201 || !strings.HasPrefix(sess.Token, auth.TokenPrefix) || !sess.ExpiresAt.Equal(e.now.Add(auth.DefaultSessionTTL)) {
		t.Fatalf("sign-in → %d %s", status, sbody)
	}
	status, body = e.do("GET", "/v1/me", "/v1/me", sess.Token, nil)
	if status != 200 || string(bytes.TrimSpace(body)) != `{"user":"alice@example.org","admin":false}` {
		t.Errorf("me → %d %s", status, body)
	}
	for _, rt := range []struct{ method, path, pattern string }{
		{"GET", "/v1/accounts", "/v1/accounts"},
		{"POST", "/v1/accounts/alice@example.org/disable", "/v1/accounts/{email}/disable"},
	} {
		if status, _ := e.do(rt.method, rt.path, rt.pattern, sess.Token, nil); status != 403 {
			t.Errorf("alice: %s %s → %d, want 403", rt.method, rt.path, status)
		}
	}

	// Disabled: the session ends at once, and the password no longer signs in.
	if status, _ := e.do("POST", "/v1/accounts/alice@example.org/disable", "/v1/accounts/{email}/disable", e.admin, nil); status != 200 {
		t.Fatalf("disable → %d", status)
	}
	if status, _ := e.do("GET", "/v1/me", "/v1/me", sess.Token, nil); status != 401 {
		t.Errorf("a disabled account's session → %d, want 401", status)
	}
	if status, _, body := signIn(pw); status != 403 || !strings.Contains(body, "disabled") {
		t.Errorf("sign-in of a disabled account → %d %s, want 403 disabled", status, body)
	}

	// Approved again, a new session expires after its TTL.
	e.do("POST", "/v1/accounts/alice@example.org/approve", "/v1/accounts/{email}/approve", e.admin, nil)
	_, sess, _ = signIn(pw)
	if status, _ := e.do("GET", "/v1/me", "/v1/me", sess.Token, nil); status != 200 {
		t.Fatalf("fresh session → %d", status)
	}
	e.now = e.now.Add(auth.DefaultSessionTTL)
	if status, _ := e.do("GET", "/v1/me", "/v1/me", sess.Token, nil); status != 401 {
		t.Errorf("an expired session → %d, want 401", status)
	}
}

func TestPasswordBounds(t *testing.T) {
	e := newAccountsEnv(t, true)
	for _, c := range []struct {
		name, password string
		want           int
	}{
		{"nine characters", "123456789", 400},
		{"ten characters", "1234567890", 201},
		{"73 bytes (bcrypt would cut it)", strings.Repeat("x", 73), 400},
		{"72 bytes", strings.Repeat("y", 72), 201},
	} {
		t.Run(c.name, func(t *testing.T) {
			email := strings.ReplaceAll(c.name, " ", "-")
			email = strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
					return r
				}
				return -1
			}, email) + "@example.org"
			if status, body := e.do("POST", "/v1/accounts", "/v1/accounts", "", httpapi.Credentials{Email: email, Password: c.password}); status != c.want {
				t.Errorf("register → %d %s, want %d", status, body, c.want)
			}
		})
	}
}
