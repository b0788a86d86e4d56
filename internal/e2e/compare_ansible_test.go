package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/playbook"
	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// How often items 1 and 3 repeat: the medians and spreads of the table.
// Every run they make is also a sample of item 2: 2×3 + 3×5 = 21 runs.
const (
	overheadReps = 3
	burstReps    = 3
	burstSize    = 5
)

// ansibleBench is one `edenctl serve` with the recording test roles and
// real ansible-playbook over SSH, on SSH test hosts of this machine, with
// a bare ansible-playbook beside it: the same rendered bundles, hosts,
// inventory, key, secrets, extra vars and SSH options, without Eden
// Deploy around it. Both start Ansible through one wrapper that notes
// when each process started (bash's EPOCHREALTIME, no fork), so the
// wrapper's cost is on both sides.
type ansibleBench struct {
	b      *testing.B
	tab    *table
	how    string // how its runs are requested, for item 2
	srv    *server
	api    *benchAPI
	hosts  *testhost.Cluster
	stamps string // the wrapper's log: "<unix seconds> <working directory>"
	real   string // the real ansible-playbook
	wrap   string
}

func newAnsibleBench(b *testing.B, tab *table, bin string, nHosts int) *ansibleBench {
	testpeer.Root(b)
	real := testpeer.LookPath(b, "ansible-playbook")
	hosts := testhost.Start(b, nHosts)
	dir := b.TempDir()
	a := &ansibleBench{b: b, tab: tab, hosts: hosts, real: real, stamps: filepath.Join(dir, "stamps.log"), wrap: filepath.Join(dir, "ansible-playbook")}
	script := fmt.Sprintf("#!/bin/bash\nprintf '%%s %%s\\n' \"$EPOCHREALTIME\" \"$PWD\" >> %s\nexec %s \"$@\"\n", a.stamps, real)
	if err := os.WriteFile(a.wrap, []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	a.srv = newServer(b, bin)
	a.srv.extraArgs = []string{"--ansible-playbook", a.wrap}
	a.srv.start()
	a.api = newBenchAPI(b, a.srv)
	return a
}

// create makes a deployment on hosts (one: all-in-one; three: db, eden,
// webserver), waits for its deploy run to end and returns the run and its
// wall time: from the request to the run's end as the run recorded it.
func (a *ansibleBench) create(name string, hosts ...string) (*deploy.Run, time.Duration) {
	c, t0, err := a.tryCreate(name, hosts...)
	if err != nil {
		a.b.Fatal(err)
	}
	return a.waitEnd(c.Run.DeploymentID, c.Run.ID, t0)
}

// dispatched is item 2 for run r requested at t0: from the request to the
// start of the ansible-playbook of its first step, whose working directory
// the runner names after the step's command ID.
func (a *ansibleBench) dispatched(r *deploy.Run, t0 time.Time) time.Duration {
	wd := filepath.Join(a.srv.dataDir, "runner", "work", r.Steps[0].CommandID, "bundle")
	raw, err := os.ReadFile(a.stamps)
	if err != nil {
		a.b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		sec, dir, ok := strings.Cut(line, " ")
		if !ok || dir != wd {
			continue
		}
		f, err := strconv.ParseFloat(sec, 64)
		if err != nil {
			a.b.Fatalf("stamp %q: %v", line, err)
		}
		return time.Unix(0, int64(f*1e9)).Sub(t0)
	}
	a.b.Fatalf("no ansible-playbook started in %s", wd)
	return 0
}

// tryCreate sends the create request; for other goroutines than the
// benchmark's.
func (a *ansibleBench) tryCreate(name string, hosts ...string) (httpapi.DeploymentCreated, time.Time, error) {
	req := createBody(name, hosts[0], a.hosts.User, a.hosts.PrivateKey)
	if len(hosts) == 3 {
		req.Servers = []deploy.ServerSpec{{Host: hosts[0], Role: deploy.RoleDB}, {Host: hosts[1], Role: deploy.RoleEden}, {Host: hosts[2], Role: deploy.RoleWebServer}}
	}
	var c httpapi.DeploymentCreated
	t0 := time.Now()
	if status, _ := a.api.call("POST", "/v1/deployments", req, &c); status != 201 {
		return c, t0, fmt.Errorf("create %s → %d", name, status)
	}
	return c, t0, nil
}

// waitEnd waits for a run that must succeed and returns it with its wall
// time from t0.
func (a *ansibleBench) waitEnd(dep, id string, t0 time.Time) (*deploy.Run, time.Duration) {
	r, _ := a.api.waitRun(dep, id, 20*time.Millisecond, 10*time.Minute)
	if r.Status != deploy.RunSucceeded {
		a.b.Fatalf("%s run %s: %s %q\n%s", r.Kind, id, r.Status, r.Error, a.srv.output())
	}
	a.tab.dispatched(a.how, a.dispatched(r, t0))
	return r, r.FinishedAt.Sub(t0)
}

// delete removes a deployment (its servers are left as they are), so that
// its hosts can be deployed to again.
func (a *ansibleBench) delete(dep string) {
	a.api.must("DELETE", "/v1/deployments/"+dep, nil, nil)
}

// bare prepares, for each step of run, the bare ansible-playbook that
// applies the same bundle to the same hosts, as the runner would (without
// its callback plugin, log streaming and signalling); run them in order.
func (a *ansibleBench) bare(r *deploy.Run) []*exec.Cmd {
	var cmds []*exec.Cmd
	for i, st := range r.Steps {
		dir := a.b.TempDir()
		tgz, err := os.ReadFile(filepath.Join(a.srv.dataDir, "blobs", filepath.FromSlash(deploy.BundleKey(r.DeploymentID, r.ID, i))))
		if err != nil {
			a.b.Fatal(err)
		}
		bundle := filepath.Join(dir, "bundle")
		secrets := filepath.Join(dir, "secrets")
		for _, d := range []string{bundle, secrets, filepath.Join(dir, "cp")} {
			if err := os.Mkdir(d, 0o700); err != nil {
				a.b.Fatal(err)
			}
		}
		if err := playbook.Extract(tgz, bundle); err != nil {
			a.b.Fatal(err)
		}
		var names []string
		if raw, err := os.ReadFile(filepath.Join(bundle, "secrets.json")); err == nil {
			if err := json.Unmarshal(raw, &names); err != nil {
				a.b.Fatal(err)
			}
		}
		for _, n := range names {
			v, err := os.ReadFile(filepath.Join(a.srv.dataDir, "secrets", r.DeploymentID, n))
			if err != nil {
				a.b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(secrets, n), v, 0o600); err != nil {
				a.b.Fatal(err)
			}
		}
		hs := map[string]map[string]string{}
		for _, h := range st.Hosts {
			hs[h] = map[string]string{"ansible_host": h}
		}
		inv, _ := json.Marshal(map[string]any{"all": map[string]any{"hosts": hs}})
		vars, _ := json.Marshal(map[string]string{"eden_record_dir": a.srv.recordDir, "eden_secrets_dir": secrets})
		for name, data := range map[string][]byte{"inventory.yml": inv, "extra_vars.json": vars} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				a.b.Fatal(err)
			}
		}
		cmd := exec.Command(a.wrap, "-i", filepath.Join(dir, "inventory.yml"), "-u", a.hosts.User, "--private-key", a.hosts.KeyPath,
			"-f", strconv.Itoa(len(st.Hosts)), "-e", "@"+filepath.Join(dir, "extra_vars.json"), st.Playbook)
		cmd.Dir = bundle
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "ANSIBLE_NOCOLOR=1",
			"ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_HOST_KEY_CHECKING=0", "ANSIBLE_LOCAL_TEMP=" + filepath.Join(dir, "tmp"),
			"ANSIBLE_SSH_CONTROL_PATH_DIR=" + filepath.Join(dir, "cp"),
			"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes"}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// runBare runs cmds one after another and returns their wall time.
