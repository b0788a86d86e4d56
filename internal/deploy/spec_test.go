package deploy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// wantAllInOne is the deployment allInOneSpec turns into.
func wantAllInOne() *deploy.Deployment {
	return &deploy.Deployment{
		ID: "d-1", Name: "Eden NZ", Owner: "alice",
		Eden:        deploy.Repo{URL: "https://github.com/sahana/eden.git", Branch: "master"},
		Web2py:      deploy.Repo{URL: "https://github.com/web2py/web2py.git", Branch: "31905858b7f2cf72ce778ea8108cbbbb4f721f15"},
		Template:    "default",
		Prepopulate: []string{},
		AdminEmail:  "admin@example.org", SenderEmail: "admin@example.org",
		WebServer: "nginx", Database: "postgresql",
		Target: deploy.TargetSSH, SSHUser: "root",
		Servers: []deploy.Server{{Host: "eden.example.org", Role: deploy.RoleAll, Origin: deploy.OriginDeclared, AddedAt: now}},
		Instances: []deploy.Instance{{
			Type: deploy.InstanceProd, URL: "http://eden.example.org", Status: deploy.InstancePending,
			Settings: deploy.Settings{
				"base.public_url":  "http://eden.example.org",
				"base.template":    "default",
				"base.prepopulate": []string{},
				"mail.sender":      "admin@example.org",
				"mail.approver":    "admin@example.org",
			},
			SettingsVersion: 1, TLS: deploy.TLS{Mode: deploy.TLSNone}, CreatedAt: now, UpdatedAt: now,
		}},
		CreatedAt: now, UpdatedAt: now,
	}
}

