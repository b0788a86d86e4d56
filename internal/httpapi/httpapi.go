// Package httpapi is Eden Deploy's HTTP API: one net/http handler, versioned
// under /v1, that exposes the use cases of internal/control as JSON
// resources. `edenctl serve` serves it directly; functions/api wraps it for
// API Gateway (HTTP API, payload 2.0). It makes no assumption about the
// listener: it never reads the client's address, and authentication comes
// from an Authenticator (local bearer tokens, or the claims API Gateway's
// JWT authorizer put in the request context).
//
// Conventions, kept in one place each:
//   - errors are RFC 9457 problem documents (application/problem+json); the
//     kind of a domain error decides its status in problemFor, and only
//     internal errors are logged;
//   - request bodies are JSON objects of at most MaxBodyBytes, with no
//     unknown fields and nothing after them;
//   - every POST honours an Idempotency-Key (see idempotency.go);
//   - every response carries X-Request-Id, and the access log names the
//     request ID, user, deployment and run, never bodies or credentials.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/buildinfo"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Service is the part of *control.Service the API calls. Its methods'
// contracts are control's: errors carry a deploy.Kind, and a deployment the
// caller may not see is NotFound.
type Service interface {
	CreateDeployment(ctx context.Context, c control.Caller, req control.CreateRequest) (*deploy.Deployment, *deploy.Run, error)
	GetDeployment(ctx context.Context, c control.Caller, id string) (*deploy.Deployment, *deploy.Run, error)
	ListDeployments(ctx context.Context, c control.Caller, p deploy.Page) ([]*deploy.Deployment, string, error)
	FindDeployments(ctx context.Context, c control.Caller, name string, p deploy.Page) ([]*deploy.Deployment, string, error)
	DeleteDeployment(ctx context.Context, c control.Caller, id string) error
	AddInstance(ctx context.Context, c control.Caller, id string, spec deploy.InstanceSpec, dryRun bool) (*deploy.Instance, *deploy.Run, error)
	StartTask(ctx context.Context, c control.Caller, id string, req control.TaskRequest) (*deploy.Run, error)
	GetSettings(ctx context.Context, c control.Caller, id string, t deploy.InstanceType) (deploy.Settings, int, error)
	ReplaceSettings(ctx context.Context, c control.Caller, id string, t deploy.InstanceType, s deploy.Settings, readVersion int, dryRun bool) (*deploy.Run, int, error)
	ReplaceTLS(ctx context.Context, c control.Caller, id string, t deploy.InstanceType, req control.TLSRequest) (*deploy.Run, error)
	ListRuns(ctx context.Context, c control.Caller, id string, p deploy.Page) ([]*deploy.Run, string, error)
	GetRun(ctx context.Context, c control.Caller, id, runID string) (*deploy.Run, error)
	CancelRun(ctx context.Context, c control.Caller, id, runID string) (*deploy.Run, error)
}

var _ Service = (*control.Service)(nil)

// ErrUnauthenticated is what an Authenticator's error wraps when the request
// carries no credentials or credentials that are not valid. The API answers
// 401 with WWW-Authenticate: Bearer.
var ErrUnauthenticated = errors.New("httpapi: not authenticated")

// Authenticator tells who sent a request. It is safe for concurrent use.
type Authenticator interface {
	// Authenticate returns the caller of r. It returns an error wrapping
	// ErrUnauthenticated when r carries no valid credentials; any other
	// error is a failure of the authenticator itself (kind Transient when a
	// retry may help) and never means "let the request through".
	Authenticate(r *http.Request) (control.Caller, error)
}

// RunLogs reads the full log of runs. It is safe for concurrent use. The
// API checks that the caller may see the run before it calls RunLogs.
type RunLogs interface {
	// ReadLog returns up to limit bytes of the run's log from offset, the
	// log's size so far and whether it is complete (the run ended). A log
	// not written yet is empty and not complete; an offset past the end
	// returns no data.
	ReadLog(ctx context.Context, deploymentID, runID string, offset int64, limit int) (data []byte, size int64, complete bool, err error)
	// WaitLog blocks until the log is larger than size or complete, or ctx
	// ends (then it returns ctx.Err()).
	WaitLog(ctx context.Context, deploymentID, runID string, size int64) error
}

// TokenRequest asks for a new local API token.
type TokenRequest struct {
	User  string `json:"user"`
	Admin bool   `json:"admin"`
	Name  string `json:"name"`
}

