package httpapi

import "net/http"

// version says which build serves the API (Config.Build). It is public,
// like /v1/health: a client shows it beside its own before it has a token.
func (a *API) version(c *call) error {
	return writeJSON(c.w, http.StatusOK, a.cfg.Build)
}
