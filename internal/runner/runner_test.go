package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/runner"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

func TestOutcome(t *testing.T) {
	ok := func(h string) runner.HostReport { return runner.HostReport{Host: h, OK: 3, Changed: 1} }
	res := func(hs ...runner.HostReport) *runner.Results { return &runner.Results{Version: 1, Hosts: hs} }
	hosts := []string{"10.0.0.3", "10.0.0.4"}
	tests := []struct {
		name string
		res  *runner.Results
		end  runner.Ending
		want deploy.StepOutcome
	}{
		{
			name: "all ok",
			res:  res(ok("10.0.0.4"), ok("10.0.0.3")),
			want: deploy.StepOutcome{LogKey: "L", Results: []deploy.HostResult{
				{Host: "10.0.0.3", OK: 3, Changed: 1}, {Host: "10.0.0.4", OK: 3, Changed: 1}}},
		},
		{
			name: "unreachable",
			res: res(ok("10.0.0.3"), runner.HostReport{Host: "10.0.0.4", Unreachable: 1,
				FirstFailure: &runner.Failure{Task: "Gathering Facts", Msg: "Failed to connect to the host via ssh: refused", Unreachable: true}}),
			end: runner.Ending{ExitCode: 4},
			want: deploy.StepOutcome{LogKey: "L", Error: "host unreachable: 10.0.0.4: Failed to connect to the host via ssh: refused",
				Results: []deploy.HostResult{{Host: "10.0.0.3", OK: 3, Changed: 1},
					{Host: "10.0.0.4", Unreachable: 1, Reason: "unreachable: Failed to connect to the host via ssh: refused"}}},
		},
		{
			name: "failed task, first failing host in dispatch order",
			res: res(runner.HostReport{Host: "10.0.0.4", OK: 1, Failures: 1, FirstFailure: &runner.Failure{Task: "b", Msg: "second"}},
				runner.HostReport{Host: "10.0.0.3", OK: 1, Failures: 1, FirstFailure: &runner.Failure{Task: "eden : migrate", Msg: "line one\n  line two"}}),
			end: runner.Ending{ExitCode: 2},
			want: deploy.StepOutcome{LogKey: "L", Error: `task "eden : migrate" failed on 10.0.0.3: line one line two`,
				Results: []deploy.HostResult{{Host: "10.0.0.3", OK: 1, Failed: 1, Reason: `task "eden : migrate" failed: line one line two`},
					{Host: "10.0.0.4", OK: 1, Failed: 1, Reason: `task "b" failed: second`}}},
		},
		{
			name: "timed out without stats",
			end:  runner.Ending{Abort: "timed out after 30m0s", ExitCode: -1},
			want: deploy.StepOutcome{LogKey: "L", Error: "timed out after 30m0s", Results: []deploy.HostResult{
				{Host: "10.0.0.3", Failed: 1, Reason: "timed out after 30m0s"}, {Host: "10.0.0.4", Failed: 1, Reason: "timed out after 30m0s"}}},
		},
		{
			name: "host missing from results",
			res:  res(ok("10.0.0.3")),
			want: deploy.StepOutcome{LogKey: "L", Error: "host 10.0.0.4 failed: no result from Ansible", Results: []deploy.HostResult{
				{Host: "10.0.0.3", OK: 3, Changed: 1}, {Host: "10.0.0.4", Failed: 1, Reason: "no result from Ansible"}}},
		},
		{
			name: "nonzero exit without a host to blame",
			res:  res(ok("10.0.0.3"), ok("10.0.0.4")),
			end:  runner.Ending{ExitCode: 250},
			want: deploy.StepOutcome{LogKey: "L", Error: "ansible-playbook exited with status 250", Results: []deploy.HostResult{
				{Host: "10.0.0.3", OK: 3, Changed: 1}, {Host: "10.0.0.4", OK: 3, Changed: 1}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runner.Outcome(hosts, tt.res, tt.end, "L")
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Outcome (-want +got):\n%s", d)
			}
		})
	}
}

