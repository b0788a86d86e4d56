package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
	"github.com/edendeploy/edendeploy/internal/workflow"
	"github.com/edendeploy/edendeploy/internal/workflow/asl"
	"github.com/edendeploy/edendeploy/statemachine"
)

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"ev-1","type":"run.ended"}`)
	at := time.Unix(1_770_000_000, 0)
	good := notify.Sign(secret, at, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		secret []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, secret, at.Add(time.Minute), nil},
		{"body changed", good, []byte(`{"id":"ev-1","type":"run.endeD"}`), secret, at, notify.ErrBadSignature},
		{"wrong secret", good, body, []byte("whsec_other"), at, notify.ErrBadSignature},
		{"signature changed", good[:len(good)-1] + "0", body, secret, at, notify.ErrBadSignature},
		{"replayed later", good, body, secret, at.Add(10 * time.Minute), notify.ErrStale},
		{"no v1", "t=1770000000", body, secret, at, notify.ErrMalformed},
		{"garbage", "sha256=abc", body, secret, at, notify.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := notify.Verify(tt.secret, tt.header, tt.body, tt.now, 5*time.Minute); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// receiver is a webhook endpoint that fails its first `failures` requests
// with 503 and keeps every request.
type receiver struct {
	mu       sync.Mutex
	failures int
	got      []*http.Request
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, b)
	if len(rc.got) <= rc.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

type rig struct {
	store   *bolt.Store
	secrets *httpapitest.Secrets
	recv    *receiver
	url     string
}

func newRig(t *testing.T, failures int) *rig {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "eden.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rc := &receiver{failures: failures}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	r := &rig{store: st, secrets: &httpapitest.Secrets{}, recv: rc, url: srv.URL + "/hook"}
	ctx := context.Background()
	if err := st.CreateWebhook(ctx, &deploy.Webhook{ID: "w-1", DeploymentID: "d-1", URL: r.url, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.secrets.PutSecret(ctx, "d-1", deploy.WebhookSecretName("w-1"), []byte("whsec_one")); err != nil {
		t.Fatal(err)
	}
	return r
}

func notice() deploy.Notice {
	end := time.Date(2026, 3, 1, 3, 0, 9, 0, time.UTC)
	r := &deploy.Run{ID: "r-1", DeploymentID: "d-1", Kind: deploy.RunBackup, Instance: deploy.InstanceProd, Status: deploy.RunSucceeded, CreatedAt: end.Add(-time.Minute), FinishedAt: end}
	return deploy.RunEndedNotice(&deploy.Deployment{ID: "d-1", Name: "Relief"}, r, "")
}

// TestNotifyMachineDeliversWithRetry runs statemachine/notify.asl.json on
// the local ASL engine with the real task functions: the receiver fails
// the first attempt, the delivery waits its backoff and succeeds, every
// attempt is recorded, and the signature verifies with the webhook's
// secret.
func TestNotifyMachineDeliversWithRetry(t *testing.T) {
	r := newRig(t, 1)
	ctx := context.Background()
	dl, err := notify.NewDeliveries(notify.DeliveryConfig{Webhooks: r.store, Secrets: r.secrets, Backoff: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg := asl.NewRegistry()
	subs := map[string]string{}
	for name, fn := range dl.Handlers() {
		if err := reg.Register(name, fn); err != nil {
			t.Fatal(err)
		}
		subs[name] = name
	}
	if got := statemachine.Substitutions(statemachine.Notify); len(got) != len(subs) {
		t.Fatalf("notify.asl.json names %v, the task functions are %v", got, subs)
	}
	eng, err := asl.New(asl.Config{Registry: reg, Journal: asl.NewMemJournal(), Substitutions: subs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := eng.Load(statemachine.NotifyMachine, statemachine.Notify); err != nil {
		t.Fatal(err)
	}
	n := notice()
	pub := &notify.WorkflowPublisher{Engine: eng}
	if err := pub.Publish(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, n); err != nil { // the same notice again: nothing new
		t.Fatal(err)
	}
	// Starting it once more, with the same input while it runs, names the
	// execution the publisher started (Step Functions' idempotent start).
	input, _ := json.Marshal(notify.Wrap(n))
	id, err := eng.StartExecution(ctx, statemachine.NotifyMachine, workflow.ExecutionName(n.ID), input)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ex, err := eng.Wait(wctx, id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if ex.Status != workflow.StatusSucceeded {
		t.Fatalf("notify execution %s: %s %s", ex.Status, ex.Error, ex.Cause)
	}
	if r.recv.count() != 2 {
		t.Fatalf("the receiver got %d requests, want 2 (one failed, one retried)", r.recv.count())
	}
	ds, _, err := r.store.ListDeliveries(ctx, "d-1", "w-1", deploy.Page{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	d := ds[0]
	if d.Status != deploy.DeliveryDelivered || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 503 || d.Attempts[1].StatusCode != 204 {
		t.Errorf("delivery %+v", d)
	}
	if gap := d.Attempts[1].At.Sub(d.Attempts[0].At); gap < time.Second {
		t.Errorf("the retry came %s after the failure, before its backoff of 1s", gap)
	}
	for i, req := range r.recv.got {
		body := r.recv.bodies[i]
		if err := notify.Verify([]byte("whsec_one"), req.Header.Get(notify.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("attempt %d: the signature does not verify: %v", i+1, err)
		}
		if req.Header.Get(notify.HeaderDelivery) != d.ID || req.Header.Get(notify.HeaderEvent) != deploy.NoticeRunEnded {
			t.Errorf("attempt %d headers %v", i+1, req.Header)
		}
		var got deploy.Notice
		if err := json.Unmarshal(body, &got); err != nil || got.ID != n.ID || got.Run.ID != "r-1" || got.Deployment.Name != "Relief" {
			t.Errorf("attempt %d body %s: %v", i+1, body, err)
		}
	}
}

func TestDeliveryGivesUp(t *testing.T) {
	r := newRig(t, 100)
	ctx := context.Background()
	dl, err := notify.NewDeliveries(notify.DeliveryConfig{Webhooks: r.store, Secrets: r.secrets, Attempts: 3, Backoff: 10 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := dl.PlanDeliveries(ctx, notify.Wrap(notice()))
	if err != nil || len(plan.Deliveries) != 1 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	var waits []int
	for i := 0; i < 5; i++ {
		step, err := dl.DeliverWebhook(ctx, plan.Deliveries[0])
		if err != nil {
			t.Fatal(err)
		}
		if step.Done {
			break
		}
		waits = append(waits, step.RetryIn)
	}
	if len(waits) != 2 || waits[0] != 10 || waits[1] != 20 {
		t.Errorf("waits %v, want [10 20] (backoff doubling, then out of attempts)", waits)
	}
	d, _ := r.store.GetDelivery(ctx, "d-1", "w-1", plan.Deliveries[0].DeliveryID)
	if d.Status != deploy.DeliveryFailed || len(d.Attempts) != 3 || d.Attempts[2].Error == "" {
		t.Errorf("delivery after its attempts ran out: %+v", d)
	}
	// Planning the same notice again finds it done: nothing more to send.
	again, err := dl.PlanDeliveries(ctx, notify.Wrap(notice()))
	if err != nil || len(again.Deliveries) != 0 {
		t.Errorf("re-plan %+v, %v", again, err)
	}
}
