// Package bolt implements deploy.Store in one bbolt file, for the local
// control plane (edenctl serve).
//
// Every method is one bbolt transaction, so each is atomic, isolated and
// durable (fsync on commit), and the invariants hold because bbolt runs one
// writer at a time. The store is safe for concurrent use. The file is
// locked while open: a second process gets a clear "in use by another
// process" error after Options.LockTimeout.
//
// Buckets (all top-level, prefixed "store."; other users of DB(), such as
// the local workflow engine's journal, must use another prefix):
//
//	store.meta              "format" → "eden-deploy-store/1"
//	store.deployments       deployment ID → deployment JSON (with servers and instances)
//	store.created           record.CreatedKey(created, ID) → deployment ID (everyone's, newest last)
//	store.owners            one nested bucket per owner: record.CreatedKey → deployment ID
//	store.hosts             host → deployment ID (the claim: a host is in one deployment)
//	store.instance_ids      EC2 instance ID → {deployment ID, host}
//	store.runs              one nested bucket per deployment ID: run ID → run JSON
//	store.active            deployment ID → run ID of its one active run
//	store.run_expiry        8-byte big-endian expiry (Unix ns) + deployment ID + 0x00 + run ID → ""
//	store.idempotency       key → idempotency record JSON
//	store.idempotency_expiry 8-byte expiry + key → ""
//	store.tokens            token hash → token JSON
//	store.backups           one nested bucket per deployment ID: backups (see backups.go)
//	store.accounts          e-mail → local account JSON (with its password hash)
//	store.schedules, store.fires, store.webhooks, store.deliveries: see schedules.go
//
// Runs list newest first by run ID, which deploy.NewID makes grow with
// creation time. Finished runs expire Retention after they finish:
// reads hide them at once, and Sweep (run by a goroutine every
// SweepInterval) deletes them with expired idempotency records.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

var _ deploy.Store = (*Store)(nil)

// Format is the value of store.meta/format in a file this package made.
const Format = "eden-deploy-store/1"

var (
	bMeta        = []byte("store.meta")
	bDeployments = []byte("store.deployments")
	bCreated     = []byte("store.created")
	bOwners      = []byte("store.owners")
	bHosts       = []byte("store.hosts")
	bInstanceIDs = []byte("store.instance_ids")
	bRuns        = []byte("store.runs")
	bActive      = []byte("store.active")
	bRunExpiry   = []byte("store.run_expiry")
	bIdem        = []byte("store.idempotency")
	bIdemExpiry  = []byte("store.idempotency_expiry")
	bTokens      = []byte("store.tokens")
	bAccounts    = []byte("store.accounts") // accounts.go

	allBuckets = append([][]byte{bMeta, bDeployments, bCreated, bOwners, bHosts, bInstanceIDs, bRuns, bActive, bRunExpiry, bIdem, bIdemExpiry, bTokens, bAccounts}, notifyBuckets...)
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the file (default 1s).
	LockTimeout time.Duration
	// Retention is how long a finished run is kept (0: forever).
	Retention time.Duration
	// SweepInterval is how often expired runs and idempotency records are
	// deleted (default 1h; negative: never, call Sweep yourself).
	SweepInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports sweeper failures (default slog.Default()).
	Logger *slog.Logger
	// NoSync skips fsync on commit: for benchmarks and tests only; a
	// crash may then lose acknowledged writes.
	NoSync bool
}

// Store is a deploy.Store in one bbolt file.
type Store struct {
	db     *bbolt.DB
	path   string
	opt    Options
	writes *committer

	stop     chan struct{}
	sweeping sync.WaitGroup
	closed   sync.Once
}

// Open opens (or creates) the store in the file at path. A file that is
// not a bbolt database, is truncated, or holds someone else's buckets is
// refused with an error saying so; one locked by another process is
// refused after opt.LockTimeout.
func Open(path string, opt Options) (*Store, error) {
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = time.Second
	}
	if opt.SweepInterval == 0 {
		opt.SweepInterval = time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	db, err := openDB(path, opt)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, opt: opt, stop: make(chan struct{})}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	s.writes = newCommitter(db)
	if opt.SweepInterval > 0 {
		s.sweeping.Add(1)
		go s.sweepEvery(opt.SweepInterval)
	}
	return s, nil
}

func openDB(path string, opt Options) (db *bbolt.DB, err error) {
	// bbolt panics (or faults on its memory map) on some corrupt files
	// that pass the header check: turn that into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("bolt: %s is corrupt (bbolt: %v)", path, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opt.LockTimeout, NoSync: opt.NoSync})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("bolt: database file %s is in use by another process (its lock was not released within %s): %w", path, opt.LockTimeout, err)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, fmt.Errorf("bolt: %s is not a usable Eden Deploy database: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return db, nil
}

