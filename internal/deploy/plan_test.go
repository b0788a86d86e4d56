package deploy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func step(name string, role deploy.Role, playbook string, hosts ...string) deploy.Step {
	return deploy.Step{Name: name, Role: role, Hosts: hosts, Playbook: playbook, Status: deploy.StepPending}
}

func TestPlanAllInOne(t *testing.T) {
	playbooks := map[deploy.RunKind]string{
		deploy.RunDeploy:      "deploy.yml",
		deploy.RunAddInstance: "deploy.yml",
		deploy.RunClean:       "clean.yml",
		deploy.RunPull:        "pull.yml",
		deploy.RunRestart:     "restart.yml",
		deploy.RunBackup:      "backup.yml",
		deploy.RunReconfigure: "reconfigure.yml",
		deploy.RunRestore:     "restore.yml",
		deploy.RunRemove:      "remove.yml",
	}
	d := deployed(t, allInOneSpec())
	for kind, playbook := range playbooks {
		t.Run(string(kind), func(t *testing.T) {
			got, err := deploy.Plan(d, &deploy.Run{Kind: kind, Instance: deploy.InstanceProd})
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			want := []deploy.Step{step("all", deploy.RoleAll, playbook, "eden.example.org")}
			if kind == deploy.RunClean || kind == deploy.RunPull || kind == deploy.RunRestore || kind == deploy.RunRemove {
				want = maintained(deploy.RoleAll, []string{"eden.example.org"}, want...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
	for _, kind := range []deploy.RunKind{deploy.RunScaleOut, deploy.RunScaleIn} {
		t.Run(string(kind)+" refused", func(t *testing.T) {
			steps, err := deploy.Plan(d, &deploy.Run{Kind: kind, Host: "eden.example.org", HostRole: deploy.RoleAll})
			if steps != nil {
				t.Errorf("steps = %v, want none", steps)
			}
			checkKind(t, err, deploy.KindInvalid, "kind")
		})
	}
}

func TestPlanThreeTier(t *testing.T) {
	const (
		db    = "db1.example.org"
		eden1 = "eden1.example.org"
		eden2 = "eden2.example.org"
		web1  = "web1.example.org"
		web2  = "web2.example.org"
	)
	webs := []string{web1, web2}
	tests := []struct {
		name string
		run  deploy.Run
		want []deploy.Step
	}{
		{"deploy", deploy.Run{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, []deploy.Step{
			step("db", deploy.RoleDB, "deploy.yml", db),
			step("eden", deploy.RoleEden, "deploy.yml", eden1, eden2),
			step("webserver", deploy.RoleWebServer, "deploy.yml", web1, web2),
		}},
		{"add-instance", deploy.Run{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, []deploy.Step{
			step("db", deploy.RoleDB, "deploy.yml", db),
			step("eden", deploy.RoleEden, "deploy.yml", eden1, eden2),
			step("webserver", deploy.RoleWebServer, "deploy.yml", web1, web2),
		}},
		{"clean", deploy.Run{Kind: deploy.RunClean, Instance: deploy.InstanceProd}, maintained(deploy.RoleWebServer, webs,
			step("db", deploy.RoleDB, "clean.yml", db),
			step("eden", deploy.RoleEden, "clean.yml", eden1, eden2),
		)},
		{"pull", deploy.Run{Kind: deploy.RunPull, Instance: deploy.InstanceProd}, maintained(deploy.RoleWebServer, webs,
			step("eden", deploy.RoleEden, "pull.yml", eden1, eden2),
		)},
		// Eden's database is on the first db server.
		{"restore", deploy.Run{Kind: deploy.RunRestore, Instance: deploy.InstanceTest}, maintained(deploy.RoleWebServer, webs,
			step("db", deploy.RoleDB, "restore.yml", db),
			step("eden", deploy.RoleEden, "restore.yml", eden1, eden2),
		)},
		// The app stops before the final backup; home and site go after it.
		{"remove", deploy.Run{Kind: deploy.RunRemove, Instance: deploy.InstanceTest}, maintained(deploy.RoleWebServer, webs,
			step("eden", deploy.RoleEden, "remove.yml", eden1, eden2),
			step("db", deploy.RoleDB, "remove.yml", db),
			step("eden-files", deploy.RoleEden, "remove.yml", eden1, eden2),
			step("webserver", deploy.RoleWebServer, "remove.yml", web1, web2),
		)},
		{"restart", deploy.Run{Kind: deploy.RunRestart, Instance: deploy.InstanceProd}, []deploy.Step{
			step("eden", deploy.RoleEden, "restart.yml", eden1, eden2),
		}},
		{"reconfigure", deploy.Run{Kind: deploy.RunReconfigure, Instance: deploy.InstanceProd}, []deploy.Step{
			step("eden", deploy.RoleEden, "reconfigure.yml", eden1, eden2),
			step("webserver", deploy.RoleWebServer, "reconfigure.yml", web1, web2),
		}},
		{"backup", deploy.Run{Kind: deploy.RunBackup, Instance: deploy.InstanceProd}, []deploy.Step{
			step("db", deploy.RoleDB, "backup.yml", db),
		}},
		{"scale-out eden", deploy.Run{Kind: deploy.RunScaleOut, Host: eden2, HostRole: deploy.RoleEden}, []deploy.Step{
			step("db", deploy.RoleDB, "deploy.yml", db),
			step("eden-new", deploy.RoleEden, "deploy.yml", eden2),
			step("webserver", deploy.RoleWebServer, "deploy.yml", web1, web2),
		}},
		{"scale-out webserver", deploy.Run{Kind: deploy.RunScaleOut, Host: web2, HostRole: deploy.RoleWebServer}, []deploy.Step{
			step("webserver-new", deploy.RoleWebServer, "deploy.yml", web2),
		}},
		// A leaving server is already gone from the deployment.
		{"scale-in eden", deploy.Run{Kind: deploy.RunScaleIn, Host: "eden3.example.org", HostRole: deploy.RoleEden}, []deploy.Step{
			step("db", deploy.RoleDB, "deploy.yml", db),
			step("webserver", deploy.RoleWebServer, "deploy.yml", web1, web2),
		}},
		{"scale-in webserver", deploy.Run{Kind: deploy.RunScaleIn, Host: "web3.example.org", HostRole: deploy.RoleWebServer}, nil},
		{"scale-in db", deploy.Run{Kind: deploy.RunScaleIn, Host: "db2.example.org", HostRole: deploy.RoleDB}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployed(t, threeTierSpec())
			got, err := deploy.Plan(d, &tt.run)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

// maintained puts steps between the maintenance switch's steps on hosts.
func maintained(role deploy.Role, hosts []string, steps ...deploy.Step) []deploy.Step {
	on := step("maintenance-on", role, "maintenance-on.yml", hosts...)
	off := step("maintenance-off", role, "maintenance-off.yml", hosts...)
	off.Always = true
	return append(append([]deploy.Step{on}, steps...), off)
}

func TestPlanRefuses(t *testing.T) {
	tests := []struct {
		name string
		run  deploy.Run
		want problem
	}{
		{"unknown kind", deploy.Run{Kind: "destroy"}, problem{deploy.KindInvalid, "kind"}},
		{"scale-out of a db", deploy.Run{Kind: deploy.RunScaleOut, Host: "db1.example.org", HostRole: deploy.RoleDB}, problem{deploy.KindInvalid, "role"}},
		{"scale-out of an unknown host", deploy.Run{Kind: deploy.RunScaleOut, Host: "eden9.example.org", HostRole: deploy.RoleEden}, problem{deploy.KindNotFound, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := deploy.Plan(deployed(t, threeTierSpec()), &tt.run)
			if steps != nil {
				t.Errorf("steps = %v, want none", steps)
			}
			checkKind(t, err, tt.want.Kind, tt.want.Field)
		})
	}
}

func TestPlanScaleInOfLastEdenWithoutWebServers(t *testing.T) {
	// What remains after servers left: no web server to tell, but the
	// database must stop letting the host in.
	d := &deploy.Deployment{Servers: []deploy.Server{
		{Host: "db1.example.org", Role: deploy.RoleDB},
		{Host: "eden1.example.org", Role: deploy.RoleEden},
	}}
	steps, err := deploy.Plan(d, &deploy.Run{Kind: deploy.RunScaleIn, Host: "eden2.example.org", HostRole: deploy.RoleEden})
	if err != nil || len(steps) != 1 || steps[0].Name != "db" || !cmp.Equal(steps[0].Hosts, []string{"db1.example.org"}) {
		t.Errorf("Plan = %v, %v; want one db step", steps, err)
	}
}
