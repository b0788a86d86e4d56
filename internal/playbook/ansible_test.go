package playbook

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// ansibleEnv is the allow-listed environment of the Ansible subprocesses.
func ansibleEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(home, "tmp"),
		"ANSIBLE_REMOTE_TEMP=" + filepath.Join(home, "remote-tmp"),
	}
}

func runAnsible(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = ansibleEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func extractBundle(t *testing.T, b *Bundle) string {
	t.Helper()
	tgz, err := b.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Extract(tgz, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Every rendered playbook passes ansible-playbook --syntax-check, run in
// the extracted bundle as the runners run it.
func TestRenderedPlaybooksSyntaxCheck(t *testing.T) {
	bin := testpeer.LookPath(t, "ansible-playbook")
	type job struct {
		name string
		b    *Bundle
	}
	var jobs []job
	for _, c := range renderCases(t) {
		for i, s := range c.r.Steps {
			for _, roles := range []struct {
				name string
				fs   Options
			}{{"real", Options{}}, {"test", Options{Roles: ansible.TestRoles()}}} {
				b, err := Render(Input{Deployment: c.d, Run: c.r, Step: i}, roles.fs)
				if err != nil {
					t.Fatal(err)
				}
				jobs = append(jobs, job{fmt.Sprintf("%s/%d-%s/%s", c.name, i, s.Name, roles.name), b})
			}
		}
	}
	// One ansible-playbook per distinct playbook and tier is enough to be
	// exhaustive: a playbook's syntax does not depend on the vars values,
	// but the extracted bundle (roles present, vars file parsed) does.
	seen := map[string]bool{}
	for _, j := range jobs {
		key := j.b.Meta.Playbook + "/" + j.b.Meta.StepRole + "/" + strings.Join(j.b.Meta.Roles, ",") + "/" + j.name[strings.LastIndex(j.name, "/"):]
		if seen[key] {
			continue
		}
		seen[key] = true
		t.Run(j.name, func(t *testing.T) {
			dir := extractBundle(t, j.b)
			out, err := runAnsible(t, dir, bin, "--syntax-check", "-i", "localhost,", j.b.Meta.Playbook)
			if err != nil {
				t.Fatalf("syntax check of %s failed: %v\n%s", j.b.Meta.Playbook, err, out)
			}
		})
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ansible-lint (production profile) passes on the roles and playbooks.
func TestAnsibleLint(t *testing.T) {
	bin := testpeer.LookPath(t, "ansible-lint")
	root := repoRoot(t)
	out, err := runAnsible(t, root, bin, "--offline", "-c", "infra/ansible/.ansible-lint", "infra/ansible")
	if err != nil {
		t.Fatalf("ansible-lint failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Passed") {
		t.Fatalf("ansible-lint did not report a pass:\n%s", out)
	}
}

// hostile strings that Jinja, Python or a shell would act on if any
// layer evaluated them. Each names its own marker file under /tmp.
func hostile(marker string) []string {
	return []string{
		"{{ lookup('pipe','touch " + marker + "-a') }}",
		"{% raw %}{{ lookup('pipe','touch " + marker + "-b') }}{% endraw %}",
		"'; import os; os.system('touch " + marker + "-c')#",
		`"""; __import__('os').system('touch ` + marker + `-d'); """`,
		"line one\nline two\r\n\tend",
		`back\slash \\ \' \" \n \x00 \u0041`,
		"$(touch " + marker + "-e) `touch " + marker + "-f`",
		"ünïcødé ✓ 💥 \u2028 \u0085 \ufeff \u00a0",
		"{#", "#}", "{%", "%}", "}}",
		"!unsafe \"x\" --- ... : - ? &anchor *alias",
	}
}

// A bundle with hostile values in every user field runs under real
// ansible-playbook (-c local) with the test roles: each value arrives
// verbatim and nothing it names is executed.
func TestHostileValuesArriveVerbatim(t *testing.T) {
	bin := testpeer.LookPath(t, "ansible-playbook")
	marker := filepath.Join("/tmp", fmt.Sprintf("pwned-%d", time.Now().UnixNano()))
	evil := hostile(marker)
	settings := deploy.Settings{"base.system_name": evil[0]}
	for i, s := range evil {
		settings[fmt.Sprintf("custom.value%02d", i)] = s
	}
	settings["custom.list"] = evil
	jinjaInName := "{{lookup('pipe','touch " + marker + "-name')}}"
	spec := deploy.Spec{
		Name:        jinjaInName,
		Eden:        deploy.Repo{URL: "https://example.org/{{lookup('pipe','touch${IFS}" + marker + "-url')}}.git", Branch: "{{lookup('pipe','touch${IFS}" + marker + "-branch')}}"},
		Web2py:      deploy.Repo{URL: "file:///srv/{{web2py}}/{#x#}", Branch: "R-2.21.2"},
		Template:    "default",
		Prepopulate: []string{"default/users", "x-{{y}}"},
		AdminEmail:  "admin@example.org",
		Servers:     aioServers(),
		Instance:    deploy.InstanceSpec{Type: deploy.InstanceProd, URL: "http://eden.example.org:8080", Settings: settings},
	}
	spec.Prepopulate = []string{"default/users"} // the domain refuses markup there
	d, err := deploy.NewDeployment(spec, "d-hostile", "owner", fixedNow)
	if err != nil {
		t.Fatalf("NewDeployment: %v", err)
	}
	r := newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	b, err := Render(Input{Deployment: d, Run: r}, Options{Roles: ansible.TestRoles()})
	if err != nil {
		t.Fatal(err)
	}
	dir := extractBundle(t, b)
	records := t.TempDir()
	secrets := t.TempDir()
	out, err := runAnsible(t, dir, bin, "-i", "localhost,", "-c", "local", "--become-method=su",
		"-e", "eden_record_dir="+records, "-e", "eden_secrets_dir="+secrets, b.Meta.Playbook)
	if err != nil {
		t.Fatalf("ansible-playbook failed: %v\n%s", err, out)
	}

	// Nothing named by a hostile value ran.
	matches, _ := filepath.Glob(marker + "*")
	if len(matches) > 0 {
		t.Fatalf("hostile values were executed: %v exist", matches)
	}

	// Every role ran, in the playbook's order.
	order, err := os.ReadFile(filepath.Join(records, "localhost", "order.log"))
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := "deploy postgresql main\ndeploy common main\ndeploy eden main\ndeploy uwsgi main\ndeploy nginx main\n"
	if diff := cmp.Diff(wantOrder, string(order)); diff != "" {
		t.Errorf("order.log (-want +got):\n%s", diff)
	}

	// What each role received equals the vars file, value for value.
	want := decodeVars(t, b)
	want["eden_playbook"] = "deploy"
	want["eden_secrets_dir"] = secrets
	for _, role := range b.Meta.Roles {
		data, err := os.ReadFile(filepath.Join(records, "localhost", "deploy-"+role+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(normalizeJSON(t, want), got); diff != "" {
			t.Errorf("role %s received (-want +got):\n%s", role, diff)
		}
	}

	// And the hostile values themselves, field by field.
	var got map[string]any
	data, _ := os.ReadFile(filepath.Join(records, "localhost", "deploy-eden.json"))
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	inst := got["eden_instances"].([]any)[0].(map[string]any)
	gotSettings := inst["settings"].(map[string]any)
	checks := []struct {
		name      string
		got, want any
	}{
		{"deployment name", got["eden_deployment_name"], jinjaInName},
		{"eden repo url", got["eden_eden_repo"].(map[string]any)["url"], spec.Eden.URL},
		{"eden repo branch", got["eden_eden_repo"].(map[string]any)["branch"], spec.Eden.Branch},
		{"web2py repo url", got["eden_web2py_repo"].(map[string]any)["url"], spec.Web2py.URL},
	}
	for i, s := range evil {
		checks = append(checks, struct {
			name      string
			got, want any
		}{fmt.Sprintf("setting custom.value%02d", i), gotSettings[fmt.Sprintf("custom.value%02d", i)], s})
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}

	// The recorded 000_config.py lines, run by a real python3 against a
	// settings stub, give back every hostile value exactly.
	var lines []string
	for _, l := range inst["config_post"].([]any) {
		lines = append(lines, l.(string))
	}
	values := runPythonConfig(t, lines)
	for i, s := range evil {
		if diff := cmp.Diff(s, values[fmt.Sprintf("custom.value%02d", i)]); diff != "" {
			t.Errorf("python3 read custom.value%02d (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(toAny(evil), values["custom.list"]); diff != "" {
		t.Errorf("python3 read custom.list (-want +got):\n%s", diff)
	}
	if matches, _ := filepath.Glob(marker + "*"); len(matches) > 0 {
		t.Fatalf("hostile values were executed by python3: %v exist", matches)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// normalizeJSON gives v the shape encoding/json decodes to.
func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
