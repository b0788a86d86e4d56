package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Schedules is the part of *control.Service behind the schedule routes;
// its contracts are control's.
type Schedules interface {
	CreateSchedule(ctx context.Context, c control.Caller, id string, spec deploy.ScheduleSpec) (*control.ScheduleView, error)
	ListSchedules(ctx context.Context, c control.Caller, id string, p deploy.Page) ([]*control.ScheduleView, string, error)
	GetSchedule(ctx context.Context, c control.Caller, id, scheduleID string) (*control.ScheduleView, error)
	ListFires(ctx context.Context, c control.Caller, id, scheduleID string, p deploy.Page) ([]*deploy.Fire, string, error)
	PauseSchedule(ctx context.Context, c control.Caller, id, scheduleID string) (*control.ScheduleView, error)
	ResumeSchedule(ctx context.Context, c control.Caller, id, scheduleID string) (*control.ScheduleView, error)
	DeleteSchedule(ctx context.Context, c control.Caller, id, scheduleID string) error
}

// Webhooks is the part of *control.Service behind the webhook routes.
type Webhooks interface {
	CreateWebhook(ctx context.Context, c control.Caller, id, url string, self ...string) (*deploy.Webhook, string, error)
	ListWebhooks(ctx context.Context, c control.Caller, id string, p deploy.Page) ([]*deploy.Webhook, string, error)
	GetWebhook(ctx context.Context, c control.Caller, id, webhookID string) (*deploy.Webhook, error)
	DeleteWebhook(ctx context.Context, c control.Caller, id, webhookID string) error
	ListDeliveries(ctx context.Context, c control.Caller, id, webhookID string, p deploy.Page) ([]*deploy.Delivery, string, error)
}

var (
	_ Schedules = (*control.Service)(nil)
	_ Webhooks  = (*control.Service)(nil)
)

// Page is one page of a listing: its items and the cursor of the next
// page (absent on the last).
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// ScheduleList is a page of schedules.
type ScheduleList = Page[*control.ScheduleView]

// FireList is a page of a schedule's fires.
type FireList = Page[*deploy.Fire]

// WebhookRequest is the body of POST .../webhooks.
type WebhookRequest struct {
	URL string `json:"url"`
}

// WebhookCreated is the response to POST .../webhooks: the webhook and its
// signing secret, shown this once.
type WebhookCreated struct {
	Webhook *deploy.Webhook `json:"webhook"`
	Secret  string          `json:"secret"`
}

// WebhookList is a page of webhooks.
type WebhookList = Page[*deploy.Webhook]

// DeliveryList is a page of a webhook's deliveries.
type DeliveryList = Page[*deploy.Delivery]

// listed answers a listing's page (an empty list, never null).
func listed[T any](c *call, items []T, next string, err error) error {
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	return writeJSON(c.w, http.StatusOK, Page[T]{Items: items, Next: next})
}

// scheduleRoutes are the routes of schedules and webhooks.
func (a *API) scheduleRoutes() []route {
	return []route{
		{method: "POST", pattern: "/v1/deployments/{id}/schedules", body: true, h: a.createSchedule},
		{method: "GET", pattern: "/v1/deployments/{id}/schedules", h: a.listSchedules},
		{method: "GET", pattern: "/v1/deployments/{id}/schedules/{schedule}", h: a.getSchedule},
		{method: "DELETE", pattern: "/v1/deployments/{id}/schedules/{schedule}", h: a.deleteSchedule},
		{method: "POST", pattern: "/v1/deployments/{id}/schedules/{schedule}/pause", h: a.pauseSchedule},
		{method: "POST", pattern: "/v1/deployments/{id}/schedules/{schedule}/resume", h: a.resumeSchedule},
		{method: "GET", pattern: "/v1/deployments/{id}/schedules/{schedule}/fires", h: a.listFires},
		// The secret is in the response: it is never stored, so the
		// response cannot be replayed (as POST /v1/tokens).
		{method: "POST", pattern: "/v1/deployments/{id}/webhooks", body: true, noIdempotency: true, h: a.createWebhook},
		{method: "GET", pattern: "/v1/deployments/{id}/webhooks", h: a.listWebhooks},
		{method: "GET", pattern: "/v1/deployments/{id}/webhooks/{webhook}", h: a.getWebhook},
		{method: "DELETE", pattern: "/v1/deployments/{id}/webhooks/{webhook}", h: a.deleteWebhook},
		{method: "GET", pattern: "/v1/deployments/{id}/webhooks/{webhook}/deliveries", h: a.listDeliveries},
	}
}