func (a *ansibleBench) runBare(cmds []*exec.Cmd) time.Duration {
	d, err := tryBare(cmds)
	if err != nil {
		a.b.Fatal(err)
	}
	return d
}

// outsideAnsible is the part of a run's wall time that its steps'
// Ansible does not account for: from the request to the first step's
// dispatch, between steps, and from the last step's end to the run's,
// as the run's own timestamps say (a step runs from its dispatched_at,
// just after ansible-playbook started, to its finished_at, when its
// outcome was recorded).
func outsideAnsible(r *deploy.Run, wall time.Duration) time.Duration {
	for _, s := range r.Steps {
		wall -= s.FinishedAt.Sub(s.DispatchedAt)
	}
	return wall
}

// tryBare is runBare for other goroutines than the benchmark's. The output
// goes to a file, as from a terminal: through a pipe, Wait would also wait
// for the SSH control masters that Ansible leaves behind (ControlPersist),
// which hold the pipe open for a minute.
func tryBare(cmds []*exec.Cmd) (time.Duration, error) {
	start := time.Now()
	for _, c := range cmds {
		out, err := os.Create(filepath.Join(filepath.Dir(c.Dir), "output.log"))
		if err != nil {
			return 0, err
		}
		c.Stdout, c.Stderr = out, out
		err = c.Run()
		out.Close()
		if err != nil {
			log, _ := os.ReadFile(out.Name())
			return 0, fmt.Errorf("bare %s: %v\n%s", strings.Join(c.Args, " "), err, log)
		}
	}
	return time.Since(start), nil
}

