// Command api is the Lambda function behind the HTTP API (API Gateway HTTP
// API, payload 2.0): internal/httpapi, with the caller from the JWT
// authorizer's claims.
package main

import (
	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lambdafn"
)

func main() {
	lambdafn.Main(config.API, (*lambdafn.App).API)
}
