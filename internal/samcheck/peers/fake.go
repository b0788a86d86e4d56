package peers

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Call is one request a checking server accepted.
type Call struct {
	Service string         // "sfn", "ssm", "autoscaling", "ec2"
	Op      string         // e.g. "StartExecution"
	Body    map[string]any // JSON members, or form values (one string each)
}

// Fake holds the checking servers' state: what they were asked, and what
// they answer for Auto Scaling groups and EC2 instances.
type Fake struct {
	mu    sync.Mutex
	calls []Call
	// GroupTags are the tags of each Auto Scaling group (DescribeTags).
	GroupTags map[string]map[string]string
	// Addresses are the private IPv4 addresses of EC2 instances.
	Addresses map[string]string
	// Invocations are the SSM command invocations (instance -> status) of
	// each command ID (ListCommandInvocations).
	Invocations map[string]map[string]string
	// Schedules are the EventBridge Scheduler schedules, by name.
	Schedules map[string]map[string]any
	// Parameters are Parameter Store values by name (GetParameter).
	Parameters map[string]string
	// Hooks are the requests the webhook receiver got.
	Hooks    []Hook
	commands int
}

// Calls returns the accepted requests so far, of service if not "".
func (f *Fake) Calls(service string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if service == "" || c.Service == service {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the calls.
func (f *Fake) Reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func (f *Fake) record(c Call) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

// jsonOps are the members each JSON operation must (required) and may
// send, as the services' API references document them (the subset used).
var jsonOps = map[string]map[string]struct{ required, optional []string }{
	"sfn": {
		"StartExecution":    {[]string{"stateMachineArn"}, []string{"name", "input", "traceHeader"}},
		"StopExecution":     {[]string{"executionArn"}, []string{"error", "cause"}},
		"DescribeExecution": {[]string{"executionArn"}, nil},
		"SendTaskSuccess":   {[]string{"taskToken", "output"}, nil},
		"SendTaskFailure":   {[]string{"taskToken"}, []string{"error", "cause"}},
		"SendTaskHeartbeat": {[]string{"taskToken"}, nil},
	},
	"ssm": {
		"PutParameter":           {[]string{"Name", "Value"}, []string{"Type", "Overwrite", "Tier", "KeyId", "Description"}},
		"GetParameter":           {[]string{"Name"}, []string{"WithDecryption"}},
		"GetParametersByPath":    {[]string{"Path"}, []string{"Recursive", "WithDecryption", "MaxResults", "NextToken"}},
		"DeleteParameters":       {[]string{"Names"}, nil},
		"SendCommand":            {[]string{"DocumentName"}, []string{"InstanceIds", "Targets", "Parameters", "MaxConcurrency", "MaxErrors", "TimeoutSeconds", "OutputS3BucketName", "OutputS3KeyPrefix", "Comment", "CloudWatchOutputConfig"}},
		"CancelCommand":          {[]string{"CommandId"}, []string{"InstanceIds"}},
		"ListCommandInvocations": {nil, []string{"CommandId", "Details", "MaxResults", "NextToken", "InstanceId"}},
	},
	"events": {
		"PutEvents": {[]string{"Entries"}, []string{"EndpointId"}},
	},
}

var jsonTargets = map[string]string{"sfn": "AWSStepFunctions.", "ssm": "AmazonSSM.", "events": "AWSEvents."}

// serveJSON is a checking server for an awsJson service: the target
// header, the content type, and each body's members against jsonOps.
func (f *Fake) serveJSON(service string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), jsonTargets[service])
		spec, known := jsonOps[service][op]
		if !ok || !known {
			jsonError(w, "UnknownOperationException", "no operation "+r.Header.Get("X-Amz-Target"))
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-amz-json-1.") {
			jsonError(w, "ValidationException", "content type "+ct)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			jsonError(w, "MissingAuthenticationTokenException", "unsigned request")
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			jsonError(w, "SerializationException", err.Error())
			return
		}
		allowed := map[string]bool{}
		for _, m := range append(append([]string(nil), spec.required...), spec.optional...) {
			allowed[m] = true
		}
		for k := range body {
			if !allowed[k] {
				jsonError(w, "ValidationException", fmt.Sprintf("%s takes no member %s", op, k))
				return
			}
		}
		for _, m := range spec.required {
			if _, ok := body[m]; !ok {
				jsonError(w, "ValidationException", fmt.Sprintf("%s needs %s", op, m))
				return
			}
		}
		f.record(Call{Service: service, Op: op, Body: body})
		answer := f.answerJSON(service, op, body)
		if m, ok := answer.(map[string]any); ok && m["__notfound"] == true {
			jsonError(w, "ParameterNotFound", "no parameter "+fmt.Sprint(body["Name"]))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(answer)
	}
}