// benchOverhead: item 1. Deploying an all-in-one and a 3-tier deployment
// (create, then its deploy run to the end) against the bare
// ansible-playbook of the bundles that run rendered, alternating which
// goes first (the bare run of the bundles of the deploy before); between
// two deploys the deployment is deleted (which leaves its servers as they
// are) and created again.
func benchOverhead(b *testing.B, tab *table, bin string) {
	a := newAnsibleBench(b, tab, bin, 4)
	a.how = "one at a time"
	h := func(n int) string { return a.hosts.Hosts[n].Addr }
	for _, c := range []struct {
		name  string
		hosts []string
	}{
		{"all-in-one", []string{h(0)}},
		{"3-tier", []string{h(1), h(2), h(3)}},
	} {
		var r *deploy.Run
		var ratios []float64
		var runs, bares, outside []time.Duration
		for rep := range overheadReps {
			var run, bare time.Duration
			if rep%2 == 0 {
				if r != nil {
					a.delete(r.DeploymentID)
				}
				r, run = a.create("overhead "+c.name, c.hosts...)
				bare = a.runBare(a.bare(r))
			} else {
				bare = a.runBare(a.bare(r))
				a.delete(r.DeploymentID)
				r, run = a.create("overhead "+c.name, c.hosts...)
			}
			runs, bares = append(runs, run), append(bares, bare)
			ratios = append(ratios, run.Seconds()/bare.Seconds())
			outside = append(outside, outsideAnsible(r, run))
		}
		tab.add("1", fmt.Sprintf("%s deploy: run wall ÷ bare ansible-playbook (run %s, bare %s, medians)", c.name,
			msText(percentile(runs, 50)), msText(percentile(bares, 50))), ratioText(ratios), "≤ 1.05", "overhead")
		tab.add("1", fmt.Sprintf("%s deploy: the run's time outside its steps' Ansible (wall − each step's dispatched → finished), median", c.name),
			fmt.Sprintf("%s (%.1f%% of the run)", msText(percentile(outside, 50)), 100*percentile(outside, 50).Seconds()/percentile(runs, 50).Seconds()), "", "overhead")
	}
}

// benchBurst: item 3. Five all-in-one deployments created at once, until
// the last one's deploy run ends, against the same five bare
// ansible-playbook processes started at once; between two bursts the
// deployments are deleted.
func benchBurst(b *testing.B, tab *table, bin string) {
	a := newAnsibleBench(b, tab, bin, burstSize)
	a.how = "five at once"
	burst := func() ([]*deploy.Run, time.Duration) {
		created := make([]httpapi.DeploymentCreated, burstSize)
		sent := make([]time.Time, burstSize)
		errs := make([]error, burstSize)
		var wg sync.WaitGroup
		for i := range burstSize {
			wg.Add(1)
			go func() {
				defer wg.Done()
				created[i], sent[i], errs[i] = a.tryCreate(fmt.Sprintf("burst %d", i), a.hosts.Hosts[i].Addr)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		rs := make([]*deploy.Run, burstSize)
		first, last := sent[0], time.Time{}
		for i, c := range created {
			rs[i], _ = a.waitEnd(c.Deployment.ID, c.Run.ID, sent[i])
			if sent[i].Before(first) {
				first = sent[i]
			}
			if rs[i].FinishedAt.After(last) {
				last = rs[i].FinishedAt
			}
		}
		return rs, last.Sub(first)
	}
	bare := func(rs []*deploy.Run) time.Duration {
		var cmds [][]*exec.Cmd
		for _, r := range rs {
			cmds = append(cmds, a.bare(r))
		}
		var wg sync.WaitGroup
		errs := make([]error, len(cmds))
		start := time.Now()
		for i, c := range cmds {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = tryBare(c) }()
		}
		wg.Wait()
		d := time.Since(start)
		if err := errors.Join(errs...); err != nil {
			b.Fatal(err)
		}
		return d
	}
	deleteAll := func(rs []*deploy.Run) {
		for _, r := range rs {
			a.delete(r.DeploymentID)
		}
	}
	var rs []*deploy.Run
	var ratios []float64
	var runs, bares []time.Duration
	for rep := range burstReps {
		var run, bw time.Duration
		if rep%2 == 0 {
			deleteAll(rs)
			rs, run = burst()
			bw = bare(rs)
		} else {
			bw = bare(rs)
			deleteAll(rs)
			rs, run = burst()
		}
		runs, bares = append(runs, run), append(bares, bw)
		ratios = append(ratios, run.Seconds()/bw.Seconds())
	}
	tab.add("3", fmt.Sprintf("burst: %d deployments created at once, to the last run's end ÷ %d bare ansible-playbook at once (run %s, bare %s, medians)",
		burstSize, burstSize, msText(percentile(runs, 50)), msText(percentile(bares, 50))), ratioText(ratios), "≤ 1.05", "burst")
}
