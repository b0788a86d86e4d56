package playbook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var hashPattern = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// goldenText is what a golden file holds for a run: per step, the vars
// file, the secrets manifest and the metadata (the hash masked: it covers
// the roles, which golden files leave out).
func goldenText(t *testing.T, c renderCase) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %d step(s)\n", c.name, len(c.r.Steps))
	for i, s := range c.r.Steps {
		bundle, err := Render(Input{Deployment: c.d, Run: c.r, Step: i}, Options{})
		if err != nil {
			t.Fatalf("Render step %d: %v", i, err)
		}
		fmt.Fprintf(&b, "\n######## step %d: %s (%s) %s on %s\n", i, s.Name, s.Role, s.Playbook, strings.Join(s.Hosts, ", "))
		for _, name := range []string{VarsFile, SecretsFile, MetaFile} {
			f := bundle.File(name)
			if f == nil {
				t.Fatalf("step %d: bundle has no %s", i, name)
			}
			fmt.Fprintf(&b, "\n==== %s\n%s", name, hashPattern.ReplaceAll(f.Data, []byte("sha256:<hash>")))
		}
	}
	return b.String()
}

func TestRenderGolden(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := goldenText(t, c)
			path := filepath.Join("testdata", "golden", c.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRenderGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("bundle of %s differs from %s (-want +got):\n%s", c.name, path, diff)
			}
		})
	}
}

// decodeVars parses a bundle's vars file into plain Go values.
func decodeVars(t testing.TB, b *Bundle) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal(b.File(VarsFile).Data, &v); err != nil {
		t.Fatalf("vars file does not parse: %v", err)
	}
	return v
}

