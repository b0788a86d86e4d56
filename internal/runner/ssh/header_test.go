package ssh

import (
	"path/filepath"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runlog"
	"github.com/edendeploy/edendeploy/internal/runner"
)

func TestStepHeaderCountsSteps(t *testing.T) {
	d := deploy.Dispatch{StepIndex: 1, StepCount: 3, StepName: "eden", Hosts: []deploy.DispatchHost{{Host: "10.0.0.3"}}}
	if got := string(header(d)); got != "== step 2/3 eden on 10.0.0.3 ==\n" {
		t.Errorf("header = %q", got)
	}
	if got := string(footer(d, deploy.StepOutcome{})); got != "== step 2/3 eden succeeded ==\n" {
		t.Errorf("footer = %q", got)
	}
}

// Ansible runs in the bundle's directory, so a relative data directory
// must become absolute (make demo passes .cache/demo/data).
func TestNewMakesTheDataDirectoryAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	logs, err := runlog.Open("logs")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{DataDir: "data", Blobs: nopBlobs{}, Secrets: nopSecrets{}, Log: logs, Signaler: nopSignaler{}, AnsiblePlaybook: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(r.cfg.DataDir) {
		t.Errorf("data directory %q is relative", r.cfg.DataDir)
	}
}

// Callback names reach ANSIBLE_CALLBACKS_ENABLED, a comma-separated list:
// New takes plain and fully qualified names and nothing else.
func TestNewChecksCallbackNames(t *testing.T) {
	logs, err := runlog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, ok := range map[string]bool{
		"profile_tasks": true, "ansible.posix.profile_tasks": true,
		"a,b": false, "": false, "x..y": false, "x y": false, "../x": false,
	} {
		_, err := New(Config{DataDir: t.TempDir(), Blobs: nopBlobs{}, Secrets: nopSecrets{}, Log: logs, Signaler: nopSignaler{},
			AnsiblePlaybook: "/bin/true", Callbacks: []string{name}})
		if ok != (err == nil) {
			t.Errorf("callback %q: %v", name, err)
		}
		if err != nil && deploy.KindOf(err) != deploy.KindInvalid {
			t.Errorf("callback %q: %v is not Invalid", name, err)
		}
	}
}

type nopBlobs struct{ deploy.Blobs }
type nopSecrets struct{ deploy.Secrets }
type nopSignaler struct{ runner.Signaler }
