package auth

import (
	"net/http"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// APIGatewayJWT reads the caller from the claims of API Gateway's JWT
// authorizer (HTTP API, payload 2.0), which aws-lambda-go-api-proxy's
// httpadapter.NewV2 puts in the request context. API Gateway has verified
// the token's signature, issuer, audience and expiry before the function
// runs; a request without those claims (such as one that reached the
// handler some other way) is not authenticated.
type APIGatewayJWT struct {
	// UserClaim names the user; default "sub".
	UserClaim string
	// AdminClaim is the claim listing the caller's groups, such as
	// "cognito:groups"; empty means nobody is an admin.
	AdminClaim string
	// AdminGroup is the group in AdminClaim that makes an admin, such as
	// "admin".
	AdminGroup string
}

// Authenticate returns the caller named by the authorizer's claims, or
// httpapi.ErrUnauthenticated when there are none.
func (j *APIGatewayJWT) Authenticate(r *http.Request) (control.Caller, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	claims := rc.Authorizer.JWT.Claims
	userClaim := j.UserClaim
	if userClaim == "" {
		userClaim = "sub"
	}
	user := strings.TrimSpace(claims[userClaim])
	if user == "" || checkUser(user) != nil {
		return control.Caller{}, httpapi.ErrUnauthenticated
	}
	admin := j.AdminClaim != "" && j.AdminGroup != "" && hasGroup(claims[j.AdminClaim], j.AdminGroup)
	return control.Caller{User: user, Admin: admin}, nil
}

// hasGroup reports whether a group-list claim names group. API Gateway
// hands array claims over flattened, as "[admin editors]"; a JSON array
// ("[\"admin\",\"editors\"]") or a comma-separated list are read too.
func hasGroup(claim, group string) bool {
	claim = strings.TrimSpace(claim)
	claim = strings.TrimPrefix(claim, "[")
	claim = strings.TrimSuffix(claim, "]")
	for _, g := range strings.FieldsFunc(claim, func(r rune) bool { return r == ' ' || r == ',' }) {
		if strings.Trim(g, `"`) == group {
			return true
		}
	}
	return false
}