// wantFromPlay is what both the plugin and the recap fallback must make of
// testdata/play.yml on hosts a, b (local) and c (unreachable).
var wantFromPlay = []runner.HostReport{
	{Host: "a", OK: 3, Changed: 1, Failures: 1, Rescued: 1, Ignored: 1,
		FirstFailure: &runner.Failure{Task: "boom", Msg: "exit status 3; output ends: bad thing"}},
	// The cause is at the end of long output: the message says it.
	{Host: "b", OK: 4, Changed: 2, Failures: 1, Skipped: 1, Rescued: 1, Ignored: 1,
		FirstFailure: &runner.Failure{Task: "traceback", Msg: `exit status 1: TypeError: can only concatenate tuple (not "list") to tuple`}},
	{Host: "c", Unreachable: 1, FirstFailure: &runner.Failure{Task: "ok task", Unreachable: true,
		Msg: "Failed to connect to the host via ssh: ssh: connect to host 192.0.2.1 port 22: Connection refused"}},
}

func TestRecapScannerOnRealOutput(t *testing.T) {
	f, err := os.Open("testdata/default-output.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s runner.RecapScanner
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s.Line(sc.Text())
	}
	got := s.Results()
	if d := cmp.Diff(&runner.Results{Version: 1, Hosts: wantFromPlay}, got); d != "" {
		t.Errorf("recap results (-want +got):\n%s", d)
	}
	var empty runner.RecapScanner
	empty.Line("ERROR! the playbook: x could not be found")
	if empty.Results() != nil {
		t.Error("Results without a recap should be nil")
	}
}

// TestCallbackPluginWithAnsible runs the real plugin under ansible-playbook
// and checks its JSON against the same expectations as the recap parser.
func TestCallbackPluginWithAnsible(t *testing.T) {
	ap := testpeer.LookPath(t, "ansible-playbook")
	dir := t.TempDir()
	plugins := filepath.Join(dir, "callback_plugins")
	os.Mkdir(plugins, 0o700)
	os.WriteFile(filepath.Join(plugins, runner.CallbackFile), runner.CallbackPlugin, 0o600)
	inv := filepath.Join(dir, "inv")
	// c is an address nobody answers on (TEST-NET-1); port 9 refuses fast.
	os.WriteFile(inv, []byte("a ansible_connection=local\nb ansible_connection=local\n"+
		"c ansible_host=192.0.2.1 ansible_port=9 ansible_ssh_common_args='-o ConnectTimeout=2'\n"), 0o600)
	resFile := filepath.Join(dir, "results.json")
	cmd := exec.CommandContext(context.Background(), ap, "-i", inv, "testdata/play.yml")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8",
		"ANSIBLE_CALLBACK_PLUGINS=" + plugins, "ANSIBLE_CALLBACKS_ENABLED=" + runner.CallbackName,
		runner.ResultsEnv + "=" + resFile, "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOST_KEY_CHECKING=0"}
	out, _ := cmd.CombinedOutput()
	b, err := os.ReadFile(resFile)
	if err != nil {
		t.Fatalf("no results file: %v\n%s", err, out)
	}
	got, err := runner.ParseResults(b)
	if err != nil {
		t.Fatal(err)
	}
	// The unreachable message depends on the network; check its start.
	if c := got.Host("c"); c != nil && c.FirstFailure != nil && strings.HasPrefix(c.FirstFailure.Msg, "Failed to connect to the host via ssh") {
		c.FirstFailure.Msg = wantFromPlay[2].FirstFailure.Msg
	}
	if d := cmp.Diff(&runner.Results{Version: 1, Hosts: wantFromPlay}, got); d != "" {
		raw, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("plugin results (-want +got):\n%s\n%s\n%s", d, raw, out)
	}
}

type recordingSignaler struct{ calls []string }

func (r *recordingSignaler) SendTaskSuccess(_ context.Context, token string, output []byte) error {
	r.calls = append(r.calls, "success "+token+" "+string(output))
	return nil
}
func (r *recordingSignaler) SendTaskFailure(_ context.Context, token, name, cause string) error {
	r.calls = append(r.calls, "failure "+token+" "+name+" "+cause)
	return nil
}
func (r *recordingSignaler) SendTaskHeartbeat(_ context.Context, token string) error {
	r.calls = append(r.calls, "heartbeat "+token)
	return nil
}

func TestSignal(t *testing.T) {
	var s recordingSignaler
	ctx := context.Background()
	if err := runner.SignalOutcome(ctx, &s, "tok", deploy.StepOutcome{LogKey: "k", Results: []deploy.HostResult{{Host: "h", OK: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := runner.SignalRunnerError(ctx, &s, "tok", "bundle\nmissing"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`success tok {"results":[{"host":"h","ok":1,"changed":0,"failed":0,"unreachable":0,"skipped":0}],"log_key":"k"}`,
		"failure tok RunnerError bundle missing",
	}
	if d := cmp.Diff(want, s.calls); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
}
