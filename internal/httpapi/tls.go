package httpapi

import (
	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// PutTLSRequest is the body of PUT .../tls: the instance's new URL (empty
// keeps it) and TLS. Its tls.private_key is kept in the secret store and
// never echoed or logged.
type PutTLSRequest struct {
	URL    string         `json:"url"`
	TLS    deploy.TLSSpec `json:"tls"`
	DryRun bool           `json:"dry_run"`
}

func (a *API) putTLS(c *call) error {
	var req PutTLSRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	run, err := a.cfg.Service.ReplaceTLS(c.r.Context(), c.caller, id, deploy.InstanceType(c.r.PathValue("type")),
		control.TLSRequest{URL: req.URL, TLS: req.TLS, DryRun: req.DryRun})
	return a.runAccepted(c, "replace TLS", id, run, err)
}