func (f *Fake) answerJSON(service, op string, body map[string]any) any {
	switch service + "." + op {
	case "sfn.StartExecution":
		arn := strings.Replace(fmt.Sprint(body["stateMachineArn"]), ":stateMachine:", ":execution:", 1) + ":" + fmt.Sprint(body["name"])
		return map[string]any{"executionArn": arn, "startDate": 1.7640792e9}
	case "sfn.StopExecution":
		return map[string]any{"stopDate": 1.7640792e9}
	case "events.PutEvents":
		entries, _ := body["Entries"].([]any)
		out := make([]any, len(entries))
		for i := range entries {
			out[i] = map[string]any{"EventId": fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)}
		}
		return map[string]any{"FailedEntryCount": 0, "Entries": out}
	case "ssm.GetParameter":
		f.mu.Lock()
		v, ok := f.Parameters[fmt.Sprint(body["Name"])]
		f.mu.Unlock()
		if !ok {
			return map[string]any{"__notfound": true}
		}
		return map[string]any{"Parameter": map[string]any{"Name": body["Name"], "Type": "SecureString", "Value": v, "Version": 1}}
	case "ssm.PutParameter":
		return map[string]any{"Version": 1, "Tier": "Standard"}
	case "ssm.GetParametersByPath":
		return map[string]any{"Parameters": []any{}}
	case "ssm.DeleteParameters":
		return map[string]any{"DeletedParameters": body["Names"], "InvalidParameters": []any{}}
	case "ssm.SendCommand":
		f.mu.Lock()
		f.commands++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.commands)
		f.mu.Unlock()
		return map[string]any{"Command": map[string]any{"CommandId": id, "DocumentName": body["DocumentName"], "Status": "Pending", "InstanceIds": body["InstanceIds"]}}
	case "ssm.ListCommandInvocations":
		f.mu.Lock()
		defer f.mu.Unlock()
		var invs []any
		for inst, status := range f.Invocations[fmt.Sprint(body["CommandId"])] {
			invs = append(invs, map[string]any{
				"CommandId": body["CommandId"], "InstanceId": inst, "Status": status, "StatusDetails": status,
				"CommandPlugins": []any{map[string]any{"Name": "applyBundle", "Status": status, "ResponseCode": 0, "Output": "ok"}},
			})
		}
		return map[string]any{"CommandInvocations": invs}
	}
	return map[string]any{}
}

func jsonError(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// queryOps are the form parameters each Query-protocol operation needs.
var queryOps = map[string]map[string][]string{
	"autoscaling": {
		"DescribeTags":                   {},
		"CompleteLifecycleAction":        {"AutoScalingGroupName", "LifecycleHookName", "LifecycleActionResult"},
		"RecordLifecycleActionHeartbeat": {"AutoScalingGroupName", "LifecycleHookName"},
	},
	"ec2": {"DescribeInstances": {}},
}

var queryVersions = map[string]string{"autoscaling": "2011-01-01", "ec2": "2016-11-15"}

// serveQuery is a checking server for a Query-protocol service (Auto
// Scaling, EC2): form body with Action and Version, XML answers.
func (f *Fake) serveQuery(service string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>unsigned request</Message></Error></ErrorResponse>`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(b))
		op := form.Get("Action")
		need, known := queryOps[service][op]
		if err != nil || !known || form.Get("Version") != queryVersions[service] {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>%s %s</Message></Error></ErrorResponse>`, op, form.Get("Version"))
			return
		}
		for _, p := range need {
			if form.Get(p) == "" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>%s needs %s</Message></Error></ErrorResponse>`, op, p)
				return
			}
		}
		body := map[string]any{}
		for k := range form {
			body[k] = form.Get(k)
		}
		f.record(Call{Service: service, Op: op, Body: body})
		w.Header().Set("Content-Type", "text/xml")
		switch service + "." + op {
		case "autoscaling.DescribeTags":
			f.mu.Lock()
			tags := f.GroupTags[form.Get("Filters.member.1.Values.member.1")]
			f.mu.Unlock()
			var members strings.Builder
			for k, v := range tags {
				fmt.Fprintf(&members, "<member><Key>%s</Key><Value>%s</Value><ResourceType>auto-scaling-group</ResourceType><PropagateAtLaunch>true</PropagateAtLaunch></member>", esc(k), esc(v))
			}
			fmt.Fprintf(w, `<DescribeTagsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeTagsResult><Tags>%s</Tags></DescribeTagsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeTagsResponse>`, members.String())
		case "autoscaling.CompleteLifecycleAction", "autoscaling.RecordLifecycleActionHeartbeat":
			fmt.Fprintf(w, `<%sResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><%sResult/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></%sResponse>`, op, op, op)
		case "ec2.DescribeInstances":
			id := form.Get("InstanceId.1")
			f.mu.Lock()
			addr, ok := f.Addresses[id]
			f.mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID '%s' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>`, esc(id))
				return
			}
			fmt.Fprintf(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item><instanceId>%s</instanceId><privateIpAddress>%s</privateIpAddress></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`, esc(id), esc(addr))
		}
	}
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
