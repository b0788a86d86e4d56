package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// now is the fixed clock of every test.
var now = time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)

// allInOneSpec is the smallest valid spec: one server with role all.
func allInOneSpec() deploy.Spec {
	return deploy.Spec{
		Name:       "Eden NZ",
		AdminEmail: "admin@example.org",
		Servers:    []deploy.ServerSpec{{Host: "eden.example.org", Role: deploy.RoleAll}},
		Instance:   deploy.InstanceSpec{Type: deploy.InstanceProd},
	}
}

// threeTierSpec is a valid 3-tier spec with two eden and two web servers.
func threeTierSpec() deploy.Spec {
	s := allInOneSpec()
	s.Servers = []deploy.ServerSpec{
		{Host: "db1.example.org", Role: deploy.RoleDB},
		{Host: "eden1.example.org", Role: deploy.RoleEden},
		{Host: "eden2.example.org", Role: deploy.RoleEden},
		{Host: "web1.example.org", Role: deploy.RoleWebServer},
		{Host: "web2.example.org", Role: deploy.RoleWebServer},
	}
	return s
}

// mustDeployment returns the deployment of spec or stops the test.
func mustDeployment(t *testing.T, spec deploy.Spec) *deploy.Deployment {
	t.Helper()
	d, err := deploy.NewDeployment(spec, "d-1", "alice", now)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	return d
}

// deployed returns the deployment of spec whose first instance is deployed.
func deployed(t *testing.T, spec deploy.Spec) *deploy.Deployment {
	t.Helper()
	d := mustDeployment(t, spec)
	d.Instances[0].Status = deploy.InstanceDeployed
	return d
}

// withInstance appends a further instance of type typ (status st) to d.
func withInstance(t *testing.T, d *deploy.Deployment, typ deploy.InstanceType, st deploy.InstanceStatus) *deploy.Deployment {
	t.Helper()
	inst, err := d.NewInstance(deploy.InstanceSpec{Type: typ}, now)
	if err != nil {
		t.Fatalf("NewInstance(%s): %v", typ, err)
	}
	inst.Status = st
	d.Instances = append(d.Instances, inst)
	return d
}

// problem is what a test checks of one reported *deploy.Error.
type problem struct {
	Kind  deploy.Kind
	Field string
}

func invalid(fields ...string) []problem {
	var ps []problem
	for _, f := range fields {
		ps = append(ps, problem{deploy.KindInvalid, f})
	}
	return ps
}

// problems lists every *deploy.Error in err's tree.
func problems(err error) []problem {
	var ps []problem
	for _, e := range deploy.FieldErrors(err) {
		ps = append(ps, problem{e.Kind, e.Field})
	}
	return ps
}

// sortProblems compares problem lists whatever their order.
var sortProblems = cmpopts.SortSlices(func(a, b problem) bool {
	if a.Field != b.Field {
		return a.Field < b.Field
	}
	return a.Kind < b.Kind
})

// checkProblems fails t unless err reports exactly want (in any order),
// and, for each of reasons, some reported Reason contains it.
func checkProblems(t *testing.T, err error, want []problem, reasons ...string) {
	t.Helper()
	if diff := cmp.Diff(want, problems(err), sortProblems, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("problems (-want +got):\n%s\nerror: %v", diff, err)
	}
	if len(want) > 0 && len(deploy.FieldErrors(err)) == 0 {
		t.Errorf("error %v holds no *deploy.Error", err)
	}
	for _, r := range reasons {
		found := false
		for _, e := range deploy.FieldErrors(err) {
			if strings.Contains(e.Reason, r) {
				found = true
			}
		}
		if !found {
			t.Errorf("no reason contains %q in %v", r, err)
		}
	}
}

// checkKind fails t unless err is a single *deploy.Error of kind k on field.
func checkKind(t *testing.T, err error, k deploy.Kind, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %s on %q", k, field)
	}
	checkProblems(t, err, []problem{{k, field}})
}
