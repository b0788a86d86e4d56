package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// queryServer answers the AWS Query protocol (Auto Scaling and EC2): it
// checks each request's Action, Version and parameters, and replies with
// the documented XML shapes.
type queryServer struct {
	t        *testing.T
	mu       sync.Mutex
	requests []url.Values
	// completed records CompleteLifecycleAction calls.
	pending map[string]bool // instance ID → lifecycle action pending
}

func (s *queryServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.t.Errorf("request %s with Content-Type %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.t.Errorf("request is not SigV4-signed")
	}
	if err := r.ParseForm(); err != nil {
		s.t.Fatal(err)
	}
	q := r.PostForm
	s.mu.Lock()
	s.requests = append(s.requests, q)
	s.mu.Unlock()
	require := func(keys ...string) bool {
		for _, k := range keys {
			if q.Get(k) == "" {
				s.t.Errorf("%s: missing required parameter %s in %v", q.Get("Action"), k, q)
				return false
			}
		}
		return true
	}
	switch q.Get("Action") {
	case "DescribeTags":
		s.version(q, "2011-01-01")
		if q.Get("Filters.member.1.Name") != "auto-scaling-group" {
			s.t.Errorf("DescribeTags filter name %q", q.Get("Filters.member.1.Name"))
		}
		group := q.Get("Filters.member.1.Values.member.1")
		members := ""
		if group == "eden-web" {
			for _, kv := range [][2]string{{"eden-deploy:deployment", "d-1"}, {"eden-deploy:role", "eden"}} {
				members += fmt.Sprintf(`<member><ResourceId>%s</ResourceId><PropagateAtLaunch>true</PropagateAtLaunch><Value>%s</Value><Key>%s</Key><ResourceType>auto-scaling-group</ResourceType></member>`, group, kv[1], kv[0])
			}
		}
		fmt.Fprintf(w, `<DescribeTagsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeTagsResult><Tags>%s</Tags></DescribeTagsResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DescribeTagsResponse>`, members)
	case "CompleteLifecycleAction", "RecordLifecycleActionHeartbeat":
		s.version(q, "2011-01-01")
		keys := []string{"AutoScalingGroupName", "LifecycleHookName", "LifecycleActionToken", "InstanceId"}
		if q.Get("Action") == "CompleteLifecycleAction" {
			keys = append(keys, "LifecycleActionResult")
			if r := q.Get("LifecycleActionResult"); r != "CONTINUE" && r != "ABANDON" {
				s.t.Errorf("LifecycleActionResult %q", r)
			}
		}
		require(keys...)
		s.mu.Lock()
		pending := s.pending[q.Get("InstanceId")]
		if q.Get("Action") == "CompleteLifecycleAction" {
			delete(s.pending, q.Get("InstanceId"))
		}
		s.mu.Unlock()
		if !pending {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>No active Lifecycle Action found with instance ID %s</Message></Error><RequestId>req-2</RequestId></ErrorResponse>`, q.Get("InstanceId"))
			return
		}
		a := q.Get("Action")
		fmt.Fprintf(w, `<%sResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><%sResult/><ResponseMetadata><RequestId>req-3</RequestId></ResponseMetadata></%sResponse>`, a, a, a)
	case "DescribeInstances":
		s.version(q, "2016-11-15")
		id := q.Get("InstanceId.1")
		if id != "i-0123456789abcdef0" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID '%s' does not exist</Message></Error></Errors><RequestID>req-4</RequestID></Response>`, id)
			return
		}
		fmt.Fprintf(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-5</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><instancesSet><item><instanceId>%s</instanceId><privateIpAddress>10.0.1.7</privateIpAddress><privateDnsName>ip-10-0-1-7.ec2.internal</privateDnsName></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`, id)
	default:
		s.t.Errorf("unexpected action %q", q.Get("Action"))
		w.WriteHeader(http.StatusBadRequest)
	}
}

func (s *queryServer) version(q url.Values, want string) {
	if q.Get("Version") != want {
		s.t.Errorf("%s: Version %q, want %q", q.Get("Action"), q.Get("Version"), want)
	}
}

func newFleet(t *testing.T) (*Fleet, *queryServer) {
	t.Setenv("AWS_CA_BUNDLE", "")
	qs := &queryServer{t: t, pending: map[string]bool{"i-0123456789abcdef0": true}}
	srv := httptest.NewServer(qs)
	t.Cleanup(srv.Close)
	creds := credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")
	as := autoscaling.New(autoscaling.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client()})
	e := ec2.New(ec2.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client()})
	return &Fleet{AutoScaling: as, EC2: e}, qs
}

func TestGroupTags(t *testing.T) {
	f, _ := newFleet(t)
	got, err := f.GroupTags(context.Background(), "eden-web")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"eden-deploy:deployment": "d-1", "eden-deploy:role": "eden"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	none, err := f.GroupTags(context.Background(), "other")
	if err != nil || len(none) != 0 {
		t.Errorf("tags of an untagged group = %v, %v; want none", none, err)
	}
}

func TestInstanceAddress(t *testing.T) {
	f, _ := newFleet(t)
	got, err := f.InstanceAddress(context.Background(), "i-0123456789abcdef0")
	if err != nil || got != "10.0.1.7" {
		t.Fatalf("InstanceAddress = %q, %v; want 10.0.1.7", got, err)
	}
	_, err = f.InstanceAddress(context.Background(), "i-00000000000000000")
	if !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("unknown instance: error %v, want NotFound", err)
	}
}

func TestCompleteLifecycleAction(t *testing.T) {
	f, qs := newFleet(t)
	a := deploy.LifecycleAction{GroupName: "eden-web", HookName: "launch", Token: "tok-1", InstanceID: "i-0123456789abcdef0"}
	if err := f.RecordLifecycleActionHeartbeat(context.Background(), a); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if err := f.CompleteLifecycleAction(context.Background(), a, "CONTINUE"); err != nil {
		t.Fatalf("complete: %v", err)
	}
	// The action is no longer pending: completing again is not an error.
	if err := f.CompleteLifecycleAction(context.Background(), a, "CONTINUE"); err != nil {
		t.Fatalf("second complete: %v", err)
	}
	var got []map[string]string
	for _, q := range qs.requests {
		got = append(got, map[string]string{
			"Action": q.Get("Action"), "AutoScalingGroupName": q.Get("AutoScalingGroupName"),
			"LifecycleHookName": q.Get("LifecycleHookName"), "LifecycleActionToken": q.Get("LifecycleActionToken"),
			"InstanceId": q.Get("InstanceId"), "LifecycleActionResult": q.Get("LifecycleActionResult"),
		})
	}
	call := func(action, result string) map[string]string {
		return map[string]string{"Action": action, "AutoScalingGroupName": "eden-web", "LifecycleHookName": "launch",
			"LifecycleActionToken": "tok-1", "InstanceId": "i-0123456789abcdef0", "LifecycleActionResult": result}
	}
	want := []map[string]string{call("RecordLifecycleActionHeartbeat", ""), call("CompleteLifecycleAction", "CONTINUE"), call("CompleteLifecycleAction", "CONTINUE")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
