package deploy

import "context"

// The ports of schedules and notifications. Both store adapters (bolt,
// dynamo) implement them beside Store, and storetest.RunSchedules is their
// conformance suite. Errors carry a Kind as for Store; every
// implementation is safe for concurrent use. None of them checks that the
// deployment exists: the use cases do, and remove a deployment's schedules
// and webhooks before the deployment.

// ScheduleStore keeps schedules and their fires.
type ScheduleStore interface {
	// PutSchedule stores s. A new schedule (s.Version 0) is Conflict if
	// s.ID exists; an existing one is replaced if the stored version
	// equals s.Version (Conflict otherwise, NotFound if it is gone). On
	// success s.Version is the stored version.
	PutSchedule(ctx context.Context, s *Schedule) error

	// GetSchedule returns the schedule, or NotFound.
	GetSchedule(ctx context.Context, deploymentID, id string) (*Schedule, error)

	// ListSchedules returns the schedules of a deployment, oldest first,
	// one page at a time; an empty deploymentID lists every deployment's
	// (for the local scheduler).
	ListSchedules(ctx context.Context, deploymentID string, p Page) (ss []*Schedule, next string, err error)

	// DeleteSchedule removes the schedule and its fires; NotFound if it
	// does not exist.
	DeleteSchedule(ctx context.Context, deploymentID, id string) error

	// CreateFire records f (Version 0 → 1) if no fire of its schedule has
	// its slot; Conflict otherwise: a slot fires at most once.
	CreateFire(ctx context.Context, f *Fire) error

	// UpdateFire replaces the fire of f's slot if the stored version
	// equals f.Version, then increments f.Version; Conflict if stale,
	// NotFound if missing.
	UpdateFire(ctx context.Context, f *Fire) error

	// GetFire returns the fire of the schedule's slot (by FireKey), or
	// NotFound.
	GetFire(ctx context.Context, deploymentID, scheduleID, key string) (*Fire, error)

	// ListFires returns the schedule's fires, latest slot first, one page
	// at a time. A store keeps at least the latest 100 fires of a schedule
	// and may forget older ones.
	ListFires(ctx context.Context, deploymentID, scheduleID string, p Page) (fs []*Fire, next string, err error)
}

// WebhookStore keeps webhooks and their deliveries. Webhook secrets are
// not here: they live in the secret store.
type WebhookStore interface {
	// CreateWebhook stores w (Version 0 → 1); Conflict if w.ID exists.
	CreateWebhook(ctx context.Context, w *Webhook) error

	// GetWebhook returns the webhook, or NotFound.
	GetWebhook(ctx context.Context, deploymentID, id string) (*Webhook, error)

	// ListWebhooks returns the deployment's webhooks, oldest first, one
	// page at a time.
	ListWebhooks(ctx context.Context, deploymentID string, p Page) (ws []*Webhook, next string, err error)

	// DeleteWebhook removes the webhook and its deliveries; NotFound if it
	// does not exist.
	DeleteWebhook(ctx context.Context, deploymentID, id string) error

	// CreateDelivery stores d (Version 0 → 1); Conflict if d.ID exists
	// for its webhook (a notification is delivered to a webhook once).
	CreateDelivery(ctx context.Context, d *Delivery) error

	// UpdateDelivery replaces the delivery if the stored version equals
	// d.Version, then increments d.Version; Conflict if stale, NotFound if
	// missing.
	UpdateDelivery(ctx context.Context, d *Delivery) error

	// GetDelivery returns the delivery, or NotFound.
	GetDelivery(ctx context.Context, deploymentID, webhookID, id string) (*Delivery, error)

	// ListDeliveries returns the webhook's deliveries, newest first, one
	// page at a time. A store keeps at least the latest 100 deliveries of
	// a webhook and may forget older ones.
	ListDeliveries(ctx context.Context, deploymentID, webhookID string, p Page) (ds []*Delivery, next string, err error)
}