// init creates the buckets of a new file, or checks that an existing one
// is ours.
func (s *Store) init() (err error) {
	defer s.recoverCorrupt("open", &err)
	return s.db.Update(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(bMeta); meta != nil {
			if f := string(meta.Get([]byte("format"))); f != Format {
				return fmt.Errorf("%s has format %q, this program reads %q", s.path, f, Format)
			}
		} else {
			var foreign []string
			_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				foreign = append(foreign, string(name))
				return nil
			})
			if len(foreign) > 0 {
				return fmt.Errorf("%s is a bbolt database of another program (buckets %s), not an Eden Deploy store", s.path, strings.Join(foreign, ", "))
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put([]byte("format"), []byte(Format))
	})
}

// DB returns the underlying database, so that the local workflow engine can
// keep its journal in the same file, in buckets of its own prefix.
func (s *Store) DB() *bbolt.DB { return s.db }

// Path returns the file the store is in.
func (s *Store) Path() string { return s.path }

// Close stops the sweeper and closes the file.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.sweeping.Wait()
		s.writes.close()
		err = s.db.Close()
	})
	return err
}

func (s *Store) sweepEvery(interval time.Duration) {
	defer s.sweeping.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n, err := s.Sweep(context.Background(), s.opt.Now()); err != nil {
				s.opt.Logger.Error("store sweep failed", "path", s.path, "err", err)
			} else if n > 0 {
				s.opt.Logger.Debug("store sweep", "path", s.path, "deleted", n)
			}
		}
	}
}

// Update runs fn in a write transaction that it may share with other
// writes of the store (group commit: see committer), and returns once it
// has committed, durably. It is for other users of DB() — the local
// workflow engine's journal — so that their commits and the store's share
// fsyncs instead of queueing for one each. fn may run more than once (when
// another write of its group fails): it must touch only the transaction.
// A bbolt panic (a corrupt page) is an error.
func (s *Store) Update(fn func(tx *bbolt.Tx) error) error {
	return s.update("write", fn)
}

// update runs fn as a write (see Update), and view in a read transaction,
// turning a bbolt panic (a corrupt page) into an error; bbolt rolls the
// transaction back first.
func (s *Store) update(op string, fn func(tx *bbolt.Tx) error) error {
	err := s.writes.update(fn)
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("bolt: %s: database file %s is corrupt (bbolt: %v)", op, s.path, pe.value)
	}
	if err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}

func (s *Store) view(op string, fn func(tx *bbolt.Tx) error) (err error) {
	defer s.recoverCorrupt(op, &err)
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}

func (s *Store) recoverCorrupt(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("bolt: %s: database file %s is corrupt (bbolt: %v)", op, s.path, r)
	}
}

func checkID(field, id string) error {
	if id == "" || strings.ContainsRune(id, 0) || len(id) > 512 {
		return deploy.Invalid(field, "must be 1 to 512 bytes without NUL")
	}
	return nil
}

func expiryKey(t time.Time, rest ...string) []byte {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	k := binary.BigEndian.AppendUint64(nil, uint64(ns))
	return append(k, strings.Join(rest, "\x00")...)
}

// --- deployments ---

func getDeployment(tx *bbolt.Tx, id string) (*deploy.Deployment, error) {
	b := tx.Bucket(bDeployments).Get([]byte(id))
	if b == nil {
		return nil, deploy.NotFound("deployment %s not found", id)
	}
	return record.DecodeDeployment(b)
}

func putDeployment(tx *bbolt.Tx, d *deploy.Deployment) error {
	b, err := record.EncodeDeployment(d)
	if err != nil {
		return err
	}
	return tx.Bucket(bDeployments).Put([]byte(d.ID), b)
}

func indexDeployment(tx *bbolt.Tx, d *deploy.Deployment) error {
	k := []byte(record.CreatedKey(d.CreatedAt, d.ID))
	if err := tx.Bucket(bCreated).Put(k, []byte(d.ID)); err != nil {
		return err
	}
	ob, err := tx.Bucket(bOwners).CreateBucketIfNotExists([]byte(ownerBucket(d.Owner)))
	if err != nil {
		return err
	}
	return ob.Put(k, []byte(d.ID))
}

