package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	storetest.RunBackups(t, func(t *testing.T, env storetest.Env) deploy.Store {
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

// failTransaction makes the client's nth TransactWriteItems from now fail
// before it is sent, once armed.
type failTransaction struct {
	mu    sync.Mutex
	armed bool
	left  int
}

func (f *failTransaction) arm(n int) { f.mu.Lock(); f.armed, f.left = true, n; f.mu.Unlock() }

func (f *failTransaction) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("EdenFailTransaction",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				f.mu.Lock()
				fail := false
				if f.armed && awsmiddleware.GetOperationName(ctx) == "TransactWriteItems" {
					f.left--
					fail = f.left == 0
					f.armed = !fail
				}
				f.mu.Unlock()
				if fail {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: connection lost")
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// TestDeleteInterrupted loses the connection after a large deployment's
// delete transaction, before the claims that did not fit in it are
// released: the deployment is gone, and deleting it again (NotFound)
// releases them.
func TestDeleteInterrupted(t *testing.T) {
	ctx := context.Background()
	p := startMinidyn(t)
	fail := &failTransaction{}
	s := p.newStore(t, &opRecorder{}, storetest.Env{Now: time.Now})
	s.db = dynamodb.New(s.db.Options(), fail.option)

	d, joined := createWithServers(t, s, 55)
	last := joined[len(joined)-1]

	fail.arm(2) // the deployment's transaction passes; the first release fails
	if err := s.DeleteDeployment(ctx, d.ID); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("DeleteDeployment with the connection lost = %v, want the injected error", err)
	}
	if _, err := s.GetDeployment(ctx, d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Fatalf("GetDeployment after the interrupted delete = %v, want NotFound", err)
	}
	if owner, _, err := s.FindServerByInstanceID(ctx, last.InstanceID); err != nil || owner != d.ID {
		t.Fatalf("FindServerByInstanceID(last) after the interrupted delete = %q, %v; want still claimed by %s (else this test proves nothing)", owner, err, d.ID)
	}

	if err := s.DeleteDeployment(ctx, d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Fatalf("DeleteDeployment again = %v, want NotFound", err)
	}
	if _, _, err := s.FindServerByHost(ctx, last.Host); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("FindServerByHost(last) after the second delete = %v, want NotFound", err)
	}
	if it, _ := s.getItem(ctx, "read", key(pfxDeployment+d.ID, skRelease)); it != nil {
		t.Error("the release record outlived the second delete")
	}
	if _, _, err := s.FindServerByInstanceID(ctx, last.InstanceID); !deploy.IsKind(err, deploy.KindNotFound) {
		t.Errorf("FindServerByInstanceID(last) after the second delete = %v, want NotFound", err)
	}
}

// createWithServers creates a deployment on s with one declared server and
// n more that join with instance IDs (two claims each), and returns it and
// the joined servers.
func createWithServers(t *testing.T, s *Store, n int) (*deploy.Deployment, []deploy.Server) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	d := &deploy.Deployment{
		ID: deploy.NewID("d-", now), Name: "big", Owner: "alice", CreatedAt: now, UpdatedAt: now,
		Eden: deploy.DefaultEdenRepo, Web2py: deploy.DefaultWeb2pyRepo,
		Servers:   []deploy.Server{{Host: "10.2.0.1", Role: deploy.RoleAll, Origin: deploy.OriginDeclared, AddedAt: now}},
		Instances: []deploy.Instance{{Type: deploy.InstanceProd, URL: "https://big.example.org"}},
	}
	first := &deploy.Run{ID: deploy.NewID("r-", now), DeploymentID: d.ID, Kind: deploy.RunDeploy, Status: deploy.RunSucceeded, CreatedAt: now}
	if err := s.CreateDeployment(ctx, d, first); err != nil {
		t.Fatal(err)
	}
	var joined []deploy.Server
	for i := range n {
		srv := deploy.Server{Host: fmt.Sprintf("10.2.1.%d", i+1), Role: deploy.RoleAll, InstanceID: fmt.Sprintf("i-%017x", 0x2e000+i), Origin: deploy.OriginAutoscaling, AddedAt: now}
		if err := s.AddServer(ctx, d.ID, srv); err != nil {
			t.Fatal(err)
		}
		joined = append(joined, srv)
	}
	return d, joined
}

// releaseReads counts the client's GetItem requests for a release record
// (SK RELEASE).
type releaseReads struct{ n atomic.Int64 }

func (r *releaseReads) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("EdenCountReleaseReads",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if get, ok := in.Parameters.(*dynamodb.GetItemInput); ok && getS(get.Key, AttrSK) == skRelease {
					r.n.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// TestDeleteReadsReleaseRecord checks that DeleteDeployment reads the
// release record only when one may exist: after writing it (more claims
// than one transaction holds), or when the deployment is already gone (an
// interrupted delete may have left one). An ordinary delete, whose claims
// all go in its one transaction, does no such read.
func TestDeleteReadsReleaseRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		joined int
		// reads is the number of release record reads of the first delete.
		reads int64
	}{
		{"claims fit in one transaction", 3, 0},
		{"more claims than one transaction holds", 55, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := startMinidyn(t)
			reads := &releaseReads{}
			s := p.newStore(t, &opRecorder{}, storetest.Env{Now: time.Now})
			s.db = dynamodb.New(s.db.Options(), reads.option)
			d, joined := createWithServers(t, s, tc.joined)
			now := time.Now().UTC()
			pull := &deploy.Run{ID: deploy.NewID("r-", now), DeploymentID: d.ID, Kind: deploy.RunPull, Instance: deploy.InstanceProd, Status: deploy.RunSucceeded, CreatedAt: now}
			if err := s.CreateRun(ctx, pull); err != nil {
				t.Fatal(err)
			}

			if err := s.DeleteDeployment(ctx, d.ID); err != nil {
				t.Fatalf("DeleteDeployment = %v", err)
			}
			if n := reads.n.Load(); n != tc.reads {
				t.Errorf("DeleteDeployment read the release record %d times, want %d", n, tc.reads)
			}
			// The delete did all its work all the same.
			if _, err := s.GetDeployment(ctx, d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Errorf("GetDeployment after delete = %v, want NotFound", err)
			}
			for _, srv := range append(d.Servers, joined...) {
				if _, _, err := s.FindServerByHost(ctx, srv.Host); !deploy.IsKind(err, deploy.KindNotFound) {
					t.Errorf("FindServerByHost(%s) after delete = %v, want NotFound", srv.Host, err)
				}
			}
			for _, srv := range joined {
				if _, _, err := s.FindServerByInstanceID(ctx, srv.InstanceID); !deploy.IsKind(err, deploy.KindNotFound) {
					t.Errorf("FindServerByInstanceID(%s) after delete = %v, want NotFound", srv.InstanceID, err)
				}
			}
			if rs, _, err := s.ListRuns(ctx, d.ID, deploy.Page{}); err != nil || len(rs) != 0 {
				t.Errorf("ListRuns after delete = %d runs, %v; want none", len(rs), err)
			}

			// Deleting it again finds it gone: that delete must look for a
			// record left behind.
			before := reads.n.Load()
			if err := s.DeleteDeployment(ctx, d.ID); !deploy.IsKind(err, deploy.KindNotFound) {
				t.Fatalf("DeleteDeployment again = %v, want NotFound", err)
			}
			if n := reads.n.Load() - before; n != 1 {
				t.Errorf("DeleteDeployment of a gone deployment read the release record %d times, want 1", n)
			}
		})
	}
}
