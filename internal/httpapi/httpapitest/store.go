// Package httpapitest wires the HTTP API to a real control.Service over
// hand-written in-memory fakes (store, secrets, workflow engine, run logs),
// for the API's own tests, the edenctl client's tests and benchmarks. The
// fakes keep the ports' contracts closely enough for those tests and count
// what they were asked to write, so a test can assert that a refused
// request wrote nothing.
package httpapitest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Store is an in-memory deploy.Store. Safe for concurrent use.
type Store struct {
	Now func() time.Time

	mu      sync.Mutex
	deps    map[string][]byte // stored documents, copied on the way in and out
	runs    map[string][]byte // by deploymentID + "/" + runID
	active  map[string]string // deploymentID → active run ID
	hosts   map[string]string // host → deploymentID
	idem    map[string]deploy.IdempotencyRecord
	tokens  map[string]deploy.Token
	writes  int
	created int // runs created
	fail    error
}

// Fail makes every later listing and read of a deployment fail with err
// (nil restores them).
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

var _ deploy.Store = (*Store)(nil)

// NewStore returns an empty store on clock now.
func NewStore(now func() time.Time) *Store {
	return &Store{Now: now, deps: map[string][]byte{}, runs: map[string][]byte{}, active: map[string]string{},
		hosts: map[string]string{}, idem: map[string]deploy.IdempotencyRecord{}, tokens: map[string]deploy.Token{}}
}

// Writes is the number of successful writes of deployments, runs and
// tokens (idempotency records are not counted).
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// RunsCreated is the number of runs stored (first runs included).
func (s *Store) RunsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (s *Store) dep(id string) (*deploy.Deployment, error) {
	b, ok := s.deps[id]
	if !ok {
		return nil, deploy.NotFound("deployment %s not found", id)
	}
	return record.DecodeDeployment(b)
}

func (s *Store) run(depID, runID string) (*deploy.Run, error) {
	b, ok := s.runs[depID+"/"+runID]
	if !ok {
		return nil, deploy.NotFound("run %s not found", runID)
	}
	return record.DecodeRun(b)
}

func (s *Store) putDep(d *deploy.Deployment) { s.deps[d.ID] = must(record.EncodeDeployment(d)) }
func (s *Store) putRun(r *deploy.Run)        { s.runs[r.DeploymentID+"/"+r.ID] = must(record.EncodeRun(r)) }

func (s *Store) CreateDeployment(ctx context.Context, d *deploy.Deployment, first *deploy.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.deps[d.ID]; ok {
		return deploy.Conflict("id", "deployment %s exists", d.ID)
	}
	for _, sv := range d.Servers {
		if _, ok := s.hosts[sv.Host]; ok {
			return deploy.Conflict("servers", "host %s already belongs to a deployment", sv.Host)
		}
	}
	d.Version, first.Version = 1, 1
	for _, sv := range d.Servers {
		s.hosts[sv.Host] = d.ID
	}
	s.putDep(d)
	s.putRun(first)
	if first.Status.Active() {
		s.active[d.ID] = first.ID
	}
	s.writes++
	s.created++
	return nil
}

func (s *Store) GetDeployment(ctx context.Context, id string) (*deploy.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	return s.dep(id)
}

func page[T any](items []T, key func(T) string, p deploy.Page, list, scope string) ([]T, string, error) {
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if p.Cursor != "" {
		after, err := record.DecodeCursor(p.Cursor, list, scope)
		if err != nil {
			return nil, "", err
		}
		start = len(items)
		for i, it := range items {
			if key(it) == after {
				start = i + 1
				break
			}
		}
	}
	end := min(start+limit, len(items))
	out := items[start:end]
	next := ""
	if end < len(items) {
		next = record.EncodeCursor(list, scope, key(items[end-1]))
	}
	return out, next, nil
}

func (s *Store) ListDeployments(ctx context.Context, owner string, p deploy.Page) ([]*deploy.Deployment, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, "", s.fail
	}
	var ds []*deploy.Deployment
	for id := range s.deps {
		d, _ := s.dep(id)
		if owner == "" || d.Owner == owner {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b *deploy.Deployment) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return page(ds, func(d *deploy.Deployment) string { return d.ID }, p, "deployments", owner)
}

func (s *Store) UpdateDeployment(ctx context.Context, d *deploy.Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.dep(d.ID)
	if err != nil {
		return err
	}
	if old.Version != d.Version {
		return deploy.Conflict("version", "deployment %s is at version %d, not %d", d.ID, old.Version, d.Version)
	}
	d.Version++
	cp := *d
	cp.Servers = old.Servers
	s.putDep(&cp)
	s.writes++
	return nil
}

func (s *Store) AddInstance(ctx context.Context, deploymentID string, version int, inst deploy.Instance, run *deploy.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.dep(deploymentID)
	if err != nil {
		return err
	}
	switch {
	case d.Instance(inst.Type) != nil:
		return deploy.Conflict("type", "the deployment already has a %s instance", inst.Type)
	case s.active[deploymentID] != "":
		return deploy.Conflict("run", "a run is active")
	case d.Version != version:
		return deploy.Conflict("version", "stale version")
	}
	d.Instances = append(d.Instances, inst)
	d.Version++
	run.Version = 1
	s.putDep(d)
	s.putRun(run)
	s.active[deploymentID] = run.ID
	s.writes++
	s.created++
	return nil
}

func (s *Store) DeleteDeployment(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.dep(id)
	if err != nil {
		return err
	}
	for _, sv := range d.Servers {
		delete(s.hosts, sv.Host)
	}
	for k := range s.runs {
		if len(k) > len(id) && k[:len(id)+1] == id+"/" {
			delete(s.runs, k)
		}
	}
	delete(s.active, id)
	delete(s.deps, id)
	s.writes++
	return nil
}

