package record

// Listings of schedules and notifications a cursor can belong to (see
// ListDeployments, ListRuns).
const (
	ListSchedules  = "schedules"
	ListFires      = "fires"
	ListWebhooks   = "webhooks"
	ListDeliveries = "deliveries"
)

// KeepPerParent is how many fires a schedule, and deliveries a webhook,
// keep at least (deploy.ScheduleStore, deploy.WebhookStore); older ones
// may be forgotten.
const KeepPerParent = 100
