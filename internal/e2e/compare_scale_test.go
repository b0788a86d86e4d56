package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// scaleRuns and scaleDeployments are item 4's sizes.
const (
	scaleRuns        = 1000
	scaleDeployments = 10000
	scaleConns       = 16
)

// scaleHost is the i-th server address of the scale runs: never reached
// (the instant runner runs nothing), but unique, as host claims require.
func scaleHost(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 1+i/62500, i/250%250, i%250+1)
}

// benchScale: 1,000 runs submitted at once to one `edenctl serve --runner
// instant`; then 9,000 more deployments in its store, list and get under
// load; idle RSS after start, after the runs and after a restart.
func benchScale(b *testing.B, tab *table, bin string) {
	srv := newServer(b, bin)
	srv.extraArgs = []string{"--runner", "instant"}
	srv.start()
	pid := srv.cmd.Process.Pid
	api := newBenchAPI(b, srv)
	time.Sleep(2 * time.Second) // idle
	rssStart := rssText(b, pid)

	created := make([]httpapi.DeploymentCreated, scaleRuns)
	sent := make([]time.Time, scaleRuns)
	createLat := make([]time.Duration, scaleRuns)

	// 1,000 runs at once.
	start := time.Now()
	parallel(scaleConns, scaleRuns, func(i int) {
		sent[i] = time.Now()
		createLat[i] = api.must("POST", "/v1/deployments", createBody(fmt.Sprintf("scale %d", i), scaleHost(i), "root", fakeKey), &created[i])
	})
	submitted := time.Since(start)
	runs := make([]*deploy.Run, scaleRuns)
	for i := range scaleRuns {
		runs[i], _ = api.waitRun(created[i].Deployment.ID, created[i].Run.ID, 20*time.Millisecond, 5*time.Minute)
		if runs[i].Status != deploy.RunSucceeded {
			b.Fatalf("scale run %d: %s %q", i, runs[i].Status, runs[i].Error)
		}
	}
	var dispatch []time.Duration
	var last time.Time
	transitions := 0
	for i, r := range runs {
		dispatch = append(dispatch, r.Steps[0].DispatchedAt.Sub(sent[i]))
		if r.FinishedAt.After(last) {
			last = r.FinishedAt
		}
		transitions += r.Transitions
	}
	all := last.Sub(start)
	peak := procStatus(b, pid, "VmHWM")
	inFlight := peakInFlight(runs)
	time.Sleep(5 * time.Second) // idle again
	rssAfter := rssText(b, pid)
	tab.add("4", fmt.Sprintf("%d runs at once (%d clients; up to %d in flight): dispatch latency p50 / p99", scaleRuns, scaleConns, inFlight),
		msText(percentile(dispatch, 50))+" / "+msText(percentile(dispatch, 99)), "p99 < 1 s", "scale")
	tab.add("4", fmt.Sprintf("%d runs at once: create p50 / p99 (submitted in %s)", scaleRuns, msText(submitted)),
		msText(percentile(createLat, 50))+" / "+msText(percentile(createLat, 99)), "", "scale")
	tab.add("4", fmt.Sprintf("%d runs at once: time to finish all", scaleRuns), msText(all), "", "scale")
	tab.add("4", fmt.Sprintf("%d runs at once: transitions per second (%d transitions)", scaleRuns, transitions),
		fmt.Sprintf("%.0f/s", float64(transitions)/all.Seconds()), "", "scale")
	tab.add("4", fmt.Sprintf("%d runs at once: peak RSS of edenctl serve", scaleRuns), mb(peak), "< 500 MB", "scale")
	tab.add("6", "idle RSS after start (anonymous + the database file's mapped pages)", rssStart, "≤ 25 MB", "scale")
	tab.add("6", fmt.Sprintf("idle RSS after the %d runs (5 s later; anonymous + mapped file)", scaleRuns), rssAfter, "", "scale")

	// Up to 10,000 deployments: the other 9,000 are written into the
	// store while the server is stopped (each with its deploy run,
	// succeeded), as the API would have left them; then list and get
	// under load.
	srv.stop()
	seedDeployments(b, srv.dataDir, scaleRuns, scaleDeployments)
	srv.start()
	pid = srv.cmd.Process.Pid
	var list httpapi.DeploymentList
	api.must("GET", "/v1/deployments?limit=100", nil, &list)
	ids := make([]string, 0, scaleDeployments)
	for _, c := range created {
		ids = append(ids, c.Deployment.ID)
	}
	for _, d := range list.Items {
		ids = append(ids, d.ID)
	}
	var mu sync.Mutex
	var lists, gets []time.Duration
	rnd := rand.New(rand.NewPCG(1, 2))
	loadFor(8, 3*time.Second, func() {
		d := api.must("GET", "/v1/deployments", nil, nil)
		mu.Lock()
		lists = append(lists, d)
		mu.Unlock()
	})
	loadFor(8, 3*time.Second, func() {
		mu.Lock()
		id := ids[rnd.IntN(len(ids))]
		mu.Unlock()
		d := api.must("GET", "/v1/deployments/"+id, nil, nil)
		mu.Lock()
		gets = append(gets, d)
		mu.Unlock()
	})
	tab.add("4", fmt.Sprintf("%d deployments: list (first page of 50) p99, 8 clients", scaleDeployments),
		fmt.Sprintf("%s (%d requests)", msText(percentile(lists, 99)), len(lists)), "", "scale")
	tab.add("4", fmt.Sprintf("%d deployments: get p99, 8 clients", scaleDeployments),
		fmt.Sprintf("%s (%d requests)", msText(percentile(gets, 99)), len(gets)), "", "scale")
	tab.add("4", fmt.Sprintf("%d deployments: peak RSS of edenctl serve under that load", scaleDeployments), mb(procStatus(b, pid, "VmHWM")), "< 500 MB", "scale")

	// A restart over all of it.
	srv.stop()
	start = time.Now()
	srv.start()
	up := time.Since(start)
	time.Sleep(2 * time.Second)
	tab.add("6", fmt.Sprintf("restart with %d deployments: time to answer, then idle RSS", scaleDeployments),
		msText(up)+", "+rssText(b, srv.cmd.Process.Pid), "", "scale")
}

