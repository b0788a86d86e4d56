package ssmdoc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ssmdoc "github.com/edendeploy/edendeploy/infra/ssm"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

func params(over map[string]string) map[string][]string {
	p := map[string][]string{
		ssmdoc.ParamBundleBucket:     {"eden-bundles"},
		ssmdoc.ParamBundleKey:        {"d-1/bundles/r-1/step-0.tar.gz"},
		ssmdoc.ParamPlaybook:         {"site.yml"},
		ssmdoc.ParamSecretsPath:      {"/eden/d-1"},
		ssmdoc.ParamSecretNames:      {"db-password admin-password"},
		ssmdoc.ParamCheckMode:        {"no"},
		ssmdoc.ParamExecutionTimeout: {"600"},
		ssmdoc.ParamResultsKey:       {"d-1/runs/r-1/step-0/results/abc123"},
	}
	for k, v := range over {
		p[k] = []string{v}
	}
	return p
}

func TestParametersAreConstrained(t *testing.T) {
	d, err := ssmdoc.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion != "2.2" || len(d.MainSteps) != 1 || d.MainSteps[0].Action != "aws:runShellScript" || d.MainSteps[0].Name != ssmdoc.StepName {
		t.Fatalf("document shape: %+v", d)
	}
	for name, p := range d.Parameters {
		if p.AllowedPattern == "" && len(p.AllowedValues) == 0 {
			t.Errorf("parameter %s is unconstrained: SSM pastes it into the script", name)
		}
	}
	if _, err := d.Check(params(nil)); err != nil {
		t.Fatalf("good parameters refused: %v", err)
	}
	bad := map[string]string{
		ssmdoc.ParamBundleKey:        "x'; rm -rf / #",
		ssmdoc.ParamPlaybook:         "$(reboot).yml",
		ssmdoc.ParamSecretsPath:      "/eden/d-1 /other",
		ssmdoc.ParamSecretNames:      "a;b",
		ssmdoc.ParamCheckMode:        "maybe",
		ssmdoc.ParamExecutionTimeout: "1e9",
		ssmdoc.ParamResultsKey:       "/abs",
		ssmdoc.ParamBundleBucket:     "Bad_Bucket",
	}
	for k, v := range bad {
		if _, err := d.Check(params(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
}

type files map[string]string

func tgz(t *testing.T, fs files, links map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, v := range fs {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(v)), Typeflag: tar.TypeReg})
		tw.Write([]byte(v))
	}
	for n, target := range links {
		tw.WriteHeader(&tar.Header{Name: n, Linkname: target, Typeflag: tar.TypeSymlink})
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// run runs the document's script with bash, a stub aws on PATH serving
// the bundle and the secrets from a temp dir, and the real
// ansible-playbook. It returns the exit code, output, and stub root.
func run(t *testing.T, bundle []byte, over map[string]string) (int, string, string) {
	t.Helper()
	testpeer.LookPath(t, "ansible-playbook")
	testpeer.LookPath(t, "bash")
	d, err := ssmdoc.Parse()
	if err != nil {
		t.Fatal(err)
	}
	script, err := d.Script(params(over))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	stub, _ := os.ReadFile("testdata/aws")
	os.WriteFile(filepath.Join(bin, "aws"), stub, 0o755)
	os.MkdirAll(filepath.Join(root, "s3/eden-bundles/d-1/bundles/r-1"), 0o755)
	os.WriteFile(filepath.Join(root, "s3/eden-bundles/d-1/bundles/r-1/step-0.tar.gz"), bundle, 0o644)
	os.MkdirAll(filepath.Join(root, "ssm/eden/d-1"), 0o700)
	os.WriteFile(filepath.Join(root, "ssm/eden/d-1/db-password"), []byte("pw with 'quotes' and $dollars"), 0o600)
	os.WriteFile(filepath.Join(root, "ssm/eden/d-1/admin-password"), []byte("admin\n"), 0o600)
	tmp := filepath.Join(root, "tmp")
	os.Mkdir(tmp, 0o700)
	sp := filepath.Join(root, "_script.sh")
	os.WriteFile(sp, []byte(script), 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", sp)
	cmd.Env = []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin", "STUB_ROOT=" + root, "TMPDIR=" + tmp,
		"AWS_SSM_INSTANCE_ID=i-0123456789abcdef0", "HOME=" + root}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("work directory left behind: %v", left)
	}
	argv, _ := os.ReadFile(filepath.Join(root, "argv.log"))
	if strings.Contains(string(argv), "pw with") || strings.Contains(string(argv), "admin\n") {
		t.Errorf("a secret appeared on an aws command line:\n%s", argv)
	}
	return code, string(out), root
}

func results(t *testing.T, root string) *runner.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "s3/eden-bundles/d-1/runs/r-1/step-0/results/abc123/i-0123456789abcdef0.json"))
	if err != nil {
		t.Fatalf("no results uploaded: %v", err)
	}
	r, err := runner.ParseResults(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func bundleWith(play string) files {
	return files{"site.yml": play, "callback_plugins/eden_results.py": string(runner.CallbackPlugin)}
}

func TestScriptAppliesBundle(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec")
	play := `
- hosts: all
  gather_facts: false
  tasks:
    - name: Check the secrets arrived verbatim
      ansible.builtin.assert:
        that:
          - lookup('ansible.builtin.file', eden_secrets_dir + '/db-password') == "pw with 'quotes' and $dollars"
          - lookup('ansible.builtin.file', eden_secrets_dir + '/admin-password') == "admin"
    - name: Write the record
      ansible.builtin.copy:
        dest: ` + rec + `
        content: "applied\n"
        mode: "0600"
`
	code, out, root := run(t, tgz(t, bundleWith(play), nil), nil)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	r := results(t, root)
	if h := r.Host("localhost"); h == nil || h.OK != 2 || h.Changed != 1 || h.Failures != 0 {
		t.Errorf("results %+v", r)
	}
	if b, err := os.ReadFile(rec); err != nil || string(b) != "applied\n" {
		t.Errorf("record %q, %v", b, err)
	}
	if !strings.Contains(out, "PLAY RECAP") || !strings.Contains(out, "== ansible-playbook exited with status 0 ==") {
		t.Errorf("output:\n%s", out)
	}
}

// While Ansible runs for a lifecycle action, the script records lifecycle
// heartbeats, and stops when Ansible ends.
func TestScriptRecordsLifecycleHeartbeats(t *testing.T) {
	play := `
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a while, as an install does
      ansible.builtin.pause:
        seconds: 4
`
	code, out, root := run(t, tgz(t, bundleWith(play), nil), map[string]string{
		ssmdoc.ParamLifecycleGroup: "relief eden", ssmdoc.ParamLifecycleHook: "eden-launch",
		ssmdoc.ParamLifecycleToken:    "6f2b9a2e-4c1d-4f0e-8b7a-3d2c1b0a9f8e",
		ssmdoc.ParamLifecycleInstance: "i-0123456789abcdef0", ssmdoc.ParamHeartbeatSeconds: "1",
	})
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	beats, _ := os.ReadFile(filepath.Join(root, "heartbeats.log"))
	n := strings.Count(string(beats), "heartbeat")
	if n < 2 {
		t.Errorf("%d lifecycle heartbeats while Ansible ran for 4 s at one a second", n)
	}
	argv, _ := os.ReadFile(filepath.Join(root, "argv.log"))
	if !strings.Contains(string(argv), "autoscaling record-lifecycle-action-heartbeat --auto-scaling-group-name relief eden --lifecycle-hook-name eden-launch --lifecycle-action-token 6f2b9a2e-4c1d-4f0e-8b7a-3d2c1b0a9f8e --instance-id i-0123456789abcdef0") {
		t.Errorf("heartbeat call:\n%s", argv)
	}
	time.Sleep(1500 * time.Millisecond)
	if after, _ := os.ReadFile(filepath.Join(root, "heartbeats.log")); strings.Count(string(after), "heartbeat") != n {
		t.Errorf("heartbeats went on after the script ended")
	}
}

func TestScriptCheckMode(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec")
	play := `
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the record
      ansible.builtin.copy:
        dest: ` + rec + `
        content: "applied\n"
`
	code, out, root := run(t, tgz(t, bundleWith(play), nil), map[string]string{ssmdoc.ParamCheckMode: "yes"})
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if h := results(t, root).Host("localhost"); h == nil || h.Changed != 1 {
		t.Errorf("check mode results %+v", h)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Errorf("check mode wrote the file: %v", err)
	}
}

func TestScriptFailedTaskExitsWithAnsiblesCode(t *testing.T) {
	play := `
- hosts: all
  gather_facts: false
  tasks:
    - name: Break
      ansible.builtin.fail:
        msg: broken on purpose
`
	code, out, root := run(t, tgz(t, bundleWith(play), nil), nil)
	if code != 2 {
		t.Fatalf("exit %d, want Ansible's 2\n%s", code, out)
	}
	h := results(t, root).Host("localhost")
	if h == nil || h.Failures != 1 || h.FirstFailure == nil || h.FirstFailure.Task != "Break" || h.FirstFailure.Msg != "broken on purpose" {
		t.Errorf("results %+v", h)
	}
}

func TestScriptRefusesUnsafeBundles(t *testing.T) {
	tests := map[string][]byte{
		"symlink": tgz(t, bundleWith("- hosts: all\n"), map[string]string{"evil": "/etc/shadow"}),
		"dotdot":  tgz(t, files{"site.yml": "x", "../escape": "x"}, nil),
		"junk":    []byte("not a tarball"),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, root := run(t, b, nil)
			if code != 2 || !strings.Contains(out, "apply-bundle: ") || strings.Contains(out, "PLAY") {
				t.Errorf("exit %d\n%s", code, out)
			}
			if _, err := os.Stat(filepath.Join(root, "s3/eden-bundles/d-1/runs")); !os.IsNotExist(err) {
				t.Errorf("results uploaded for a refused bundle")
			}
		})
	}
}

func TestScriptMissingSecretFails(t *testing.T) {
	code, out, _ := run(t, tgz(t, bundleWith("- hosts: all\n  tasks: []\n"), nil), map[string]string{ssmdoc.ParamSecretNames: "hmac-key"})
	if code != 2 || !strings.Contains(out, "cannot read secret hmac-key") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
