package deploy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

var later = now.Add(time.Hour)

func TestNewInstance(t *testing.T) {
	tests := []struct {
		name    string
		spec    deploy.InstanceSpec
		wantURL string
		wantErr *problem
	}{
		{name: "test gets a port of its own", spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantURL: "http://eden.example.org:8026"},
		{name: "demo gets a port of its own", spec: deploy.InstanceSpec{Type: deploy.InstanceDemo}, wantURL: "http://eden.example.org:8027"},
		{name: "setup gets a port of its own", spec: deploy.InstanceSpec{Type: deploy.InstanceSetup}, wantURL: "http://eden.example.org:8028"},
		{name: "own host on port 80", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://test.example.org"}, wantURL: "http://test.example.org"},
		{name: "same host, other port", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org:8080"}, wantURL: "http://eden.example.org:8080"},
		{name: "same type", spec: deploy.InstanceSpec{Type: deploy.InstanceProd, URL: "http://other.example.org"}, wantErr: &problem{deploy.KindConflict, "instance.type"}},
		{name: "unknown type", spec: deploy.InstanceSpec{Type: "staging"}, wantErr: &problem{deploy.KindInvalid, "instance.type"}},
		{name: "same host and port", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org"}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
		{name: "same host, explicit port 80", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org:80/"}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
		{name: "same host over https is still port 80", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "https://eden.example.org"}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
		{name: "same host in other case", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://EDEN.Example.org"}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
		{name: "same host with trailing dot", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org."}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
		{name: "bad URL", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org/test"}, wantErr: &problem{deploy.KindInvalid, "instance.url"}},
		{name: "bad settings", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, Settings: deploy.Settings{"database.name": "sahana"}}, wantErr: &problem{deploy.KindInvalid, "settings.database.name"}},
		{name: "public_url other than the URL", spec: deploy.InstanceSpec{Type: deploy.InstanceTest, Settings: deploy.Settings{"base.public_url": "http://x.example.org"}}, wantErr: &problem{deploy.KindInvalid, "settings.base.public_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployed(t, allInOneSpec())
			inst, err := d.NewInstance(tt.spec, later)
			if len(d.Instances) != 1 {
				t.Errorf("NewInstance changed d.Instances: %d instances", len(d.Instances))
			}
			if tt.wantErr != nil {
				checkProblems(t, err, []problem{*tt.wantErr})
				return
			}
			if err != nil {
				t.Fatalf("NewInstance: %v", err)
			}
			want := deploy.Instance{
				Type: tt.spec.Type, URL: tt.wantURL, Status: deploy.InstancePending,
				Settings: deploy.Settings{
					"base.public_url":  tt.wantURL,
					"base.template":    "default",
					"base.prepopulate": []string{},
					"mail.sender":      "admin@example.org",
					"mail.approver":    "admin@example.org",
				},
				SettingsVersion: 1, TLS: deploy.TLS{Mode: deploy.TLSNone}, CreatedAt: later, UpdatedAt: later,
			}
			if diff := cmp.Diff(want, inst); diff != "" {
				t.Errorf("instance (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddInstance(t *testing.T) {
	run := func(s deploy.RunStatus) *deploy.Run {
		return &deploy.Run{ID: "r-9", Kind: deploy.RunPull, Status: s}
	}
	tests := []struct {
		name    string
		first   deploy.InstanceStatus
		active  *deploy.Run
		spec    deploy.InstanceSpec
		wantErr *problem
	}{
		{name: "first deployed, no run", first: deploy.InstanceDeployed, spec: deploy.InstanceSpec{Type: deploy.InstanceTest}},
		{name: "first deployed, last run finished", first: deploy.InstanceDeployed, active: run(deploy.RunSucceeded), spec: deploy.InstanceSpec{Type: deploy.InstanceDemo}},
		{name: "first pending", first: deploy.InstancePending, spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantErr: &problem{deploy.KindConflict, "instance"}},
		{name: "first deploying", first: deploy.InstanceDeploying, spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantErr: &problem{deploy.KindConflict, "instance"}},
		{name: "first failed", first: deploy.InstanceFailed, spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantErr: &problem{deploy.KindConflict, "instance"}},
		{name: "queued run", first: deploy.InstanceDeployed, active: run(deploy.RunQueued), spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantErr: &problem{deploy.KindConflict, "run"}},
		{name: "running run", first: deploy.InstanceDeployed, active: run(deploy.RunRunning), spec: deploy.InstanceSpec{Type: deploy.InstanceTest}, wantErr: &problem{deploy.KindConflict, "run"}},
		{name: "same type", first: deploy.InstanceDeployed, spec: deploy.InstanceSpec{Type: deploy.InstanceProd}, wantErr: &problem{deploy.KindConflict, "instance.type"}},
		{name: "same host:port", first: deploy.InstanceDeployed, spec: deploy.InstanceSpec{Type: deploy.InstanceTest, URL: "http://eden.example.org"}, wantErr: &problem{deploy.KindConflict, "instance.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDeployment(t, allInOneSpec())
			d.Instances[0].Status = tt.first
			inst, err := d.AddInstance(tt.spec, tt.active, later)
			if len(d.Instances) != 1 {
				t.Errorf("AddInstance changed d.Instances: %d instances", len(d.Instances))
			}
			if tt.wantErr != nil {
				checkProblems(t, err, []problem{*tt.wantErr})
				return
			}
			if err != nil {
				t.Fatalf("AddInstance: %v", err)
			}
			if inst.Type != tt.spec.Type || inst.Status != deploy.InstancePending || inst.CreatedAt != later {
				t.Errorf("instance = %s %s created %s, want %s pending created %s", inst.Type, inst.Status, inst.CreatedAt, tt.spec.Type, later)
			}
		})
	}
}

func TestReplaceSettings(t *testing.T) {
	base := func() deploy.Settings {
		return deploy.Settings{
			"base.public_url":  "http://eden.example.org",
			"base.template":    "default",
			"base.prepopulate": []string{"default"},
			"mail.sender":      "admin@example.org",
		}
	}
	tests := []struct {
		name     string
		typ      deploy.InstanceType
		settings deploy.Settings
		read     int
		want     deploy.Settings // the instance's settings afterwards, nil = unchanged
		wantErr  *problem
	}{
		{
			name: "edit", typ: deploy.InstanceProd, read: 1,
			settings: func() deploy.Settings { s := base(); s["base.debug"] = true; s["mail.limit"] = float64(5); return s }(),
			want:     func() deploy.Settings { s := base(); s["base.debug"] = true; s["mail.limit"] = int64(5); return s }(),
		},
		{
			name: "public_url left out stays the instance URL", typ: deploy.InstanceProd, read: 1,
			settings: deploy.Settings{"base.system_name": "Eden"},
			want:     deploy.Settings{"base.system_name": "Eden", "base.public_url": "http://eden.example.org"},
		},
		{name: "stale version", typ: deploy.InstanceProd, read: 0, settings: base(), wantErr: &problem{deploy.KindConflict, "settings_version"}},
		{name: "future version", typ: deploy.InstanceProd, read: 2, settings: base(), wantErr: &problem{deploy.KindConflict, "settings_version"}},
		{name: "unknown instance", typ: deploy.InstanceTest, read: 1, settings: base(), wantErr: &problem{deploy.KindNotFound, ""}},
		{
			name: "public_url changed", typ: deploy.InstanceProd, read: 1,
			settings: func() deploy.Settings { s := base(); s["base.public_url"] = "http://other.example.org"; return s }(),
			wantErr:  &problem{deploy.KindInvalid, "settings.base.public_url"},
		},
		{
			name: "system-owned key", typ: deploy.InstanceProd, read: 1,
			settings: func() deploy.Settings { s := base(); s["auth.hmac_key"] = "x"; return s }(),
			wantErr:  &problem{deploy.KindInvalid, "settings.auth.hmac_key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployed(t, allInOneSpec())
			before := d.Instances[0]
			v, err := d.ReplaceSettings(tt.typ, tt.settings, tt.read, later)
			got := d.Instances[0]
			if tt.wantErr != nil {
				checkProblems(t, err, []problem{*tt.wantErr})
				if diff := cmp.Diff(before, got); diff != "" {
					t.Errorf("a refused edit changed the instance (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReplaceSettings: %v", err)
			}
			if v != 2 || got.SettingsVersion != 2 || !got.UpdatedAt.Equal(later) {
				t.Errorf("version %d, stored %d, updated %s; want 2, 2, %s", v, got.SettingsVersion, got.UpdatedAt, later)
			}
			if diff := cmp.Diff(tt.want, got.Settings); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("versions increment", func(t *testing.T) {
		d := deployed(t, allInOneSpec())
		for read := 1; read <= 3; read++ {
			v, err := d.ReplaceSettings(deploy.InstanceProd, base(), read, later)
			if err != nil || v != read+1 {
				t.Fatalf("edit of version %d = %d, %v; want %d, nil", read, v, err, read+1)
			}
		}
		_, err := d.ReplaceSettings(deploy.InstanceProd, base(), 3, later)
		checkKind(t, err, deploy.KindConflict, "settings_version")
	})
}

func TestCheckRun(t *testing.T) {
	active := func(s deploy.RunStatus) *deploy.Run { return &deploy.Run{ID: "r-0", Kind: deploy.RunPull, Status: s} }
	// Deployments in the states the rules care about.
	pending := func(t *testing.T) *deploy.Deployment { return mustDeployment(t, threeTierSpec()) }
	failed := func(t *testing.T) *deploy.Deployment {
		d := mustDeployment(t, threeTierSpec())
		d.Instances[0].Status = deploy.InstanceFailed
		return d
	}
	prod := func(t *testing.T) *deploy.Deployment { return deployed(t, threeTierSpec()) }
	prodAndTest := func(st deploy.InstanceStatus) func(t *testing.T) *deploy.Deployment {
		return func(t *testing.T) *deploy.Deployment {
			return withInstance(t, deployed(t, threeTierSpec()), deploy.InstanceTest, st)
		}
	}
	demo := func(t *testing.T) *deploy.Deployment {
		s := threeTierSpec()
		s.Instance.Type = deploy.InstanceDemo
		return deployed(t, s)
	}
	allInOne := func(t *testing.T) *deploy.Deployment { return deployed(t, allInOneSpec()) }

	ok := (*problem)(nil)
	tests := []struct {
		name   string
		d      func(*testing.T) *deploy.Deployment
		req    deploy.RunRequest
		active *deploy.Run
		want   *problem
	}{
		{"unknown kind", prod, deploy.RunRequest{Kind: "destroy", Instance: deploy.InstanceProd}, nil, &problem{deploy.KindInvalid, "kind"}},
		{"queued run", prod, deploy.RunRequest{Kind: deploy.RunPull, Instance: deploy.InstanceProd}, active(deploy.RunQueued), &problem{deploy.KindConflict, "run"}},
		{"running run", prod, deploy.RunRequest{Kind: deploy.RunRestart, Instance: deploy.InstanceProd}, active(deploy.RunRunning), &problem{deploy.KindConflict, "run"}},
		{"running run blocks deploy", pending, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, active(deploy.RunRunning), &problem{deploy.KindConflict, "run"}},
		{"finished run does not block", prod, deploy.RunRequest{Kind: deploy.RunPull, Instance: deploy.InstanceProd}, active(deploy.RunFailed), ok},

		{"deploy pending first", pending, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, nil, ok},
		{"deploy failed first again", failed, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, nil, ok},
		{"deploy deployed first", prod, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}, nil, &problem{deploy.KindConflict, "instance"}},
		{"deploy a later instance", prodAndTest(deploy.InstancePending), deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceTest}, nil, &problem{deploy.KindConflict, "instance"}},
		{"deploy a missing instance", pending, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceDemo}, nil, &problem{deploy.KindNotFound, ""}},

		{"add-instance after first deployed", prodAndTest(deploy.InstancePending), deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, nil, ok},
		{"add-instance retry after failure", prodAndTest(deploy.InstanceFailed), deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, nil, ok},
		{"add-instance before first deployed", pending, deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, nil, &problem{deploy.KindConflict, "instance"}},
		{"add-instance after first failed", failed, deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, nil, &problem{deploy.KindConflict, "instance"}},
		{"add-instance already deployed", prodAndTest(deploy.InstanceDeployed), deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceTest}, nil, &problem{deploy.KindConflict, "instance"}},
		{"add-instance missing", prod, deploy.RunRequest{Kind: deploy.RunAddInstance, Instance: deploy.InstanceSetup}, nil, &problem{deploy.KindNotFound, ""}},

		{"pull deployed", prod, deploy.RunRequest{Kind: deploy.RunPull, Instance: deploy.InstanceProd}, nil, ok},
		{"restart deployed", prod, deploy.RunRequest{Kind: deploy.RunRestart, Instance: deploy.InstanceProd}, nil, ok},
		{"backup deployed", prod, deploy.RunRequest{Kind: deploy.RunBackup, Instance: deploy.InstanceProd}, nil, ok},
		{"reconfigure deployed", prod, deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: deploy.InstanceProd}, nil, ok},
		{"pull pending", pending, deploy.RunRequest{Kind: deploy.RunPull, Instance: deploy.InstanceProd}, nil, &problem{deploy.KindConflict, "instance"}},
		{"restart failed", failed, deploy.RunRequest{Kind: deploy.RunRestart, Instance: deploy.InstanceProd}, nil, &problem{deploy.KindConflict, "instance"}},
		{"backup pending test", prodAndTest(deploy.InstancePending), deploy.RunRequest{Kind: deploy.RunBackup, Instance: deploy.InstanceTest}, nil, &problem{deploy.KindConflict, "instance"}},
		{"reconfigure pending", pending, deploy.RunRequest{Kind: deploy.RunReconfigure, Instance: deploy.InstanceProd}, nil, &problem{deploy.KindConflict, "instance"}},
		{"clean pending", pending, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceProd, Confirm: "Eden NZ"}, nil, &problem{deploy.KindConflict, "instance"}},
		{"task on a missing instance", prod, deploy.RunRequest{Kind: deploy.RunPull, Instance: deploy.InstanceDemo}, nil, &problem{deploy.KindNotFound, ""}},
		{"task without instance", prod, deploy.RunRequest{Kind: deploy.RunPull}, nil, &problem{deploy.KindNotFound, ""}},

		{"clean prod confirmed", prod, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceProd, Confirm: "Eden NZ"}, nil, ok},
		{"clean prod unconfirmed", prod, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceProd}, nil, &problem{deploy.KindInvalid, "confirm"}},
		{"clean prod wrong confirmation", prod, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceProd, Confirm: "eden nz"}, nil, &problem{deploy.KindInvalid, "confirm"}},
		{"clean prod confirmed with the type", prod, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceProd, Confirm: "prod"}, nil, &problem{deploy.KindInvalid, "confirm"}},
		{"clean demo unconfirmed", demo, deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceDemo}, nil, ok},
		{"clean test unconfirmed", prodAndTest(deploy.InstanceDeployed), deploy.RunRequest{Kind: deploy.RunClean, Instance: deploy.InstanceTest}, nil, ok},

		{"scale-out eden", prod, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "eden2.example.org", HostRole: deploy.RoleEden}, nil, ok},
		{"scale-out webserver", prod, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "web2.example.org", HostRole: deploy.RoleWebServer}, nil, ok},
		{"scale-out db", prod, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "db1.example.org", HostRole: deploy.RoleDB}, nil, &problem{deploy.KindInvalid, "role"}},
		{"scale-out db claiming eden", prod, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "db1.example.org", HostRole: deploy.RoleEden}, nil, &problem{deploy.KindInvalid, "role"}},
		{"scale-out all-in-one", allInOne, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "eden.example.org", HostRole: deploy.RoleAll}, nil, &problem{deploy.KindInvalid, "role"}},
		{"scale-out unknown host", prod, deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "eden9.example.org", HostRole: deploy.RoleEden}, nil, &problem{deploy.KindNotFound, ""}},
		{"scale-in", prod, deploy.RunRequest{Kind: deploy.RunScaleIn, Host: "eden3.example.org", HostRole: deploy.RoleEden}, nil, ok},
		{"scale-in without host", prod, deploy.RunRequest{Kind: deploy.RunScaleIn, HostRole: deploy.RoleEden}, nil, &problem{deploy.KindInvalid, "host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d(t).CheckRun(tt.req, tt.active)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckRun = %v, want nil", err)
				}
				return
			}
			checkKind(t, err, tt.want.Kind, tt.want.Field)
		})
	}
}

