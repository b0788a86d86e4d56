// Package auth tells the HTTP API who is calling. Two Authenticators:
//
//   - Tokens: local bearer tokens ("Authorization: Bearer edt_…") for
//     `edenctl serve`, kept as the SHA-256 of their secret in a
//     deploy.TokenStore; it also issues them (admins only);
//   - APIGatewayJWT: on AWS, API Gateway's JWT authorizer has already
//     checked the token; this reads its claims from the request context
//     that aws-lambda-go-api-proxy puts there (never from a header, which a
//     client could forge).
//
// What a caller may do is decided by internal/control, not here.
package auth

import "github.com/edendeploy/edendeploy/internal/httpapi"

var (
	_ httpapi.Authenticator = (*Tokens)(nil)
	_ httpapi.TokenIssuer   = (*Tokens)(nil)
	_ httpapi.Authenticator = (*APIGatewayJWT)(nil)
)
