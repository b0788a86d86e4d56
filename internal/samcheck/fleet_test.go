package samcheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// hostCalls maps the AWS CLI commands a fleet host runs (the apply-bundle
// document, the roles' tasks) to the IAM actions they need.
var hostCalls = map[string][]string{
	"s3 cp":             {"s3:GetObject", "s3:PutObject"}, // download or upload
	"s3api head-object": {"s3:GetObject"},
	"ssm get-parameter": {"ssm:GetParameter"},
	"autoscaling record-lifecycle-action-heartbeat": {"autoscaling:RecordLifecycleActionHeartbeat"},
}

var awsCLI = regexp.MustCompile(`\baws\s+(s3|s3api|ssm|autoscaling)\s+([a-z-]+)`)

// TestFleetRoleAllowsWhatHostsCall checks the fleet instance role: its
// Allow actions (besides the SSM agent's managed policy and the optional
// KMS decrypt) are exactly those of the AWS CLI commands the hosts run, and
// the backups a db server keeps are writable only under its deployment's
// prefix.
func TestFleetRoleAllowsWhatHostsCall(t *testing.T) {
	tpl := loadT(t, "infra/fleet.yaml")
	var sources []string
	b, err := os.ReadFile(filepath.Join(root(t), "infra/ssm/apply-bundle.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, string(b))
	err = filepath.WalkDir(filepath.Join(root(t), "infra/ansible/roles"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		sources = append(sources, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, src := range sources {
		for _, m := range awsCLI.FindAllStringSubmatch(src, -1) {
			acts, ok := hostCalls[m[1]+" "+m[2]]
			if !ok {
				t.Errorf("a host runs aws %s %s: add its IAM actions to hostCalls and the fleet role", m[1], m[2])
			}
			want = append(want, acts...)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)

	var got []string
	var backups []statement
	role := tpl.Props("InstanceRole")
	var docs []any
	for _, pol := range role["Policies"].([]any) {
		docs = append(docs, Get(pol, "PolicyDocument"))
	}
	for _, st := range statements(map[string]any{"Policies": docs}) {
		if len(st.actions) == 0 { // the !If of DecryptSecrets
			continue
		}
		if st.sid == "DecryptSecrets" {
			continue
		}
		got = append(got, st.actions...)
		if st.sid == "KeepBackups" {
			backups = append(backups, st)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(want, got) {
		t.Errorf("the fleet role allows %v; the hosts call %v", got, want)
	}
	if len(backups) != 1 || len(backups[0].resources) != 1 ||
		!strings.HasSuffix(fmt.Sprint(backups[0].resources[0].(Intrinsic).Arg), ":s3:::${BundleBucket}/backups/${DeploymentId}/*") {
		t.Errorf("KeepBackups must name only backups/${DeploymentId}/* of the bucket: %+v", backups)
	}
}