func TestNewDeploymentDefaults(t *testing.T) {
	tests := []struct {
		name string
		spec func(*deploy.Spec)
		want func(*deploy.Deployment)
	}{
		{"minimal spec", func(*deploy.Spec) {}, func(*deploy.Deployment) {}},
		{
			"eden repo without branch gets master",
			func(s *deploy.Spec) { s.Eden = deploy.Repo{URL: "https://github.com/me/eden.git"} },
			func(d *deploy.Deployment) {
				d.Eden = deploy.Repo{URL: "https://github.com/me/eden.git", Branch: "master"}
			},
		},
		{
			"web2py repo without branch gets web2py 2.21.2's commit",
			func(s *deploy.Spec) { s.Web2py = deploy.Repo{URL: "https://github.com/me/web2py.git"} },
			func(d *deploy.Deployment) {
				d.Web2py = deploy.Repo{URL: "https://github.com/me/web2py.git", Branch: deploy.Web2pyCommit}
			},
		},
		{
			"repos kept as given",
			func(s *deploy.Spec) {
				s.Eden = deploy.Repo{URL: "ssh://git@github.com/me/eden.git", Branch: "feature/x"}
				s.Web2py = deploy.Repo{URL: "file:///srv/web2py.git", Branch: "v2.27.1"}
			},
			func(d *deploy.Deployment) {
				d.Eden = deploy.Repo{URL: "ssh://git@github.com/me/eden.git", Branch: "feature/x"}
				d.Web2py = deploy.Repo{URL: "file:///srv/web2py.git", Branch: "v2.27.1"}
			},
		},
		{
			"template, prepopulate and country",
			func(s *deploy.Spec) {
				s.Template = "historic.DRRPP"
				s.Prepopulate = []string{"historic/DRRPP", "default/users"}
				s.Country = "NZ"
			},
			func(d *deploy.Deployment) {
				d.Template = "historic.DRRPP"
				d.Prepopulate = []string{"historic/DRRPP", "default/users"}
				d.Country = "NZ"
				st := d.Instances[0].Settings
				st["base.template"] = "historic.DRRPP"
				st["base.prepopulate"] = []string{"historic/DRRPP", "default/users"}
				st["gis.countries"] = []string{"NZ"}
			},
		},
		{
			"empty prepopulate means the template's own list",
			func(s *deploy.Spec) { s.Prepopulate = []string{} },
			func(d *deploy.Deployment) {
				d.Prepopulate = []string{}
				d.Instances[0].Settings["base.prepopulate"] = []string{}
			},
		},
		{
			"sender e-mail of its own",
			func(s *deploy.Spec) { s.SenderEmail = "noreply@example.org" },
			func(d *deploy.Deployment) {
				d.SenderEmail = "noreply@example.org"
				d.Instances[0].Settings["mail.sender"] = "noreply@example.org"
			},
		},
		{
			"explicit web server, database and ssh user",
			func(s *deploy.Spec) { s.WebServer, s.Database, s.SSHUser = "nginx", "postgresql", "ubuntu" },
			func(d *deploy.Deployment) { d.SSHUser = "ubuntu" },
		},
		{
			"target ssm has no ssh user",
			func(s *deploy.Spec) {
				s.Target = deploy.TargetSSM
				s.Servers[0].InstanceID = "i-0123456789abcdef0"
			},
			func(d *deploy.Deployment) {
				d.Target, d.SSHUser = deploy.TargetSSM, ""
				d.Servers[0].InstanceID = "i-0123456789abcdef0"
			},
		},
		{
			"demo first instance",
			func(s *deploy.Spec) { s.Instance.Type = deploy.InstanceDemo },
			func(d *deploy.Deployment) { d.Instances[0].Type = deploy.InstanceDemo },
		},
		{
			"IPv4 server",
			func(s *deploy.Spec) { s.Servers[0].Host = "10.0.0.5" },
			func(d *deploy.Deployment) {
				d.Servers[0].Host = "10.0.0.5"
				d.Instances[0].URL = "http://10.0.0.5"
				d.Instances[0].Settings["base.public_url"] = "http://10.0.0.5"
			},
		},
		{
			"IPv6 server is bracketed in the URL",
			func(s *deploy.Spec) { s.Servers[0].Host = "2001:db8::10" },
			func(d *deploy.Deployment) {
				d.Servers[0].Host = "2001:db8::10"
				d.Instances[0].URL = "http://[2001:db8::10]"
				d.Instances[0].Settings["base.public_url"] = "http://[2001:db8::10]"
			},
		},
		{
			"explicit instance URL",
			func(s *deploy.Spec) { s.Instance.URL = "https://eden.example.org" },
			func(d *deploy.Deployment) {
				d.Instances[0].URL = "https://eden.example.org"
				d.Instances[0].Settings["base.public_url"] = "https://eden.example.org"
				// https on target ssh: Let's Encrypt by default.
				d.Instances[0].TLS = deploy.TLS{Mode: deploy.TLSACME, ACMEDirectory: deploy.LetsEncryptProduction, HSTSMaxAge: deploy.DefaultHSTSMaxAge}
			},
		},
		{
			"3-tier: URL from the first web server",
			func(s *deploy.Spec) { s.Servers = threeTierSpec().Servers },
			func(d *deploy.Deployment) {
				d.Servers = nil
				for _, s := range threeTierSpec().Servers {
					d.Servers = append(d.Servers, deploy.Server{Host: s.Host, Role: s.Role, Origin: deploy.OriginDeclared, AddedAt: now})
				}
				d.Instances[0].URL = "http://web1.example.org"
				d.Instances[0].Settings["base.public_url"] = "http://web1.example.org"
			},
		},
		{
			"instance settings overlay the derived ones, normalized",
			func(s *deploy.Spec) {
				s.Instance.Settings = deploy.Settings{
					"base.system_name": "Eden NZ",
					"mail.limit":       float64(50), // as decoded from JSON
					"mail.approver":    "approver@example.org",
					"custom.regions":   []any{"North", "South"},
					"base.public_url":  "http://eden.example.org", // the same URL is fine
				}
			},
			func(d *deploy.Deployment) {
				st := d.Instances[0].Settings
				st["base.system_name"] = "Eden NZ"
				st["mail.limit"] = int64(50)
				st["mail.approver"] = "approver@example.org"
				st["custom.regions"] = []string{"North", "South"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := allInOneSpec()
			tt.spec(&spec)
			want := wantAllInOne()
			tt.want(want)
			got, err := deploy.NewDeployment(spec, "d-1", "alice", now)
			if err != nil {
				t.Fatalf("NewDeployment: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("deployment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewDeploymentDoesNotAliasSpec(t *testing.T) {
	spec := allInOneSpec()
	spec.Prepopulate = []string{"default"}
	d := mustDeployment(t, spec)
	spec.Prepopulate[0] = "changed"
	if d.Prepopulate[0] != "default" {
		t.Errorf("Prepopulate follows the spec's slice: %v", d.Prepopulate)
	}
	d.Prepopulate[0] = "mine"
	if got := d.Instances[0].Settings["base.prepopulate"].([]string)[0]; got != "default" {
		t.Errorf("base.prepopulate follows d.Prepopulate: %q", got)
	}
}

func TestNewDeploymentViolations(t *testing.T) {
	tests := []struct {
		name      string
		id, owner string
		spec      func(*deploy.Spec)
		want      []problem
		reasons   []string
	}{
		{name: "no id", id: "-", spec: func(*deploy.Spec) {}, want: invalid("id")},
		{name: "no owner", owner: "-", spec: func(*deploy.Spec) {}, want: invalid("owner")},
		{name: "no name", spec: func(s *deploy.Spec) { s.Name = "" }, want: invalid("name"), reasons: []string{"is required"}},
		{name: "long name", spec: func(s *deploy.Spec) { s.Name = strings.Repeat("n", 101) }, want: invalid("name")},
		{name: "name with newline", spec: func(s *deploy.Spec) { s.Name = "a\nb" }, want: invalid("name")},
		{name: "eden URL missing", spec: func(s *deploy.Spec) { s.Eden = deploy.Repo{Branch: "master"} }, want: invalid("eden.url")},
		{name: "eden URL option", spec: func(s *deploy.Spec) { s.Eden.URL = "--upload-pack=x" }, want: invalid("eden.url"), reasons: []string{"'-'"}},
		{name: "eden URL without scheme", spec: func(s *deploy.Spec) { s.Eden.URL = "github.com/sahana/eden" }, want: invalid("eden.url"), reasons: []string{"scheme"}},
		{name: "eden branch option", spec: func(s *deploy.Spec) { s.Eden = deploy.Repo{URL: "https://github.com/x/eden.git", Branch: "-b"} }, want: invalid("eden.branch")},
		{name: "web2py URL ftp", spec: func(s *deploy.Spec) { s.Web2py.URL = "ftp://example.org/web2py" }, want: invalid("web2py.url")},
		{name: "web2py branch with ..", spec: func(s *deploy.Spec) {
			s.Web2py = deploy.Repo{URL: "https://github.com/web2py/web2py.git", Branch: "a..b"}
		}, want: invalid("web2py.branch")},
		{name: "template path", spec: func(s *deploy.Spec) { s.Template = "../etc" }, want: invalid("template")},
		{name: "template with slash", spec: func(s *deploy.Spec) { s.Template = "historic/DRRPP" }, want: invalid("template")},
		{name: "template with quote", spec: func(s *deploy.Spec) { s.Template = `x"` }, want: invalid("template")},
		{name: "template too long", spec: func(s *deploy.Spec) { s.Template = strings.Repeat("t", 101) }, want: invalid("template")},
		{name: "prepopulate ..", spec: func(s *deploy.Spec) { s.Prepopulate = []string{"default", "default/../../etc"} }, want: invalid("prepopulate[1]")},
		{name: "prepopulate absolute", spec: func(s *deploy.Spec) { s.Prepopulate = []string{"/etc/passwd"} }, want: invalid("prepopulate[0]")},
		{name: "prepopulate option", spec: func(s *deploy.Spec) { s.Prepopulate = []string{"-x"} }, want: invalid("prepopulate[0]")},
		{name: "prepopulate empty entry", spec: func(s *deploy.Spec) { s.Prepopulate = []string{""} }, want: invalid("prepopulate[0]")},
		{name: "prepopulate with space", spec: func(s *deploy.Spec) { s.Prepopulate = []string{"default users"} }, want: invalid("prepopulate[0]")},
		{name: "prepopulate too many", spec: func(s *deploy.Spec) { s.Prepopulate = make([]string, 21); fillWith(s.Prepopulate, "default") }, want: invalid("prepopulate")},
		{name: "country lower case", spec: func(s *deploy.Spec) { s.Country = "nz" }, want: invalid("country")},
		{name: "country alpha-3", spec: func(s *deploy.Spec) { s.Country = "NZL" }, want: invalid("country")},
		{name: "no admin e-mail", spec: func(s *deploy.Spec) { s.AdminEmail = "" }, want: invalid("admin_email")},
		{name: "admin e-mail with name, sender defaulted: one problem", spec: func(s *deploy.Spec) { s.AdminEmail = "Admin <admin@example.org>" }, want: invalid("admin_email")},
		{name: "bad sender e-mail", spec: func(s *deploy.Spec) { s.SenderEmail = "noreply" }, want: invalid("sender_email")},
		{name: "apache", spec: func(s *deploy.Spec) { s.WebServer = "apache" }, want: invalid("web_server")},
		{name: "mysql", spec: func(s *deploy.Spec) { s.Database = "mysql" }, want: invalid("database")},
		{name: "ssh user upper case", spec: func(s *deploy.Spec) { s.SSHUser = "Root" }, want: invalid("ssh_user")},
		{name: "ssh user injection", spec: func(s *deploy.Spec) { s.SSHUser = "root;id" }, want: invalid("ssh_user")},
		{name: "ssh user option", spec: func(s *deploy.Spec) { s.SSHUser = "-oProxyCommand=x" }, want: invalid("ssh_user")},
		{name: "unknown target", spec: func(s *deploy.Spec) { s.Target = "winrm" }, want: invalid("target")},
		{
			name: "ssm with an ssh user",
			spec: func(s *deploy.Spec) {
				s.Target, s.SSHUser = deploy.TargetSSM, "ubuntu"
				s.Servers[0].InstanceID = "i-0123456789abcdef0"
			},
			want: invalid("ssh_user"),
		},
		{
			name: "ssm needs every instance ID",
			spec: func(s *deploy.Spec) {
				s.Servers = threeTierSpec().Servers
				s.Target = deploy.TargetSSM
				s.Servers[2].InstanceID = "i-0123456789abcdef0"
			},
			want: invalid("servers[0].instance_id", "servers[1].instance_id", "servers[3].instance_id", "servers[4].instance_id"),
		},
		{name: "no servers", spec: func(s *deploy.Spec) { s.Servers = nil }, want: invalid("servers")},
		{name: "bad host", spec: func(s *deploy.Spec) { s.Servers[0].Host = "host;rm" }, want: invalid("servers[0].host")},
		{name: "bad EC2 ID", spec: func(s *deploy.Spec) { s.Servers[0].InstanceID = "i-xyz" }, want: invalid("servers[0].instance_id")},
		{name: "all and more", spec: func(s *deploy.Spec) {
			s.Servers = append(s.Servers, deploy.ServerSpec{Host: "db.example.org", Role: deploy.RoleDB})
		}, want: invalid("servers")},
		{name: "test first", spec: func(s *deploy.Spec) { s.Instance.Type = deploy.InstanceTest }, want: invalid("instance.type"), reasons: []string{"prod or demo"}},
		{name: "setup first", spec: func(s *deploy.Spec) { s.Instance.Type = deploy.InstanceSetup }, want: invalid("instance.type")},
		{name: "no instance type", spec: func(s *deploy.Spec) { s.Instance.Type = "" }, want: invalid("instance.type")},
		{name: "instance URL ftp", spec: func(s *deploy.Spec) { s.Instance.URL = "ftp://eden.example.org" }, want: invalid("instance.url")},
		{name: "instance URL with path", spec: func(s *deploy.Spec) { s.Instance.URL = "http://eden.example.org/eden" }, want: invalid("instance.url")},
		{name: "system-owned setting", spec: func(s *deploy.Spec) { s.Instance.Settings = deploy.Settings{"database.password": "x"} }, want: invalid("settings.database.password")},
		{name: "mistyped setting", spec: func(s *deploy.Spec) { s.Instance.Settings = deploy.Settings{"base.debug": "yes"} }, want: invalid("settings.base.debug")},
		{
			name: "settings public_url other than the URL",
			spec: func(s *deploy.Spec) {
				s.Instance.Settings = deploy.Settings{"base.public_url": "http://other.example.org"}
			},
			want: invalid("settings.base.public_url"),
		},
		{
			name: "three problems, three fields",
			spec: func(s *deploy.Spec) { s.Name, s.Country, s.WebServer = "", "nz", "apache" },
			want: invalid("name", "country", "web_server"),
		},
		{
			name: "instance problems reported with the others",
			spec: func(s *deploy.Spec) {
				s.AdminEmail = "admin"
				s.Instance.URL = "ftp://eden.example.org"
				s.Instance.Settings = deploy.Settings{"auth.hmac_key": "x", "mail.limit": "many"}
			},
			want: invalid("admin_email", "instance.url", "settings.auth.hmac_key", "settings.mail.limit"),
		},
		{
			name: "everything wrong",
			id:   "-", owner: "-",
			spec: func(s *deploy.Spec) {
				*s = deploy.Spec{
					Eden:        deploy.Repo{URL: "-x", Branch: "-y"},
					Template:    "a b",
					Prepopulate: []string{".."},
					Country:     "xx",
					SenderEmail: "x",
					WebServer:   "iis",
					Database:    "sqlite",
					SSHUser:     "A",
					Servers:     []deploy.ServerSpec{{Host: "::", Role: "app"}},
				}
			},
			want: invalid("id", "owner", "name", "eden.url", "eden.branch", "template", "prepopulate[0]", "country",
				"admin_email", "sender_email", "web_server", "database", "ssh_user",
				"servers[0].host", "servers[0].role", "servers", "servers", "servers", "instance.type"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, owner := "d-1", "alice"
			if tt.id == "-" {
				id = ""
			}
			if tt.owner == "-" {
				owner = ""
			}
			spec := allInOneSpec()
			tt.spec(&spec)
			d, err := deploy.NewDeployment(spec, id, owner, now)
			if d != nil {
				t.Errorf("NewDeployment returned a deployment with error %v", err)
			}
			if deploy.KindOf(err) != deploy.KindInvalid {
				t.Errorf("KindOf = %q, want invalid (error %v)", deploy.KindOf(err), err)
			}
			checkProblems(t, err, tt.want, tt.reasons...)
		})
	}
}

func fillWith(s []string, v string) {
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", v, i)
	}
}