func schedulePath(id, sched string) string {
	return deploymentPath(id) + "/schedules/" + url.PathEscape(sched)
}

func (a *API) schedules() (Schedules, error) {
	if a.cfg.Schedules == nil {
		return nil, notImplemented("schedules")
	}
	return a.cfg.Schedules, nil
}

func (a *API) webhooks() (Webhooks, error) {
	if a.cfg.Webhooks == nil {
		return nil, notImplemented("webhooks")
	}
	return a.cfg.Webhooks, nil
}

func (a *API) createSchedule(c *call) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	var spec deploy.ScheduleSpec
	if err := decode(c, &spec); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	v, err := svc.CreateSchedule(c.r.Context(), c.caller, id, spec)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", schedulePath(id, v.ID))
	return writeJSON(c.w, http.StatusCreated, v)
}

func (a *API) listSchedules(c *call) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	ss, next, err := svc.ListSchedules(c.r.Context(), c.caller, c.r.PathValue("id"), p)
	return listed(c, ss, next, err)
}

func (a *API) getSchedule(c *call) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	v, err := svc.GetSchedule(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("schedule"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, v)
}

func (a *API) deleteSchedule(c *call) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	if err := svc.DeleteSchedule(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("schedule")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) pauseSchedule(c *call) error  { return a.setPaused(c, true) }
func (a *API) resumeSchedule(c *call) error { return a.setPaused(c, false) }

func (a *API) setPaused(c *call, paused bool) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	op := svc.ResumeSchedule
	if paused {
		op = svc.PauseSchedule
	}
	v, err := op(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("schedule"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, v)
}

func (a *API) listFires(c *call) error {
	svc, err := a.schedules()
	if err != nil {
		return err
	}
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	fs, next, err := svc.ListFires(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("schedule"), p)
	return listed(c, fs, next, err)
}

func (a *API) createWebhook(c *call) error {
	svc, err := a.webhooks()
	if err != nil {
		return err
	}
	var req WebhookRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.URL == "" {
		return badRequest("url", "is required: the http(s) URL to POST notifications to")
	}
	id := c.r.PathValue("id")
	// The host this request came to is the control plane too.
	w, secret, err := svc.CreateWebhook(c.r.Context(), c.caller, id, req.URL, c.r.Host)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", deploymentPath(id)+"/webhooks/"+url.PathEscape(w.ID))
	return writeJSON(c.w, http.StatusCreated, WebhookCreated{Webhook: w, Secret: secret})
}

func (a *API) listWebhooks(c *call) error {
	svc, err := a.webhooks()
	if err != nil {
		return err
	}
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	ws, next, err := svc.ListWebhooks(c.r.Context(), c.caller, c.r.PathValue("id"), p)
	return listed(c, ws, next, err)
}

func (a *API) getWebhook(c *call) error {
	svc, err := a.webhooks()
	if err != nil {
		return err
	}
	w, err := svc.GetWebhook(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("webhook"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, w)
}

func (a *API) deleteWebhook(c *call) error {
	svc, err := a.webhooks()
	if err != nil {
		return err
	}
	if err := svc.DeleteWebhook(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("webhook")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listDeliveries(c *call) error {
	svc, err := a.webhooks()
	if err != nil {
		return err
	}
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	ds, next, err := svc.ListDeliveries(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("webhook"), p)
	return listed(c, ds, next, err)
}