func unindexDeployment(tx *bbolt.Tx, d *deploy.Deployment) error {
	k := []byte(record.CreatedKey(d.CreatedAt, d.ID))
	if err := tx.Bucket(bCreated).Delete(k); err != nil {
		return err
	}
	if ob := tx.Bucket(bOwners).Bucket([]byte(ownerBucket(d.Owner))); ob != nil {
		return ob.Delete(k)
	}
	return nil
}

// ownerBucket names an owner's nested bucket (bbolt refuses empty names).
func ownerBucket(owner string) string { return "o:" + owner }

type instanceClaim struct {
	Deployment string `json:"deployment"`
	Host       string `json:"host"`
}

// claimServer records that s belongs to depID, or returns Conflict naming
// the deployment that has its host or instance ID.
func claimServer(tx *bbolt.Tx, depID string, s deploy.Server, field string) error {
	if err := checkID(field+".host", s.Host); err != nil {
		return err
	}
	hosts := tx.Bucket(bHosts)
	if owner := hosts.Get([]byte(s.Host)); owner != nil {
		return deploy.Conflict(field+".host", "host %s already belongs to deployment %s", s.Host, owner)
	}
	if err := hosts.Put([]byte(s.Host), []byte(depID)); err != nil {
		return err
	}
	if s.InstanceID == "" {
		return nil
	}
	iids := tx.Bucket(bInstanceIDs)
	if b := iids.Get([]byte(s.InstanceID)); b != nil {
		var c instanceClaim
		if err := record.DecodeJSON("instance claim", b, &c); err != nil {
			return err
		}
		return deploy.Conflict(field+".instance_id", "instance %s already belongs to deployment %s (host %s)", s.InstanceID, c.Deployment, c.Host)
	}
	b, err := record.EncodeJSON("instance claim", instanceClaim{Deployment: depID, Host: s.Host})
	if err != nil {
		return err
	}
	return iids.Put([]byte(s.InstanceID), b)
}

func releaseServer(tx *bbolt.Tx, depID string, s deploy.Server) error {
	hosts := tx.Bucket(bHosts)
	if string(hosts.Get([]byte(s.Host))) == depID {
		if err := hosts.Delete([]byte(s.Host)); err != nil {
			return err
		}
	}
	if s.InstanceID == "" {
		return nil
	}
	iids := tx.Bucket(bInstanceIDs)
	var c instanceClaim
	if b := iids.Get([]byte(s.InstanceID)); b != nil {
		if err := record.DecodeJSON("instance claim", b, &c); err != nil {
			return err
		}
		if c.Deployment == depID {
			return iids.Delete([]byte(s.InstanceID))
		}
	}
	return nil
}

// CreateDeployment implements deploy.DeploymentStore.
func (s *Store) CreateDeployment(ctx context.Context, d *deploy.Deployment, first *deploy.Run) error {
	if err := checkID("id", d.ID); err != nil {
		return fmt.Errorf("bolt: create deployment: %w", err)
	}
	if err := checkID("run.id", first.ID); err != nil {
		return fmt.Errorf("bolt: create deployment %s: %w", d.ID, err)
	}
	if first.DeploymentID != d.ID {
		return fmt.Errorf("bolt: create deployment %s: %w", d.ID, deploy.Invalid("run.deployment_id", "the first run belongs to %q", first.DeploymentID))
	}
	if err := record.UniqueInstances(d); err != nil {
		return fmt.Errorf("bolt: create deployment %s: %w", d.ID, err)
	}
	dd, rr := *d, *first
	dd.Version, rr.Version = 1, 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	err := s.update("create deployment "+d.ID, func(tx *bbolt.Tx) error {
		if tx.Bucket(bDeployments).Get([]byte(d.ID)) != nil {
			return deploy.Conflict("id", "deployment %s already exists", d.ID)
		}
		for i, srv := range dd.Servers {
			if err := claimServer(tx, d.ID, srv, fmt.Sprintf("servers[%d]", i)); err != nil {
				return err
			}
		}
		if err := putDeployment(tx, &dd); err != nil {
			return err
		}
		if err := indexDeployment(tx, &dd); err != nil {
			return err
		}
		return s.putNewRun(tx, &rr)
	})
	if err != nil {
		return err
	}
	d.Version, first.Version, first.ExpiresAt = dd.Version, rr.Version, rr.ExpiresAt
	return nil
}

// GetDeployment implements deploy.DeploymentStore.
func (s *Store) GetDeployment(ctx context.Context, id string) (*deploy.Deployment, error) {
	var d *deploy.Deployment
	err := s.view("get deployment "+id, func(tx *bbolt.Tx) (err error) {
		d, err = getDeployment(tx, id)
		return err
	})
	return d, err
}

