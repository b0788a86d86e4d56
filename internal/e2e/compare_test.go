package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// BenchmarkCompare is `make bench-compare`: Eden Deploy measured side by
// side with what it drives, in one run on one machine, printed as one
// table. Each line is a ratio or a percentile, with the command that
// reproduces it alone (a sub-benchmark):
//
//   - overhead: a run's wall time ÷ bare ansible-playbook's, same rendered
//     bundles, same SSH test hosts, all-in-one and 3-tier;
//   - request → ansible-playbook started, p50 and p99, over every run of
//     overhead and burst;
//   - burst: 5 runs on 5 deployments at once ÷ the same 5 bare
//     ansible-playbook processes at once;
//   - scale: 1,000 runs in one `edenctl serve --runner instant` (steps
//     complete at once: the control plane alone, on its bbolt store and
//     local engine as in production), then 10,000 deployments; idle RSS;
//   - api: GET load and creates back to back with runs in flight.
//
// It measures and asserts no time: a figure is good or bad by its goal,
// which the table shows beside it. The ansible sub-benchmarks need root
// (SSH test hosts) and ansible-playbook; without them they skip (or fail
// with EDEN_REQUIRE_PEERS=1), and the table has the rest.
func BenchmarkCompare(b *testing.B) {
	testpeer.LookPath(b, "go")
	tab := &table{}
	bin := buildEdenctl(b)
	for _, s := range []struct {
		name string
		run  func(*testing.B, *table, string)
	}{
		{"overhead", benchOverhead},
		{"burst", benchBurst},
		{"scale", benchScale},
		{"api", benchAPILoad},
	} {
		b.Run(s.name, func(b *testing.B) {
			for range b.N {
				s.run(b, tab, bin)
			}
		})
	}
	if d := tab.dispatched("", 0); len(d) > 0 {
		one, five := tab.dispatched("one at a time", 0), tab.dispatched("five at once", 0)
		tab.add("2", fmt.Sprintf("request → ansible-playbook started, p50 / p99 over the %d runs of 1 and 3 (one at a time: %d, p50 %s; five at once: %d, p50 %s)",
			len(d), len(one), msText(percentile(one, 50)), len(five), msText(percentile(five, 50))),
			msText(percentile(d, 50))+" / "+msText(percentile(d, 99)), "p99 < 100 ms", "(overhead|burst)")
	}
	tab.print(os.Stdout)
}

// row is one line of the table.
type row struct {
	item, what, value, goal, bench string
}

// table collects the rows of every sub-benchmark, and the samples of
// item 2, which the runs of items 1 and 3 give.
type table struct {
	mu       sync.Mutex
	rows     []row
	dispatch map[string][]time.Duration // by how the runs were requested
}

// dispatched adds a sample of item 2 (d > 0) for runs requested as how,
// and returns the samples of how ("": all).
func (t *table) dispatched(how string, d time.Duration) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dispatch == nil {
		t.dispatch = map[string][]time.Duration{}
	}
	if d > 0 {
		t.dispatch[how] = append(t.dispatch[how], d)
	}
	if how != "" {
		return slices.Clone(t.dispatch[how])
	}
	var all []time.Duration
	for _, ds := range t.dispatch {
		all = append(all, ds...)
	}
	return all
}

func (t *table) add(item, what, value, goal, bench string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row{item, what, value, goal, bench})
}

func (t *table) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rows) == 0 {
		return
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\nEden Deploy side by side, %s, %d CPUs, load average %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), numCPU(), strings.Join(strings.Fields(string(load))[:3], " "))
	slices.SortStableFunc(t.rows, func(a, b row) int { return strings.Compare(a.item, b.item) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmeasure\tvalue\tgoal\tcommand")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.item, r.what, r.value, r.goal, benchCommand(r.bench))
	}
	tw.Flush()
}

// benchCommand is the command that runs one sub-benchmark alone.
func benchCommand(sub string) string {
	return fmt.Sprintf("go test -run '^$' -bench 'Compare/%s$' -benchtime 1x ./internal/e2e", sub)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// benchAPI speaks to one server as its admin over keep-alive connections.
type benchAPI struct {
	b     testing.TB
	base  string
	token string
	hc    *http.Client
}

func newBenchAPI(b testing.TB, srv *server) *benchAPI {
	return &benchAPI{b: b, base: "http://" + srv.addr, token: srv.adminToken(),
		hc: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// call sends a request and decodes a 2xx answer into out (if not nil); it
// returns the status and how long the answer took.
func (a *benchAPI) call(method, path string, body any, out any) (int, time.Duration) {
	a.b.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			a.b.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := a.hc.Do(req)
	if err != nil {
		a.b.Fatalf("%s %s: %v", method, path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		a.b.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.b.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	} else if resp.StatusCode/100 != 2 {
		a.b.Logf("%s %s → %d: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, took
}

// must is call that fails the benchmark unless the answer is 2xx.
func (a *benchAPI) must(method, path string, body any, out any) time.Duration {
	a.b.Helper()
	status, took := a.call(method, path, body, out)
	if status/100 != 2 {
		a.b.Fatalf("%s %s → %d", method, path, status)
	}
	return took
}

func (a *benchAPI) run(dep, run string) *deploy.Run {
	var r deploy.Run
	a.must("GET", "/v1/deployments/"+dep+"/runs/"+run, nil, &r)
	return &r
}

// waitRun polls a run every interval until it has ended and its
// transitions are recorded (a moment after its end), at most limit, and
// returns it with the time its end was first seen.
func (a *benchAPI) waitRun(dep, run string, interval, limit time.Duration) (*deploy.Run, time.Time) {
	a.b.Helper()
	deadline := time.Now().Add(limit)
	var endSeen time.Time
	for {
		r := a.run(dep, run)
		if r.Status.Terminal() && endSeen.IsZero() {
			endSeen = time.Now()
		}
		if r.Status.Terminal() && (r.Transitions > 0 || r.ExecutionID == "") {
			return r, endSeen
		}
		if time.Now().After(deadline) {
			a.b.Fatalf("run %s still %s (transitions %d) after %s", run, r.Status, r.Transitions, limit)
		}
		time.Sleep(interval)
	}
}

// createBody is a deployment request for one all-in-one server.
func createBody(name, host, user string, key []byte) httpapi.CreateDeploymentRequest {
	return httpapi.CreateDeploymentRequest{
		Spec: deploy.Spec{Name: name, AdminEmail: "admin@example.org", SSHUser: user,
			Servers: []deploy.ServerSpec{{Host: host, Role: deploy.RoleAll}}, Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
		SSHPrivateKey: string(key),
	}
}

// fakeKey stands for an SSH key where nothing is ever reached.
var fakeKey = []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nbench\n-----END OPENSSH PRIVATE KEY-----\n")

// parallel calls do(i) for i in [0, n) from conns goroutines.
func parallel(conns, n int, do func(i int)) {
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				do(i)
			}
		}()
	}
	wg.Wait()
}

// percentile returns the p-th percentile (0 < p ≤ 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// procStatus reads a field of /proc/<pid>/status in kB (VmRSS, VmHWM).
func procStatus(b testing.TB, pid int, field string) int {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func mb(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func msText(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", ms(d))
	}
	return fmt.Sprintf("%.1f ms", ms(d))
}

// ratioText is "1.03 (0.99–1.08 over 5)": the median and the spread.
func ratioText(rs []float64) string {
	s := slices.Clone(rs)
	slices.Sort(s)
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f (%.3f–%.3f over %d)", s[len(s)/2], s[0], s[len(s)-1], len(s))
}