func (s *Store) AddServer(ctx context.Context, deploymentID string, sv deploy.Server) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.dep(deploymentID)
	if err != nil {
		return err
	}
	if _, ok := s.hosts[sv.Host]; ok {
		return deploy.Conflict("host", "host %s is taken", sv.Host)
	}
	d.Servers = append(d.Servers, sv)
	d.Version++
	s.hosts[sv.Host] = deploymentID
	s.putDep(d)
	s.writes++
	return nil
}

func (s *Store) RemoveServer(ctx context.Context, deploymentID, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.dep(deploymentID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.Servers, func(sv deploy.Server) bool { return sv.Host == host })
	if i < 0 {
		return deploy.NotFound("server %s not found", host)
	}
	d.Servers = slices.Delete(d.Servers, i, i+1)
	d.Version++
	delete(s.hosts, host)
	s.putDep(d)
	s.writes++
	return nil
}

func (s *Store) FindServerByHost(ctx context.Context, host string) (string, deploy.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.hosts[host]
	if !ok {
		return "", deploy.Server{}, deploy.NotFound("host %s not found", host)
	}
	d, _ := s.dep(id)
	return id, *d.Server(host), nil
}

func (s *Store) FindServerByInstanceID(ctx context.Context, instanceID string) (string, deploy.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.deps {
		d, _ := s.dep(id)
		for _, sv := range d.Servers {
			if sv.InstanceID == instanceID {
				return id, sv, nil
			}
		}
	}
	return "", deploy.Server{}, deploy.NotFound("instance %s not found", instanceID)
}

func (s *Store) CreateRun(ctx context.Context, r *deploy.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.deps[r.DeploymentID]; !ok {
		return deploy.NotFound("deployment %s not found", r.DeploymentID)
	}
	if _, ok := s.runs[r.DeploymentID+"/"+r.ID]; ok {
		return deploy.Conflict("id", "run %s exists", r.ID)
	}
	if r.Status.Active() && s.active[r.DeploymentID] != "" {
		return deploy.Conflict("run", "run %s is active", s.active[r.DeploymentID])
	}
	r.Version = 1
	s.putRun(r)
	if r.Status.Active() {
		s.active[r.DeploymentID] = r.ID
	}
	s.writes++
	s.created++
	return nil
}

func (s *Store) GetRun(ctx context.Context, deploymentID, runID string) (*deploy.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run(deploymentID, runID)
}

func (s *Store) UpdateRun(ctx context.Context, r *deploy.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.run(r.DeploymentID, r.ID)
	if err != nil {
		return err
	}
	if old.Version != r.Version {
		return deploy.Conflict("version", "run %s is at version %d, not %d", r.ID, old.Version, r.Version)
	}
	if !old.Status.CanMoveTo(r.Status) {
		return deploy.Conflict("status", "run %s cannot move from %s to %s", r.ID, old.Status, r.Status)
	}
	r.Version++
	s.putRun(r)
	if r.Status.Terminal() && s.active[r.DeploymentID] == r.ID {
		delete(s.active, r.DeploymentID)
	}
	s.writes++
	return nil
}

func (s *Store) ListRuns(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Run, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.deps[deploymentID]; !ok {
		return nil, "", deploy.NotFound("deployment %s not found", deploymentID)
	}
	var rs []*deploy.Run
	for k := range s.runs {
		if len(k) > len(deploymentID) && k[:len(deploymentID)+1] == deploymentID+"/" {
			r, _ := record.DecodeRun(s.runs[k])
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *deploy.Run) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	return page(rs, func(r *deploy.Run) string { return r.ID }, p, "runs", deploymentID)
}

func (s *Store) ActiveRun(ctx context.Context, deploymentID string) (*deploy.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.active[deploymentID]
	if !ok {
		return nil, deploy.NotFound("no active run")
	}
	return s.run(deploymentID, id)
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Store) PutIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.idem[rec.Key]; ok && !record.Expired(old.ExpiresAt, s.now()) {
		return deploy.Conflict("key", "idempotency key exists")
	}
	s.idem[rec.Key] = rec
	return nil
}

func (s *Store) CompleteIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.idem[rec.Key]
	if !ok {
		return deploy.NotFound("idempotency key not found")
	}
	if old.Status != 0 {
		return deploy.Conflict("key", "idempotency record is not pending")
	}
	rec.Body = slices.Clone(rec.Body)
	s.idem[rec.Key] = rec
	return nil
}

func (s *Store) DeleteIdempotency(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.idem, key)
	return nil
}

func (s *Store) GetIdempotency(ctx context.Context, key string) (*deploy.IdempotencyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.idem[key]
	if !ok || record.Expired(rec.ExpiresAt, s.now()) {
		return nil, deploy.NotFound("idempotency key not found")
	}
	rec.Body = slices.Clone(rec.Body)
	return &rec, nil
}

// IdempotencyRecords returns a copy of every idempotency record.
func (s *Store) IdempotencyRecords() []deploy.IdempotencyRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []deploy.IdempotencyRecord
	for _, r := range s.idem {
		out = append(out, r)
	}
	return out
}

func (s *Store) PutToken(ctx context.Context, t deploy.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[t.Hash]; ok {
		return deploy.Conflict("hash", "token exists")
	}
	s.tokens[t.Hash] = t
	s.writes++
	return nil
}

func (s *Store) GetToken(ctx context.Context, hash string) (*deploy.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok {
		return nil, deploy.NotFound("token not found")
	}
	return &t, nil
}

// Tokens returns a copy of every stored token.
func (s *Store) Tokens() []deploy.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []deploy.Token
	for _, t := range s.tokens {
		out = append(out, t)
	}
	return out
}
