package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// MaxWebhooks bounds a deployment's webhooks.
const MaxWebhooks = 20

// SecretDeleter is implemented by secret stores that can remove one
// secret (secrets/file, secrets/paramstore): a deleted webhook's secret
// goes at once. Without it the secret goes with the deployment's.
type SecretDeleter interface {
	// DeleteSecret removes the secret; a missing one is not an error.
	DeleteSecret(ctx context.Context, deploymentID, name string) error
}

var errNoWebhooks = errors.New("control: webhooks are not configured")

// CreateWebhook adds a webhook to the deployment and returns it with its
// signing secret, which is kept in the secret store only and shown this
// once. self adds the control plane's own addresses as the request saw
// them (its Host) to Config.Self: a URL pointing at either is Invalid.
func (s *Service) CreateWebhook(ctx context.Context, c Caller, id, url string, self ...string) (*deploy.Webhook, string, error) {
	if s.cfg.Webhooks == nil {
		return nil, "", errNoWebhooks
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, "", err
	}
	if err := deploy.CheckWebhookURL(url, append(append([]string(nil), s.cfg.Self...), self...)); err != nil {
		return nil, "", err
	}
	existing, _, err := s.cfg.Webhooks.ListWebhooks(ctx, id, deploy.Page{Limit: MaxWebhooks})
	if err != nil {
		return nil, "", err
	}
	if len(existing) >= MaxWebhooks {
		return nil, "", deploy.Conflict("webhooks", "deployment %s has %d webhooks already, the most it may have", id, MaxWebhooks)
	}
	now := s.cfg.Now().UTC()
	w := &deploy.Webhook{ID: deploy.NewID("w-", now), DeploymentID: id, URL: url, CreatedBy: c.User, CreatedAt: now}
	secret := "whsec_" + string(randomSecret(32))
	if err := s.cfg.Secrets.PutSecret(ctx, id, deploy.WebhookSecretName(w.ID), []byte(secret)); err != nil {
		return nil, "", fmt.Errorf("control: keep the secret of webhook %s: %w", w.ID, err)
	}
	if err := s.cfg.Webhooks.CreateWebhook(ctx, w); err != nil {
		s.dropWebhookSecret(ctx, id, w.ID)
		return nil, "", err
	}
	s.cfg.Log.InfoContext(ctx, "webhook created", "deployment", id, "webhook", w.ID, "by", c.User)
	return w, secret, nil
}

func (s *Service) dropWebhookSecret(ctx context.Context, depID, webhookID string) {
	del, ok := s.cfg.Secrets.(SecretDeleter)
	if !ok {
		return
	}
	if err := del.DeleteSecret(ctx, depID, deploy.WebhookSecretName(webhookID)); err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not remove a webhook's secret", "deployment", depID, "webhook", webhookID, "err", err)
	}
}

// ListWebhooks lists the deployment's webhooks, oldest first.
func (s *Service) ListWebhooks(ctx context.Context, c Caller, id string, p deploy.Page) ([]*deploy.Webhook, string, error) {
	if s.cfg.Webhooks == nil {
		return nil, "", errNoWebhooks
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, "", err
	}
	return s.cfg.Webhooks.ListWebhooks(ctx, id, p)
}

// GetWebhook returns one webhook of the deployment.
func (s *Service) GetWebhook(ctx context.Context, c Caller, id, webhookID string) (*deploy.Webhook, error) {
	if s.cfg.Webhooks == nil {
		return nil, errNoWebhooks
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return nil, err
	}
	return s.cfg.Webhooks.GetWebhook(ctx, id, webhookID)
}

// DeleteWebhook removes the webhook, its deliveries and its secret.
func (s *Service) DeleteWebhook(ctx context.Context, c Caller, id, webhookID string) error {
	if s.cfg.Webhooks == nil {
		return errNoWebhooks
	}
	if _, err := s.visible(ctx, c, id); err != nil {
		return err
	}
	if err := s.cfg.Webhooks.DeleteWebhook(ctx, id, webhookID); err != nil {
		return err
	}
	s.dropWebhookSecret(ctx, id, webhookID)
	s.cfg.Log.InfoContext(ctx, "webhook deleted", "deployment", id, "webhook", webhookID, "by", c.User)
	return nil
}

// ListDeliveries lists a webhook's deliveries, newest first, each with
// every attempt's outcome.
func (s *Service) ListDeliveries(ctx context.Context, c Caller, id, webhookID string, p deploy.Page) ([]*deploy.Delivery, string, error) {
	if _, err := s.GetWebhook(ctx, c, id, webhookID); err != nil {
		return nil, "", err
	}
	return s.cfg.Webhooks.ListDeliveries(ctx, id, webhookID, p)
}