func TestObserveRun(t *testing.T) {
	tests := []struct {
		name   string
		kind   deploy.RunKind
		inst   deploy.InstanceType
		dry    bool
		before deploy.InstanceStatus
		status deploy.RunStatus
		want   deploy.InstanceStatus
	}{
		{"deploy running", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstancePending, deploy.RunRunning, deploy.InstanceDeploying},
		{"deploy succeeded", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstanceDeploying, deploy.RunSucceeded, deploy.InstanceDeployed},
		{"deploy failed", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstanceDeploying, deploy.RunFailed, deploy.InstanceFailed},
		{"deploy cancelled", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstancePending, deploy.RunCancelled, deploy.InstanceFailed},
		{"deploy retry succeeded", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstanceFailed, deploy.RunSucceeded, deploy.InstanceDeployed},
		{"deploy queued", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstancePending, deploy.RunQueued, deploy.InstancePending},
		{"failed run keeps deployed", deploy.RunDeploy, deploy.InstanceProd, false, deploy.InstanceDeployed, deploy.RunFailed, deploy.InstanceDeployed},
		{"cancelled run keeps deployed", deploy.RunAddInstance, deploy.InstanceTest, false, deploy.InstanceDeployed, deploy.RunCancelled, deploy.InstanceDeployed},
		{"add-instance running", deploy.RunAddInstance, deploy.InstanceTest, false, deploy.InstancePending, deploy.RunRunning, deploy.InstanceDeploying},
		{"add-instance succeeded", deploy.RunAddInstance, deploy.InstanceTest, false, deploy.InstanceDeploying, deploy.RunSucceeded, deploy.InstanceDeployed},
		{"add-instance failed", deploy.RunAddInstance, deploy.InstanceTest, false, deploy.InstanceDeploying, deploy.RunFailed, deploy.InstanceFailed},
		{"dry deploy succeeded", deploy.RunDeploy, deploy.InstanceProd, true, deploy.InstancePending, deploy.RunSucceeded, deploy.InstancePending},
		{"dry deploy running", deploy.RunDeploy, deploy.InstanceProd, true, deploy.InstancePending, deploy.RunRunning, deploy.InstancePending},
		{"dry add-instance failed", deploy.RunAddInstance, deploy.InstanceTest, true, deploy.InstancePending, deploy.RunFailed, deploy.InstancePending},
		{"pull failed", deploy.RunPull, deploy.InstanceProd, false, deploy.InstanceDeployed, deploy.RunFailed, deploy.InstanceDeployed},
		{"clean running", deploy.RunClean, deploy.InstanceProd, false, deploy.InstanceDeployed, deploy.RunRunning, deploy.InstanceDeployed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployed(t, allInOneSpec())
			d = withInstance(t, d, deploy.InstanceTest, deploy.InstancePending)
			target := d.Instance(tt.inst)
			target.Status = tt.before
			before := *d
			before.Instances = append([]deploy.Instance(nil), d.Instances...)

			d.ObserveRun(&deploy.Run{ID: "r-1", Kind: tt.kind, Instance: tt.inst, DryRun: tt.dry, Status: tt.status}, later)

			if got := d.Instance(tt.inst).Status; got != tt.want {
				t.Errorf("instance status = %q, want %q", got, tt.want)
			}
			if tt.want == tt.before {
				return
			}
			// Only the run's own instance changed, and it says when.
			if got := d.Instance(tt.inst).UpdatedAt; !got.Equal(later) {
				t.Errorf("UpdatedAt = %s, want %s", got, later)
			}
			for i := range d.Instances {
				if d.Instances[i].Type != tt.inst {
					if diff := cmp.Diff(before.Instances[i], d.Instances[i]); diff != "" {
						t.Errorf("instance %s changed:\n%s", d.Instances[i].Type, diff)
					}
				}
			}
		})
	}

	t.Run("missing instance", func(t *testing.T) {
		d := deployed(t, allInOneSpec())
		d.ObserveRun(&deploy.Run{Kind: deploy.RunAddInstance, Instance: deploy.InstanceSetup, Status: deploy.RunSucceeded}, later)
		if len(d.Instances) != 1 || d.Instances[0].Status != deploy.InstanceDeployed {
			t.Errorf("instances = %+v", d.Instances)
		}
	})
}

