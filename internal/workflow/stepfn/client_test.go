package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

const machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:eden-run"

// fakeSFN answers the Step Functions JSON 1.0 protocol for the six
// operations the Client uses, checking each request against the API
// reference (target header, content type, signature, fields, lengths and
// name characters) and answering with its response and error shapes.
type fakeSFN struct {
	t        *testing.T
	mu       sync.Mutex
	execs    map[string]*fakeExec // by ARN
	tokens   map[string]string    // token → "open" | "timedout" | "closed"
	requests []string             // operations, in order
	bodies   []map[string]any
}

type fakeExec struct {
	arn, name, input, status, output, errName, cause string
	start, stop                                      time.Time
	history                                          []string // event types, in order
}

// Per the API reference: names are 1–80 characters without whitespace,
// brackets, wildcards, the listed specials or control characters.
var badNameChar = regexp.MustCompile(`[\s<>{}\[\]?*"#%\\^|~$&,;:/\x{60}\x00-\x1f\x{7f}-\x{9f}]`)

var allowedFields = map[string][]string{
	"StartExecution":    {"stateMachineArn", "name", "input", "traceHeader"},
	"DescribeExecution": {"executionArn", "includedData"},
	"SendTaskSuccess":   {"taskToken", "output"},
	"SendTaskFailure":   {"taskToken", "error", "cause"},
	"SendTaskHeartbeat": {"taskToken"},
	"StopExecution":     {"executionArn", "error", "cause"},
	// GetExecutionHistory's members that are not strings.
	"GetExecutionHistory": {"executionArn", "maxResults", "nextToken", "includeExecutionData", "reverseOrder"},
}

