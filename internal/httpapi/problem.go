package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Problem is an RFC 9457 problem document, the body of every error
// response, with the request ID and the field errors of an invalid request.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
	Errors    []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one problem with one field of the request.
type FieldProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ProblemTypeBase prefixes a problem's type, followed by its slug
// ("invalid", "conflict", ...); the OpenAPI document lists the slugs.
const ProblemTypeBase = "https://edendeploy.github.io/problems/"

// httpError is an error of the HTTP layer itself (a protocol problem, not a
// domain one), with its status already decided.
type httpError struct {
	status int
	typ    string
	detail string
	fields []FieldProblem
}

func (e *httpError) Error() string { return e.detail }

func badRequest(field, reason string) error {
	e := &httpError{status: http.StatusBadRequest, typ: "invalid", detail: reason}
	if field != "" {
		e.detail = field + ": " + reason
		e.fields = []FieldProblem{{Field: field, Reason: reason}}
	}
	return e
}

func notImplemented(what string) error {
	return &httpError{status: http.StatusNotImplemented, typ: "not-implemented", detail: what + " is not available on this control plane"}
}

func authError(err error) error {
	if errors.Is(err, ErrUnauthenticated) {
		return &httpError{status: http.StatusUnauthorized, typ: "unauthenticated", detail: "a valid bearer token is required"}
	}
	return err
}

// problemFor decides the status and body of err: the one place where kinds
// become statuses. Invalid input is 400 (422 is kept for an
// Idempotency-Key reused with another request); a Conflict about the
// settings version a client read is 412, as is any failed If-Match.
func problemFor(err error) Problem {
	var he *httpError
	if errors.As(err, &he) {
		return Problem{Type: ProblemTypeBase + he.typ, Title: http.StatusText(he.status), Status: he.status, Detail: he.detail, Errors: he.fields}
	}
	var status int
	var typ string
	switch deploy.KindOf(err) {
	case deploy.KindInvalid:
		status, typ = http.StatusBadRequest, "invalid"
	case deploy.KindConflict:
		status, typ = http.StatusConflict, "conflict"
		for _, fe := range deploy.FieldErrors(err) {
			if fe.Kind == deploy.KindConflict && fe.Field == "settings_version" {
				status, typ = http.StatusPreconditionFailed, "stale"
			}
		}
	case deploy.KindNotFound:
		status, typ = http.StatusNotFound, "not-found"
	case deploy.KindForbidden:
		status, typ = http.StatusForbidden, "forbidden"
	case deploy.KindTransient:
		status, typ = http.StatusServiceUnavailable, "unavailable"
	default:
		return Problem{Type: ProblemTypeBase + "internal", Title: http.StatusText(http.StatusInternalServerError), Status: http.StatusInternalServerError,
			Detail: "something went wrong on our side; quote the request ID if you report it"}
	}
	p := Problem{Type: ProblemTypeBase + typ, Title: http.StatusText(status), Status: status}
	// Only the domain errors' own field and reason reach the client: the
	// context wrapped around them ("control: create d-...: store: ...")
	// names internals.
	fes := deploy.FieldErrors(err)
	for _, fe := range fes {
		if fe.Field != "" {
			p.Errors = append(p.Errors, FieldProblem{Field: fe.Field, Reason: fe.Reason})
		}
	}
	switch {
	case len(fes) == 1:
		p.Detail = fes[0].Reason
		if fes[0].Field != "" {
			p.Detail = fes[0].Field + ": " + fes[0].Reason
		}
	case len(fes) > 1:
		p.Detail = "the request has " + strconv.Itoa(len(fes)) + " problems"
	default:
		p.Detail = http.StatusText(status)
	}
	return p
}

// fail writes err as a problem response, unless the response has started
// (then it can only be logged). Internal errors are logged with the
// request ID; the others are the client's business and are not.
func (a *API) fail(c *call, err error) {
	p := problemFor(err)
	p.RequestID = RequestID(c.r.Context())
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable && p.Status != http.StatusNotImplemented {
		a.log.LogAttrs(c.r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", p.RequestID), slog.String("user", c.caller.User),
			slog.String("deployment", firstNonEmpty(c.r.PathValue("id"), c.deployment)),
			slog.String("run", firstNonEmpty(c.r.PathValue("run"), c.run)),
			slog.String("err", err.Error()))
	}
	if w, ok := c.w.(interface{ written() bool }); ok && w.written() {
		if p.Status < 500 {
			a.log.WarnContext(c.r.Context(), "an error came after the response started", "request_id", p.RequestID, "err", err.Error())
		}
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/problem+json")
	switch p.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="edendeploy"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	body, _ := json.Marshal(p)
	c.w.WriteHeader(p.Status)
	_, _ = c.w.Write(append(body, '\n'))
}

// writeJSON writes v as the JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	if err != nil {
		// The client went away; nothing more can be said to it.
		return nil
	}
	return nil
}
