package deploy_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// A 3-tier spec names its servers and the first instance; everything else
// takes a default. The deployment's first run deploys that instance tier by
// tier: the database, then every Eden host at once, then every web server.
func ExampleNewDeployment() {
	now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	spec := deploy.Spec{
		Name:       "Eden NZ",
		AdminEmail: "admin@example.org",
		Country:    "NZ",
		Servers: []deploy.ServerSpec{
			{Host: "10.0.1.10", Role: deploy.RoleDB},
			{Host: "10.0.2.10", Role: deploy.RoleEden},
			{Host: "10.0.2.11", Role: deploy.RoleEden},
			{Host: "web.example.org", Role: deploy.RoleWebServer},
		},
		Instance: deploy.InstanceSpec{Type: deploy.InstanceProd},
	}
	d, err := deploy.NewDeployment(spec, "d-example", "alice", now)
	if err != nil {
		for _, e := range deploy.FieldErrors(err) {
			fmt.Println(e.Field, e.Reason)
		}
		return
	}
	fmt.Println("eden:", d.Eden.URL, d.Eden.Branch)
	fmt.Println("reached over:", d.Target, "as", d.SSHUser)
	inst := d.FirstInstance()
	fmt.Println("instance:", inst.Type, inst.Status, inst.URL)
	for _, k := range inst.Settings.Keys() {
		fmt.Printf("  settings.%s = %v\n", k, inst.Settings[k])
	}

	req := deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd, Requester: "alice"}
	if err := d.CheckRun(req, nil); err != nil {
		fmt.Println(err)
		return
	}
	run, err := d.NewRun("r-example", req, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", run.Kind, run.Status)
	for i, s := range run.Steps {
		fmt.Printf("  %d. %-9s %s on %s\n", i+1, s.Name, s.Playbook, strings.Join(s.Hosts, ", "))
	}
	// Output:
	// eden: https://github.com/sahana/eden.git master
	// reached over: ssh as root
	// instance: prod pending http://web.example.org
	//   settings.base.prepopulate = []
	//   settings.base.public_url = http://web.example.org
	//   settings.base.template = default
	//   settings.gis.countries = [NZ]
	//   settings.mail.approver = admin@example.org
	//   settings.mail.sender = admin@example.org
	// run: deploy queued
	//   1. db        deploy.yml on 10.0.1.10
	//   2. eden      deploy.yml on 10.0.2.10, 10.0.2.11
	//   3. webserver deploy.yml on web.example.org
}
