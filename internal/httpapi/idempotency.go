package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Idempotency, in the order things happen for a POST with an
// Idempotency-Key:
//
//  1. the key is scoped by the caller ("<user>/<key>", the user escaped so
//     that no two users share a scope) and the request is identified by
//     the SHA-256 of its method, path and body;
//  2. the key is claimed with a pending record (Status 0): of two requests
//     with one key, exactly one claims it;
//  3. the winner runs into a buffer; a response below 500 completes the
//     record and is sent; a 5xx removes the record, so a retry can run;
//  4. a loser finds the record: another request hash is 422, a pending
//     record is 409, a completed one is replayed byte for byte with
//     Idempotency-Replayed: true, and nothing is started.

// replayedHeaders are the response headers a record keeps.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// idempotent serves c under its Idempotency-Key; it reports whether the
// response was a replay.
func (a *API) idempotent(c *call, rt route) (replayed bool) {
	r := c.r
	ctx := r.Context()
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || !printableASCII(key) {
		a.fail(c, badRequest("Idempotency-Key", "must be 1 to 255 printable ASCII characters"))
		return false
	}
	scoped := url.PathEscape(c.caller.User) + "/" + key
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n%s\n", r.Method, r.URL.Path)
	sum.Write(c.body)
	hash := hex.EncodeToString(sum.Sum(nil))
	now := a.cfg.Now()
	rec := deploy.IdempotencyRecord{Key: scoped, RequestHash: hash, CreatedAt: now, ExpiresAt: now.Add(IdempotencyTTL)}

	err := a.cfg.Idempotency.PutIdempotency(ctx, rec)
	if deploy.IsKind(err, deploy.KindConflict) {
		prev, err := a.cfg.Idempotency.GetIdempotency(ctx, scoped)
		switch {
		case deploy.IsKind(err, deploy.KindNotFound):
			// Removed (a 5xx) or expired between the two calls.
			a.fail(c, pending())
			return false
		case err != nil:
			a.fail(c, fmt.Errorf("httpapi: read idempotency key: %w", err))
			return false
		case prev.RequestHash != hash:
			a.fail(c, &httpError{status: http.StatusUnprocessableEntity, typ: "idempotency-key-reused",
				detail: "this Idempotency-Key was used for a different request; use a new key"})
			return false
		case prev.Status == 0:
			a.fail(c, pending())
			return false
		}
		replay(c.w, prev)
		return true
	}
	if err != nil {
		a.fail(c, fmt.Errorf("httpapi: claim idempotency key: %w", err))
		return false
	}

	buf := newBufferWriter()
	inner := *c
	inner.w = buf
	func() {
		defer a.recoverPanic(&inner)
		a.serve(&inner, rt)
	}()
	c.deployment, c.run = inner.deployment, inner.run

	// The response is decided: recording it must not depend on the client
	// staying.
	sctx := context.WithoutCancel(ctx)
	if buf.status() >= 500 {
		if err := a.cfg.Idempotency.DeleteIdempotency(sctx, scoped); err != nil {
			a.log.ErrorContext(ctx, "could not release an idempotency key", "request_id", RequestID(ctx), "user", c.caller.User, "err", err)
		}
	} else {
		rec.Status = buf.status()
		rec.Body = buf.buf.Bytes()
		rec.Header = encodeHeader(buf.header)
		if err := a.cfg.Idempotency.CompleteIdempotency(sctx, rec); err != nil {
			// The response still goes out; retries get 409 until the
			// pending record expires, which is safe (nothing runs twice).
			a.log.ErrorContext(ctx, "could not record an idempotent response", "request_id", RequestID(ctx), "user", c.caller.User, "err", err)
		}
	}
	for k, vs := range buf.header {
		c.w.Header()[k] = vs
	}
	c.w.WriteHeader(buf.status())
	_, _ = c.w.Write(buf.buf.Bytes())
	return false
}

func pending() error {
	return &httpError{status: http.StatusConflict, typ: "idempotency-key-in-use",
		detail: "a request with this Idempotency-Key is still being processed; retry later"}
}

func replay(w http.ResponseWriter, rec *deploy.IdempotencyRecord) {
	var h map[string]string
	_ = json.Unmarshal([]byte(rec.Header), &h)
	for _, k := range replayedHeaders {
		if v, ok := h[k]; ok {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Idempotency-Replayed", "true")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
}

func encodeHeader(h http.Header) string {
	m := map[string]string{}
	for _, k := range replayedHeaders {
		if v := h.Get(k); v != "" {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
