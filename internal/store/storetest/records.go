package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func idemRecord(key string, body string, now time.Time) deploy.IdempotencyRecord {
	return deploy.IdempotencyRecord{
		Key: key, RequestHash: "sha256:" + body, Status: 201, Header: "/deployments/d-1",
		Body: []byte(`{"id":"` + body + `"}`), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

func testIdempotency(h *harness) {
	t := h.t
	rec := idemRecord("alice/key-1", "first", t0)
	wantNoError(t, h.s.PutIdempotency(h.ctx, rec), "PutIdempotency")
	got, err := h.s.GetIdempotency(h.ctx, rec.Key)
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&rec, got); diff != "" {
		t.Errorf("GetIdempotency (-want +got):\n%s", diff)
	}
	second := idemRecord("alice/key-1", "second", t0.Add(time.Second))
	wantKind(t, h.s.PutIdempotency(h.ctx, second), deploy.KindConflict, "PutIdempotency of a used key")
	got, err = h.s.GetIdempotency(h.ctx, rec.Key)
	wantNoError(t, err, "GetIdempotency after a refused put")
	if diff := cmp.Diff(&rec, got); diff != "" {
		t.Errorf("the refused put changed the record (-want +got):\n%s", diff)
	}
	// Keys are scoped by owner: bob's key-1 is another key.
	wantNoError(t, h.s.PutIdempotency(h.ctx, idemRecord("bob/key-1", "bob", t0)), "PutIdempotency of bob's key")
	_, err = h.s.GetIdempotency(h.ctx, "alice/missing")
	wantKind(t, err, deploy.KindNotFound, "GetIdempotency of an unknown key")
}

func testIdempotencyComplete(h *harness) {
	t := h.t
	pending := idemRecord("alice/key-2", "pending", t0)
	pending.Status, pending.Header, pending.Body = 0, "", nil
	wantNoError(t, h.s.PutIdempotency(h.ctx, pending), "PutIdempotency of a pending record")
	wantKind(t, h.s.PutIdempotency(h.ctx, pending), deploy.KindConflict, "PutIdempotency of a pending key")

	done := idemRecord("alice/key-2", "done", t0)
	done.ExpiresAt = t0.Add(48 * time.Hour)
	wantNoError(t, h.s.CompleteIdempotency(h.ctx, done), "CompleteIdempotency")
	got, err := h.s.GetIdempotency(h.ctx, done.Key)
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&done, got); diff != "" {
		t.Errorf("completed record (-want +got):\n%s", diff)
	}
	twice := idemRecord("alice/key-2", "twice", t0)
	wantKind(t, h.s.CompleteIdempotency(h.ctx, twice), deploy.KindConflict, "CompleteIdempotency of a completed record")
	got, err = h.s.GetIdempotency(h.ctx, done.Key)
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&done, got); diff != "" {
		t.Errorf("a refused completion changed the record (-want +got):\n%s", diff)
	}
	wantKind(t, h.s.CompleteIdempotency(h.ctx, idemRecord("alice/none", "x", t0)), deploy.KindNotFound, "CompleteIdempotency of an unknown key")

	wantNoError(t, h.s.DeleteIdempotency(h.ctx, done.Key), "DeleteIdempotency")
	_, err = h.s.GetIdempotency(h.ctx, done.Key)
	wantKind(t, err, deploy.KindNotFound, "GetIdempotency after delete")
	wantNoError(t, h.s.DeleteIdempotency(h.ctx, done.Key), "DeleteIdempotency of a deleted key")
	wantNoError(t, h.s.PutIdempotency(h.ctx, pending), "PutIdempotency after delete")
}