func TestNewRun(t *testing.T) {
	d := mustDeployment(t, threeTierSpec())
	req := deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd, DryRun: true, Requester: "alice"}
	r, err := d.NewRun("r-1", req, later)
	if err != nil {
		t.Fatalf("NewRun: %v", err)
	}
	want := &deploy.Run{
		ID: "r-1", DeploymentID: "d-1", Kind: deploy.RunDeploy, Instance: deploy.InstanceProd,
		DryRun: true, Status: deploy.RunQueued, Requester: "alice", CreatedAt: later,
		Steps: []deploy.Step{
			{Name: "db", Role: deploy.RoleDB, Hosts: []string{"db1.example.org"}, Playbook: "deploy.yml", Status: deploy.StepPending},
			{Name: "eden", Role: deploy.RoleEden, Hosts: []string{"eden1.example.org", "eden2.example.org"}, Playbook: "deploy.yml", Status: deploy.StepPending},
			{Name: "webserver", Role: deploy.RoleWebServer, Hosts: []string{"web1.example.org", "web2.example.org"}, Playbook: "deploy.yml", Status: deploy.StepPending},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}

	_, err = deployed(t, allInOneSpec()).NewRun("r-2", deploy.RunRequest{Kind: deploy.RunScaleOut, Host: "eden.example.org"}, later)
	checkKind(t, err, deploy.KindInvalid, "kind")
}

