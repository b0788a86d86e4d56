package deploy

import (
	"context"
	"fmt"
	"time"
)

// The ports: what the use cases need from storage, blobs, secrets and
// runners. Adapters live in their own packages (store/bolt, store/dynamo,
// blob/fs, blob/s3, secrets/file, secrets/paramstore, runner/ssh,
// runner/ssm) and assert that they implement these interfaces. Unless a
// method says otherwise, errors carry a Kind: NotFound for a missing item,
// Conflict for a broken invariant or a stale version, Transient when a
// retry may help, Internal otherwise. Every implementation is safe for
// concurrent use.

// Page asks for one page of a listing, newest first.
type Page struct {
	// Cursor is the opaque value a previous page returned as Next; empty for
	// the first page. A cursor that the store did not make is Invalid.
	Cursor string
	// Limit is the most items to return; 0 means a store default (50), and
	// a store may cap it (at 100).
	Limit int
}

// DeploymentStore keeps deployments with their servers and instances.
type DeploymentStore interface {
	// CreateDeployment stores d (Version 0 → 1), its servers, its
	// instances and its first run, atomically: all or nothing. It returns
	// Conflict if d.ID exists or if any host of d already belongs to a
	// deployment. On success d.Version and first.Version are 1.
	CreateDeployment(ctx context.Context, d *Deployment, first *Run) error

	// GetDeployment returns the deployment with its servers and instances,
	// or NotFound.
	GetDeployment(ctx context.Context, id string) (*Deployment, error)

	// ListDeployments returns the deployments of owner, newest first (by
	// CreatedAt, then ID), one page at a time, and the cursor of the next
	// page ("" when there is none). An empty owner lists everyone's.
	ListDeployments(ctx context.Context, owner string, p Page) (ds []*Deployment, next string, err error)

	// UpdateDeployment stores d's own fields and its instances (not its
	// servers: see AddServer and RemoveServer) if the stored version equals
	// d.Version, and then increments d.Version. A stale version is
	// Conflict; a missing deployment is NotFound. Instance types stay
	// unique (Conflict otherwise).
	UpdateDeployment(ctx context.Context, d *Deployment) error

	// AddInstance appends inst to the deployment and stores run (its
	// add-instance run), atomically, if the deployment's stored version is
	// version. It returns Conflict if the deployment already has an instance
	// of inst.Type, if another run of the deployment is active, or if the
	// version is stale. On success the deployment's version grows by one.
	AddInstance(ctx context.Context, deploymentID string, version int, inst Instance, run *Run) error

	// DeleteDeployment removes the deployment and everything stored under
	// it (servers and their host claims, instances, runs). NotFound if it
	// does not exist.
	DeleteDeployment(ctx context.Context, id string) error

	// AddServer adds s to the deployment. It returns Conflict if s.Host
	// (or s.InstanceID) already belongs to any deployment, NotFound if the
	// deployment does not exist. The deployment's version grows by one.
	AddServer(ctx context.Context, deploymentID string, s Server) error

	// RemoveServer removes the server with host from the deployment and
	// releases its claim. NotFound if it is not there. The deployment's
	// version grows by one.
	RemoveServer(ctx context.Context, deploymentID, host string) error

	// FindServerByHost returns the deployment ID and server that host
	// belongs to, or NotFound.
	FindServerByHost(ctx context.Context, host string) (deploymentID string, s Server, err error)

	// FindServerByInstanceID returns the deployment ID and server of EC2
	// instance id, or NotFound.
	FindServerByInstanceID(ctx context.Context, instanceID string) (deploymentID string, s Server, err error)
}

// RunStore keeps runs with their steps and per-host results.
type RunStore interface {
	// CreateRun stores r (Version 0 → 1). It returns Conflict if r.ID
	// exists or if r is active and another run of r.DeploymentID is
	// active; NotFound if the deployment does not exist.
	CreateRun(ctx context.Context, r *Run) error

	// GetRun returns the run, or NotFound.
	GetRun(ctx context.Context, deploymentID, runID string) (*Run, error)

	// UpdateRun stores r if the stored version equals r.Version, then
	// increments r.Version. A stale version, or a status that moves
	// backwards, is Conflict. When r becomes terminal the deployment's
	// active-run slot is released in the same write.
	UpdateRun(ctx context.Context, r *Run) error

	// ListRuns returns the runs of a deployment, newest first, one page at
	// a time, and the cursor of the next page ("" when there is none).
	ListRuns(ctx context.Context, deploymentID string, p Page) (rs []*Run, next string, err error)

	// ActiveRun returns the deployment's active (queued or running) run, or
	// NotFound when there is none.
	ActiveRun(ctx context.Context, deploymentID string) (*Run, error)
}

