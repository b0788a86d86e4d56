package ansible

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// The backup script on the database servers and Eden Deploy keep the same
// dumps: the script's retention (rendered with Jinja as Ansible renders
// it, then run by bash on dumps named by their times) leaves exactly what
// deploy.Retention.Keep keeps.
func TestBackupScriptRetentionIsDeploys(t *testing.T) {
	python := testpeer.LookPath(t, "python3")
	bash := testpeer.LookPath(t, "bash")
	tmpl, err := fs.ReadFile(Files, "roles/postgresql/templates/eden-backup.sh.j2")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := range 70 { // ten weeks, twice a day some days
		times = append(times, base.Add(time.Duration(i)*24*time.Hour))
		if i%4 == 0 {
			times = append(times, base.Add(time.Duration(i)*24*time.Hour+13*time.Hour))
		}
	}
	for _, keep := range []deploy.Retention{deploy.DefaultRetention, {Daily: 1, Weekly: 0}, {Daily: 3, Weekly: 9}, {Daily: 30, Weekly: 2}} {
		t.Run(fmt.Sprintf("daily=%d,weekly=%d", keep.Daily, keep.Weekly), func(t *testing.T) {
			dir := t.TempDir()
			for _, at := range times {
				if err := os.WriteFile(filepath.Join(dir, at.Format("20060102-150405")+".dump"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			script := renderScript(t, python, string(tmpl), dir, keep)
			// The part under test: the dumps function and the retention.
			part := script[strings.Index(script, "dumps() {"):strings.Index(script, "\nif [ \"$mode\" = --list ]")] +
				"\ndir=" + dir + "\n" + script[strings.Index(script, "# The retention"):]
			if out, err := exec.Command(bash, "-euo", "pipefail", "-c", part).CombinedOutput(); err != nil {
				t.Fatalf("the retention failed: %v\n%s", err, out)
			}
			keeps := keep.Keep(times)
			var want, got []string
			for i, at := range times {
				if keeps[i] {
					want = append(want, at.Format("20060102-150405")+".dump")
				}
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				got = append(got, e.Name())
			}
			slices.Sort(want)
			if !slices.Equal(want, got) {
				t.Errorf("the script keeps %v\ndeploy.Retention keeps %v", got, want)
			}
		})
	}
}

// renderScript renders the template with Jinja (Ansible's engine).
func renderScript(t *testing.T, python, tmpl, dir string, keep deploy.Retention) string {
	t.Helper()
	const prog = `import jinja2, sys
t = jinja2.Environment(keep_trailing_newline=True).from_string(sys.stdin.read())
sys.stdout.write(t.render(eden_instance={"type": "prod", "db_name": "sahana"},
    eden_backup_keep={"daily": int(sys.argv[2]), "weekly": int(sys.argv[3])}, postgresql_backup_dir=sys.argv[1]))
`
	cmd := exec.Command(python, "-c", prog, dir, strconv.Itoa(keep.Daily), strconv.Itoa(keep.Weekly))
	cmd.Stdin = strings.NewReader(tmpl)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		if strings.Contains(stderr, "No module named 'jinja2'") {
			testpeer.Missing(t, "python3-jinja2", "apt-get install python3-jinja2 (ansible-core brings it)")
		}
		t.Fatalf("render eden-backup.sh.j2: %v\n%s", err, stderr)
	}
	return string(out)
}
