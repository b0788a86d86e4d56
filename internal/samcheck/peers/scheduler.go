package peers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The EventBridge Scheduler operations used (restJson1: the operation is
// the method and path), with the body members each must and may send, as
// the Scheduler API reference documents them.
var schedulerOps = map[string]struct{ required, optional []string }{
	"POST": {[]string{"ScheduleExpression", "FlexibleTimeWindow", "Target"},
		[]string{"GroupName", "ScheduleExpressionTimezone", "State", "Description", "StartDate", "EndDate", "KmsKeyArn", "ActionAfterCompletion", "ClientToken"}},
	"PUT": {[]string{"ScheduleExpression", "FlexibleTimeWindow", "Target"},
		[]string{"GroupName", "ScheduleExpressionTimezone", "State", "Description", "StartDate", "EndDate", "KmsKeyArn", "ActionAfterCompletion", "ClientToken"}},
	"DELETE": {},
}

var (
	schedulePath = regexp.MustCompile(`^/schedules/([0-9A-Za-z_.-]{1,64})$`)
	targetMember = map[string]bool{"Arn": true, "RoleArn": true, "Input": true, "RetryPolicy": true, "DeadLetterConfig": true}
)

// serveScheduler is a checking server for EventBridge Scheduler: signed
// requests, the operation's path and members, a target with an ARN and a
// role, and the schedules it holds (UpdateSchedule and DeleteSchedule of
// one it does not hold are ResourceNotFoundException, as on AWS).
func (f *Fake) serveScheduler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, typ, msg string) {
			w.Header().Set("X-Amzn-ErrorType", typ)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"Message": msg})
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			fail(http.StatusForbidden, "AccessDeniedException", "unsigned request")
			return
		}
		m := schedulePath.FindStringSubmatch(r.URL.Path)
		spec, known := schedulerOps[r.Method]
		if m == nil || !known {
			fail(http.StatusBadRequest, "ValidationException", "no operation "+r.Method+" "+r.URL.Path)
			return
		}
		name := m[1]
		body := map[string]any{}
		if r.Method != http.MethodDelete {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				fail(http.StatusBadRequest, "ValidationException", "content type "+ct)
				return
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				fail(http.StatusBadRequest, "ValidationException", err.Error())
				return
			}
		}
		allowed := map[string]bool{}
		for _, k := range append(append([]string(nil), spec.required...), spec.optional...) {
			allowed[k] = true
		}
		for k := range body {
			if !allowed[k] {
				fail(http.StatusBadRequest, "ValidationException", fmt.Sprintf("%s %s takes no member %s", r.Method, r.URL.Path, k))
				return
			}
		}
		for _, k := range spec.required {
			if _, ok := body[k]; !ok {
				fail(http.StatusBadRequest, "ValidationException", "missing "+k)
				return
			}
		}
		if tgt, ok := body["Target"].(map[string]any); ok || body["Target"] != nil {
			for k := range tgt {
				if !targetMember[k] {
					fail(http.StatusBadRequest, "ValidationException", "Target takes no member "+k)
					return
				}
			}
			if tgt["Arn"] == nil || tgt["RoleArn"] == nil {
				fail(http.StatusBadRequest, "ValidationException", "Target needs Arn and RoleArn")
				return
			}
		}
		if expr, _ := body["ScheduleExpression"].(string); r.Method != http.MethodDelete && !strings.HasPrefix(expr, "cron(") && !strings.HasPrefix(expr, "rate(") && !strings.HasPrefix(expr, "at(") {
			fail(http.StatusBadRequest, "ValidationException", "Invalid Schedule Expression "+expr)
			return
		}
		op := map[string]string{"POST": "CreateSchedule", "PUT": "UpdateSchedule", "DELETE": "DeleteSchedule"}[r.Method]
		if g := r.URL.Query().Get("groupName"); g != "" {
			body["GroupName"] = g
		}
		body["Name"] = name
		f.mu.Lock()
		if f.Schedules == nil {
			f.Schedules = map[string]map[string]any{}
		}
		_, exists := f.Schedules[name]
		switch {
		case op == "CreateSchedule" && exists:
			f.mu.Unlock()
			fail(http.StatusConflict, "ConflictException", "schedule "+name+" already exists")
			return
		case op != "CreateSchedule" && !exists:
			f.mu.Unlock()
			fail(http.StatusNotFound, "ResourceNotFoundException", "Schedule "+name+" does not exist.")
			return
		case op == "DeleteSchedule":
			delete(f.Schedules, name)
		default:
			f.Schedules[name] = body
		}
		f.mu.Unlock()
		f.record(Call{Service: "scheduler", Op: op, Body: body})
		w.Header().Set("Content-Type", "application/json")
		if op == "DeleteSchedule" {
			_, _ = w.Write([]byte("{}"))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/" + fmt.Sprint(body["GroupName"]) + "/" + name})
	}
}

// ServeScheduler is the Scheduler checking server on its own, for the
// adapter's tests.
func (f *Fake) ServeScheduler() http.Handler { return f.serveScheduler() }

// ServeEvents is the EventBridge checking server on its own.
func (f *Fake) ServeEvents() http.Handler { return f.serveJSON("events") }