// IdempotencyRecord is the first response to a request made with an
// Idempotency-Key; a replay gets the same response and starts nothing.
type IdempotencyRecord struct {
	// Key is the owner-scoped key ("<owner>/<Idempotency-Key>").
	Key string `json:"key"`
	// RequestHash identifies the request (method, path, body) so that a key
	// reused for a different request can be refused.
	RequestHash string `json:"request_hash"`
	// Status is the response's HTTP status; 0 while the request is pending.
	Status    int       `json:"status"`
	Header    string    `json:"header,omitempty"` // e.g. the Location header
	Body      []byte    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IdempotencyStore maps idempotency keys to their first response. A key is
// first claimed with a pending record (Status 0) before the request is
// processed, so two concurrent requests with one key never both run.
type IdempotencyStore interface {
	// PutIdempotency stores rec if no record with rec.Key exists (an
	// expired record counts as none), and returns Conflict otherwise:
	// exactly one request wins a key.
	PutIdempotency(ctx context.Context, rec IdempotencyRecord) error
	// CompleteIdempotency replaces the pending record of rec.Key with rec
	// (the response). NotFound if there is none; Conflict if the stored
	// record is not pending.
	CompleteIdempotency(ctx context.Context, rec IdempotencyRecord) error
	// DeleteIdempotency removes the record of key (so a request that failed
	// for a passing reason can be retried with it); none is not an error.
	DeleteIdempotency(ctx context.Context, key string) error
	// GetIdempotency returns the record of key, or NotFound (also when it
	// has expired).
	GetIdempotency(ctx context.Context, key string) (*IdempotencyRecord, error)
}

// Token is a local API bearer token, stored by the SHA-256 of its secret.
type Token struct {
	Hash      string    `json:"hash"` // hex SHA-256 of the secret
	User      string    `json:"user"`
	Admin     bool      `json:"admin"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Session marks a token made by signing in with a local account's
	// password: it is valid only while the account is approved.
	Session bool `json:"session,omitempty"`
	// ExpiresAt, when set, ends the token (sessions expire; API tokens
	// made by admins do not).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// TokenStore keeps local API tokens.
type TokenStore interface {
	// PutToken stores t; Conflict if its hash exists.
	PutToken(ctx context.Context, t Token) error
	// GetToken returns the token with hash, or NotFound.
	GetToken(ctx context.Context, hash string) (*Token, error)
}

// Store is everything Eden Deploy keeps: one adapter implements it all.
type Store interface {
	DeploymentStore
	RunStore
	IdempotencyStore
	TokenStore
}

// Blobs keeps opaque objects: rendered bundles and run logs.
type Blobs interface {
	// PutBlob stores body under key, replacing what was there.
	PutBlob(ctx context.Context, key string, body []byte) error
	// GetBlob returns the object under key, or NotFound.
	GetBlob(ctx context.Context, key string) ([]byte, error)
	// DeleteBlobs removes every object whose key starts with prefix; none
	// is not an error.
	DeleteBlobs(ctx context.Context, prefix string) error
}

// Blob keys: everything of a deployment lives under "deployments/<id>/".

// BundleKey is where the rendered bundle of step index of a run is kept.
func BundleKey(deploymentID, runID string, index int) string {
	return fmt.Sprintf("deployments/%s/runs/%s/steps/%d/bundle.tar.gz", deploymentID, runID, index)
}

// StepLogKey is where the log of step index of a run is kept (on AWS, the
// prefix of the SSM command's output).
func StepLogKey(deploymentID, runID string, index int) string {
	return fmt.Sprintf("deployments/%s/runs/%s/steps/%d/log", deploymentID, runID, index)
}

// Names of the secrets a deployment keeps.
const (
	SecretDBPassword    = "db-password"
	SecretAdminPassword = "admin-password"
	SecretHMACKey       = "hmac-key"
	SecretSSHKey        = "ssh-private-key"
)

// Secrets keeps a deployment's secrets (database and admin passwords, the
// HMAC key, SSH keys). Values never leave it except to the hosts that need
// them at run time.
type Secrets interface {
	// PutSecret stores value as the secret name of the deployment.
	PutSecret(ctx context.Context, deploymentID, name string, value []byte) error
	// GetSecret returns the secret, or NotFound.
	GetSecret(ctx context.Context, deploymentID, name string) ([]byte, error)
	// DeleteSecrets removes every secret of the deployment; none is not an
	// error.
	DeleteSecrets(ctx context.Context, deploymentID string) error
}

// Dispatch is one step sent to its hosts.
type Dispatch struct {
	DeploymentID string
	RunID        string
	StepIndex    int
	// StepCount is the number of steps of the run.
	StepCount int
	StepName  string
	// BundleKey is the blob key of the step's rendered bundle (tar.gz).
	BundleKey string
	// Playbook is the entry point inside the bundle.
	Playbook string
	Hosts    []DispatchHost
	// Token is the workflow task token the runner signals completion with.
	Token   string
	DryRun  bool
	Timeout time.Duration
	// SSHUser reaches the hosts (ssh target); its key is the deployment's
	// SecretSSHKey.
	SSHUser string
	// LogKey is where the step's full log goes.
	LogKey string
	// Lifecycle, for a run an Auto Scaling lifecycle hook waits on, is the
	// action the hosts keep alive (lifecycle heartbeats) while Ansible runs.
	Lifecycle *LifecycleAction
}

// DispatchHost is a host to reach: its address and, on EC2, its instance ID.
type DispatchHost struct {
	Host       string `json:"host"`
	InstanceID string `json:"instance_id,omitempty"`
}

// StepOutcome is what a runner reports when a step ends, through the
// workflow's task token: per-host results, the log reference, and an error
// text when the step failed.
type StepOutcome struct {
	Results []HostResult `json:"results"`
	LogKey  string       `json:"log_key"`
	Error   string       `json:"error,omitempty"`
}

// Runner applies a step's bundle to its hosts with Ansible.
type Runner interface {
	// Dispatch starts the step and returns its command ID without waiting
	// for it to end; the outcome is signalled later with d.Token. A
	// dispatch that cannot start returns an error (Transient when a retry
	// may help, such as an EC2 instance whose SSM agent has not registered).
	Dispatch(ctx context.Context, d Dispatch) (commandID string, err error)
	// Cancel stops a dispatched step; cancelling one that ended is not an
	// error.
	Cancel(ctx context.Context, commandID string) error
}
