package ansible

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// moduleResult is what eden_files returns, as the test playbook saves it.
type moduleResult struct {
	Changed      bool     `json:"changed"`
	Failed       bool     `json:"failed"`
	Msg          string   `json:"msg"`
	ChangedPaths []string `json:"changed_paths"`
	Diff         []struct {
		Header string `json:"before_header"`
		Before any    `json:"before"`
		After  any    `json:"after"`
	} `json:"diff"`
}

// runEdenFiles runs one play of eden_files tasks on this machine with the
// real ansible-playbook, the module taken from the embedded library/ as a
// bundle carries it, and returns each task's result and the output, which
// -vvv makes show each module's arguments.
func runEdenFiles(t *testing.T, dir string, tasks []map[string]any) ([]moduleResult, string) {
	t.Helper()
	bin := testpeer.LookPath(t, "ansible-playbook")
	work := t.TempDir()
	lib, err := fs.ReadFile(Modules(), "eden_files.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(work, ModuleDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ModuleDir, "eden_files.py"), lib, 0o644); err != nil {
		t.Fatal(err)
	}
	var play []map[string]any
	for i, task := range tasks {
		task["register"] = fmt.Sprintf("r%d", i)
		task["ignore_errors"] = true
		play = append(play, task)
	}
	var names []string
	for i := range tasks {
		names = append(names, fmt.Sprintf("r%d", i))
	}
	play = append(play, map[string]any{
		"name":   "Save the results",
		"no_log": true, // they hold the no_log task's result
		"ansible.builtin.copy": map[string]any{
			"content": "{{ [" + strings.Join(names, ", ") + "] | to_json }}",
			"dest":    filepath.Join(work, "results.json"),
		},
	})
	pb, err := json.Marshal([]map[string]any{{
		"hosts": "localhost", "gather_facts": false, "tasks": play,
		"vars": map[string]any{"dir": dir},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "play.yml"), pb, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-vvv", "-i", "localhost,", "-c", "local", "play.yml")
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + work, "LANG=C.UTF-8",
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(work, "tmp"),
		"ANSIBLE_REMOTE_TEMP=" + filepath.Join(work, "remote-tmp"),
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(work, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res []moduleResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results: %v: %s", err, b)
	}
	return res, string(out)
}

func edenFiles(name string, files ...map[string]any) map[string]any {
	return map[string]any{"name": name, "eden_files": map[string]any{"files": files}}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

// eden_files puts files, directories and links in place in one call,
// changes nothing the second time, shows diffs, and keeps a no_log task's
// content out of the output.
func TestEdenFilesModule(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gone"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "not-a-file"), 0o755); err != nil {
		t.Fatal(err)
	}
	owned := func(m map[string]any) map[string]any {
		m["owner"], m["group"] = u.Username, g.Name
		return m
	}
	d := "{{ dir }}/d"
	all := []map[string]any{
		owned(map[string]any{"path": d, "state": "directory", "mode": "0750"}),
		owned(map[string]any{"path": d + "/a", "content": "one\n", "mode": "0640"}),
		{"path": d + "/link", "state": "link", "src": "a"},
		owned(map[string]any{"path": d + "/keep", "content": "first", "force": false, "mode": "0644"}),
		{"path": "{{ dir }}/gone", "state": "absent"},
	}
	changedA := slices.Clone(all)
	changedA[1] = owned(map[string]any{"path": d + "/a", "content": "two\n", "mode": "0600"})
	changedA[3] = owned(map[string]any{"path": d + "/keep", "content": "second", "force": false, "mode": "0644"})
	withDiff := func(task map[string]any) map[string]any { task["diff"] = true; return task }
	checkMode := edenFiles("Check mode", owned(map[string]any{"path": d + "/a", "content": "not written", "mode": "0600"}),
		map[string]any{"path": d + "/c", "remote_src": d + "/not-checked-out-yet"})
	checkMode["check_mode"] = true
	secret := withDiff(edenFiles("A secret", map[string]any{"path": d + "/s", "content": "hidden-secret\n"}))
	secret["no_log"] = true

	res, out := runEdenFiles(t, dir, []map[string]any{
		edenFiles("Create", all...),
		edenFiles("Again", all...),
		withDiff(edenFiles("Change a's content and mode; keep is not forced", changedA...)),
		edenFiles("Copy a on the host", owned(map[string]any{"path": d + "/b", "remote_src": d + "/a", "mode": "0644"})),
		checkMode,
		edenFiles("A directory where a file should be", map[string]any{"path": "{{ dir }}/not-a-file", "content": "x"}),
		secret,
		withDiff(edenFiles("Content not shown", map[string]any{"path": d + "/q", "content": "quiet\n", "diff": false})),
		edenFiles("Visible", map[string]any{"path": d + "/v", "content": "visible-marker\n"}),
	})
	if len(res) != 9 {
		t.Fatalf("%d results, want 9", len(res))
	}
	p := func(rel string) string { return filepath.Join(dir, rel) }

	if r := res[0]; !r.Changed || r.Failed || len(r.ChangedPaths) != 5 {
		t.Errorf("create: %+v, want 5 changed paths", r)
	}
	if m := mode(t, p("d")); !m.IsDir() || m.Perm() != 0o750 {
		t.Errorf("d: mode %v", m)
	}
	if r := res[1]; r.Changed || r.Failed {
		t.Errorf("the same again: %+v, want nothing changed", r)
	}
	if r := res[2]; !r.Changed || !slices.Equal(r.ChangedPaths, []string{p("d/a")}) {
		t.Errorf("change a: %+v, want only d/a changed", r)
	} else if len(r.Diff) != 1 || r.Diff[0].Header != p("d/a") || r.Diff[0].Before != "one\n" || r.Diff[0].After != "two\n" {
		t.Errorf("change a: diff %+v, want d/a from one to two", r.Diff)
	}
	if len(res[0].Diff) != 0 {
		t.Errorf("create without --diff: diff %+v, want none", res[0].Diff)
	}
	if got := readFile(t, p("d/a")); got != "two\n" {
		t.Errorf("d/a holds %q", got)
	}
	if m := mode(t, p("d/a")); m.Perm() != 0o600 {
		t.Errorf("d/a: mode %v, want 0600", m)
	}
	if got := readFile(t, p("d/keep")); got != "first" {
		t.Errorf("d/keep (force false) holds %q, want it left as first written", got)
	}
	if target, err := os.Readlink(p("d/link")); err != nil || target != "a" {
		t.Errorf("d/link: %q, %v", target, err)
	}
	if _, err := os.Lstat(p("gone")); !os.IsNotExist(err) {
		t.Errorf("gone is still there: %v", err)
	}
	if r := res[3]; !r.Changed || readFile(t, p("d/b")) != "two\n" {
		t.Errorf("remote_src: %+v, d/b holds %q", r, readFile(t, p("d/b")))
	}
	if r := res[4]; !r.Changed || r.Failed || len(r.ChangedPaths) != 2 || readFile(t, p("d/a")) != "two\n" {
		t.Errorf("check mode: %+v, d/a holds %q; want two changes reported (a missing remote_src included) and none made", r, readFile(t, p("d/a")))
	}
	if _, err := os.Lstat(p("d/c")); !os.IsNotExist(err) {
		t.Errorf("check mode wrote d/c: %v", err)
	}
	if r := res[5]; !r.Failed || !strings.Contains(r.Msg, "is not a regular file") {
		t.Errorf("a directory in the way: %+v, want a failure saying so", r)
	}
	if got := readFile(t, p("d/s")); got != "hidden-secret\n" {
		t.Errorf("d/s holds %q", got)
	}
	if r := res[7]; len(r.Diff) != 1 || r.Diff[0].After != "(content not shown)\n" {
		t.Errorf("diff false: diff %+v, want the content not shown", r.Diff)
	}
	// -vvv prints each module's arguments and diff: a no_log task's must
	// not be there.
	if strings.Contains(out, "hidden-secret") {
		t.Errorf("the output shows a no_log task's content:\n%s", out)
	}
	if !strings.Contains(out, "visible-marker") {
		t.Errorf("the output shows no task's content, so the check above proved nothing:\n%s", out)
	}
}
