package ssh

import (
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
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