func testIdempotencyExpiry(h *harness) {
	t := h.t
	rec := idemRecord("alice/key-1", "first", t0)
	wantNoError(t, h.s.PutIdempotency(h.ctx, rec), "PutIdempotency")
	h.clk.Advance(24*time.Hour - time.Second)
	if _, err := h.s.GetIdempotency(h.ctx, rec.Key); err != nil {
		t.Fatalf("GetIdempotency before expiry: %v", err)
	}
	h.clk.Advance(2 * time.Second)
	if sw, ok := h.s.(Sweeper); ok {
		n, err := sw.Sweep(h.ctx, h.clk.Now())
		wantNoError(t, err, "Sweep")
		if n != 1 {
			t.Errorf("Sweep removed %d items, want 1 (the idempotency record)", n)
		}
	}
	_, err := h.s.GetIdempotency(h.ctx, rec.Key)
	wantKind(t, err, deploy.KindNotFound, "GetIdempotency of an expired record")
	// An expired key is free again.
	again := idemRecord("alice/key-1", "again", h.clk.Now())
	wantNoError(t, h.s.PutIdempotency(h.ctx, again), "PutIdempotency of an expired key")
	got, err := h.s.GetIdempotency(h.ctx, rec.Key)
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&again, got); diff != "" {
		t.Errorf("GetIdempotency after reuse (-want +got):\n%s", diff)
	}
}

func testTokens(h *harness) {
	t := h.t
	tok := deploy.Token{Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", User: "alice", Admin: true, Name: "laptop", CreatedAt: t0}
	wantNoError(t, h.s.PutToken(h.ctx, tok), "PutToken")
	got, err := h.s.GetToken(h.ctx, tok.Hash)
	wantNoError(t, err, "GetToken")
	if diff := cmp.Diff(&tok, got); diff != "" {
		t.Errorf("GetToken (-want +got):\n%s", diff)
	}
	other := tok
	other.User = "mallory"
	wantKind(t, h.s.PutToken(h.ctx, other), deploy.KindConflict, "PutToken of an existing hash")
	got, err = h.s.GetToken(h.ctx, tok.Hash)
	wantNoError(t, err, "GetToken after a refused put")
	if got.User != "alice" {
		t.Errorf("the refused put changed the token's user to %q", got.User)
	}
	_, err = h.s.GetToken(h.ctx, "0000")
	wantKind(t, err, deploy.KindNotFound, "GetToken of an unknown hash")
}

// race runs do(i) in h.racers goroutines at once and returns the index of
// the only one that succeeded. Every other one must fail with Conflict.
func (h *harness) race(what string, do func(i int) error) int {
	t := h.t
	t.Helper()
	errs := make([]error, h.racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range h.racers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = do(i)
		}()
	}
	start.Done()
	done.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case deploy.KindOf(err) != deploy.KindConflict:
			t.Errorf("%s: racer %d lost with %v (kind %q), want kind conflict", what, i, err, deploy.KindOf(err))
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer won; first error: %v", what, errs[0])
	}
	return winner
}

func testRaceInstanceType(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	h.finish(first, deploy.RunSucceeded)
	runs := make([]*deploy.Run, h.racers)
	for i := range runs {
		runs[i] = h.newRun(d, deploy.RunAddInstance)
		runs[i].ID = fmt.Sprintf("r-race-%02d", i)
		runs[i].Instance = deploy.InstanceTest
	}
	w := h.race("AddInstance test", func(i int) error {
		inst := deploy.Instance{Type: deploy.InstanceTest, URL: "http://10.0.0.1:8026", Status: deploy.InstancePending, DeployRunID: runs[i].ID, CreatedAt: t0}
		return h.s.AddInstance(h.ctx, d.ID, 1, inst, runs[i])
	})
	got, err := h.s.GetDeployment(h.ctx, d.ID)
	wantNoError(t, err, "GetDeployment")
	if got.Version != 2 || len(got.Instances) != 2 || got.Instances[1].DeployRunID != runs[w].ID {
		t.Errorf("after the race: version %d, instances %+v; want version 2 and the winner's test instance", got.Version, got.Instances)
	}
	h.wantActive(t, d.ID, runs[w].ID, "after the race")
	h.wantOnlyRuns(t, d.ID, first.ID, runs[w].ID)
}

