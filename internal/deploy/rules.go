package deploy

import (
	"time"
)

// RunRequest is a user's (or the autoscaler's) request for a run.
type RunRequest struct {
	Kind     RunKind
	Instance InstanceType
	// Confirm must equal the deployment's name to clean a prod instance.
	Confirm string
	DryRun  bool
	// Host is the server joining (scale-out) or leaving (scale-in).
	Host      string
	HostRole  Role
	Requester string
	// Restore is the backup a restore puts back (the control plane looks
	// it up and checks it with CheckRestoreSource).
	Restore *RestoreSource
}

// CheckRun applies the management rules to a request for a run on d, given
// the deployment's active run (nil if none):
//   - one active run per deployment;
//   - deploy only for the first instance, while it is not deployed;
//   - add-instance only once the first instance is deployed;
//   - tasks and reconfigure only on a deployed instance;
//   - clean, restore and remove on prod only with Confirm equal to the
//     deployment's name;
//   - restore names a backup; remove leaves the deployment one instance;
//   - scale-out only for eden and webserver servers of a 3-tier deployment.
func (d *Deployment) CheckRun(req RunRequest, active *Run) error {
	if !req.Kind.Valid() {
		return Invalid("kind", "unknown run kind %q", req.Kind)
	}
	if active != nil && active.Status.Active() {
		return Conflict("run", "run %s (%s) is still %s on this deployment", active.ID, active.Kind, active.Status)
	}
	switch req.Kind {
	case RunDeploy:
		inst := d.Instance(req.Instance)
		if inst == nil {
			return NotFound("instance %s not found", req.Instance)
		}
		if inst != d.FirstInstance() {
			return Conflict("instance", "only the first instance is deployed by a deploy run; add the %s instance instead", req.Instance)
		}
		if inst.Status == InstanceDeployed {
			return Conflict("instance", "the %s instance is already deployed", req.Instance)
		}
	case RunAddInstance:
		first := d.FirstInstance()
		if first == nil || first.Status != InstanceDeployed {
			return Conflict("instance", "instances can be added only after the first instance's deploy succeeded")
		}
		inst := d.Instance(req.Instance)
		if inst == nil {
			return NotFound("instance %s not found", req.Instance)
		}
		if inst.Status == InstanceDeployed {
			return Conflict("instance", "the %s instance is already deployed", req.Instance)
		}
	case RunClean, RunPull, RunRestart, RunBackup, RunReconfigure:
		inst := d.Instance(req.Instance)
		if inst == nil {
			return NotFound("instance %s not found", req.Instance)
		}
		if inst.Status != InstanceDeployed {
			return Conflict("instance", "%s needs a deployed instance; the %s instance is %s", req.Kind, req.Instance, inst.Status)
		}
		if req.Kind == RunClean && req.Instance == InstanceProd && req.Confirm != d.Name {
			return Invalid("confirm", "cleaning prod deletes its data: confirm with the deployment's name %q", d.Name)
		}
	case RunRestore, RunRemove:
		return d.checkDayTwo(req)
	case RunScaleOut:
		s := d.Server(req.Host)
		if s == nil {
			return NotFound("server %s not found in the deployment", req.Host)
		}
		if s.Role != RoleEden && s.Role != RoleWebServer {
			return Invalid("role", "only eden and webserver servers can scale out, not %s", s.Role)
		}
	case RunScaleIn:
		if req.Host == "" {
			return Invalid("host", "is required for scale-in")
		}
	}
	return nil
}

// AddInstance checks that an instance of spec may be added now (the first
// instance deployed, no active run, one per type) and returns it. It does
// not change d.
func (d *Deployment) AddInstance(spec InstanceSpec, active *Run, now time.Time) (Instance, error) {
	first := d.FirstInstance()
	if first == nil || first.Status != InstanceDeployed {
		return Instance{}, Conflict("instance", "instances can be added only after the first instance's deploy succeeded")
	}
	if active != nil && active.Status.Active() {
		return Instance{}, Conflict("run", "run %s (%s) is still %s on this deployment", active.ID, active.Kind, active.Status)
	}
	return d.NewInstance(spec, now)
}

// ReplaceSettings checks and applies new settings to the instance of type
// t, given the settings version the caller read. A stale version is a
// Conflict. It changes d in place and returns the new version.
func (d *Deployment) ReplaceSettings(t InstanceType, s Settings, readVersion int, now time.Time) (int, error) {
	inst := d.Instance(t)
	if inst == nil {
		return 0, NotFound("instance %s not found", t)
	}
	if readVersion != inst.SettingsVersion {
		return 0, Conflict("settings_version", "the settings changed since version %d (now %d): read them again", readVersion, inst.SettingsVersion)
	}
	norm, err := s.Normalize()
	if err != nil {
		return 0, err
	}
	if u, ok := norm["base.public_url"].(string); ok && u != inst.URL {
		return 0, Invalid("settings.base.public_url", "must stay the instance URL %s", inst.URL)
	}
	// Leaving the key out must not remove it from 000_config.py either.
	norm["base.public_url"] = inst.URL
	inst.Settings = norm
	inst.SettingsVersion++
	inst.UpdatedAt = now
	return inst.SettingsVersion, nil
}

// NewRun returns a queued run for req on d with its planned steps. Call
// CheckRun first.
func (d *Deployment) NewRun(id string, req RunRequest, now time.Time) (*Run, error) {
	r := &Run{
		ID: id, DeploymentID: d.ID, Kind: req.Kind, Instance: req.Instance,
		Host: req.Host, HostRole: req.HostRole, DryRun: req.DryRun, Status: RunQueued,
		Requester: req.Requester, CreatedAt: now, Restore: req.Restore,
	}
	steps, err := Plan(d, r)
	if err != nil {
		return nil, err
	}
	r.Steps = steps
	return r, nil
}

// ObserveRun records the status of run r on d: a deploy or add-instance moves its
// instance to deploying, deployed or failed; a remove that succeeded
// removes its instance from d, one that failed leaves it failed. It
// changes d in place.
func (d *Deployment) ObserveRun(r *Run, now time.Time) {
	if r.Kind == RunRemove {
		d.observeRemove(r, now)
		return
	}
	if r.Kind != RunDeploy && r.Kind != RunAddInstance {
		return
	}
	inst := d.Instance(r.Instance)
	if inst == nil || r.DryRun {
		return
	}
	switch r.Status {
	case RunSucceeded:
		inst.Status = InstanceDeployed
	case RunFailed, RunCancelled:
		if inst.Status != InstanceDeployed {
			inst.Status = InstanceFailed
		}
	case RunRunning:
		inst.Status = InstanceDeploying
	}
	inst.UpdatedAt = now
}
