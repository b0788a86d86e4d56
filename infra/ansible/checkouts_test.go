package ansible

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// The common role's look at an instance's checkouts (checkouts.sh) tells a
// complete checkout from one that a failed run left half-done or broken,
// on real git repositories.
func TestCheckoutsLook(t *testing.T) {
	testpeer.LookPath(t, "git")
	script, err := fs.ReadFile(Files, "roles/common/files/checkouts.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	git := func(wd string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "protocol.file.allow=always"}, args...)...)
		cmd.Dir = wd
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Upstreams: a submodule, web2py (with it), Eden.
	for _, name := range []string{"sub", "web2py", "eden"} {
		src := filepath.Join(dir, "src", name)
		write(filepath.Join(src, "VERSION"), name+"\n")
		git(src, "init", "-q", "-b", "master")
		if name == "web2py" {
			git(src, "submodule", "add", "-q", filepath.Join(dir, "src", "sub"), "gluon/packages/sub")
		}
		git(src, "add", "-A")
		git(src, "commit", "-q", "-m", name)
	}
	// home makes an instance home with both checkouts complete.
	home := func(name string) string {
		h := filepath.Join(dir, name)
		git(dir, "clone", "-q", "--recurse-submodules", filepath.Join(dir, "src", "web2py"), h)
		git(h, "clone", "-q", filepath.Join(dir, "src", "eden"), "applications/eden")
		return h
	}
	tests := []struct {
		name  string
		setup func() string
		want  []string
	}{
		{"nothing checked out", func() string { h := filepath.Join(dir, "empty"); os.Mkdir(h, 0o755); return h },
			[]string{"web2py absent", "eden absent"}},
		{"complete", func() string { return home("complete") }, []string{"web2py ok", "eden ok"}},
		{"configured", func() string {
			h := home("configured")
			write(filepath.Join(h, "applications/eden/models/000_config.py"), "x = 1\n")
			return h
		}, []string{"web2py ok", "eden ok", "configured"}},
		{"a file of Eden's missing", func() string {
			h := home("eden-file")
			os.Remove(filepath.Join(h, "applications/eden/VERSION"))
			return h
		}, []string{"web2py ok", "eden partial"}},
		{"a submodule of web2py's not checked out", func() string {
			h := home("deinit")
			git(h, "submodule", "deinit", "-q", "-f", "gluon/packages/sub")
			return h
		}, []string{"web2py partial", "eden ok"}},
		{"an Eden clone that died before its first commit", func() string {
			h := home("broken")
			os.RemoveAll(filepath.Join(h, "applications/eden"))
			git(h, "init", "-q", "applications/eden")
			return h
		}, []string{"web2py ok", "eden broken"}},
	}
	imp := exec.Command("python3", "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('imp') is None)").Run() != nil
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.setup()
			out, err := exec.Command("sh", "-c", string(script), "checkouts.sh", h).Output()
			if err != nil {
				t.Fatalf("checkouts.sh: %v", err)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			want := slices.Clone(tt.want)
			if imp {
				want = append(want, "imp-missing")
			}
			if !slices.Equal(got, want) {
				t.Errorf("checkouts.sh says %q, want %q", got, want)
			}
		})
	}
}
