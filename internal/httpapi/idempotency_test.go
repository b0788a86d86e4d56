package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

func TestIdempotencyReplay(t *testing.T) {
	e := httpapitest.New(t)
	body := httpapitest.AllInOneSpec("site", "10.0.0.5")
	first := e.Do("POST", "/v1/deployments", e.Alice, body, "Idempotency-Key", "create-1")
	check(t, first, "POST", "/v1/deployments", 201)
	writes, started := e.Store.Writes(), e.Engine.Started()

	again := e.Do("POST", "/v1/deployments", e.Alice, body, "Idempotency-Key", "create-1")
	check(t, again, "POST", "/v1/deployments", 201)
	if again.Body.String() != first.Body.String() {
		t.Errorf("replay differs:\n%s\n%s", first.Body, again.Body)
	}
	if again.Header().Get("Idempotency-Replayed") != "true" || first.Header().Get("Idempotency-Replayed") != "" {
		t.Errorf("Idempotency-Replayed: first %q, replay %q", first.Header().Get("Idempotency-Replayed"), again.Header().Get("Idempotency-Replayed"))
	}
	for _, h := range []string{"Location", "Content-Type"} {
		if again.Header().Get(h) != first.Header().Get(h) {
			t.Errorf("%s: first %q, replay %q", h, first.Header().Get(h), again.Header().Get(h))
		}
	}
	if again.Header().Get("X-Request-Id") == first.Header().Get("X-Request-Id") {
		t.Errorf("a replay has the first request's ID")
	}
	if e.Store.Writes() != writes || e.Engine.Started() != started {
		t.Errorf("a replay started something")
	}

	t.Run("another request with the key", func(t *testing.T) {
		rec := e.Do("POST", "/v1/deployments", e.Alice, httpapitest.AllInOneSpec("site2", "10.0.0.6"), "Idempotency-Key", "create-1")
		check(t, rec, "POST", "/v1/deployments", 422)
		if e.Store.Writes() != writes {
			t.Errorf("it wrote")
		}
	})
	t.Run("another user's key", func(t *testing.T) {
		// Keys are per user: bob's "create-1" is his own.
		rec := e.Do("POST", "/v1/deployments", e.Bob, httpapitest.AllInOneSpec("bobs", "10.0.0.8"), "Idempotency-Key", "create-1")
		check(t, rec, "POST", "/v1/deployments", 201)
	})
	t.Run("pending", func(t *testing.T) {
		now := e.Clock.Now()
		if err := e.Store.PutIdempotency(context.Background(), deploy.IdempotencyRecord{Key: "alice/busy", RequestHash: requestHash("POST", "/v1/deployments", body), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		rec := e.Do("POST", "/v1/deployments", e.Alice, body, "Idempotency-Key", "busy")
		m := check(t, rec, "POST", "/v1/deployments", 409)
		if m["type"] != httpapi.ProblemTypeBase+"idempotency-key-in-use" {
			t.Errorf("type %v", m["type"])
		}
	})
	t.Run("refusals are kept", func(t *testing.T) {
		// A 4xx is the answer to that request: replayed as well.
		bad := `{"name":"x"}`
		r1 := e.Do("POST", "/v1/deployments", e.Alice, bad, "Idempotency-Key", "bad-1")
		check(t, r1, "POST", "/v1/deployments", 400)
		r2 := e.Do("POST", "/v1/deployments", e.Alice, bad, "Idempotency-Key", "bad-1")
		if r2.Code != 400 || r2.Body.String() != r1.Body.String() || r2.Header().Get("Idempotency-Replayed") != "true" {
			t.Errorf("4xx replay: %d %q %s", r2.Code, r2.Header().Get("Idempotency-Replayed"), r2.Body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e.Clock.Advance(httpapi.IdempotencyTTL + time.Minute)
		rec := e.Do("POST", "/v1/deployments", e.Alice, body, "Idempotency-Key", "create-1")
		// It runs again: the host is taken by the first deployment now.
		check(t, rec, "POST", "/v1/deployments", 409)
		if rec.Header().Get("Idempotency-Replayed") != "" {
			t.Errorf("an expired key was replayed")
		}
	})
}

func TestIdempotencyServerErrorReleasesKey(t *testing.T) {
	e := httpapitest.New(t)
	e.Store.Fail(errors.New("disk on fire"))
	rec := e.Do("POST", "/v1/deployments/d-x/instances/prod/tasks", e.Alice, `{"task":"restart"}`, "Idempotency-Key", "k")
	check(t, rec, "POST", "/v1/deployments/{id}/instances/{type}/tasks", 500)
	if n := len(e.Store.IdempotencyRecords()); n != 0 {
		t.Fatalf("%d idempotency records kept after a 500", n)
	}
	e.Store.Fail(nil)
	rec = e.Do("POST", "/v1/deployments/d-x/instances/prod/tasks", e.Alice, `{"task":"restart"}`, "Idempotency-Key", "k")
	check(t, rec, "POST", "/v1/deployments/{id}/instances/{type}/tasks", 404)
	if rec.Header().Get("Idempotency-Replayed") != "" {
		t.Errorf("the retry was a replay")
	}
}

func TestIdempotencyRace(t *testing.T) {
	e := httpapitest.New(t)
	id := deployed(t, e, e.Alice, "site", "10.0.0.5")
	runs, started := e.Store.RunsCreated(), e.Engine.Started()
	const racers = 20
	var wg sync.WaitGroup
	recs := make([]*httptest.ResponseRecorder, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = e.Do("POST", "/v1/deployments/"+id+"/instances/prod/tasks", e.Alice, `{"task":"restart"}`, "Idempotency-Key", "race")
		}()
	}
	wg.Wait()
	if got := e.Store.RunsCreated() - runs; got != 1 {
		t.Errorf("%d runs created, want 1", got)
	}
	if got := e.Engine.Started() - started; got != 1 {
		t.Errorf("%d executions started, want 1", got)
	}
	var body string
	fresh := 0
	for _, rec := range recs {
		switch rec.Code {
		case 202:
			if rec.Header().Get("Idempotency-Replayed") == "" {
				fresh++
			}
			if body != "" && rec.Body.String() != body {
				t.Errorf("two different 202 bodies")
			}
			body = rec.Body.String()
		case 409:
			check(t, rec, "POST", "/v1/deployments/{id}/instances/{type}/tasks", 409)
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if fresh != 1 {
		t.Errorf("%d responses not replayed, want 1", fresh)
	}
}

func requestHash(method, path, body string) string {
	sum := sha256.Sum256([]byte(method + "\n" + path + "\n" + body))
	return hex.EncodeToString(sum[:])
}