// seedDeployments writes deployments from to to (exclusive) into the
// store of a stopped server, each all-in-one on scaleHost(i) with its
// deploy run succeeded, 16 at a time (the store's group commit).
func seedDeployments(b *testing.B, dataDir string, from, to int) {
	st, err := bolt.Open(filepath.Join(dataDir, "edendeploy.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	errs := make([]error, to-from)
	parallel(16, to-from, func(i int) {
		i += from
		now := time.Now()
		d, err := deploy.NewDeployment(createBody(fmt.Sprintf("scale %d", i), scaleHost(i), "root", fakeKey).Spec, deploy.NewID("d-", now), "admin", now)
		if err != nil {
			errs[i-from] = err
			return
		}
		r, err := d.NewRun(deploy.NewID("r-", now), deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd, Requester: "admin"}, now)
		if err != nil {
			errs[i-from] = err
			return
		}
		for _, s := range []deploy.RunStatus{deploy.RunRunning, deploy.RunSucceeded} {
			if err := r.MoveTo(s, now); err != nil {
				errs[i-from] = err
				return
			}
		}
		d.FirstInstance().DeployRunID = r.ID
		d.ObserveRun(r, now)
		errs[i-from] = st.CreateDeployment(context.Background(), d, r)
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d deployments written into the store in %s", to-from, time.Since(start).Round(time.Millisecond))
}

// rssText is a process's resident memory: the total, then its anonymous
// part (the Go heap and stacks) and its file-backed part (the bbolt file's
// pages the process touched through its memory map, and the binary's):
// "84.7 MB (22.2 + 62.5)". The file-backed part is the page cache the
// kernel takes back under pressure.
func rssText(b *testing.B, pid int) string {
	return fmt.Sprintf("%s (%s + %s)", mb(procStatus(b, pid, "VmRSS")),
		strings.TrimSuffix(mb(procStatus(b, pid, "RssAnon")), " MB"), strings.TrimSuffix(mb(procStatus(b, pid, "RssFile")), " MB"))
}

// peakInFlight is the most runs that were between created and finished at
// one time (by the runs' own timestamps).
func peakInFlight(runs []*deploy.Run) int {
	type edge struct {
		at time.Time
		d  int
	}
	var es []edge
	for _, r := range runs {
		es = append(es, edge{r.CreatedAt, 1}, edge{r.FinishedAt, -1})
	}
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	n, peak := 0, 0
	for _, e := range es {
		n += e.d
		peak = max(peak, n)
	}
	return peak
}

// loadFor calls do from conns goroutines until limit passes.
func loadFor(conns int, limit time.Duration, do func()) {
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				do()
			}
		}()
	}
	wg.Wait()
}

// benchAPILoad: GET of one deployment from 8 clients for 5 s, then 200
// creates back to back from one client, each run going on in the
// background (instant runner) while the next create is sent.
func benchAPILoad(b *testing.B, tab *table, bin string) {
	srv := newServer(b, bin)
	srv.extraArgs = []string{"--runner", "instant"}
	srv.start()
	api := newBenchAPI(b, srv)
	var first httpapi.DeploymentCreated
	api.must("POST", "/v1/deployments", createBody("api 0", scaleHost(0), "root", fakeKey), &first)
	path := "/v1/deployments/" + first.Deployment.ID
	var mu sync.Mutex
	var gets []time.Duration
	start := time.Now()
	loadFor(8, 5*time.Second, func() {
		d := api.must("GET", path, nil, nil)
		mu.Lock()
		gets = append(gets, d)
		mu.Unlock()
	})
	perSecond := float64(len(gets)) / time.Since(start).Seconds()
	const creates = 200
	lat := make([]time.Duration, creates)
	for i := range creates {
		lat[i] = api.must("POST", "/v1/deployments", createBody(fmt.Sprintf("api %d", i+1), scaleHost(i+1), "root", fakeKey), nil)
	}
	tab.add("5", "GET a deployment, 8 clients: requests per second; p99",
		fmt.Sprintf("%.0f/s; %s", perSecond, msText(percentile(gets, 99))), "", "api")
	tab.add("5", fmt.Sprintf("%d creates back to back, runs in flight: p50 / p99", creates),
		msText(percentile(lat, 50))+" / "+msText(percentile(lat, 99)), "p99 < 20 ms", "api")
}