// nonString are the members whose JSON type is not string, and theirs.
var nonString = map[string]string{"maxResults": "number", "includeExecutionData": "boolean", "reverseOrder": "boolean"}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		// Step Functions qualifies __type; the SDK keeps what follows '#'.
		fmt.Fprintf(w, `{"__type":"com.amazonaws.swf.service.model.v20161123#%s","message":%q}`, typ, msg)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(a, "/states/aws4_request") {
		f.t.Errorf("Authorization %q is not a SigV4 signature for states", a)
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	if !ok || allowedFields[op] == nil {
		f.t.Errorf("X-Amz-Target %q", r.Header.Get("X-Amz-Target"))
		fail(400, "UnknownOperationException", "unknown operation")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body is not a JSON object: %s", op, raw)
	}
	for k, v := range body {
		if !contains(allowedFields[op], k) {
			f.t.Errorf("%s: unexpected field %q", op, k)
		}
		switch v.(type) {
		case string:
			if nonString[k] != "" {
				f.t.Errorf("%s: field %q is a string, want a %s", op, k, nonString[k])
			}
		case float64:
			if nonString[k] != "number" {
				f.t.Errorf("%s: field %q is a number", op, k)
			}
		case bool:
			if nonString[k] != "boolean" {
				f.t.Errorf("%s: field %q is a boolean", op, k)
			}
		default:
			f.t.Errorf("%s: field %q is %T", op, k, v)
		}
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, op)
	f.bodies = append(f.bodies, body)
	require := func(fields ...string) bool {
		for _, k := range fields {
			if str(k) == "" {
				f.t.Errorf("%s: required field %q missing", op, k)
				fail(400, "MissingRequiredParameter", k)
				return false
			}
		}
		return true
	}
	checkErrCause := func() bool {
		if len(str("error")) > 256 || len(str("cause")) > 32768 {
			f.t.Errorf("%s: error (%d) or cause (%d) over the limit", op, len(str("error")), len(str("cause")))
			fail(400, "ValidationException", "too long")
			return false
		}
		return true
	}
	checkToken := func() (string, bool) {
		tok := str("taskToken")
		if len(tok) > 2048 {
			fail(400, "InvalidToken", "Invalid token")
			return "", false
		}
		switch f.tokens[tok] {
		case "open":
			return tok, true
		case "timedout":
			fail(400, "TaskTimedOut", "Task Timed Out")
		default:
			fail(400, "TaskDoesNotExist", "Task does not exist")
		}
		return "", false
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		json.NewEncoder(w).Encode(v)
	}
	epoch := func(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

	switch op {
	case "StartExecution":
		if !require("stateMachineArn", "name") {
			return
		}
		name, in := str("name"), str("input")
		if len(name) > 80 || badNameChar.MatchString(name) {
			fail(400, "InvalidName", "Invalid Name: '"+name+"'")
			return
		}
		if in == "" || !json.Valid([]byte(in)) || len(in) > 256*1024 {
			fail(400, "InvalidExecutionInput", "Invalid State Machine Execution Input")
			return
		}
		if str("stateMachineArn") != machineARN {
			fail(400, "StateMachineDoesNotExist", "State Machine Does Not Exist")
			return
		}
		arn := strings.Replace(machineARN, ":stateMachine:", ":execution:", 1) + ":" + name
		if x := f.execs[arn]; x != nil {
			// Idempotent for a running execution with the same input.
			if x.status == "RUNNING" && x.input == in {
				reply(map[string]any{"executionArn": arn, "startDate": epoch(x.start)})
				return
			}
			fail(400, "ExecutionAlreadyExists", "Execution Already Exists: '"+arn+"'")
			return
		}
		x := &fakeExec{arn: arn, name: name, input: in, status: "RUNNING", start: time.Unix(1700000000, 0)}
		f.execs[arn] = x
		reply(map[string]any{"executionArn": arn, "startDate": epoch(x.start)})
	case "DescribeExecution":
		if !require("executionArn") {
			return
		}
		if !strings.HasPrefix(str("executionArn"), "arn:aws:states:") {
			fail(400, "InvalidArn", "Invalid Arn")
			return
		}
		x := f.execs[str("executionArn")]
		if x == nil {
			fail(400, "ExecutionDoesNotExist", "Execution Does Not Exist")
			return
		}
		out := map[string]any{"executionArn": x.arn, "stateMachineArn": machineARN, "name": x.name, "status": x.status,
			"startDate": epoch(x.start), "input": x.input, "inputDetails": map[string]any{"included": true}}
		if x.status != "RUNNING" {
			out["stopDate"] = epoch(x.stop)
		}
		if x.output != "" {
			out["output"] = x.output
		}
		if x.errName != "" {
			out["error"] = x.errName
		}
		if x.cause != "" {
			out["cause"] = x.cause
		}
		reply(out)
	case "SendTaskSuccess":
		if !require("taskToken", "output") {
			return
		}
		if !json.Valid([]byte(str("output"))) {
			fail(400, "InvalidOutput", "Invalid Output")
			return
		}
		if tok, ok := checkToken(); ok {
			f.tokens[tok] = "closed"
			reply(map[string]any{})
		}
	case "SendTaskFailure":
		if !require("taskToken") || !checkErrCause() {
			return
		}
		if tok, ok := checkToken(); ok {
			f.tokens[tok] = "closed"
			reply(map[string]any{})
		}
	case "SendTaskHeartbeat":
		if !require("taskToken") {
			return
		}
		if _, ok := checkToken(); ok {
			reply(map[string]any{})
		}
	case "StopExecution":
		if !require("executionArn") || !checkErrCause() {
			return
		}
		x := f.execs[str("executionArn")]
		if x == nil {
			fail(400, "ExecutionDoesNotExist", "Execution Does Not Exist")
			return
		}
		x.status, x.errName, x.cause, x.stop = "ABORTED", str("error"), str("cause"), time.Unix(1700000100, 0)
		reply(map[string]any{"stopDate": epoch(x.stop)})
	case "GetExecutionHistory":
		f.history(body, f.execs[str("executionArn")], reply, fail)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func newTestClient(t *testing.T) (*Client, *fakeSFN) {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "") // not used: no shared config is loaded, but be explicit
	f := &fakeSFN{t: t, execs: map[string]*fakeExec{}, tokens: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api := sfn.New(sfn.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		// A connection per request: no keep-alive reuse to race with the
		// server under load. A connection that still breaks under load
		// (net/http can report "use of closed network connection" while a
		// closing connection's body is read) is retried as the SDK does
		// against AWS; the fake's errors are all non-retryable.
		HTTPClient:       &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		RetryMaxAttempts: 3,
	})
	c, err := New(api, map[string]string{"run": machineARN, "gone": strings.Replace(machineARN, "eden-run", "deleted", 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestStartExecution(t *testing.T) {
	c, f := newTestClient(t)
	ctx := context.Background()
	name := workflow.ExecutionName("run:01HZ/with odd chars")
	id, err := c.StartExecution(ctx, "run", name, []byte(`{"runId":"r1"}`))
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	if want := "arn:aws:states:us-east-1:123456789012:execution:eden-run:" + name; id != want {
		t.Errorf("id = %q, want %q", id, want)
	}
	wantBody := map[string]any{"stateMachineArn": machineARN, "name": name, "input": `{"runId":"r1"}`}
	if diff := cmp.Diff(wantBody, f.bodies[0]); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
	again, err := c.StartExecution(ctx, "run", name, []byte(`{"runId":"r1"}`))
	if err != nil || again != id {
		t.Errorf("same name and input: %q, %v; want the running execution", again, err)
	}
	if _, err := c.StartExecution(ctx, "run", name, []byte(`{"runId":"r2"}`)); !errors.Is(err, workflow.ErrExecutionExists) {
		t.Errorf("same name, other input: err = %v, want ErrExecutionExists", err)
	}
	n := len(f.requests)
	if _, err := c.StartExecution(ctx, "nope", name, nil); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("unknown machine: err = %v, want ErrNotFound", err)
	}
	if len(f.requests) != n {
		t.Error("an unknown machine still made a request")
	}
	if _, err := c.StartExecution(ctx, "gone", "x", nil); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("deleted state machine: err = %v, want ErrNotFound", err)
	}
	if _, err := c.StartExecution(ctx, "run", "bad name", nil); err == nil || errors.Is(err, workflow.ErrExecutionExists) {
		t.Errorf("invalid name: err = %v, want an InvalidName error", err)
	}
}

func TestDescribeAndStop(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := context.Background()
	id, err := c.StartExecution(ctx, "run", "r-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := c.DescribeExecution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := workflow.Execution{ID: id, Machine: "run", Name: "r-1", Status: workflow.StatusRunning, Input: []byte(`{}`), Start: time.Unix(1700000000, 0)}
	if diff := cmp.Diff(want, x, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
	if err := c.StopExecution(ctx, id, "UserCancelled", strings.Repeat("é", 20000)); err != nil {
		t.Fatalf("StopExecution: %v", err)
	}
	x, err = c.DescribeExecution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != workflow.StatusAborted || x.Error != "UserCancelled" || len(x.Cause) > 32768 || !utf8Valid(x.Cause) || x.Stop.IsZero() {
		t.Errorf("stopped: %s %s cause %d bytes, stop %v", x.Status, x.Error, len(x.Cause), x.Stop)
	}
	for _, bad := range []string{"arn:aws:states:us-east-1:123456789012:execution:eden-run:nope", "not-an-arn"} {
		if _, err := c.DescribeExecution(ctx, bad); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("describe %s: err = %v, want ErrNotFound", bad, err)
		}
	}
	if err := c.StopExecution(ctx, "arn:aws:states:us-east-1:123456789012:execution:eden-run:nope", "", ""); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("stop unknown: err = %v, want ErrNotFound", err)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestTaskTokens(t *testing.T) {
	c, f := newTestClient(t)
	ctx := context.Background()
	f.tokens["open-1"], f.tokens["open-2"], f.tokens["open-3"], f.tokens["late"] = "open", "open", "open", "timedout"
	if err := c.SendTaskHeartbeat(ctx, "open-1"); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	if err := c.SendTaskSuccess(ctx, "open-1", []byte(`{"ok":true}`)); err != nil {
		t.Errorf("success: %v", err)
	}
	if err := c.SendTaskFailure(ctx, "open-2", strings.Repeat("E", 300), "boom"); err != nil {
		t.Errorf("failure: %v", err)
	}
	if got := f.bodies[len(f.bodies)-1]["error"].(string); len(got) != 256 {
		t.Errorf("error name sent with %d characters, want it cut to 256", len(got))
	}
	notFound := []struct {
		name string
		call func() error
	}{
		{"success on a closed token", func() error { return c.SendTaskSuccess(ctx, "open-1", []byte(`{}`)) }},
		{"failure on an unknown token", func() error { return c.SendTaskFailure(ctx, "nope", "E", "c") }},
		{"heartbeat on a timed-out task", func() error { return c.SendTaskHeartbeat(ctx, "late") }},
		{"success with an invalid token", func() error { return c.SendTaskSuccess(ctx, strings.Repeat("x", 3000), []byte(`{}`)) }},
	}
	for _, tt := range notFound {
		if err := tt.call(); !errors.Is(err, workflow.ErrTaskNotFound) {
			t.Errorf("%s: err = %v, want ErrTaskNotFound", tt.name, err)
		}
	}
	wantOps := []string{"SendTaskHeartbeat", "SendTaskSuccess", "SendTaskFailure", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat", "SendTaskSuccess"}
	if diff := cmp.Diff(wantOps, f.requests); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}
