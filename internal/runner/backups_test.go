package runner_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// The plugin hands over what a host reports of its backups (set_stats
// eden_backups, per host), and Outcome puts it in the host's result.
func TestCallbackPluginReportsBackups(t *testing.T) {
	ap := testpeer.LookPath(t, "ansible-playbook")
	dir := t.TempDir()
	plugins := filepath.Join(dir, "callback_plugins")
	os.Mkdir(plugins, 0o700)
	os.WriteFile(filepath.Join(plugins, runner.CallbackFile), runner.CallbackPlugin, 0o600)
	inv := filepath.Join(dir, "inv")
	os.WriteFile(inv, []byte("a ansible_connection=local\nb ansible_connection=local\n"), 0o600)
	resFile := filepath.Join(dir, "results.json")
	cmd := exec.CommandContext(context.Background(), ap, "-i", inv, "testdata/backups.yml")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8",
		"ANSIBLE_CALLBACK_PLUGINS=" + plugins, "ANSIBLE_CALLBACKS_ENABLED=" + runner.CallbackName,
		runner.ResultsEnv + "=" + resFile, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	b, err := os.ReadFile(resFile)
	if err != nil {
		t.Fatalf("no results file: %v\n%s", err, out)
	}
	res, err := runner.ParseResults(b)
	if err != nil {
		t.Fatal(err)
	}
	o := runner.Outcome([]string{"a", "b"}, res, runner.Ending{}, "log")
	want := []deploy.BackupReport{{Instance: deploy.InstanceProd, Name: "20260301-020000.dump", Path: "/var/backups/eden/prod/20260301-020000.dump",
		Size: 42, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Current: true, Offsite: "pulled"}}
	if d := cmp.Diff(want, o.Results[0].Backups); d != "" {
		t.Errorf("backups of a (-want +got):\n%s\n%s", d, b)
	}
	if o.Results[1].Backups != nil || o.Error != "" {
		t.Errorf("host b: %+v, error %q", o.Results[1], o.Error)
	}
}
