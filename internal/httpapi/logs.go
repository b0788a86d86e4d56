package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI 3.1 document (YAML).
func OpenAPI() []byte { return bytes.Clone(openapiDoc) }

func (a *API) openapi(c *call) error {
	c.w.Header().Set("Content-Type", "application/yaml")
	c.w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = c.w.Write(openapiDoc)
	return nil
}

// getLog serves a run's log: a byte range as text/plain, or, with Accept:
// text/event-stream or ?follow=1, a live follow as Server-Sent Events.
func (a *API) getLog(c *call) error {
	if a.cfg.Logs == nil {
		return notImplemented("run logs")
	}
	r := c.r
	id, runID := r.PathValue("id"), r.PathValue("run")
	// Seeing the run is what allows reading its log.
	if _, err := a.cfg.Service.GetRun(r.Context(), c.caller, id, runID); err != nil {
		return err
	}
	q := r.URL.Query()
	var offset int64
	if s := q.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return badRequest("offset", "must be a whole number of bytes, 0 or more")
		}
		offset = n
	}
	limit := DefaultLogChunk
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLogChunk {
			return badRequest("limit", "must be a whole number of bytes from 1 to "+strconv.Itoa(MaxLogChunk))
		}
		limit = n
	}
	if wantsStream(r) {
		if s := r.Header.Get("Last-Event-ID"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return badRequest("Last-Event-ID", "must be a byte offset this API sent as an event ID")
			}
			offset = n
		}
		return a.follow(c, id, runID, offset, limit)
	}
	data, size, complete, err := a.cfg.Logs.ReadLog(r.Context(), id, runID, offset, limit)
	if err != nil {
		return fmt.Errorf("httpapi: read log of %s: %w", runID, err)
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Log-Size", strconv.FormatInt(size, 10))
	h.Set("X-Log-Complete", strconv.FormatBool(complete))
	h.Set("X-Content-Type-Options", "nosniff")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(data)
	return nil
}

func wantsStream(r *http.Request) bool {
	switch r.URL.Query().Get("follow") {
	case "1", "true":
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
}

// follow streams the log from offset as Server-Sent Events until it is
// complete, the client goes away, or the follow limit passes. Each chunk is
// one event whose data lines are the chunk's lines and whose ID is the byte
// offset after it, so a client that reconnects with Last-Event-ID resumes
// where it stopped. A carriage return in the log becomes a line break (SSE
// has no way to carry one). The final event is "end".
func (a *API) follow(c *call, id, runID string, offset int64, limit int) error {
	ctx := c.r.Context()
	if a.cfg.FollowLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.cfg.FollowLimit)
		defer cancel()
	}
	// The first read happens before anything is written, so that a failure
	// is still a problem response.
	data, size, complete, err := a.cfg.Logs.ReadLog(ctx, id, runID, offset, limit)
	if err != nil {
		return fmt.Errorf("httpapi: read log of %s: %w", runID, err)
	}
	rc := http.NewResponseController(c.w)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	var ev bytes.Buffer
	send := func() bool {
		_, err := c.w.Write(ev.Bytes())
		ev.Reset()
		if err == nil {
			err = rc.Flush()
		}
		return err == nil
	}
	ev.WriteString("retry: 2000\n\n")
	if !send() {
		return nil
	}
	for {
		if len(data) > 0 {
			offset += int64(len(data))
			writeEvent(&ev, offset, data)
			if !send() {
				return nil
			}
		}
		if complete && offset >= size {
			fmt.Fprintf(&ev, "event: end\nid: %d\ndata: {\"size\":%d}\n\n", offset, size)
			send()
			return nil
		}
		if len(data) == 0 {
			wctx, cancel := context.WithTimeout(ctx, a.cfg.KeepAlive)
			err := a.cfg.Logs.WaitLog(wctx, id, runID, offset)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil // the client left, or the follow limit passed
			case errors.Is(err, context.DeadlineExceeded):
				ev.WriteString(": keep-alive\n\n")
				if !send() {
					return nil
				}
			case err != nil:
				a.streamError(c, &ev, err)
				send()
				return nil
			}
		}
		data, size, complete, err = a.cfg.Logs.ReadLog(ctx, id, runID, offset, limit)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.streamError(c, &ev, err)
			send()
			return nil
		}
	}
}

// streamError ends a stream that failed after it started: the problem goes
// as an "error" event (internal details only to the log).
func (a *API) streamError(c *call, ev *bytes.Buffer, err error) {
	p := problemFor(err)
	p.RequestID = RequestID(c.r.Context())
	if p.Status == http.StatusInternalServerError {
		a.log.ErrorContext(c.r.Context(), "log follow failed", "request_id", p.RequestID, "user", c.caller.User,
			"deployment", c.r.PathValue("id"), "run", c.r.PathValue("run"), "err", err.Error())
	}
	fmt.Fprintf(ev, "event: error\ndata: %s\n\n", strings.ReplaceAll(p.Detail, "\n", " "))
}

func writeEvent(ev *bytes.Buffer, next int64, data []byte) {
	fmt.Fprintf(ev, "id: %d\n", next)
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	for _, line := range strings.Split(s, "\n") {
		ev.WriteString("data: ")
		ev.WriteString(line)
		ev.WriteByte('\n')
	}
	ev.WriteByte('\n')
}
