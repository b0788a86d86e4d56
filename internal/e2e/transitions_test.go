package e2e

import (
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// waitTransitions polls an ended run until its transitions are recorded (a
// moment after its end: once its execution has ended) and returns it.
func (c client) waitTransitions(dep, run string, limit time.Duration) *deploy.Run {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var r deploy.Run
		c.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, "/v1/deployments/{id}/runs/{run}", nil, &r)
		if r.Transitions != 0 {
			return &r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s (%s) has no transitions recorded after %s", run, r.Status, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