// wantOnlyRuns checks that the deployment's runs are exactly ids (newest
// first).
func (h *harness) wantOnlyRuns(t *testing.T, depID string, oldestFirst ...string) {
	t.Helper()
	rs, _, err := h.s.ListRuns(h.ctx, depID, deploy.Page{Limit: 100})
	wantNoError(t, err, "ListRuns")
	want := make([]string, len(oldestFirst))
	for i, id := range oldestFirst {
		want[len(want)-1-i] = id
	}
	if diff := cmp.Diff(want, runIDs(rs)); diff != "" {
		t.Errorf("runs of %s (-want +got):\n%s", depID, diff)
	}
}

func testRaceActiveRun(h *harness) {
	t := h.t
	d, first := h.createOn("10.0.0.1")
	h.finish(first, deploy.RunSucceeded)
	h.tick()
	runs := make([]*deploy.Run, h.racers)
	for i := range runs {
		runs[i] = h.newRun(d, deploy.RunPull)
		runs[i].ID = fmt.Sprintf("r-race-%02d", i)
	}
	w := h.race("CreateRun", func(i int) error { return h.s.CreateRun(h.ctx, runs[i]) })
	h.wantActive(t, d.ID, runs[w].ID, "after the race")
	h.wantRun(t, runs[w], "the winner")
	h.wantOnlyRuns(t, d.ID, first.ID, runs[w].ID)
}

func testRaceHost(h *harness) {
	t := h.t
	deps := make([]*deploy.Deployment, h.racers)
	for i := range deps {
		deps[i], _ = h.create("alice", t0.Add(time.Duration(i)*time.Second), server(fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), deploy.RoleAll, ""))
	}
	const host = "10.0.0.5"
	w := h.race("AddServer "+host, func(i int) error {
		return h.s.AddServer(h.ctx, deps[i].ID, server(host, deploy.RoleEden, "i-0race000000000005"))
	})
	depID, _, err := h.s.FindServerByHost(h.ctx, host)
	wantNoError(t, err, "FindServerByHost")
	if depID != deps[w].ID {
		t.Errorf("%s belongs to %s, want the winner %s", host, depID, deps[w].ID)
	}
	depID, _, err = h.s.FindServerByInstanceID(h.ctx, "i-0race000000000005")
	wantNoError(t, err, "FindServerByInstanceID")
	if depID != deps[w].ID {
		t.Errorf("the instance belongs to %s, want the winner %s", depID, deps[w].ID)
	}
	for i, d := range deps {
		got, err := h.s.GetDeployment(h.ctx, d.ID)
		wantNoError(t, err, "GetDeployment")
		wantServers, wantVersion := 1, 1
		if i == w {
			wantServers, wantVersion = 2, 2
		}
		if len(got.Servers) != wantServers || got.Version != wantVersion {
			t.Errorf("deployment %d after the race: %d servers, version %d; want %d and %d", i, len(got.Servers), got.Version, wantServers, wantVersion)
		}
	}
}

func testRaceIdempotency(h *harness) {
	t := h.t
	recs := make([]deploy.IdempotencyRecord, h.racers)
	for i := range recs {
		recs[i] = idemRecord("alice/retry", fmt.Sprintf("racer-%02d", i), t0)
		recs[i].Status, recs[i].Header, recs[i].Body = 0, "", nil
	}
	w := h.race("PutIdempotency", func(i int) error { return h.s.PutIdempotency(h.ctx, recs[i]) })
	got, err := h.s.GetIdempotency(h.ctx, "alice/retry")
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&recs[w], got); diff != "" {
		t.Errorf("the stored record is not the winner's (-want +got):\n%s", diff)
	}

	// Completing the pending record: exactly one response is stored.
	for i := range recs {
		recs[i] = idemRecord("alice/retry", fmt.Sprintf("response-%02d", i), t0)
	}
	w = h.race("CompleteIdempotency", func(i int) error { return h.s.CompleteIdempotency(h.ctx, recs[i]) })
	got, err = h.s.GetIdempotency(h.ctx, "alice/retry")
	wantNoError(t, err, "GetIdempotency")
	if diff := cmp.Diff(&recs[w], got); diff != "" {
		t.Errorf("the stored response is not the winner's (-want +got):\n%s", diff)
	}
}
