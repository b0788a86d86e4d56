package peers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/secrets/paramstore"
)

// The sample schedule, webhook and delivery the events of events/ name.
const (
	SampleSchedule = "s-00000000000000000000000001"
	SampleWebhook  = "w-00000000000000000000000001"
	// SampleWebhookSecret is the sample webhook's signing secret, kept in
	// the Parameter Store peer.
	SampleWebhookSecret = "whsec_sample-secret-for-the-local-peers-only"
	// SampleNoticeTime is the end of the sample run in the sample notice
	// (events/notify-plan.json).
	SampleNoticeTime = "2026-03-01T03:00:09Z"
)

// Hook is one request the webhook receiver got.
type Hook struct {
	Header http.Header
	Body   []byte
}

// serveWebhook answers 204 to every POST and keeps it.
func (f *Fake) serveWebhook() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.Hooks = append(f.Hooks, Hook{Header: r.Header.Clone(), Body: b})
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// SampleNotice is the notice of events/notify-plan.json: the sample run's
// successful end.
func SampleNotice() deploy.Notice {
	end, _ := time.Parse(time.RFC3339, SampleNoticeTime)
	r := &deploy.Run{ID: SampleRun, DeploymentID: SampleDeployment, Kind: deploy.RunDeploy, Instance: deploy.InstanceProd,
		Status: deploy.RunSucceeded, Requester: SampleOwner, CreatedAt: end.Add(-10 * time.Minute), StartedAt: end.Add(-9 * time.Minute), FinishedAt: end}
	return deploy.RunEndedNotice(&deploy.Deployment{ID: SampleDeployment, Name: SampleSpec().Name}, r, "")
}

// SampleDelivery is the delivery of SampleNotice to SampleWebhook.
func SampleDelivery() string { return notify.DeliveryID(SampleNotice(), SampleWebhook) }

// seedNotify adds to the idle scenario: the sample schedule (scheduled),
// the sample webhook pointing at the receiver, with its secret (webhook),
// and the sample notice's delivery planned (delivery-planned).
func (p *Peers) seedNotify(ctx context.Context, scenario string) error {
	store, err := p.Store()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if scenario == "scheduled" {
		sc := &deploy.Schedule{ID: SampleSchedule, DeploymentID: SampleDeployment, Instance: deploy.InstanceProd, Task: deploy.RunBackup,
			Cron: "0 3 * * *", TimeZone: "UTC", CreatedBy: SampleOwner, Since: now, CreatedAt: now, UpdatedAt: now}
		return store.PutSchedule(ctx, sc)
	}
	if err := store.CreateWebhook(ctx, &deploy.Webhook{ID: SampleWebhook, DeploymentID: SampleDeployment, URL: p.Webhook.URL + "/eden",
		CreatedBy: SampleOwner, CreatedAt: now}); err != nil {
		return fmt.Errorf("peers: sample webhook: %w", err)
	}
	p.Fake.mu.Lock()
	if p.Fake.Parameters == nil {
		p.Fake.Parameters = map[string]string{}
	}
	p.Fake.Parameters[paramstore.ParameterName(ParameterPrefix, SampleDeployment, deploy.WebhookSecretName(SampleWebhook))] = SampleWebhookSecret
	p.Fake.mu.Unlock()
	if scenario == "webhook" {
		return nil
	}
	d, err := notify.NewDeliveries(notify.DeliveryConfig{Webhooks: store, Secrets: nopSecrets{}})
	if err != nil {
		return err
	}
	plan, err := d.PlanDeliveries(ctx, notify.Wrap(SampleNotice()))
	if err != nil {
		return fmt.Errorf("peers: plan the sample delivery: %w", err)
	}
	if len(plan.Deliveries) != 1 || plan.Deliveries[0].DeliveryID != SampleDelivery() {
		return fmt.Errorf("peers: planned %+v, want the sample delivery %s", plan.Deliveries, SampleDelivery())
	}
	return nil
}

type nopSecrets struct{}

func (nopSecrets) PutSecret(context.Context, string, string, []byte) error { return nil }
func (nopSecrets) GetSecret(context.Context, string, string) ([]byte, error) {
	return nil, deploy.NotFound("no secrets here")
}
func (nopSecrets) DeleteSecrets(context.Context, string) error { return nil }