func TestNewInstanceWithoutWebServer(t *testing.T) {
	// Left by scaling in every web server: no URL to derive.
	d := &deploy.Deployment{Servers: []deploy.Server{
		{Host: "db1.example.org", Role: deploy.RoleDB},
		{Host: "eden1.example.org", Role: deploy.RoleEden},
	}}
	_, err := d.NewInstance(deploy.InstanceSpec{Type: deploy.InstanceProd}, now)
	checkKind(t, err, deploy.KindInvalid, "instance.url")
}

func TestHostResultSucceeded(t *testing.T) {
	tests := []struct {
		r    deploy.HostResult
		want bool
	}{
		{deploy.HostResult{Host: "a", OK: 10, Changed: 3, Skipped: 2}, true},
		{deploy.HostResult{Host: "a", OK: 10, Failed: 1}, false},
		{deploy.HostResult{Host: "a", Unreachable: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Succeeded(); got != tt.want {
			t.Errorf("%+v.Succeeded() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestDeploymentHosts(t *testing.T) {
	three := mustDeployment(t, threeTierSpec())
	one := mustDeployment(t, allInOneSpec())
	got := map[string]any{
		"3-tier eden":      three.HostsFor(deploy.RoleEden),
		"3-tier all":       three.HostsFor(deploy.RoleAll),
		"3-tier one":       three.AllInOne(),
		"all-in-one db":    one.HostsFor(deploy.RoleDB),
		"all-in-one web":   one.HostsFor(deploy.RoleWebServer),
		"all-in-one db of": one.HostsOf(deploy.RoleDB),
		"all-in-one one":   one.AllInOne(),
		"server":           three.Server("web2.example.org").Role,
		"no server":        three.Server("web9.example.org") == nil,
		"no instance":      three.Instance(deploy.InstanceTest) == nil,
		"no first":         (&deploy.Deployment{}).FirstInstance() == nil,
	}
	want := map[string]any{
		"3-tier eden":      []string{"eden1.example.org", "eden2.example.org"},
		"3-tier all":       []string(nil),
		"3-tier one":       false,
		"all-in-one db":    []string{"eden.example.org"},
		"all-in-one web":   []string{"eden.example.org"},
		"all-in-one db of": []string(nil),
		"all-in-one one":   true,
		"server":           deploy.RoleWebServer,
		"no server":        true,
		"no instance":      true,
		"no first":         true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
