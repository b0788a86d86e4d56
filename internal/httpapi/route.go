package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/edendeploy/edendeploy/internal/control"
)

// route is one entry of the routing table.
type route struct {
	method  string
	pattern string
	// public routes need no authentication.
	public bool
	// body routes take a JSON body; others refuse one.
	body bool
	// noIdempotency marks the POSTs whose response may not be stored
	// (a token's secret, a webhook's secret).
	noIdempotency bool
	h             func(*call) error
}

// call is one request being served.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	caller control.Caller
	body   []byte
	// deployment and run name the resources for the access log when the
	// path does not (a created deployment, a started run).
	deployment, run string
}

func (a *API) table() []route {
	return append([]route{
		{method: "GET", pattern: "/v1/health", public: true, h: a.health},
		{method: "GET", pattern: "/v1/openapi.yaml", public: true, h: a.openapi},
		{method: "GET", pattern: "/v1/version", public: true, h: a.version},
		{method: "POST", pattern: "/v1/deployments", body: true, h: a.createDeployment},
		{method: "GET", pattern: "/v1/deployments", h: a.listDeployments},
		{method: "GET", pattern: "/v1/deployments/{id}", h: a.getDeployment},
		{method: "DELETE", pattern: "/v1/deployments/{id}", h: a.deleteDeployment},
		{method: "POST", pattern: "/v1/deployments/{id}/instances", body: true, h: a.addInstance},
		{method: "GET", pattern: "/v1/deployments/{id}/instances/{type}", h: a.getInstance},
		{method: "GET", pattern: "/v1/deployments/{id}/instances/{type}/settings", h: a.getSettings},
		{method: "PUT", pattern: "/v1/deployments/{id}/instances/{type}/settings", body: true, h: a.putSettings},
		{method: "POST", pattern: "/v1/deployments/{id}/instances/{type}/tasks", body: true, h: a.startTask},
		{method: "GET", pattern: "/v1/deployments/{id}/backups", h: a.listBackups},
		{method: "GET", pattern: "/v1/deployments/{id}/backups/{backup}", h: a.getBackup},
		{method: "PUT", pattern: "/v1/deployments/{id}/instances/{type}/tls", body: true, h: a.putTLS},
		{method: "GET", pattern: "/v1/deployments/{id}/runs", h: a.listRuns},
		{method: "GET", pattern: "/v1/deployments/{id}/runs/{run}", h: a.getRun},
		{method: "POST", pattern: "/v1/deployments/{id}/runs/{run}/cancel", h: a.cancelRun},
		{method: "GET", pattern: "/v1/deployments/{id}/runs/{run}/log", h: a.getLog},
		{method: "POST", pattern: "/v1/tokens", body: true, noIdempotency: true, h: a.createToken},
		{method: "POST", pattern: "/v1/admin/lifecycle-events", body: true, h: a.lifecycleEvent},
		{method: "PUT", pattern: "/v1/admin/fleet/groups/{group}", body: true, h: a.putGroupTags},
		{method: "PUT", pattern: "/v1/admin/fleet/instances/{instance}", body: true, h: a.putInstanceAddress},
	}, append(a.accountRoutes(), a.scheduleRoutes()...)...)
}

// wrap turns a route into a handler: authentication, body limits,
// idempotency, panic recovery and the access log.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := a.cfg.Now()
		sw := &statusWriter{ResponseWriter: rw}
		c := &call{w: sw, r: r}
		replayed := false
		func() {
			defer a.recoverPanic(c)
			if !rt.public {
				caller, err := a.cfg.Auth.Authenticate(r)
				if err != nil {
					a.fail(c, authError(err))
					return
				}
				c.caller = caller
			}
			// The 404/405 fallbacks (no method) answer whatever the body.
			if rt.method != "" {
				if err := a.readBody(c, rt); err != nil {
					a.fail(c, err)
					return
				}
			}
			if rt.method == http.MethodPost && !rt.noIdempotency && r.Header.Get("Idempotency-Key") != "" {
				replayed = a.idempotent(c, rt)
				return
			}
			if rt.noIdempotency && r.Header.Get("Idempotency-Key") != "" {
				a.fail(c, badRequest("Idempotency-Key", "is not supported here: the response holds a secret that is never stored, so it cannot be replayed"))
				return
			}
			a.serve(c, rt)
		}()
		a.accessLog(c, rt, sw, start, replayed)
	})
}

// serve runs the route's handler and turns its error, if nothing was
// written yet, into a problem response.
func (a *API) serve(c *call, rt route) {
	if err := rt.h(c); err != nil {
		a.fail(c, err)
	}
}

func (a *API) recoverPanic(c *call) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	a.fail(c, fmt.Errorf("httpapi: panic: %v\n%s", v, debug.Stack()))
}

func (a *API) accessLog(c *call, rt route, sw *statusWriter, start time.Time, replayed bool) {
	r := c.r
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.String("method", r.Method),
		slog.String("route", rt.pattern),
		slog.String("path", r.URL.Path),
		slog.Int("status", sw.status()),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", a.cfg.Now().Sub(start)),
	}
	if c.caller.User != "" {
		attrs = append(attrs, slog.String("user", c.caller.User))
	}
	if id := firstNonEmpty(r.PathValue("id"), c.deployment); id != "" {
		attrs = append(attrs, slog.String("deployment", id))
	}
	if id := firstNonEmpty(r.PathValue("run"), c.run); id != "" {
		attrs = append(attrs, slog.String("run", id))
	}
	if replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// readBody reads the request body into c.body, refusing one that is too
// large, not JSON, or present on a route that takes none. Nothing has been
// done on the request's behalf when it refuses.
func (a *API) readBody(c *call, rt route) error {
	r := c.r
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return &httpError{status: http.StatusBadRequest, typ: "bad-request", detail: "the request body could not be read"}
	}
	if len(body) == 0 {
		return nil
	}
	if !rt.body {
		return badRequest("", "this request takes no body")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &httpError{status: http.StatusUnsupportedMediaType, typ: "unsupported-media-type", detail: "the request body must be application/json"}
	}
	c.body = body
	return nil
}

func tooLarge() error {
	return &httpError{status: http.StatusRequestEntityTooLarge, typ: "too-large", detail: "the request body is larger than " + strconv.Itoa(MaxBodyBytes) + " bytes"}
}

// statusWriter remembers the status and size of what was written, and
// lets http.ResponseController reach the connection (Flush) through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) written() bool { return w.code != 0 }

// bufferWriter holds a whole response so that it can be stored (for
// idempotency) before it is sent.
type bufferWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func newBufferWriter() *bufferWriter { return &bufferWriter{header: http.Header{}} }

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.buf.Write(p)
}
func (b *bufferWriter) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (b *bufferWriter) written() bool { return b.code != 0 }