// ListDeployments implements deploy.DeploymentStore.
func (s *Store) ListDeployments(ctx context.Context, owner string, p deploy.Page) ([]*deploy.Deployment, string, error) {
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("bolt: list deployments: %w", err)
	}
	var after string
	if p.Cursor != "" {
		after, err = record.DecodeCursor(p.Cursor, record.ListDeployments, owner)
		if err == nil && !record.ValidCreatedKey(after) {
			err = deploy.Invalid("cursor", "not a cursor of this listing: bad position")
		}
		if err != nil {
			return nil, "", fmt.Errorf("bolt: list deployments: %w", err)
		}
	}
	var ds []*deploy.Deployment
	var next string
	err = s.view("list deployments", func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bCreated)
		if owner != "" {
			idx = tx.Bucket(bOwners).Bucket([]byte(ownerBucket(owner)))
			if idx == nil {
				return nil
			}
		}
		return pageDescending(idx.Cursor(), after, limit, func(k, v []byte, extra bool) error {
			if extra {
				return nil
			}
			d, err := getDeployment(tx, string(v))
			if err != nil {
				return err
			}
			ds = append(ds, d)
			return nil
		}, func(last []byte) { next = record.EncodeCursor(record.ListDeployments, owner, string(last)) })
	})
	if err != nil {
		return nil, "", err
	}
	return ds, next, nil
}

// pageDescending visits keys before after (all keys when after is empty),
// greatest first, calling take for each until take has accepted limit of
// them (take returns errSkip to pass over a key, such as an expired run).
// When one more key would be accepted, it calls more with the last accepted
// key: the position the next page starts after. The extra key is passed to
// take too, with extra set, so that take can leave it out.
func pageDescending(c *bbolt.Cursor, after string, limit int, take func(k, v []byte, extra bool) error, more func(last []byte)) error {
	var k, v []byte
	if after == "" {
		k, v = c.Last()
	} else {
		k, v = seekBefore(c, []byte(after))
	}
	n := 0
	var last []byte
	for ; k != nil; k, v = c.Prev() {
		switch err := take(k, v, n == limit); {
		case errors.Is(err, errSkip):
			continue
		case err != nil:
			return err
		}
		if n == limit {
			more(last)
			return nil
		}
		n++
		last = append(last[:0], k...)
	}
	return nil
}

var errSkip = errors.New("skip")

