package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RetryableError is a passing failure of a task (a store or secret store
// that did not answer): the state machine retries the task.
type RetryableError struct{ Cause string }

func (e *RetryableError) Error() string { return e.Cause }

// Delivery settings.
const (
	// DefaultAttempts is how many times a delivery is tried.
	DefaultAttempts = 6
	// DefaultBackoff is the wait after the first failed attempt; each
	// later wait doubles it, up to MaxBackoff: 10 s, 20 s, 40 s, 80 s,
	// 160 s (about five minutes in all).
	DefaultBackoff = 10 * time.Second
	MaxBackoff     = 15 * time.Minute
	// Timeout bounds one attempt.
	Timeout = 10 * time.Second
)

// DeliveryConfig holds the delivery tasks' dependencies.
type DeliveryConfig struct {
	Webhooks deploy.WebhookStore
	Secrets  deploy.Secrets
	// Client sends the POSTs; default one with Timeout that follows no
	// redirect (a receiver cannot bounce a delivery elsewhere).
	Client *http.Client
	// Attempts and Backoff default to DefaultAttempts and DefaultBackoff.
	Attempts int
	Backoff  time.Duration
	// UserAgent names the sender.
	UserAgent string
	Now       func() time.Time
	Log       *slog.Logger
}

// Deliveries are the notify state machine's task functions.
type Deliveries struct{ cfg DeliveryConfig }

// NewDeliveries returns the task functions for cfg, filling defaults.
func NewDeliveries(cfg DeliveryConfig) (*Deliveries, error) {
	if cfg.Webhooks == nil || cfg.Secrets == nil {
		return nil, errors.New("notify: a webhook store and a secret store are required")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "EdenDeploy-Webhook/1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Deliveries{cfg: cfg}, nil
}

// Handlers returns the task functions keyed by the substitution that names
// them in statemachine/notify.asl.json.
func (d *Deliveries) Handlers() map[string]any {
	return map[string]any{
		"PlanDeliveriesFunctionArn": d.PlanDeliveries,
		"DeliverWebhookFunctionArn": d.DeliverWebhook,
	}
}

// DeliveryRef names one delivery: an item of the state machine's Map.
type DeliveryRef struct {
	DeploymentID string `json:"deployment_id"`
	WebhookID    string `json:"webhook_id"`
	DeliveryID   string `json:"delivery_id"`
}

// Plan is what PlanDeliveries returns.
type Plan struct {
	Deliveries []DeliveryRef `json:"deliveries"`
}

// DeliveryID is the delivery of notice to webhook: one per pair.
func DeliveryID(n deploy.Notice, webhookID string) string {
	return deploy.DerivedID("dl-", n.Time, webhookID+"|"+n.ID)
}

// PlanDeliveries records one pending delivery of the event's notice per
// webhook of its deployment (one that exists already is kept) and returns
// those still pending.
func (d *Deliveries) PlanDeliveries(ctx context.Context, ev Envelope) (Plan, error) {
	n := ev.Detail
	plan := Plan{Deliveries: []DeliveryRef{}}
	if n.ID == "" || n.Deployment.ID == "" {
		return plan, fmt.Errorf("notify: event %s carries no notice", ev.ID)
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return plan, fmt.Errorf("notify: encode notice %s: %w", n.ID, err)
	}
	var runID string
	if n.Run != nil {
		runID = n.Run.ID
	}
	p := deploy.Page{Limit: 100}
	for {
		ws, next, err := d.cfg.Webhooks.ListWebhooks(ctx, n.Deployment.ID, p)
		if err != nil {
			return plan, d.taskError("list webhooks", err)
		}
		for _, w := range ws {
			now := d.cfg.Now().UTC()
			dl := &deploy.Delivery{ID: DeliveryID(n, w.ID), WebhookID: w.ID, DeploymentID: w.DeploymentID,
				EventID: n.ID, EventType: n.Type, RunID: runID, Status: deploy.DeliveryPending,
				Attempts: []deploy.DeliveryAttempt{}, NextAttemptAt: now, Payload: payload, CreatedAt: now, UpdatedAt: now}
			err := d.cfg.Webhooks.CreateDelivery(ctx, dl)
			if deploy.IsKind(err, deploy.KindConflict) {
				if dl, err = d.cfg.Webhooks.GetDelivery(ctx, w.DeploymentID, w.ID, dl.ID); err != nil {
					return plan, d.taskError("get delivery", err)
				}
			} else if err != nil {
				return plan, d.taskError("create delivery", err)
			}
			if dl.Status == deploy.DeliveryPending {
				plan.Deliveries = append(plan.Deliveries, DeliveryRef{DeploymentID: w.DeploymentID, WebhookID: w.ID, DeliveryID: dl.ID})
			}
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	d.cfg.Log.InfoContext(ctx, "notice planned", "deployment", n.Deployment.ID, "notice", n.ID, "deliveries", len(plan.Deliveries))
	return plan, nil
}

// Step is what DeliverWebhook returns: the delivery again, whether it is
// done (delivered, or out of attempts) and, if not, how long to wait
// before the next attempt.
type Step struct {
	DeliveryRef
	Done    bool `json:"done"`
	RetryIn int  `json:"retry_in"`
}

// DeliverWebhook makes one attempt of the delivery: a POST of its payload,
// signed with the webhook's secret, recorded in the store. A 2xx answer
// delivers it; anything else is retried after the backoff until the
// attempts run out.
func (d *Deliveries) DeliverWebhook(ctx context.Context, ref DeliveryRef) (Step, error) {
	out := Step{DeliveryRef: ref}
	dl, err := d.cfg.Webhooks.GetDelivery(ctx, ref.DeploymentID, ref.WebhookID, ref.DeliveryID)
	if deploy.IsKind(err, deploy.KindNotFound) {
		out.Done = true // its webhook (or deployment) was deleted
		return out, nil
	}
	if err != nil {
		return out, d.taskError("get delivery", err)
	}
	if dl.Status != deploy.DeliveryPending {
		out.Done = true
		return out, nil
	}
	w, err := d.cfg.Webhooks.GetWebhook(ctx, ref.DeploymentID, ref.WebhookID)
	if deploy.IsKind(err, deploy.KindNotFound) {
		out.Done = true
		return out, nil
	}
	if err != nil {
		return out, d.taskError("get webhook", err)
	}
	secret, err := d.cfg.Secrets.GetSecret(ctx, ref.DeploymentID, deploy.WebhookSecretName(w.ID))
	if err != nil {
		return out, d.taskError("get the webhook's secret", err)
	}
	attempt := d.post(ctx, w.URL, dl, secret)
	dl.Attempts = append(dl.Attempts, attempt)
	now := d.cfg.Now().UTC()
	dl.UpdatedAt = now
	switch {
	case attempt.StatusCode >= 200 && attempt.StatusCode < 300:
		dl.Status, dl.NextAttemptAt, out.Done = deploy.DeliveryDelivered, time.Time{}, true
	case len(dl.Attempts) >= d.cfg.Attempts:
		dl.Status, dl.NextAttemptAt, out.Done = deploy.DeliveryFailed, time.Time{}, true
	default:
		wait := d.backoff(len(dl.Attempts))
		dl.NextAttemptAt = now.Add(wait)
		out.RetryIn = int(wait / time.Second)
	}
	if err := d.cfg.Webhooks.UpdateDelivery(ctx, dl); err != nil {
		if deploy.IsKind(err, deploy.KindNotFound) {
			out.Done = true
			return out, nil
		}
		return out, d.taskError("record the attempt", err)
	}
	d.cfg.Log.InfoContext(ctx, "webhook delivery attempted", "deployment", ref.DeploymentID, "webhook", ref.WebhookID,
		"delivery", dl.ID, "attempt", len(dl.Attempts), "status_code", attempt.StatusCode, "error", attempt.Error, "result", dl.Status)
	return out, nil
}

// backoff is the wait after the n-th failed attempt: Backoff doubled
// n-1 times, at most MaxBackoff, in whole seconds (at least one).
func (d *Deliveries) backoff(n int) time.Duration {
	w := d.cfg.Backoff
	for i := 1; i < n && w < MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, MaxBackoff)
	return max(w.Truncate(time.Second), time.Second)
}

func (d *Deliveries) post(ctx context.Context, url string, dl *deploy.Delivery, secret []byte) deploy.DeliveryAttempt {
	start := d.cfg.Now()
	a := deploy.DeliveryAttempt{At: start.UTC()}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(dl.Payload))
	if err != nil {
		a.Error = "the URL cannot be requested"
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set(HeaderSignature, Sign(secret, start, dl.Payload))
	req.Header.Set(HeaderDelivery, dl.ID)
	req.Header.Set(HeaderEvent, dl.EventType)
	resp, err := d.cfg.Client.Do(req)
	a.DurationMS = d.cfg.Now().Sub(start).Milliseconds()
	if err != nil {
		a.Error = oneLine(err.Error())
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		a.Error = "the receiver answered " + strconv.Itoa(resp.StatusCode)
	}
	return a
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// taskError turns a dependency's error into what the state machine
// expects: transient ones are RetryableError, the rest are wrapped.
func (d *Deliveries) taskError(what string, err error) error {
	if deploy.IsKind(err, deploy.KindTransient) {
		return &RetryableError{Cause: what + ": " + err.Error()}
	}
	return fmt.Errorf("notify: %s: %w", what, err)
}