// TokenIssuer makes local API tokens (auth.Tokens). It is safe for
// concurrent use.
type TokenIssuer interface {
	// IssueToken creates a token for req.User and returns its secret, which
	// is shown once and never stored. Only an admin caller may issue tokens
	// (Forbidden otherwise); a bad user or name is Invalid.
	IssueToken(ctx context.Context, c control.Caller, req TokenRequest) (secret string, err error)
}

// Config holds the API's dependencies.
type Config struct {
	Service     Service                 // required
	Auth        Authenticator           // required
	Idempotency deploy.IdempotencyStore // required: every POST honours Idempotency-Key
	Logs        RunLogs                 // optional: without it the log route answers 501
	Tokens      TokenIssuer             // optional: without it POST /v1/tokens answers 501
	Lifecycle   LifecycleEvents         // optional: without it POST /v1/admin/lifecycle-events answers 501
	Fleet       FleetRegistry           // optional: without it the /v1/admin/fleet routes answer 501
	Backups     BackupLister            // optional: without it the backup routes answer 501
	Schedules   Schedules               // optional: without it the schedule routes answer 501
	Webhooks    Webhooks                // optional: without it the webhook routes answer 501
	Accounts    AccountService          // optional: without it the /v1/accounts and /v1/sessions routes answer 501
	Log         *slog.Logger            // default slog.Default()
	Now         func() time.Time        // default time.Now
	Build       *buildinfo.Info         // what GET /v1/version says; default buildinfo.Get()
	// FollowLimit, when positive, ends a live log follow after that long
	// without the final "end" event, so that a client reconnects with
	// Last-Event-ID (for hosts that cap a response's duration, such as API
	// Gateway's 30 s). Zero follows until the log is complete.
	FollowLimit time.Duration
	// KeepAlive is how often a live follow with nothing new sends an SSE
	// comment so that idle connections survive proxies; default 15 s.
	KeepAlive time.Duration
}

// Limits of the API.
const (
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	MaxBodyBytes = 1 << 20
	// IdempotencyTTL is how long a key's first response is kept.
	IdempotencyTTL = 24 * time.Hour
	// MaxLogChunk is the most bytes one log read or SSE event carries.
	MaxLogChunk = 1 << 20
	// DefaultLogChunk is what a log read returns when no limit is given.
	DefaultLogChunk = 256 << 10
)

// API is the HTTP handler. Build it with New.
type API struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route
}

var _ http.Handler = (*API)(nil)

// New returns the API for cfg.
func New(cfg Config) (*API, error) {
	switch {
	case cfg.Service == nil:
		return nil, errors.New("httpapi: a service is required")
	case cfg.Auth == nil:
		return nil, errors.New("httpapi: an authenticator is required")
	case cfg.Idempotency == nil:
		return nil, errors.New("httpapi: an idempotency store is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.Build == nil {
		b := buildinfo.Get()
		cfg.Build = &b
	}
	a := &API{cfg: cfg, log: cfg.Log, mux: http.NewServeMux()}
	a.routes = a.table()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range a.routes {
		a.mux.Handle(rt.method+" "+rt.pattern, a.wrap(rt))
		if methods[rt.pattern] == nil {
			paths = append(paths, rt.pattern)
		}
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	// A known path with another method is 405 with Allow; anything else is
	// 404; both as problem documents rather than ServeMux's plain text.
	for _, p := range paths {
		allow := methods[p]
		if contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		a.mux.Handle(p, a.wrap(route{pattern: p, public: true, h: func(c *call) error {
			c.w.Header().Set("Allow", strings.Join(allow, ", "))
			return &httpError{status: http.StatusMethodNotAllowed, typ: "method-not-allowed", detail: c.r.Method + " is not allowed here; use " + strings.Join(allow, ", ")}
		}}))
	}
	a.mux.Handle("/", a.wrap(route{pattern: "/", public: true, h: func(c *call) error {
		return &httpError{status: http.StatusNotFound, typ: "not-found", detail: "no such resource: " + c.r.URL.Path}
	}}))
	return a, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ServeHTTP gives the request an ID and routes it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	w.Header().Set("Cache-Control", "no-store")
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	a.mux.ServeHTTP(w, r)
}

type requestIDKey struct{}

// RequestID returns the ID the API gave the request whose context is ctx,
// or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req-" + hex.EncodeToString(b[:])
}

// Route is one served route: a method and a ServeMux path pattern.
type Route struct{ Method, Pattern string }

// Routes lists the routes the API serves, in registration order; the
// OpenAPI document names exactly these.
func (a *API) Routes() []Route {
	out := make([]Route, len(a.routes))
	for i, rt := range a.routes {
		out[i] = Route{rt.method, rt.pattern}
	}
	return out
}
