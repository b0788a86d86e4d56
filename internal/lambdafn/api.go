package lambdafn

import (
	"context"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edendeploy/edendeploy/internal/auth"
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/runner/ssm"
)

// API returns the HTTP API wrapped for API Gateway HTTP API events
// (payload 2.0). The caller comes from the JWT authorizer's claims
// (auth.APIGatewayJWT), which httpadapter puts in the request context.
func (a *App) API(ctx context.Context) (any, error) {
	bk, err := a.BackupRecords()
	if err != nil {
		return nil, err
	}
	svc, store, err := a.Control(true, func(c *control.Config) { c.Backups = bk })
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
		Log:         a.Log,
		FollowLimit: apiFollowLimit,
	})
	if err != nil {
		return nil, err
	}
	return httpadapter.NewV2(api).ProxyWithContext, nil
}
