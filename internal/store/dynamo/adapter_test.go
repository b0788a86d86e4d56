package dynamo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fakeDynamo answers every request with status and body, counting them.
func fakeDynamo(t *testing.T, status int, body string) (*Store, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	s, err := New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}, Options{
		Table: "eden", MaxAttempts: 3,
		ClientOptions: []func(*dynamodb.Options){func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(srv.URL)
			o.DisableValidateResponseChecksum = true
			o.HTTPClient = &http.Client{}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &calls
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		kind      deploy.Kind
		wantCalls int64
	}{
		// Throttling is retried by the SDK's standard retryer (MaxAttempts
		// 3 here), never by hand; when it persists it is Transient.
		{"throttled", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}`, deploy.KindTransient, 3},
		{"provisioned throughput", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`, deploy.KindTransient, 3},
		{"missing table", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}`, deploy.KindInternal, 1},
		{"transaction conflict", 400, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"x","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict"}]}`, deploy.KindConflict, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, calls := fakeDynamo(t, tt.status, tt.body)
			r := &deploy.Run{ID: "r-1", DeploymentID: "d-1", Status: deploy.RunQueued}
			err := s.CreateRun(context.Background(), r)
			if deploy.KindOf(err) != tt.kind {
				t.Errorf("CreateRun: %v (kind %q), want kind %q", err, deploy.KindOf(err), tt.kind)
			}
			if !strings.HasPrefix(fmt.Sprint(err), "dynamo: create run r-1: ") {
				t.Errorf("error %q lacks the operation's context", err)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d requests sent, want %d", got, tt.wantCalls)
			}
		})
	}
}

// TestLargeRunFits measures the bound documented in the package doc: a run
// of 40 steps × 250 hosts (10 000 host results with reasons) stores under
// MaxDocBytes, and one far beyond is refused as Invalid, not sent.
func TestLargeRunFits(t *testing.T) {
	p := startMinidyn(t)
	s := p.newStore(t, &opRecorder{}, storetest.Env{Now: time.Now})
	ctx := context.Background()
	run := func(steps, hosts int) *deploy.Run {
		r := &deploy.Run{ID: "r-big", DeploymentID: "d-big", Kind: deploy.RunDeploy, Status: deploy.RunRunning, CreatedAt: t0}
		for i := range steps {
			st := deploy.Step{Name: fmt.Sprintf("step-%d", i), Role: deploy.RoleEden, Playbook: "deploy.yml", Status: deploy.StepFailed,
				BundleKey: fmt.Sprintf("bundles/d-big/r-big/%d.tar.gz", i), LogKey: fmt.Sprintf("logs/d-big/r-big/%d.log", i), CommandID: "0123456789abcdef"}
			for h := range hosts {
				host := fmt.Sprintf("10.%d.%d.%d", i, h/250, h%250)
				st.Hosts = append(st.Hosts, host)
				st.Results = append(st.Results, deploy.HostResult{Host: host, OK: 40 + h%7, Changed: h % 13, Failed: h % 2, Skipped: 3,
					Reason: fmt.Sprintf("task 'eden : migrate' failed on %s: exit status %d", host, h%5)})
			}
			r.Steps = append(r.Steps, st)
		}
		return r
	}
	big := run(40, 250)
	it, err := s.runItem(big)
	if err != nil {
		t.Fatalf("a run of 10 000 host results: %v", err)
	}
	raw, _ := record.EncodeRun(big)
	stored := len(it[attrDoc].(*types.AttributeValueMemberB).Value)
	t.Logf("40 steps × 250 hosts: %d bytes of JSON stored as %d bytes (%s)", len(raw), stored, getS(it, attrEnc))
	d := &deploy.Deployment{ID: "d-big", Owner: "alice", CreatedAt: t0, Instances: []deploy.Instance{{Type: deploy.InstanceProd}}}
	first := &deploy.Run{ID: "r-first", DeploymentID: "d-big", Status: deploy.RunSucceeded, CreatedAt: t0}
	if err := s.CreateDeployment(ctx, d, first); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(ctx, big); err != nil {
		t.Fatalf("CreateRun of the large run: %v", err)
	}
	got, err := s.GetRun(ctx, "d-big", "r-big")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(big, got); diff != "" {
		t.Errorf("large run round trip (-want +got):\n%s", diff)
	}
	huge := run(40, 5000)
	huge.ID = "r-huge"
	err = s.CreateRun(ctx, huge)
	if deploy.KindOf(err) != deploy.KindInvalid || !strings.Contains(err.Error(), "too large") {
		t.Errorf("CreateRun of a run of 200 000 host results: %v, want Invalid 'too large'", err)
	}
}
