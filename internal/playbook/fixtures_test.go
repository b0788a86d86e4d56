package playbook

import (
	"fmt"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// topology fixtures: an all-in-one server, and a 3-tier deployment with
// an IPv6 and a DNS-named eden host.
func aioServers() []deploy.ServerSpec {
	return []deploy.ServerSpec{{Host: "10.0.0.5", Role: deploy.RoleAll}}
}

func tierServers() []deploy.ServerSpec {
	return []deploy.ServerSpec{
		{Host: "10.0.1.10", Role: deploy.RoleDB},
		{Host: "10.0.2.10", Role: deploy.RoleEden},
		{Host: "2001:db8::21", Role: deploy.RoleEden},
		{Host: "eden3.example.org", Role: deploy.RoleEden},
		{Host: "10.0.3.10", Role: deploy.RoleWebServer},
	}
}

func baseSpec(servers []deploy.ServerSpec, first deploy.InstanceType) deploy.Spec {
	return deploy.Spec{
		Name:        `Relief "Ops" {{ region }}`,
		Eden:        deploy.Repo{URL: "https://github.com/sahana/eden-stable.git", Branch: "master"},
		Template:    "default",
		Prepopulate: []string{"default", "default/users"},
		Country:     "NZ",
		AdminEmail:  "admin@example.org",
		Servers:     servers,
		Instance: deploy.InstanceSpec{
			Type: first,
			Settings: deploy.Settings{
				"base.system_name": "Relief 'Ops'\nSecond line \\ {{ x }}",
				"mail.limit":       int64(500),
				"base.debug":       false,
			},
		},
	}
}

// newDeployment builds a deployment whose first instance is first, with
// the other instances added (types in more), all with status st.
func newDeployment(t testing.TB, servers []deploy.ServerSpec, first deploy.InstanceType, st deploy.InstanceStatus, more ...deploy.InstanceType) *deploy.Deployment {
	t.Helper()
	d, err := deploy.NewDeployment(baseSpec(servers, first), "d-fixture", "owner-1", fixedNow)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	d.Instances[0].Status = st
	for _, typ := range more {
		inst, err := d.NewInstance(deploy.InstanceSpec{Type: typ}, fixedNow)
		if err != nil {
			t.Fatalf("NewInstance %s: %v", typ, err)
		}
		inst.Status = st
		d.Instances = append(d.Instances, inst)
	}
	return d
}

func newRun(t testing.TB, d *deploy.Deployment, req deploy.RunRequest) *deploy.Run {
	t.Helper()
	r, err := d.NewRun("r-fixture", req, fixedNow)
	if err != nil {
		t.Fatalf("NewRun %+v: %v", req, err)
	}
	return r
}

type renderCase struct {
	name string
	d    *deploy.Deployment
	r    *deploy.Run
}

// renderCases covers every operation, instance type and topology.
func renderCases(t testing.TB) []renderCase {
	var cases []renderCase
	topos := []struct {
		name    string
		servers func() []deploy.ServerSpec
	}{{"aio", aioServers}, {"3tier", tierServers}}
	others := map[deploy.InstanceType][]deploy.InstanceType{
		deploy.InstanceProd: {deploy.InstanceTest, deploy.InstanceDemo, deploy.InstanceSetup},
	}
	for _, topo := range topos {
		for _, first := range []deploy.InstanceType{deploy.InstanceProd, deploy.InstanceDemo} {
			d := newDeployment(t, topo.servers(), first, deploy.InstancePending)
			cases = append(cases, renderCase{fmt.Sprintf("%s-deploy-%s", topo.name, first), d,
				newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: first})})
		}
		for _, typ := range others[deploy.InstanceProd] {
			d := newDeployment(t, topo.servers(), deploy.InstanceProd, deploy.InstanceDeployed)
			inst, err := d.AddInstance(deploy.InstanceSpec{Type: typ}, nil, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			d.Instances = append(d.Instances, inst)
			cases = append(cases, renderCase{fmt.Sprintf("%s-add-instance-%s", topo.name, typ), d,
				newRun(t, d, deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: typ})})
		}
		for _, kind := range []deploy.RunKind{deploy.RunClean, deploy.RunPull, deploy.RunRestart, deploy.RunBackup, deploy.RunReconfigure} {
			for _, typ := range deploy.InstanceTypes {
				d := newDeployment(t, topo.servers(), deploy.InstanceProd, deploy.InstanceDeployed, others[deploy.InstanceProd]...)
				cases = append(cases, renderCase{fmt.Sprintf("%s-%s-%s", topo.name, kind, typ), d,
					newRun(t, d, deploy.RunRequest{Kind: kind, Instance: typ, Confirm: d.Name})})
			}
		}
	}
	// Scaling: 3-tier only (Plan refuses it on all-in-one).
	for _, role := range []deploy.Role{deploy.RoleEden, deploy.RoleWebServer} {
		d := newDeployment(t, tierServers(), deploy.InstanceProd, deploy.InstanceDeployed, deploy.InstanceTest)
		host := map[deploy.Role]string{deploy.RoleEden: "10.0.2.99", deploy.RoleWebServer: "10.0.3.99"}[role]
		d.Servers = append(d.Servers, deploy.Server{Host: host, Role: role, Origin: deploy.OriginAutoscaling, AddedAt: fixedNow})
		cases = append(cases, renderCase{fmt.Sprintf("3tier-scale-out-%s", role), d,
			newRun(t, d, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: host, HostRole: role})})
	}
	// TLS: each mode that changes the site, set on the instance as the
	// domain resolves it (an own certificate by its recorded fingerprint).
	for _, tc := range []struct {
		name    string
		servers func() []deploy.ServerSpec
		url     string
		tls     deploy.TLS
	}{
		{"aio-deploy-tls-acme", aioServers, "https://eden.example.org", deploy.TLS{Mode: deploy.TLSACME, ACMEDirectory: deploy.LetsEncryptStaging}},
		{"aio-deploy-tls-own", aioServers, "https://eden.example.org:8443", deploy.TLS{Mode: deploy.TLSOwn, HSTSMaxAge: deploy.DefaultHSTSMaxAge,
			Certificate: &deploy.Certificate{SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Names: []string{"eden.example.org"}}}},
		{"3tier-deploy-tls-front", tierServers, "https://eden.example.org", deploy.TLS{Mode: deploy.TLSFront, HSTSMaxAge: 600, TrustedProxies: []string{"10.0.0.0/16", "2001:db8:1::/48"}}},
	} {
		d := newDeployment(t, tc.servers(), deploy.InstanceProd, deploy.InstancePending)
		d.Instances[0].URL, d.Instances[0].TLS = tc.url, tc.tls
		d.Instances[0].Settings["base.public_url"] = tc.url
		cases = append(cases, renderCase{tc.name, d, newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})})
	}
	d := newDeployment(t, tierServers(), deploy.InstanceProd, deploy.InstanceDeployed, deploy.InstanceTest)
	cases = append(cases, renderCase{"3tier-scale-in-eden", d,
		newRun(t, d, deploy.RunRequest{Kind: deploy.RunScaleIn, Host: "2001:db8::99", HostRole: deploy.RoleEden})})
	return cases
}
