// Package storetest is the conformance suite of deploy.Store: every store
// adapter runs it (store/bolt against a temporary file, store/dynamo against
// minidyn and dynalite) and must pass it unchanged.
//
// The suite checks what was stored, not only that a call returned no error:
// after every refused change it reads back that nothing of it was written,
// and after every race that exactly one caller won and the stored state is
// whole.
package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Env is what the suite hands to a store it asks for.
type Env struct {
	// Now is the store's clock; the suite moves it to make runs and
	// idempotency records expire.
	Now func() time.Time
	// Retention is how long the store keeps a finished run.
	Retention time.Duration
}

// Options adapt the suite to a peer.
type Options struct {
	// NoTransactions skips the cases that need multi-item atomic writes
	// (DynamoDB TransactWriteItems), for peers that lack them (dynalite).
	// Each skipped case says which write needs the transaction.
	NoTransactions bool
	// Racers is the number of goroutines in each race case (default 50).
	Racers int
}

// Sweeper is implemented by stores that delete expired items themselves
// (bolt). The suite calls it after moving the clock past a retention.
type Sweeper interface {
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// Retention is what the suite passes as Env.Retention.
const Retention = 72 * time.Hour

// Run runs the conformance suite. newStore returns a new, empty store
// wired to env; it is called once per case.
func Run(t *testing.T, newStore func(t *testing.T, env Env) deploy.Store, opt Options) {
	if opt.Racers == 0 {
		opt.Racers = 50
	}
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			if c.tx != "" && opt.NoTransactions {
				t.Skipf("needs TransactWriteItems: %s", c.tx)
			}
			clk := &clock{now: t0}
			h := &harness{
				t: t, ctx: context.Background(), clk: clk, racers: opt.Racers,
				s: newStore(t, Env{Now: clk.Now, Retention: Retention}),
			}
			c.run(h)
		})
	}
}

// Why each transactional case needs a transaction. Creating a deployment
// writes the deployment, its host claims, its first run and the active-run
// lock; every case that needs a deployment needs that first.
const (
	txCreate   = "CreateDeployment writes the deployment, its host claims, its first run and the active-run lock together"
	txRun      = "CreateRun writes the run and the active-run lock (and checks the deployment) together"
	txInstance = "AddInstance writes the deployment, its run and the active-run lock together"
	txServer   = "AddServer/RemoveServer write the deployment and the host claims together"
	txDelete   = "DeleteDeployment removes the deployment and its claims together"
)

type testCase struct {
	name string
	// tx, when set, says why the case needs transactions.
	tx  string
	run func(h *harness)
}

func cases() []testCase {
	return []testCase{
		{"CreateDeployment/atomic with first instance and run", txCreate, testCreate},
		{"CreateDeployment/duplicate ID is Conflict", txCreate, testCreateDuplicate},
		{"CreateDeployment/claimed host is Conflict and writes nothing", txCreate, testCreateClaimedHost},
		{"CreateDeployment/claimed instance ID is Conflict and writes nothing", txCreate, testCreateClaimedInstanceID},
		{"GetDeployment/missing is NotFound", "", testGetMissing},
		{"ListDeployments/newest first in pages, per owner", txCreate, testListDeployments},
		{"ListDeployments/empty store", "", testListEmpty},
		{"ListDeployments/forged cursor is Invalid", "", testListForgedCursor},
		{"UpdateDeployment/versioned, servers untouched", txCreate, testUpdateDeployment},
		{"DeleteDeployment/removes runs and releases hosts", txDelete, testDeleteDeployment},
		{"DeleteDeployment/more claims than one transaction holds", txDelete, testDeleteLargeDeployment},
		{"Servers/add, find, remove", txServer, testServers},
		{"Runs/create, update forward, never backward", txRun, testRunsLifecycle},
		{"Runs/one active run per deployment", txRun, testOneActiveRun},
		{"Runs/list newest first in pages", txRun, testListRuns},
		{"Runs/missing is NotFound", txCreate, testRunsMissing},
		{"Runs/stale version is Conflict", txCreate, testRunStaleVersion},
		{"AddInstance/one per type, versioned, one active run", txInstance, testAddInstance},
		{"Retention/finished runs expire", txRun, testRetention},
		{"Idempotency/one record per key", "", testIdempotency},
		{"Idempotency/pending record completed once, deleted", "", testIdempotencyComplete},
		{"Idempotency/expired record is gone", "", testIdempotencyExpiry},
		{"Tokens/put and get", "", testTokens},
		{"Race/same instance type", txInstance, testRaceInstanceType},
		{"Race/active run", txRun, testRaceActiveRun},
		{"Race/same host", txServer, testRaceHost},
		{"Race/same idempotency key", "", testRaceIdempotency},
	}
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	t      *testing.T
	ctx    context.Context
	s      deploy.Store
	clk    *clock
	racers int
}