// seekBefore moves c to the greatest key less than key (the last key when
// none is at or after it) and returns it, or nil when there is none.
func seekBefore(c *bbolt.Cursor, key []byte) (k, v []byte) {
	if k, _ = c.Seek(key); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// UpdateDeployment implements deploy.DeploymentStore.
func (s *Store) UpdateDeployment(ctx context.Context, d *deploy.Deployment) error {
	if err := record.UniqueInstances(d); err != nil {
		return fmt.Errorf("bolt: update deployment %s: %w", d.ID, err)
	}
	err := s.update("update deployment "+d.ID, func(tx *bbolt.Tx) error {
		stored, err := getDeployment(tx, d.ID)
		if err != nil {
			return err
		}
		if stored.Version != d.Version {
			return deploy.Conflict("version", "deployment %s changed: stored version %d, yours %d", d.ID, stored.Version, d.Version)
		}
		dd := *d
		dd.Servers = stored.Servers
		dd.Version = d.Version + 1
		if dd.Owner != stored.Owner || !dd.CreatedAt.Equal(stored.CreatedAt) {
			if err := unindexDeployment(tx, stored); err != nil {
				return err
			}
			if err := indexDeployment(tx, &dd); err != nil {
				return err
			}
		}
		return putDeployment(tx, &dd)
	})
	if err != nil {
		return err
	}
	d.Version++
	return nil
}

// AddInstance implements deploy.DeploymentStore.
func (s *Store) AddInstance(ctx context.Context, deploymentID string, version int, inst deploy.Instance, run *deploy.Run) error {
	if err := checkID("run.id", run.ID); err != nil {
		return fmt.Errorf("bolt: add instance to %s: %w", deploymentID, err)
	}
	if run.DeploymentID != deploymentID {
		return fmt.Errorf("bolt: add instance to %s: %w", deploymentID, deploy.Invalid("run.deployment_id", "the run belongs to %q", run.DeploymentID))
	}
	rr := *run
	rr.Version = 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	err := s.update("add instance "+string(inst.Type)+" to "+deploymentID, func(tx *bbolt.Tx) error {
		d, err := getDeployment(tx, deploymentID)
		if err != nil {
			return err
		}
		if d.Version != version {
			return deploy.Conflict("version", "deployment %s changed: stored version %d, yours %d", deploymentID, d.Version, version)
		}
		if d.Instance(inst.Type) != nil {
			return deploy.Conflict("instance.type", "deployment %s already has a %s instance", deploymentID, inst.Type)
		}
		d.Instances = append(d.Instances, inst)
		d.Version++
		if err := putDeployment(tx, d); err != nil {
			return err
		}
		return s.putNewRun(tx, &rr)
	})
	if err != nil {
		return err
	}
	run.Version, run.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// DeleteDeployment implements deploy.DeploymentStore.
func (s *Store) DeleteDeployment(ctx context.Context, id string) error {
	return s.update("delete deployment "+id, func(tx *bbolt.Tx) error {
		d, err := getDeployment(tx, id)
		if err != nil {
			return err
		}
		for _, srv := range d.Servers {
			if err := releaseServer(tx, id, srv); err != nil {
				return err
			}
		}
		if err := unindexDeployment(tx, d); err != nil {
			return err
		}
		// Expiry entries of its runs are left to Sweep, which skips runs
		// that are gone.
		if tx.Bucket(bRuns).Bucket([]byte(id)) != nil {
			if err := tx.Bucket(bRuns).DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bActive).Delete([]byte(id)); err != nil {
			return err
		}
		if err := deleteBackups(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bDeployments).Delete([]byte(id))
	})
}

// AddServer implements deploy.DeploymentStore.
func (s *Store) AddServer(ctx context.Context, deploymentID string, srv deploy.Server) error {
	return s.update("add server "+srv.Host+" to "+deploymentID, func(tx *bbolt.Tx) error {
		d, err := getDeployment(tx, deploymentID)
		if err != nil {
			return err
		}
		if err := claimServer(tx, deploymentID, srv, "server"); err != nil {
			return err
		}
		d.Servers = append(d.Servers, srv)
		d.Version++
		return putDeployment(tx, d)
	})
}

// RemoveServer implements deploy.DeploymentStore.
func (s *Store) RemoveServer(ctx context.Context, deploymentID, host string) error {
	return s.update("remove server "+host+" from "+deploymentID, func(tx *bbolt.Tx) error {
		d, err := getDeployment(tx, deploymentID)
		if err != nil {
			return err
		}
		i := serverIndex(d, host)
		if i < 0 {
			return deploy.NotFound("server %s not found in deployment %s", host, deploymentID)
		}
		if err := releaseServer(tx, deploymentID, d.Servers[i]); err != nil {
			return err
		}
		d.Servers = append(d.Servers[:i], d.Servers[i+1:]...)
		d.Version++
		return putDeployment(tx, d)
	})
}

func serverIndex(d *deploy.Deployment, host string) int {
	for i, s := range d.Servers {
		if s.Host == host {
			return i
		}
	}
	return -1
}

// FindServerByHost implements deploy.DeploymentStore.
func (s *Store) FindServerByHost(ctx context.Context, host string) (string, deploy.Server, error) {
	var depID string
	var srv deploy.Server
	err := s.view("find server "+host, func(tx *bbolt.Tx) error {
		id := tx.Bucket(bHosts).Get([]byte(host))
		if id == nil {
			return deploy.NotFound("host %s belongs to no deployment", host)
		}
		depID = string(id)
		return serverOf(tx, depID, host, &srv)
	})
	return depID, srv, err
}

// FindServerByInstanceID implements deploy.DeploymentStore.
func (s *Store) FindServerByInstanceID(ctx context.Context, instanceID string) (string, deploy.Server, error) {
	var c instanceClaim
	var srv deploy.Server
	err := s.view("find instance "+instanceID, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bInstanceIDs).Get([]byte(instanceID))
		if b == nil {
			return deploy.NotFound("instance %s belongs to no deployment", instanceID)
		}
		if err := record.DecodeJSON("instance claim", b, &c); err != nil {
			return err
		}
		return serverOf(tx, c.Deployment, c.Host, &srv)
	})
	return c.Deployment, srv, err
}

func serverOf(tx *bbolt.Tx, depID, host string, srv *deploy.Server) error {
	d, err := getDeployment(tx, depID)
	if err != nil {
		return fmt.Errorf("claim of %s names deployment %s: %w", host, depID, err)
	}
	i := serverIndex(d, host)
	if i < 0 {
		return fmt.Errorf("claim of %s names deployment %s, which has no such server", host, depID)
	}
	*srv = d.Servers[i]
	return nil
}

// --- runs ---

