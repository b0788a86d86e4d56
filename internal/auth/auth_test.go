package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// tokenStore is a map-backed deploy.TokenStore; err, when set, fails reads.
type tokenStore struct {
	m   map[string]deploy.Token
	err error
}

func (s *tokenStore) PutToken(ctx context.Context, t deploy.Token) error {
	if _, ok := s.m[t.Hash]; ok {
		return deploy.Conflict("hash", "exists")
	}
	s.m[t.Hash] = t
	return nil
}

func (s *tokenStore) GetToken(ctx context.Context, hash string) (*deploy.Token, error) {
	if s.err != nil {
		return nil, s.err
	}
	t, ok := s.m[hash]
	if !ok {
		return nil, deploy.NotFound("no token")
	}
	return &t, nil
}

func request(authz string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/deployments", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

func TestTokens(t *testing.T) {
	store := &tokenStore{m: map[string]deploy.Token{}}
	tokens, err := auth.NewTokens(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret, err := tokens.Create(ctx, "alice", false, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	for h, tok := range store.m {
		if h != auth.HashToken(secret) || tok.User != "alice" || tok.Name != "laptop" {
			t.Errorf("stored %s → %+v", h, tok)
		}
		if h == secret {
			t.Errorf("the secret itself is stored")
		}
	}
	near := []byte(secret)
	near[len(near)-1] ^= 1
	tests := []struct {
		authz string
		want  control.Caller
		err   error
	}{
		{"Bearer " + secret, control.Caller{User: "alice"}, nil},
		{"bearer " + secret, control.Caller{User: "alice"}, nil},
		{"", control.Caller{}, httpapi.ErrUnauthenticated},
		{"Bearer", control.Caller{}, httpapi.ErrUnauthenticated},
		{"Basic " + secret, control.Caller{}, httpapi.ErrUnauthenticated},
		{"Bearer " + string(near), control.Caller{}, httpapi.ErrUnauthenticated},
		{"Bearer " + secret[4:], control.Caller{}, httpapi.ErrUnauthenticated},
		{"Bearer " + auth.HashToken(secret), control.Caller{}, httpapi.ErrUnauthenticated},
	}
	for _, tt := range tests {
		got, err := tokens.Authenticate(request(tt.authz))
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%.20q: %+v, %v; want %+v, %v", tt.authz, got, err, tt.want, tt.err)
		}
	}
	// A failing store is not "unauthenticated" (and never lets one in).
	store.err = deploy.Transient(errors.New("throttled"), "busy")
	if _, err := tokens.Authenticate(request("Bearer " + secret)); errors.Is(err, httpapi.ErrUnauthenticated) || !deploy.IsKind(err, deploy.KindTransient) {
		t.Errorf("store failure: %v", err)
	}
}

func TestIssueToken(t *testing.T) {
	store := &tokenStore{m: map[string]deploy.Token{}}
	tokens, _ := auth.NewTokens(store, nil)
	ctx := context.Background()
	if _, err := tokens.IssueToken(ctx, control.Caller{User: "alice"}, httpapi.TokenRequest{User: "alice", Admin: true}); !deploy.IsKind(err, deploy.KindForbidden) {
		t.Errorf("a user issued a token: %v", err)
	}
	for _, bad := range []httpapi.TokenRequest{{User: ""}, {User: "a b"}, {User: "x\n"}, {User: "ok", Name: string(make([]byte, 101))}} {
		if _, err := tokens.IssueToken(ctx, control.Caller{User: "root", Admin: true}, bad); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	secret, err := tokens.IssueToken(ctx, control.Caller{User: "root", Admin: true}, httpapi.TokenRequest{User: "bob", Admin: true, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.Authenticate(request("Bearer " + secret))
	if err != nil || got != (control.Caller{User: "bob", Admin: true}) {
		t.Errorf("issued token authenticates as %+v, %v", got, err)
	}
	a, _ := auth.NewToken()
	b, _ := auth.NewToken()
	if a == b || len(a) != 47 {
		t.Errorf("NewToken: %q %q", a, b)
	}
}

// gatewayRequest builds the request httpadapter.NewV2 would hand the
// handler for an event with these JWT claims (nil: no authorizer).
func gatewayRequest(t *testing.T, claims map[string]string) *http.Request {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/v1/deployments", RouteKey: "GET /v1/deployments",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/v1/deployments"},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	var ra core.RequestAccessorV2
	r, err := ra.EventToRequestWithContext(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAPIGatewayJWT(t *testing.T) {
	j := &auth.APIGatewayJWT{AdminClaim: "cognito:groups", AdminGroup: "admin"}
	tests := []struct {
		name   string
		claims map[string]string
		want   control.Caller
		unauth bool
	}{
		{"user", map[string]string{"sub": "u-1"}, control.Caller{User: "u-1"}, false},
		{"admin flattened", map[string]string{"sub": "u-2", "cognito:groups": "[editors admin]"}, control.Caller{User: "u-2", Admin: true}, false},
		{"admin JSON", map[string]string{"sub": "u-2", "cognito:groups": `["admin"]`}, control.Caller{User: "u-2", Admin: true}, false},
		{"not quite admin", map[string]string{"sub": "u-3", "cognito:groups": "[administrators]"}, control.Caller{User: "u-3"}, false},
		{"no sub", map[string]string{"email": "x@example.org"}, control.Caller{}, true},
		{"no authorizer", nil, control.Caller{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.Authenticate(gatewayRequest(t, tt.claims))
			if got != tt.want || errors.Is(err, httpapi.ErrUnauthenticated) != tt.unauth {
				t.Errorf("%+v, %v", got, err)
			}
		})
	}
	// Headers a client could send are not claims.
	r := httptest.NewRequest("GET", "/v1/deployments", nil)
	r.Header.Set(core.APIGwContextHeader, `{"authorizer":{"jwt":{"claims":{"sub":"forged"}}}}`)
	if _, err := j.Authenticate(r); !errors.Is(err, httpapi.ErrUnauthenticated) {
		t.Errorf("a forged context header authenticated: %v", err)
	}
}
