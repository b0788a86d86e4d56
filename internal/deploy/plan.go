package deploy

import "fmt"

// Playbooks in a bundle, one per operation.
const (
	PlaybookDeploy      = "deploy.yml"
	PlaybookClean       = "clean.yml"
	PlaybookPull        = "pull.yml"
	PlaybookRestart     = "restart.yml"
	PlaybookBackup      = "backup.yml"
	PlaybookReconfigure = "reconfigure.yml"
	PlaybookRestore     = "restore.yml"
	PlaybookRemove      = "remove.yml"
	// The maintenance switch of an instance's nginx site, around the
	// disruptive runs (see planMaintenance).
	PlaybookMaintenanceOn  = "maintenance-on.yml"
	PlaybookMaintenanceOff = "maintenance-off.yml"
)

// Plan returns the ordered steps of run r on deployment d. A step targets
// every host of its role at once. On an all-in-one deployment every
// operation is a single step "all". On a 3-tier deployment:
//
//	deploy, add-instance   db, eden, webserver
//	clean                  db (recreate the database), eden (prepopulate, restart)
//	pull, restart          eden
//	reconfigure            eden, webserver (000_config.py, then the site:
//	                       URL and TLS)
//	backup                 db
//	scale-out (eden)       db (pg_hba lets the new host in), eden-new (the
//	                       new host), webserver (upstreams)
//	scale-out (webserver)  webserver-new (the new host)
//	scale-in  (eden)       db (pg_hba without the host), webserver (upstreams
//	                       without it)
//	scale-in  (other)      no steps
//	restore                db (the first db server), eden
//	remove                 eden (stop the app), db (final backup, drop the
//	                       database), eden-files (home, app config),
//	                       webserver (the site)
//
// Clean, pull, restore and remove are disruptive: their steps come between
// a maintenance-on step and a maintenance-off step that runs even when one
// of them failed (Step.Always), both on the web servers (on an all-in-one
// server, three steps "maintenance-on", "all", "maintenance-off").
func Plan(d *Deployment, r *Run) ([]Step, error) {
	steps, err := plan(d, r)
	if err != nil || !disruptive(r.Kind) {
		return steps, err
	}
	return planMaintenance(d, steps), nil
}

func plan(d *Deployment, r *Run) ([]Step, error) {
	playbook := map[RunKind]string{
		RunDeploy: PlaybookDeploy, RunAddInstance: PlaybookDeploy, RunClean: PlaybookClean,
		RunPull: PlaybookPull, RunRestart: PlaybookRestart, RunBackup: PlaybookBackup,
		RunReconfigure: PlaybookReconfigure, RunScaleOut: PlaybookDeploy, RunScaleIn: PlaybookDeploy,
		RunRestore: PlaybookRestore, RunRemove: PlaybookRemove,
	}[r.Kind]
	if playbook == "" {
		return nil, Invalid("kind", "unknown run kind %q", r.Kind)
	}
	if d.AllInOne() {
		if r.Kind == RunScaleOut || r.Kind == RunScaleIn {
			return nil, Invalid("kind", "an all-in-one deployment cannot scale")
		}
		return []Step{newStep("all", RoleAll, d.Servers[0].Host, playbook)}, nil
	}
	tier := func(role Role) Step {
		s := newStep(string(role), role, "", playbook)
		s.Hosts = d.HostsOf(role)
		return s
	}
	switch r.Kind {
	case RunDeploy, RunAddInstance:
		return []Step{tier(RoleDB), tier(RoleEden), tier(RoleWebServer)}, nil
	case RunClean:
		return []Step{tier(RoleDB), tier(RoleEden)}, nil
	case RunPull, RunRestart:
		return []Step{tier(RoleEden)}, nil
	case RunReconfigure:
		return []Step{tier(RoleEden), tier(RoleWebServer)}, nil
	case RunBackup:
		return []Step{tier(RoleDB)}, nil
	case RunRestore:
		// The instance's database lives on the first db server.
		return []Step{newStep(string(RoleDB), RoleDB, d.HostsOf(RoleDB)[0], playbook), tier(RoleEden)}, nil
	case RunRemove:
		files := tier(RoleEden)
		files.Name = "eden-files"
		return []Step{tier(RoleEden), tier(RoleDB), files, tier(RoleWebServer)}, nil
	case RunScaleOut:
		s := d.Server(r.Host)
		if s == nil {
			return nil, NotFound("server %s not found in the deployment", r.Host)
		}
		switch s.Role {
		case RoleEden:
			return []Step{tier(RoleDB), newStep("eden-new", RoleEden, s.Host, playbook), tier(RoleWebServer)}, nil
		case RoleWebServer:
			return []Step{newStep("webserver-new", RoleWebServer, s.Host, playbook)}, nil
		}
		return nil, Invalid("role", "only eden and webserver servers can scale out, not %s", s.Role)
	case RunScaleIn:
		// The leaving server is already gone from d.Servers: when an eden
		// host leaves, the database stops letting it in and the web
		// servers rewrite their upstreams.
		if r.HostRole != RoleEden {
			return nil, nil
		}
		var steps []Step
		for _, role := range []Role{RoleDB, RoleWebServer} {
			if len(d.HostsOf(role)) > 0 {
				steps = append(steps, tier(role))
			}
		}
		return steps, nil
	}
	return nil, fmt.Errorf("deploy: plan: unhandled run kind %q", r.Kind)
}

func newStep(name string, role Role, host, playbook string) Step {
	s := Step{Name: name, Role: role, Playbook: playbook, Status: StepPending}
	if host != "" {
		s.Hosts = []string{host}
	}
	return s
}