// server returns a declared server.
func server(host string, role deploy.Role, instanceID string) deploy.Server {
	return deploy.Server{Host: host, Role: role, InstanceID: instanceID, Origin: deploy.OriginDeclared, AddedAt: t0}
}

// newDeployment returns a deployment of owner created at created, with the
// servers, a prod instance and its first (queued deploy) run; nothing is
// stored.
func newDeployment(owner string, created time.Time, servers ...deploy.Server) (*deploy.Deployment, *deploy.Run) {
	id := deploy.NewID("d-", created)
	runID := deploy.NewID("r-", created)
	d := &deploy.Deployment{
		ID: id, Name: "site-" + id[len(id)-6:], Owner: owner,
		Eden: deploy.DefaultEdenRepo, Web2py: deploy.DefaultWeb2pyRepo,
		Template: "default", Prepopulate: []string{"default", "default/users"}, Country: "LK",
		AdminEmail: "admin@example.org", SenderEmail: "noreply@example.org",
		WebServer: deploy.DefaultWebServer, Database: deploy.DefaultDatabase,
		Target: deploy.TargetSSH, SSHUser: "root",
		Servers: servers,
		Instances: []deploy.Instance{{
			Type: deploy.InstanceProd, URL: "http://" + servers[0].Host, Status: deploy.InstancePending,
			DeployRunID: runID,
			Settings: deploy.Settings{
				"base.template": "default", "base.debug": true, "mail.limit": int64(5),
				"gis.countries": []string{"LK", "NZ"}, "custom.ratio": 2.5, "custom.whole": float64(3),
				"custom.none": []string{},
			},
			SettingsVersion: 1, CreatedAt: created, UpdatedAt: created,
		}},
		CreatedAt: created, UpdatedAt: created,
	}
	r := &deploy.Run{
		ID: runID, DeploymentID: id, Kind: deploy.RunDeploy, Instance: deploy.InstanceProd,
		Status: deploy.RunQueued, Requester: owner, CreatedAt: created,
	}
	steps, err := deploy.Plan(d, r)
	if err != nil {
		panic(err)
	}
	r.Steps = steps
	return d, r
}

// create stores a new all-in-one deployment on host (and any extra
// servers) and returns it with its first run.
func (h *harness) create(owner string, created time.Time, servers ...deploy.Server) (*deploy.Deployment, *deploy.Run) {
	h.t.Helper()
	d, r := newDeployment(owner, created, servers...)
	if err := h.s.CreateDeployment(h.ctx, d, r); err != nil {
		h.t.Fatalf("CreateDeployment %s: %v", d.ID, err)
	}
	return d, r
}

// createOn stores a new all-in-one deployment on host.
func (h *harness) createOn(host string) (*deploy.Deployment, *deploy.Run) {
	h.t.Helper()
	return h.create("alice", h.clk.Now(), server(host, deploy.RoleAll, ""))
}

// finish moves r to status through UpdateRun, by way of running
// when the domain requires it (queued may not become succeeded directly).
func (h *harness) finish(r *deploy.Run, status deploy.RunStatus) {
	h.t.Helper()
	if r.Status == deploy.RunQueued && !r.Status.CanMoveTo(status) {
		h.finish(r, deploy.RunRunning)
	}
	if err := r.MoveTo(status, h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.UpdateRun(h.ctx, r); err != nil {
		h.t.Fatalf("UpdateRun %s to %s: %v", r.ID, status, err)
	}
}

// newRun returns a queued run of d; nothing is stored.
func (h *harness) newRun(d *deploy.Deployment, kind deploy.RunKind) *deploy.Run {
	now := h.clk.Now()
	return &deploy.Run{
		ID: deploy.NewID("r-", now), DeploymentID: d.ID, Kind: kind, Instance: deploy.InstanceProd,
		Status: deploy.RunQueued, Requester: d.Owner, CreatedAt: now,
		Steps: []deploy.Step{{Name: "all", Role: deploy.RoleAll, Hosts: []string{d.Servers[0].Host}, Playbook: deploy.PlaybookRestart, Status: deploy.StepPending}},
	}
}

func (h *harness) tick() { h.clk.Advance(time.Second) }

// wantKind fails unless err has kind k.
func wantKind(t *testing.T, err error, k deploy.Kind, what string) {
	t.Helper()
	if got := deploy.KindOf(err); got != k {
		t.Fatalf("%s: got error %v (kind %q), want kind %q", what, err, got, k)
	}
}

func wantNoError(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantMentions fails unless err's message names every part.
func wantMentions(t *testing.T, err error, what string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name %q", what, err, p)
		}
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func depIDs(ds []*deploy.Deployment) []string {
	return ids(ds, func(d *deploy.Deployment) string { return d.ID })
}

func runIDs(rs []*deploy.Run) []string { return ids(rs, func(r *deploy.Run) string { return r.ID }) }

func label(i int) string { return fmt.Sprintf("#%d", i) }
