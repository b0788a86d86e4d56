package lambdafn

import (
	"context"
	"fmt"
	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/console"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/runner/ssm"
	"github.com/edendeploy/edendeploy/internal/store/dynamo"
)

// API returns the HTTP API wrapped for API Gateway HTTP API events
// (payload 2.0). The caller comes from the JWT authorizer's claims
// (auth.APIGatewayJWT), which httpadapter puts in the request context.
func (a *App) API(ctx context.Context) (any, error) {
	bk, err := a.BackupRecords()
	if err != nil {
		return nil, err
	}
	svc, store, err := a.Control(true, a.withSchedules, func(c *control.Config, _ *dynamo.Store) { c.Backups = bk })
	if err != nil {
		return nil, err
	}
	blobs, err := a.Blobs()
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(httpapi.Config{
		Service:     svc,
		Logs:        &ssm.RunLogs{Blobs: blobs, Runs: store, Deployments: store},
		Auth:        &auth.APIGatewayJWT{AdminClaim: a.Config.AdminClaim, AdminGroup: a.Config.AdminGroup},
		Idempotency: store,
		Backups:     svc,
		Schedules:   svc,
		Webhooks:    svc,
		Log:         a.Log,
		FollowLimit: apiFollowLimit,
	})
	if err != nil {
		return nil, err
	}
	h, err := withConsole(api, a.Config.Console)
	if err != nil {
		// A console that cannot be configured must not take the API down
		// with it: the API serves, and the log says what to fix.
		a.Log.Error("the web console is not served", "err", err)
		h = api
	}
	return httpadapter.NewV2(h).ProxyWithContext, nil
}

// withConsole serves the web console beside the API when the stack
// configures one (template.yaml's ConsoleUrl), signing in through the
// hosted login with the authorization code and PKCE.
func withConsole(api http.Handler, c config.Console) (http.Handler, error) {
	if c.URL == "" {
		return api, nil
	}
	web, err := console.New(console.Config{Plane: "aws", OIDC: &console.OIDC{
		AuthorizeURL: c.AuthorizeURL, TokenURL: c.TokenURL, ClientID: c.ClientID, RedirectURL: c.URL,
		Scopes: []string{"openid", "email"}, SignUpURL: c.SignUpURL, LogoutURL: c.LogoutURL,
	}})
	if err != nil {
		return nil, fmt.Errorf("lambdafn: the web console: %w", err)
	}
	return console.Mount(api, web), nil
}
