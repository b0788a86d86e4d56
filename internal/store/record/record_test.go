package record

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestDeploymentRoundTripKeepsSettingTypes(t *testing.T) {
	settings := deploy.Settings{
		"s": "text \"quoted\"\n", "b": false, "i": int64(-7), "big": int64(1 << 60),
		"f": 2.5, "whole": float64(3), "l": []string{"a", "b"}, "empty": []string{},
	}
	d := &deploy.Deployment{ID: "d-1", Owner: "alice", Instances: []deploy.Instance{
		{Type: deploy.InstanceProd, Settings: settings},
		{Type: deploy.InstanceTest},
	}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	b, err := EncodeDeployment(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDeployment(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\nstored: %s", diff, b)
	}
	bad := &deploy.Deployment{ID: "d-2", Instances: []deploy.Instance{{Settings: deploy.Settings{"x": struct{}{}}}}}
	if _, err := EncodeDeployment(bad); err == nil || !strings.Contains(err.Error(), "unsupported value type") {
		t.Errorf("EncodeDeployment of an unsupported setting: %v", err)
	}
}

func TestCursor(t *testing.T) {
	c := EncodeCursor(ListRuns, "d-1", "r-9")
	if after, err := DecodeCursor(c, ListRuns, "d-1"); err != nil || after != "r-9" {
		t.Errorf("DecodeCursor = %q, %v", after, err)
	}
	for name, tc := range map[string]struct{ list, scope string }{
		"other scope": {ListRuns, "d-2"},
		"other list":  {ListDeployments, "d-1"},
	} {
		if _, err := DecodeCursor(c, tc.list, tc.scope); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
	k := CreatedKey(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "d-1")
	if k != "2026-01-02T02:04:05.000000000Z#d-1" || !ValidCreatedKey(k) || ValidCreatedKey("d-1") {
		t.Errorf("CreatedKey = %q", k)
	}
}

func TestFinishRun(t *testing.T) {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &deploy.Run{Status: deploy.RunFailed, FinishedAt: end}
	FinishRun(r, time.Hour, end.Add(time.Minute))
	if !r.ExpiresAt.Equal(end.Add(time.Hour)) {
		t.Errorf("ExpiresAt = %v", r.ExpiresAt)
	}
	active := &deploy.Run{Status: deploy.RunRunning}
	FinishRun(active, time.Hour, end)
	if !active.ExpiresAt.IsZero() {
		t.Error("an active run got an expiry")
	}
}