func TestRenderCrossTierFacts(t *testing.T) {
	d := newDeployment(t, tierServers(), deploy.InstanceProd, deploy.InstanceDeployed)
	deployRun := newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	steps := map[string]map[string]any{}
	for i, s := range deployRun.Steps {
		b, err := Render(Input{Deployment: d, Run: deployRun, Step: i}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		steps[s.Name] = decodeVars(t, b)
	}
	inst := func(step string) map[string]any {
		return steps[step]["eden_instances"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"db step admits every eden host", steps["db"]["eden_db_clients"], []any{"10.0.2.10/32", "2001:db8::21/128", "eden3.example.org"}},
		{"db step listens beyond localhost", steps["db"]["eden_db_listen"], "*"},
		{"eden step knows the db host", steps["eden"]["eden_db_host"], "10.0.1.10"},
		{"eden step binds uWSGI for the IPv6 eden host", inst("eden")["uwsgi_socket"], "[::]:59025"},
		{"eden step has the database", inst("eden")["db_name"], "sahana"},
		{"webserver step upstreams every eden host", inst("webserver")["upstreams"], []any{"10.0.2.10:59025", "[2001:db8::21]:59025", "eden3.example.org:59025"}},
		{"webserver step serves the URL's host", inst("webserver")["server_name"], "10.0.3.10"},
		{"webserver step listens on the URL's port", inst("webserver")["listen_port"], 80},
		{"db step carries no eden values", steps["db"]["eden_eden_repo"], nil},
		{"webserver step carries no settings", inst("webserver")["settings"], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderSecretsNeverInBundle(t *testing.T) {
	for _, c := range renderCases(t) {
		for i := range c.r.Steps {
			b, err := Render(Input{Deployment: c.d, Run: c.r, Step: i}, Options{})
			if err != nil {
				t.Fatalf("%s step %d: %v", c.name, i, err)
			}
			var names []string
			if err := json.Unmarshal(b.File(SecretsFile).Data, &names); err != nil {
				t.Fatalf("%s: secrets.json: %v", c.name, err)
			}
			for _, n := range names {
				switch {
				case n == deploy.SecretDBPassword, n == deploy.SecretHMACKey, n == deploy.SecretAdminPassword:
				case (strings.HasPrefix(n, "tls-chain-") || strings.HasPrefix(n, "tls-key-")) && c.d.Instance(c.r.Instance).TLS.Mode == deploy.TLSOwn &&
					bytes.Contains(b.File(VarsFile).Data, []byte(`"`+n+`"`)):
					// An own certificate: the nginx role reads it by the
					// name its vars give.
				default:
					t.Errorf("%s: secrets.json names %q, which no role reads", c.name, n)
				}
			}
			if bytes.Contains(b.File(VarsFile).Data, []byte("password:")) {
				t.Errorf("%s: vars file has a password value", c.name)
			}
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	good := func() (*deploy.Deployment, *deploy.Run) {
		d := newDeployment(t, tierServers(), deploy.InstanceProd, deploy.InstanceDeployed)
		return d, newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	}
	tests := []struct {
		name   string
		break_ func(d *deploy.Deployment, r *deploy.Run) int
	}{
		{"step out of range", func(d *deploy.Deployment, r *deploy.Run) int { return 7 }},
		{"run of another deployment", func(d *deploy.Deployment, r *deploy.Run) int { r.DeploymentID = "d-other"; return 0 }},
		{"hostile step host", func(d *deploy.Deployment, r *deploy.Run) int { r.Steps[2].Hosts[0] = "x; rm -rf /"; return 2 }},
		{"hostile eden host reaching upstreams", func(d *deploy.Deployment, r *deploy.Run) int {
			d.Servers[1].Host = "10.0.0.1:80 backup; server evil"
			return 2
		}},
		{"hostile db host reaching 000_config", func(d *deploy.Deployment, r *deploy.Run) int { d.Servers[0].Host = "db\nhost"; return 1 }},
		{"hostile URL reaching nginx", func(d *deploy.Deployment, r *deploy.Run) int {
			d.Instances[0].URL = "http://a.example.org;include/etc/passwd"
			return 2
		}},
		{"setting key that is a Python keyword", func(d *deploy.Deployment, r *deploy.Run) int {
			d.Instances[0].Settings["base.class"] = "x"
			return 1
		}},
		{"playbook with nothing to do on the tier", func(d *deploy.Deployment, r *deploy.Run) int {
			r.Steps[0].Playbook = deploy.PlaybookRestart
			return 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, r := good()
			step := tt.break_(d, r)
			_, err := Render(Input{Deployment: d, Run: r, Step: step}, Options{})
			if !deploy.IsKind(err, deploy.KindInvalid) {
				t.Fatalf("Render = %v, want an Invalid error", err)
			}
		})
	}
}

func TestRenderUsesTestRoles(t *testing.T) {
	d := newDeployment(t, aioServers(), deploy.InstanceProd, deploy.InstancePending)
	r := newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	b, err := Render(Input{Deployment: d, Run: r}, Options{Roles: ansible.TestRoles()})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, f := range b.Files {
		if strings.HasPrefix(f.Name, "roles/") && strings.HasSuffix(f.Name, "/tasks/record.yml") {
			roles = append(roles, strings.Split(f.Name, "/")[1])
		}
	}
	if diff := cmp.Diff([]string{"common", "eden", "nginx", "postgresql", "uwsgi"}, roles); diff != "" {
		t.Errorf("test roles in the bundle (-want +got):\n%s", diff)
	}
}

// Every bundle carries the results callback plugin the runners enable and
// the module the real roles write files with.
func TestRenderIncludesCallbackPluginAndModules(t *testing.T) {
	d := newDeployment(t, aioServers(), deploy.InstanceProd, deploy.InstancePending)
	r := newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	for _, roles := range []fs.FS{nil, ansible.TestRoles()} {
		b, err := Render(Input{Deployment: d, Run: r}, Options{Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		f := b.File(ansible.CallbackPluginFile)
		if f == nil || !bytes.Equal(f.Data, ansible.CallbackPlugin()) || !bytes.Contains(f.Data, []byte("CallbackBase")) {
			t.Errorf("bundle lacks %s (or holds another file there)", ansible.CallbackPluginFile)
		}
		want, err := fs.ReadFile(ansible.Modules(), "eden_files.py")
		if err != nil {
			t.Fatal(err)
		}
		if f := b.File(ansible.ModuleDir + "/eden_files.py"); f == nil || !bytes.Equal(f.Data, want) {
			t.Errorf("bundle lacks %s/eden_files.py (or holds another file there)", ansible.ModuleDir)
		}
	}
}

// The test roles share one recording task file; keep the copies identical.
func TestTestRolesRecordIdentically(t *testing.T) {
	var first []byte
	for _, role := range []string{"common", "postgresql", "eden", "uwsgi", "nginx"} {
		data, err := ansible.TestRoleFiles.ReadFile("testroles/" + role + "/tasks/record.yml")
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Errorf("testroles/%s/tasks/record.yml differs from testroles/common/tasks/record.yml", role)
		}
	}
}
