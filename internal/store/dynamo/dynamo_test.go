package dynamo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"github.com/truora/minidyn/server"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
)

// allowedOps are the only DynamoDB operations the store may send: reads are
// GetItem, Query and BatchGetItem; never Scan.
var allowedOps = map[string]bool{
	"GetItem": true, "Query": true, "BatchGetItem": true,
	"PutItem": true, "DeleteItem": true, "UpdateItem": true,
	"TransactWriteItems": true, "BatchWriteItem": true,
	"CreateTable": true, "DescribeTable": true,
}

// opRecorder counts every operation the client sends, by name, from the
// smithy middleware stack.
type opRecorder struct {
	mu  sync.Mutex
	ops map[string]int
}

func (r *opRecorder) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("EdenRecordOperation",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				r.mu.Lock()
				if r.ops == nil {
					r.ops = map[string]int{}
				}
				r.ops[awsmiddleware.GetOperationName(ctx)]++
				r.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// check fails the test if the store sent an operation it must not.
func (r *opRecorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for op, n := range r.ops {
		names = append(names, fmt.Sprintf("%s=%d", op, n))
		if !allowedOps[op] {
			t.Errorf("the store sent %d %s request(s); only GetItem, Query and BatchGetItem may read, and Scan never", n, op)
		}
	}
	sort.Strings(names)
	t.Logf("operations sent: %v", names)
	if len(r.ops) == 0 {
		t.Error("the recorder saw no operation: is the middleware wired?")
	}
}

// peer is a DynamoDB-compatible endpoint.
type peer struct {
	endpoint string
	// tables counts tables so that each store gets its own.
	tables atomic.Int64
}

// newStore returns a store on a new table of the peer, recording its
// operations in rec.
func (p *peer) newStore(t testing.TB, rec *opRecorder, env storetest.Env) *Store {
	t.Helper()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	s, err := New(cfg, Options{
		Table:     fmt.Sprintf("eden-%d", p.tables.Add(1)),
		Retention: env.Retention,
		Now:       env.Now,
		ClientOptions: []func(*dynamodb.Options){
			func(o *dynamodb.Options) {
				o.BaseEndpoint = aws.String(p.endpoint)
				o.DisableValidateResponseChecksum = true
				// AWS_CA_BUNDLE is set on these machines; the peer is
				// plain HTTP on loopback.
				o.HTTPClient = &http.Client{}
			},
			rec.option,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func startMinidyn(t testing.TB) *peer {
	srv := httptest.NewServer(server.NewServer())
	t.Cleanup(srv.Close)
	return &peer{endpoint: srv.URL}
}

func TestConformanceMinidyn(t *testing.T) {
	p := startMinidyn(t)
	rec := &opRecorder{}
	storetest.Run(t, func(t *testing.T, env storetest.Env) deploy.Store {
		return p.newStore(t, rec, env)
	}, storetest.Options{})
	rec.check(t)
}

func TestTableSchema(t *testing.T) {
	in := TableSchema("eden")
	var gsis []string
	for _, g := range in.GlobalSecondaryIndexes {
		gsis = append(gsis, aws.ToString(g.IndexName)+":"+string(g.Projection.ProjectionType))
	}
	if want := []string{"GSI1:ALL", "GSI2:ALL"}; !slices.Equal(gsis, want) {
		t.Errorf("GSIs = %v, want %v (template.yaml declares these)", gsis, want)
	}
	var attrs []string
	for _, a := range in.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	if want := []string{"PK:S", "SK:S", "GSI1PK:S", "GSI1SK:S", "GSI2PK:S", "GSI2SK:S"}; !slices.Equal(attrs, want) {
		t.Errorf("attribute definitions = %v, want %v", attrs, want)
	}
}
