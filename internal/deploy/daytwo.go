package deploy

import "time"

// checkDayTwo applies the rules of restore and remove (see CheckRun).
func (d *Deployment) checkDayTwo(req RunRequest) error {
	inst := d.Instance(req.Instance)
	if inst == nil {
		return NotFound("instance %s not found", req.Instance)
	}
	switch req.Kind {
	case RunRestore:
		if inst.Status != InstanceDeployed {
			return Conflict("instance", "restore needs a deployed instance; the %s instance is %s", req.Instance, inst.Status)
		}
		if req.Restore == nil || req.Restore.Backup == "" {
			return Invalid("backup", "is required: the ID of the backup to restore")
		}
		if req.Instance == InstanceProd && req.Confirm != d.Name {
			return Invalid("confirm", "restoring prod replaces its data: confirm with the deployment's name %q", d.Name)
		}
	case RunRemove:
		// A deploy that never finished leaves things to remove too; one
		// that is running is the active run.
		if len(d.Instances) == 1 {
			return Conflict("instance", "the %s instance is the deployment's only one: delete the deployment instead", req.Instance)
		}
		if req.Instance == InstanceProd && req.Confirm != d.Name {
			return Invalid("confirm", "removing prod deletes its data and code: confirm with the deployment's name %q", d.Name)
		}
	}
	return nil
}

// observeRemove records a remove run: once it succeeded the deployment
// forgets the instance (its type may be added again); a remove that failed
// or was cancelled leaves the instance failed, half removed: run remove
// again, or deploy to put it back.
func (d *Deployment) observeRemove(r *Run, now time.Time) {
	if r.DryRun {
		return
	}
	switch r.Status {
	case RunSucceeded:
		kept := make([]Instance, 0, len(d.Instances))
		for _, inst := range d.Instances {
			if inst.Type != r.Instance {
				kept = append(kept, inst)
			}
		}
		d.Instances = kept
	case RunFailed, RunCancelled:
		if inst := d.Instance(r.Instance); inst != nil {
			inst.Status = InstanceFailed
			inst.UpdatedAt = now
		}
	}
}

// disruptive reports whether a run of kind k takes its instance down for a
// while: the instance shows a maintenance page meanwhile.
func disruptive(k RunKind) bool {
	switch k {
	case RunClean, RunPull, RunRestore, RunRemove:
		return true
	}
	return false
}

// planMaintenance puts steps between a step that turns the instance's
// maintenance page on and one, run whatever happened before it, that turns
// it off, on the hosts that serve the instance's site.
func planMaintenance(d *Deployment, steps []Step) []Step {
	role := RoleWebServer
	if d.AllInOne() {
		role = RoleAll
	}
	hosts := d.HostsFor(RoleWebServer)
	on := Step{Name: "maintenance-on", Role: role, Hosts: hosts, Playbook: PlaybookMaintenanceOn, Status: StepPending}
	off := Step{Name: "maintenance-off", Role: role, Hosts: hosts, Playbook: PlaybookMaintenanceOff, Always: true, Status: StepPending}
	out := make([]Step, 0, len(steps)+2)
	out = append(out, on)
	out = append(out, steps...)
	return append(out, off)
}
