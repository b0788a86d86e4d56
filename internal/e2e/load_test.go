package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// BenchmarkAPI loads `edenctl serve` over loopback HTTP, as `make
// bench-api` runs it (once: -benchtime=1x): GET of one deployment from 8
// connections for 5 s, then 100 creates one after another, then 50 creates
// 250 ms apart. It reports
// requests per second and the 50th and 99th percentile latencies. Each
// create starts a run against a loopback address where nothing listens, so
// ends at once: the server's ansible-playbook is a stub that reports
// nothing, so the create figures measure the control plane (the run's
// workflow included), not Ansible.
func BenchmarkAPI(b *testing.B) {
	testpeer.LookPath(b, "go")
	srv := newServer(b, buildEdenctl(b))
	stub := filepath.Join(b.TempDir(), "ansible-playbook")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\necho 'ERROR! the benchmark runs no playbook'\nexit 1\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	srv.extraArgs = []string{"--ansible-playbook", stub}
	srv.start()
	base, token := "http://"+srv.addr, srv.adminToken()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func(method, path string, body []byte) (int, time.Duration) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	create := func(i int) []byte {
		body, _ := json.Marshal(httpapi.CreateDeploymentRequest{
			Spec: deploy.Spec{Name: fmt.Sprintf("load %d", i), AdminEmail: "admin@example.org",
				Servers:  []deploy.ServerSpec{{Host: fmt.Sprintf("127.1.%d.%d", i/250, i%250+1), Role: deploy.RoleAll}},
				Instance: deploy.InstanceSpec{Type: deploy.InstanceProd}},
			SSHPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nbench\n-----END OPENSSH PRIVATE KEY-----\n",
		})
		return body
	}
	status, _ := send("POST", "/v1/deployments", create(0))
	if status != 201 {
		b.Fatalf("create → %d", status)
	}
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	req, _ := http.NewRequest("GET", base+"/v1/deployments", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	path := "/v1/deployments/" + list.Items[0].ID

	b.ResetTimer()
	for range b.N {
		gets := load(b, 8, 5*time.Second, 0, func(int) (int, time.Duration) { return send("GET", path, nil) })
		// One user creating deployments one after another, each run going
		// on in the background; then creates four a second, each run
		// ending before the next create.
		creates := load(b, 1, time.Minute, 100, func(i int) (int, time.Duration) { return send("POST", "/v1/deployments", create(i+1)) })
		paced := load(b, 1, time.Minute, 50, func(i int) (int, time.Duration) {
			time.Sleep(250 * time.Millisecond)
			return send("POST", "/v1/deployments", create(i+1000))
		})
		b.ReportMetric(gets.perSecond, "GET/s")
		b.ReportMetric(ms(gets.p50), "GET-p50-ms")
		b.ReportMetric(ms(gets.p99), "GET-p99-ms")
		b.ReportMetric(ms(paced.p50), "paced-create-p50-ms")
		b.ReportMetric(ms(paced.p99), "paced-create-p99-ms")
		b.ReportMetric(creates.perSecond, "create/s")
		b.ReportMetric(ms(creates.p50), "create-p50-ms")
		b.ReportMetric(ms(creates.p99), "create-p99-ms")
		b.Logf("GET %s: %.0f/s p50 %v p99 %v (%d requests); create back to back: %.0f/s p50 %v p99 %v (%d requests); create every 250 ms: p50 %v p99 %v (%d requests)",
			path, gets.perSecond, gets.p50, gets.p99, gets.n, creates.perSecond, creates.p50, creates.p99, creates.n, paced.p50, paced.p99, paced.n)
	}
}

type loadResult struct {
	n         int
	perSecond float64
	p50, p99  time.Duration
}

// load runs do from conns goroutines until limit passes or, when total >
// 0, total requests were sent; every answer must be 2xx.
func load(b *testing.B, conns int, limit time.Duration, total int, do func(i int) (int, time.Duration)) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	next := 0
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < limit {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if total > 0 && i >= total {
					return
				}
				status, d := do(i)
				if status/100 != 2 {
					b.Errorf("request %d → %d", i, status)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no request answered")
	}
	return loadResult{n: len(lat), perSecond: float64(len(lat)) / elapsed.Seconds(),
		p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