// putNewRun stores r (already versioned) as a new run, taking the active
// slot if r is active.
func (s *Store) putNewRun(tx *bbolt.Tx, r *deploy.Run) error {
	runs, err := tx.Bucket(bRuns).CreateBucketIfNotExists([]byte(r.DeploymentID))
	if err != nil {
		return err
	}
	if runs.Get([]byte(r.ID)) != nil {
		return deploy.Conflict("id", "run %s already exists", r.ID)
	}
	if r.Status.Active() {
		active := tx.Bucket(bActive)
		if holder := active.Get([]byte(r.DeploymentID)); holder != nil {
			return deploy.Conflict("run", "run %s is still active on deployment %s", holder, r.DeploymentID)
		}
		if err := active.Put([]byte(r.DeploymentID), []byte(r.ID)); err != nil {
			return err
		}
	}
	return s.putRun(tx, runs, r, time.Time{})
}

// putRun writes r and moves its expiry entry from oldExpiry.
func (s *Store) putRun(tx *bbolt.Tx, runs *bbolt.Bucket, r *deploy.Run, oldExpiry time.Time) error {
	b, err := record.EncodeRun(r)
	if err != nil {
		return err
	}
	if err := runs.Put([]byte(r.ID), b); err != nil {
		return err
	}
	if oldExpiry.Equal(r.ExpiresAt) {
		return nil
	}
	ex := tx.Bucket(bRunExpiry)
	if !oldExpiry.IsZero() {
		if err := ex.Delete(expiryKey(oldExpiry, r.DeploymentID, r.ID)); err != nil {
			return err
		}
	}
	if !r.ExpiresAt.IsZero() {
		return ex.Put(expiryKey(r.ExpiresAt, r.DeploymentID, r.ID), nil)
	}
	return nil
}

// getRun returns the run unless it is missing or expired.
func (s *Store) getRun(tx *bbolt.Tx, depID, runID string) (*deploy.Run, *bbolt.Bucket, error) {
	runs := tx.Bucket(bRuns).Bucket([]byte(depID))
	var b []byte
	if runs != nil {
		b = runs.Get([]byte(runID))
	}
	if b == nil {
		return nil, nil, deploy.NotFound("run %s of deployment %s not found", runID, depID)
	}
	r, err := record.DecodeRun(b)
	if err != nil {
		return nil, nil, err
	}
	if record.Expired(r.ExpiresAt, s.opt.Now()) {
		return nil, nil, deploy.NotFound("run %s of deployment %s not found (expired)", runID, depID)
	}
	return r, runs, nil
}

