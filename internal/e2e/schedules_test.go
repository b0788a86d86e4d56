package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
	"github.com/edendeploy/edendeploy/internal/notify"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// hookReceiver is a webhook endpoint: it answers 500 to its first request
// and 204 to the rest, and keeps every request.
type hookReceiver struct {
	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.reqs = append(h.reqs, hookRequest{header: r.Header.Clone(), body: b, at: time.Now()})
	first := len(h.reqs) == 1
	h.mu.Unlock()
	if first {
		http.Error(w, "not yet", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// TestSchedulesAndWebhooks drives schedules and webhooks of `edenctl
// serve` over HTTP, on one SSH test host, with second-granularity cron
// expressions: a schedule fires and its run succeeds; a fire during an
// active run is skipped and says why; a pause stops fires; kill -9 at a
// fire and a restart leave exactly one run for that slot, and the slots
// missed while down fire once; a webhook gets one delivery per run end,
// signed, the first one retried after its receiver failed it.
func TestSchedulesAndWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end test runs Ansible against a test host")
	}
	testpeer.Root(t)
	testpeer.LookPath(t, "ansible-playbook")
	testpeer.LookPath(t, "go")
	hosts := testhost.Start(t, 1)
	srv := newServer(t, buildEdenctl(t))
	srv.extraArgs = []string{"--webhook-backoff", "1s"}
	srv.start()
	var seen [][]byte
	admin := client{t: t, base: "http://" + srv.addr, token: srv.adminToken(),
		doc: openapitest.MustParse(t, httpapi.OpenAPI()), mu: &sync.Mutex{}, seen: &seen}
	alice := admin.as(admin.createToken("alice"))

	var created httpapi.DeploymentCreated
	alice.must(201, "POST", "/v1/deployments", "/v1/deployments", httpapi.CreateDeploymentRequest{
		Spec: deploy.Spec{Name: "Nightly", AdminEmail: "admin@example.org", SSHUser: hosts.User,
			Servers:  []deploy.ServerSpec{{Host: hosts.Host("h1").Addr, Role: deploy.RoleAll}},
			Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		SSHPrivateKey: string(hosts.PrivateKey),
	}, &created)
	dep := created.Deployment.ID
	if r := alice.waitRun(dep, created.Run.ID, 3*time.Minute); r.Status != deploy.RunSucceeded {
		t.Fatalf("deploy: %s %q", r.Status, r.Error)
	}
	base := "/v1/deployments/" + dep

	// The webhook: refused for the control plane itself, then made.
	recv := &hookReceiver{}
	hookSrv := httptest.NewServer(recv)
	defer hookSrv.Close()
	for _, bad := range []string{"http://" + srv.addr + "/v1/health", "ftp://example.org/x"} {
		if status, _, _ := alice.do("POST", base+"/webhooks", "/v1/deployments/{id}/webhooks", httpapi.WebhookRequest{URL: bad}, nil); status != 400 {
			t.Errorf("webhook to %s → %d, want 400", bad, status)
		}
	}
	var hook httpapi.WebhookCreated
	alice.must(201, "POST", base+"/webhooks", "/v1/deployments/{id}/webhooks", httpapi.WebhookRequest{URL: hookSrv.URL + "/eden"}, &hook)
	hookMade := time.Now()

	schedule := func(task deploy.RunKind, cron string) *control.ScheduleView {
		t.Helper()
		var v control.ScheduleView
		alice.must(201, "POST", base+"/schedules", "/v1/deployments/{id}/schedules",
			deploy.ScheduleSpec{Instance: deploy.InstanceProd, Task: task, Cron: cron}, &v)
		if len(v.NextFires) != 3 {
			t.Fatalf("schedule %s shows next fires %v", v.ID, v.NextFires)
		}
		return &v
	}
	fires := func(id string) []*deploy.Fire {
		t.Helper()
		var l httpapi.FireList
		alice.must(200, "GET", base+"/schedules/"+id+"/fires?limit=100", "/v1/deployments/{id}/schedules/{schedule}/fires", nil, &l)
		return l.Items
	}
	waitFire := func(id string, limit time.Duration, ok func(*deploy.Fire) bool) *deploy.Fire {
		t.Helper()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			for _, f := range fires(id) {
				if ok(f) {
					return f
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("schedule %s: no such fire in %s; fires %s\n%s", id, limit, mustJSON(t, fires(id)), srv.output())
		return nil
	}
	runsOf := func(requester string) []*deploy.Run {
		var l httpapi.RunList
		alice.must(200, "GET", base+"/runs?limit=100", "/v1/deployments/{id}/runs", nil, &l)
		var out []*deploy.Run
		for _, r := range l.Items {
			if requester == "" || r.Requester == requester {
				out = append(out, r)
			}
		}
		return out
	}
	waitIdle := func() {
		t.Helper()
		for _, r := range runsOf("") {
			alice.waitRun(dep, r.ID, 2*time.Minute)
		}
	}

	// 1. A schedule fires and its run succeeds.
	a := schedule(deploy.RunRestart, "*/3 * * * * *")
	f := waitFire(a.ID, 30*time.Second, func(f *deploy.Fire) bool { return f.Status == deploy.FireStarted })
	if r := alice.waitRun(dep, f.RunID, 2*time.Minute); r.Status != deploy.RunSucceeded || r.Requester != deploy.ScheduleRequester(a.ID) || r.Kind != deploy.RunRestart {
		t.Fatalf("the scheduled run: %s %s by %s %q", r.Kind, r.Status, r.Requester, r.Error)
	}
	alice.must(204, "DELETE", base+"/schedules/"+a.ID, "/v1/deployments/{id}/schedules/{schedule}", nil, nil)
	waitIdle()

	// 2. Every second: a slot that finds its predecessor's run still going
	// is skipped and says so; a pause stops the fires.
	b := schedule(deploy.RunRestart, "* * * * * *")
	skipped := waitFire(b.ID, 30*time.Second, func(f *deploy.Fire) bool { return f.Status == deploy.FireSkipped })
	if !strings.Contains(skipped.Reason, "was still") {
		t.Errorf("a skipped fire's reason: %q", skipped.Reason)
	}
	var paused control.ScheduleView
	alice.must(200, "POST", base+"/schedules/"+b.ID+"/pause", "/v1/deployments/{id}/schedules/{schedule}/pause", nil, &paused)
	if !paused.Paused || len(paused.NextFires) != 0 {
		t.Errorf("paused schedule %+v", paused)
	}
	waitIdle()
	before := len(fires(b.ID))
	time.Sleep(3 * time.Second)
	if after := len(fires(b.ID)); after != before {
		t.Errorf("a paused schedule fired: %d fires before, %d after 3 s", before, after)
	}

	// 3. kill -9 the moment a fire shows up, stay down past more slots,
	// start again: that slot has one fire and one run, the missed slots
	// fire once, and every run of the schedule belongs to a fire.
	c := schedule(deploy.RunBackup, "*/4 * * * * *")
	deadline := time.Now().Add(30 * time.Second)
	var killedAt []*deploy.Fire
	for len(killedAt) == 0 && time.Now().Before(deadline) {
		var l httpapi.FireList
		status, _, body := alice.do("GET", base+"/schedules/"+c.ID+"/fires", "", nil, nil)
		if status == 200 {
			mustDecode(t, body, &l)
			killedAt = l.Items
		}
	}
	if len(killedAt) == 0 {
		t.Fatal("schedule c never fired")
	}
	srv.kill()
	slot := killedAt[0].Slot
	t.Logf("killed at the fire of %s (status %s)", slot.Format(time.RFC3339), killedAt[0].Status)
	time.Sleep(9 * time.Second) // two more slots pass while down
	restarted := time.Now()
	srv.start()
	after := waitFire(c.ID, 30*time.Second, func(f *deploy.Fire) bool { return f.Slot.After(slot) && f.Status.Done() })
	alice.must(200, "POST", base+"/schedules/"+c.ID+"/pause", "/v1/deployments/{id}/schedules/{schedule}/pause", nil, nil)
	waitIdle()
	cf := fires(c.ID)
	perSlot := map[time.Time]int{}
	runOf := map[string]bool{}
	for _, f := range cf {
		perSlot[f.Slot]++
		if f.Status == deploy.FireStarted {
			runOf[f.RunID] = true
		}
		if !f.Status.Done() {
			t.Errorf("fire of %s still %s after the restart", f.Slot, f.Status)
		}
	}
	if perSlot[slot] != 1 {
		t.Errorf("the slot of the kill has %d fires, want 1: %s", perSlot[slot], mustJSON(t, cf))
	}
	cRuns := runsOf(deploy.ScheduleRequester(c.ID))
	for _, r := range cRuns {
		if !runOf[r.ID] {
			t.Errorf("run %s of schedule c belongs to no started fire", r.ID)
		}
	}
	if len(cRuns) != len(runOf) {
		t.Errorf("%d runs of schedule c for %d started fires", len(cRuns), len(runOf))
	}
	// The slots missed while down fired once, on start.
	firstAfter := after
	for _, f := range cf {
		if f.Slot.After(slot) && f.Slot.Before(firstAfter.Slot) {
			firstAfter = f
		}
	}
	if firstAfter.FiredAt.Before(restarted) || firstAfter.Missed < 1 {
		t.Errorf("the first fire after the restart: %+v, want one fired on start standing for the missed slots", firstAfter)
	}

	// 4. The webhook: one delivery per run end since it was made, each
	// delivered, signed with its secret; the first was retried after the
	// receiver failed it.
	ended := map[string]bool{}
	for _, r := range runsOf("") {
		if r.Status.Terminal() && r.FinishedAt.After(hookMade) {
			ended[r.ID] = true
		}
	}
	var dl httpapi.DeliveryList
	deadline = time.Now().Add(time.Minute)
	for {
		alice.must(200, "GET", base+"/webhooks/"+hook.Webhook.ID+"/deliveries?limit=100", "/v1/deployments/{id}/webhooks/{webhook}/deliveries", nil, &dl)
		done := len(dl.Items) >= len(ended)
		for _, d := range dl.Items {
			done = done && d.Status == deploy.DeliveryDelivered
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	perRun := map[string]int{}
	for _, d := range dl.Items {
		perRun[d.RunID]++
		if d.Status != deploy.DeliveryDelivered {
			t.Errorf("delivery %s for run %s is %s: %s", d.ID, d.RunID, d.Status, mustJSON(t, d.Attempts))
		}
	}
	for id := range ended {
		if perRun[id] != 1 {
			t.Errorf("run %s ended with %d deliveries, want 1", id, perRun[id])
		}
	}
	if len(perRun) != len(ended) {
		t.Errorf("%d runs delivered, %d ended since the webhook was made", len(perRun), len(ended))
	}
	oldest := dl.Items[len(dl.Items)-1]
	if len(oldest.Attempts) < 2 || oldest.Attempts[0].StatusCode != 500 || oldest.Attempts[len(oldest.Attempts)-1].StatusCode != 204 {
		t.Errorf("the first delivery was not retried after its failure: %s", mustJSON(t, oldest.Attempts))
	}
	reqs := recv.requests()
	if len(reqs) < len(ended)+1 {
		t.Errorf("the receiver got %d requests for %d run ends (one failed)", len(reqs), len(ended))
	}
	for i, rq := range reqs {
		sig := rq.header.Get(notify.HeaderSignature)
		if err := notify.Verify([]byte(hook.Secret), sig, rq.body, rq.at, 5*time.Minute); err != nil {
			t.Errorf("request %d: the signature does not verify: %v", i, err)
		}
		// The documented check refuses a body someone changed.
		forged := bytes.Replace(rq.body, []byte(`"status":"`), []byte(`"status":"x`), 1)
		if err := notify.Verify([]byte(hook.Secret), sig, forged, rq.at, 5*time.Minute); err == nil {
			t.Errorf("request %d: a changed body still verifies", i)
		}
	}

	// The secret was shown once, in the response that made the webhook,
	// and never logged.
	shown := 0
	for _, b := range seen {
		if bytes.Contains(b, []byte(hook.Secret)) {
			shown++
		}
	}
	if shown != 1 || strings.Contains(srv.output(), hook.Secret) {
		t.Errorf("the webhook's secret appears in %d API responses (want 1) or in the log", shown)
	}
	t.Logf("schedule b: %d fires (skipped e.g. %q); c: %d fires; %d run ends, %d deliveries, %d requests",
		len(fires(b.ID)), skipped.Reason, len(cf), len(ended), len(dl.Items), len(reqs))
}
