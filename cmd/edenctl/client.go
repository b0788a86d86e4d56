package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// apiError is a problem response from the API.
type apiError struct {
	status  int
	problem httpapi.Problem
}

func (e *apiError) Error() string {
	if e.problem.Detail != "" {
		return e.problem.Detail
	}
	return http.StatusText(e.status)
}

// print writes "edenctl: <detail>" and each field error on its own line.
func (e *apiError) print(w io.Writer) {
	fmt.Fprintf(w, "edenctl: %s\n", e.Error())
	if len(e.problem.Errors) > 1 || (len(e.problem.Errors) == 1 && !strings.HasPrefix(e.problem.Detail, e.problem.Errors[0].Field+": ")) {
		for _, fe := range e.problem.Errors {
			fmt.Fprintf(w, "  %s: %s\n", fe.Field, fe.Reason)
		}
	}
	if e.status == http.StatusUnauthorized {
		fmt.Fprintln(w, "  (give a token with --token, EDEN_TOKEN, a context (edenctl context --help) or $XDG_CONFIG_HOME/edenctl/token)")
	}
	if e.status >= 500 && e.problem.RequestID != "" {
		fmt.Fprintf(w, "  (request %s)\n", e.problem.RequestID)
	}
}

// request is one API call.
type request struct {
	method, path string
	body         any // marshalled as JSON when not nil
	header       map[string]string
	// noIdempotency sends a POST without an Idempotency-Key: the routes
	// whose response holds a secret refuse one (tokens, webhooks).
	noIdempotency bool
}

// response is a successful API response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends req and returns the response, or an *apiError for a 4xx/5xx.
// A POST carries a fresh Idempotency-Key and is sent once more, with the
// same key, if the connection failed before a response came.
func (a *app) call(ctx context.Context, req request) (*response, error) {
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return nil, err
		}
	}
	key := ""
	if req.method == http.MethodPost && req.path != "/v1/tokens" && !req.noIdempotency {
		var b [16]byte
		_, _ = rand.Read(b[:])
		key = "edenctl-" + hex.EncodeToString(b[:])
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		hr, err := a.newRequest(ctx, req, body)
		if err != nil {
			return nil, err
		}
		if key != "" {
			hr.Header.Set("Idempotency-Key", key)
		}
		resp, err = a.httpc.Do(hr)
		if err == nil {
			break
		}
		if attempt > 0 || key == "" || ctx.Err() != nil {
			return nil, fmt.Errorf("cannot reach %s: %w", a.endpoint, unwrapURL(err))
		}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode >= 400 {
		return nil, problemOf(resp.StatusCode, data)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (a *app) newRequest(ctx context.Context, req request, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, strings.TrimRight(a.endpoint, "/")+req.path, rd)
	if err != nil {
		return nil, fmt.Errorf("bad endpoint %q: %w", a.endpoint, err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if tok := a.resolveToken(); tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	hr.Header.Set("User-Agent", "edenctl")
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	return hr, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func problemOf(status int, data []byte) error {
	e := &apiError{status: status}
	if json.Unmarshal(data, &e.problem) != nil || e.problem.Status == 0 {
		e.problem = httpapi.Problem{Status: status, Detail: fmt.Sprintf("%d %s", status, http.StatusText(status))}
	}
	return e
}

// get calls GET path and decodes the JSON response into v.
func (a *app) get(ctx context.Context, path string, v any) (*response, error) {
	resp, err := a.call(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return nil, err
	}
	return resp, decodeInto(resp, v)
}

func decodeInto(resp *response, v any) error {
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("the API sent a response edenctl cannot read: %w", err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

func deploymentPath(id string) string { return "/v1/deployments/" + esc(id) }

func instancePath(id, typ string) string { return deploymentPath(id) + "/instances/" + esc(typ) }

func runPath(id, run string) string { return deploymentPath(id) + "/runs/" + esc(run) }