// CreateRun implements deploy.RunStore.
func (s *Store) CreateRun(ctx context.Context, r *deploy.Run) error {
	if err := checkID("id", r.ID); err != nil {
		return fmt.Errorf("bolt: create run: %w", err)
	}
	rr := *r
	rr.Version = 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	err := s.update("create run "+r.ID, func(tx *bbolt.Tx) error {
		if tx.Bucket(bDeployments).Get([]byte(r.DeploymentID)) == nil {
			return deploy.NotFound("deployment %s not found", r.DeploymentID)
		}
		return s.putNewRun(tx, &rr)
	})
	if err != nil {
		return err
	}
	r.Version, r.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// GetRun implements deploy.RunStore.
func (s *Store) GetRun(ctx context.Context, deploymentID, runID string) (*deploy.Run, error) {
	var r *deploy.Run
	err := s.view("get run "+runID, func(tx *bbolt.Tx) (err error) {
		r, _, err = s.getRun(tx, deploymentID, runID)
		return err
	})
	return r, err
}

// UpdateRun implements deploy.RunStore.
func (s *Store) UpdateRun(ctx context.Context, r *deploy.Run) error {
	rr := *r
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	err := s.update("update run "+r.ID, func(tx *bbolt.Tx) error {
		stored, runs, err := s.getRun(tx, r.DeploymentID, r.ID)
		if err != nil {
			return err
		}
		if stored.Version != r.Version {
			return deploy.Conflict("version", "run %s changed: stored version %d, yours %d", r.ID, stored.Version, r.Version)
		}
		if !stored.Status.CanMoveTo(r.Status) {
			return deploy.Conflict("status", "run %s cannot move from %s to %s", r.ID, stored.Status, r.Status)
		}
		rr.Version = stored.Version + 1
		if stored.Status.Active() && !rr.Status.Active() {
			active := tx.Bucket(bActive)
			if bytes.Equal(active.Get([]byte(r.DeploymentID)), []byte(r.ID)) {
				if err := active.Delete([]byte(r.DeploymentID)); err != nil {
					return err
				}
			}
		}
		return s.putRun(tx, runs, &rr, stored.ExpiresAt)
	})
	if err != nil {
		return err
	}
	r.Version, r.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// ListRuns implements deploy.RunStore.
func (s *Store) ListRuns(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Run, string, error) {
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("bolt: list runs of %s: %w", deploymentID, err)
	}
	var after string
	if p.Cursor != "" {
		if after, err = record.DecodeCursor(p.Cursor, record.ListRuns, deploymentID); err != nil {
			return nil, "", fmt.Errorf("bolt: list runs of %s: %w", deploymentID, err)
		}
	}
	now := s.opt.Now()
	var rs []*deploy.Run
	var next string
	err = s.view("list runs of "+deploymentID, func(tx *bbolt.Tx) error {
		runs := tx.Bucket(bRuns).Bucket([]byte(deploymentID))
		if runs == nil {
			return nil
		}
		return pageDescending(runs.Cursor(), after, limit, func(k, v []byte, extra bool) error {
			r, err := record.DecodeRun(v)
			if err != nil {
				return err
			}
			if record.Expired(r.ExpiresAt, now) {
				return errSkip
			}
			if !extra {
				rs = append(rs, r)
			}
			return nil
		}, func(last []byte) { next = record.EncodeCursor(record.ListRuns, deploymentID, string(last)) })
	})
	if err != nil {
		return nil, "", err
	}
	return rs, next, nil
}

// ActiveRun implements deploy.RunStore.
func (s *Store) ActiveRun(ctx context.Context, deploymentID string) (*deploy.Run, error) {
	var r *deploy.Run
	err := s.view("active run of "+deploymentID, func(tx *bbolt.Tx) (err error) {
		id := tx.Bucket(bActive).Get([]byte(deploymentID))
		if id == nil {
			return deploy.NotFound("deployment %s has no active run", deploymentID)
		}
		r, _, err = s.getRun(tx, deploymentID, string(id))
		return err
	})
	return r, err
}

// --- idempotency and tokens ---

// PutIdempotency implements deploy.IdempotencyStore. An expired record no
// longer holds its key.
func (s *Store) PutIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	if err := checkID("key", rec.Key); err != nil {
		return fmt.Errorf("bolt: put idempotency record: %w", err)
	}
	b, err := record.EncodeJSON("idempotency record", rec)
	if err != nil {
		return err
	}
	return s.update("put idempotency record "+rec.Key, func(tx *bbolt.Tx) error {
		idem := tx.Bucket(bIdem)
		if old := idem.Get([]byte(rec.Key)); old != nil {
			var prev deploy.IdempotencyRecord
			if err := record.DecodeJSON("idempotency record", old, &prev); err != nil {
				return err
			}
			if !record.Expired(prev.ExpiresAt, s.opt.Now()) {
				return deploy.Conflict("key", "idempotency key %s is already used", rec.Key)
			}
			if err := tx.Bucket(bIdemExpiry).Delete(expiryKey(prev.ExpiresAt, rec.Key)); err != nil {
				return err
			}
		}
		if !rec.ExpiresAt.IsZero() {
			if err := tx.Bucket(bIdemExpiry).Put(expiryKey(rec.ExpiresAt, rec.Key), nil); err != nil {
				return err
			}
		}
		return idem.Put([]byte(rec.Key), b)
	})
}

// CompleteIdempotency implements deploy.IdempotencyStore.
func (s *Store) CompleteIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	b, err := record.EncodeJSON("idempotency record", rec)
	if err != nil {
		return err
	}
	return s.update("complete idempotency record "+rec.Key, func(tx *bbolt.Tx) error {
		idem := tx.Bucket(bIdem)
		old := idem.Get([]byte(rec.Key))
		if old == nil {
			return deploy.NotFound("idempotency key %s not found", rec.Key)
		}
		var prev deploy.IdempotencyRecord
		if err := record.DecodeJSON("idempotency record", old, &prev); err != nil {
			return err
		}
		if record.Expired(prev.ExpiresAt, s.opt.Now()) {
			return deploy.NotFound("idempotency key %s not found (expired)", rec.Key)
		}
		if prev.Status != 0 {
			return deploy.Conflict("key", "idempotency key %s already has its response (status %d)", rec.Key, prev.Status)
		}
		ex := tx.Bucket(bIdemExpiry)
		if !prev.ExpiresAt.IsZero() {
			if err := ex.Delete(expiryKey(prev.ExpiresAt, rec.Key)); err != nil {
				return err
			}
		}
		if !rec.ExpiresAt.IsZero() {
			if err := ex.Put(expiryKey(rec.ExpiresAt, rec.Key), nil); err != nil {
				return err
			}
		}
		return idem.Put([]byte(rec.Key), b)
	})
}

