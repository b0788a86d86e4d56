package httpapi

import (
	"context"
	"net/http"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
)

// LifecycleEvents handles Auto Scaling lifecycle events delivered to the
// local control plane: the same EventBridge documents AWS delivers to the
// lifecycle function (lifecycle.Handler).
type LifecycleEvents interface {
	// Handle acts on one event. An error means "deliver it again later"
	// (kind Transient when the deployment is busy).
	Handle(ctx context.Context, ev lifecycle.Event) (lifecycle.Outcome, error)
}

// FleetRegistry records, locally, what Auto Scaling and EC2 know on AWS:
// a group's tags and an instance's private address (fleet/local).
type FleetRegistry interface {
	PutGroupTags(ctx context.Context, group string, tags map[string]string) error
	PutInstanceAddress(ctx context.Context, instanceID, address string) error
}

// GroupTagsRequest is the body of PUT /v1/admin/fleet/groups/{group}.
type GroupTagsRequest struct {
	Tags map[string]string `json:"tags"`
}

// InstanceAddressRequest is the body of PUT /v1/admin/fleet/instances/{instance}.
type InstanceAddressRequest struct {
	Address string `json:"address"`
}

func requireAdmin(c *call, what string) error {
	if !c.caller.Admin {
		return deploy.Forbidden("only an admin may %s", what)
	}
	return nil
}

func (a *API) lifecycleEvent(c *call) error {
	if a.cfg.Lifecycle == nil {
		return notImplemented("delivering lifecycle events")
	}
	if err := requireAdmin(c, "deliver lifecycle events"); err != nil {
		return err
	}
	var ev lifecycle.Event
	if err := decode(c, &ev); err != nil {
		return err
	}
	out, err := a.cfg.Lifecycle.Handle(c.r.Context(), ev)
	if err != nil {
		return err
	}
	c.run = out.RunID
	return writeJSON(c.w, http.StatusOK, out)
}

func (a *API) putGroupTags(c *call) error {
	if a.cfg.Fleet == nil {
		return notImplemented("the local fleet")
	}
	if err := requireAdmin(c, "change the fleet"); err != nil {
		return err
	}
	var req GroupTagsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := a.cfg.Fleet.PutGroupTags(c.r.Context(), c.r.PathValue("group"), req.Tags); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) putInstanceAddress(c *call) error {
	if a.cfg.Fleet == nil {
		return notImplemented("the local fleet")
	}
	if err := requireAdmin(c, "change the fleet"); err != nil {
		return err
	}
	var req InstanceAddressRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := a.cfg.Fleet.PutInstanceAddress(c.r.Context(), c.r.PathValue("instance"), req.Address); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