// DeleteIdempotency implements deploy.IdempotencyStore.
func (s *Store) DeleteIdempotency(ctx context.Context, key string) error {
	return s.update("delete idempotency record "+key, func(tx *bbolt.Tx) error {
		idem := tx.Bucket(bIdem)
		old := idem.Get([]byte(key))
		if old == nil {
			return nil
		}
		var prev deploy.IdempotencyRecord
		if err := record.DecodeJSON("idempotency record", old, &prev); err != nil {
			return err
		}
		if !prev.ExpiresAt.IsZero() {
			if err := tx.Bucket(bIdemExpiry).Delete(expiryKey(prev.ExpiresAt, key)); err != nil {
				return err
			}
		}
		return idem.Delete([]byte(key))
	})
}

// GetIdempotency implements deploy.IdempotencyStore.
func (s *Store) GetIdempotency(ctx context.Context, key string) (*deploy.IdempotencyRecord, error) {
	var rec deploy.IdempotencyRecord
	err := s.view("get idempotency record "+key, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bIdem).Get([]byte(key))
		if b == nil {
			return deploy.NotFound("idempotency key %s not found", key)
		}
		if err := record.DecodeJSON("idempotency record", b, &rec); err != nil {
			return err
		}
		if record.Expired(rec.ExpiresAt, s.opt.Now()) {
			return deploy.NotFound("idempotency key %s not found (expired)", key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// PutToken implements deploy.TokenStore.
func (s *Store) PutToken(ctx context.Context, t deploy.Token) error {
	if err := checkID("hash", t.Hash); err != nil {
		return fmt.Errorf("bolt: put token: %w", err)
	}
	b, err := record.EncodeJSON("token", t)
	if err != nil {
		return err
	}
	return s.update("put token of "+t.User, func(tx *bbolt.Tx) error {
		tokens := tx.Bucket(bTokens)
		if tokens.Get([]byte(t.Hash)) != nil {
			return deploy.Conflict("hash", "a token with this hash already exists")
		}
		return tokens.Put([]byte(t.Hash), b)
	})
}

// GetToken implements deploy.TokenStore.
func (s *Store) GetToken(ctx context.Context, hash string) (*deploy.Token, error) {
	var t deploy.Token
	err := s.view("get token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bTokens).Get([]byte(hash))
		if b == nil {
			return deploy.NotFound("token not found")
		}
		return record.DecodeJSON("token", b, &t)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// --- retention ---

// sweepBatch bounds one sweep transaction, so that a long backlog does not
// hold the writer for long.
const sweepBatch = 1000

// Sweep deletes the runs and idempotency records that expired at or before
// now, and returns how many it deleted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more := 0, false
		err := s.update("sweep", func(tx *bbolt.Tx) error {
			n, more = 0, false
			var err error
			n, more, err = sweepRuns(tx, now)
			if err != nil || more {
				return err
			}
			var m int
			m, more, err = sweepIdempotency(tx, now)
			n += m
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

func expired(k []byte, now time.Time) bool {
	ns := now.UnixNano()
	return len(k) >= 8 && ns >= 0 && binary.BigEndian.Uint64(k) <= uint64(ns)
}

func sweepRuns(tx *bbolt.Tx, now time.Time) (n int, more bool, err error) {
	c := tx.Bucket(bRunExpiry).Cursor()
	seen := 0
	for k, _ := c.First(); k != nil && expired(k, now); k, _ = c.First() {
		if seen == sweepBatch {
			return n, true, nil
		}
		seen++
		depID, runID, ok := strings.Cut(string(k[8:]), "\x00")
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		if !ok {
			continue
		}
		if runs := tx.Bucket(bRuns).Bucket([]byte(depID)); runs != nil && runs.Get([]byte(runID)) != nil {
			if err := runs.Delete([]byte(runID)); err != nil {
				return n, false, err
			}
			n++
		}
	}
	return n, false, nil
}

func sweepIdempotency(tx *bbolt.Tx, now time.Time) (n int, more bool, err error) {
	c := tx.Bucket(bIdemExpiry).Cursor()
	seen := 0
	for k, _ := c.First(); k != nil && expired(k, now); k, _ = c.First() {
		if seen == sweepBatch {
			return n, true, nil
		}
		seen++
		key := append([]byte(nil), k[8:]...)
		if err := c.Delete(); err != nil {
			return n, false, err
		}
		if tx.Bucket(bIdem).Get(key) != nil {
			if err := tx.Bucket(bIdem).Delete(key); err != nil {
				return n, false, err
			}
			n++
		}
	}
	return n, false, nil
}
