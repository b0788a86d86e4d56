package installtest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/testhost"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// EnvSources names the directory holding the real Sahana Eden and web2py
// as bare git repositories in tar files (eden.git.tar, web2py.git.tar,
// pydal.git.tar, yatl.git.tar and their SHA256SUMS). By default the test
// looks in ../shared/eden-sources beside the module's root, then in
// /work/shared/eden-sources.
const EnvSources = "EDEN_SOURCES"

// sourceRepos maps each tar file to where GitHub serves the repository:
// the deployment's default URLs (https://github.com/sahana/eden.git,
// https://github.com/web2py/web2py.git) and web2py's submodules
// (https://github.com/web2py/pydal.git, https://github.com/web2py/yatl).
var sourceRepos = map[string]string{
	"eden.git.tar":   "sahana/eden.git",
	"web2py.git.tar": "web2py/web2py.git",
	"pydal.git.tar":  "web2py/pydal.git",
	"yatl.git.tar":   "web2py/yatl.git",
}

// edenSources returns the directory of the real sources, or skips (fails
// under EDEN_REQUIRE_PEERS) naming it when it is not there.
func edenSources(t testing.TB) string {
	t.Helper()
	var candidates []string
	if d := os.Getenv(EnvSources); d != "" {
		candidates = []string{d}
	} else {
		if root, err := moduleRoot(); err == nil {
			candidates = append(candidates, filepath.Join(root, "..", "shared", "eden-sources"))
		}
		candidates = append(candidates, "/work/shared/eden-sources")
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, "SHA256SUMS")); err == nil {
			return d
		}
	}
	testpeer.Missing(t, "eden-sources", "no SHA256SUMS in "+strings.Join(candidates, " or ")+" (set "+EnvSources+")")
	return ""
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// gitRepos are the real Eden and web2py repositories (and web2py's
// submodules), served read-only by git daemon on a cluster's gateway at
// the paths GitHub serves them. Each server rewrites
// https://github.com/web2py/ to the daemon, so web2py's own submodule URLs
// resolve as they would on the Internet. The deployment names the daemon's
// URLs of Eden and web2py (the default refs): had the servers rewritten
// those too, git would report the remote's URL as the daemon's, and
// Ansible's git module would take every pull for a changed remote.
type gitRepos struct {
	dir  string // the daemon's base path: sahana/eden.git, web2py/...
	base string // git://gateway:port
	work string // a clone of Eden's master, to push commits from
}

// serveSources unpacks the real sources (checked against SHA256SUMS) for
// one cluster, serves them on its gateway and points every server's git at
// them. git daemon stops with the test.
func serveSources(t *testing.T, c *testhost.Cluster) *gitRepos {
	t.Helper()
	src := edenSources(t)
	g := &gitRepos{dir: filepath.Join(t.TempDir(), "github")}
	sums, err := os.ReadFile(filepath.Join(src, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for tarName, repoPath := range sourceRepos {
		want := ""
		for _, l := range strings.Split(string(sums), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == tarName {
				want = f[0]
			}
		}
		if got := fileSHA256(t, filepath.Join(src, tarName)); got != want {
			t.Fatalf("%s: sha256 %s, SHA256SUMS says %q", tarName, got, want)
		}
		dest := filepath.Join(g.dir, filepath.Dir(repoPath))
		if err := os.MkdirAll(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		// Each tar unpacks to <name>.git/.
		if out, err := exec.Command("tar", "-xf", filepath.Join(src, tarName), "-C", dest).CombinedOutput(); err != nil {
			t.Fatalf("unpack %s: %v\n%s", tarName, err, out)
		}
	}
	g.work = filepath.Join(filepath.Dir(g.dir), "eden-work")
	git(t, filepath.Dir(g.dir), "clone", "-q", filepath.Join(g.dir, "sahana/eden.git"), g.work)

	port := freePort(t, c.Gateway)
	g.base = "git://" + net.JoinHostPort(c.Gateway, strconv.Itoa(port))
	startGitDaemon(t, g.dir, c.Gateway, port)
	for _, h := range c.Hosts {
		sh(t, h, "git", "config", "--system", "url."+g.base+"/web2py/.insteadOf", "https://github.com/web2py/")
	}
	return g
}

// url is where the daemon serves the repository GitHub has at path
// ("sahana/eden.git").
func (g *gitRepos) url(path string) string { return g.base + "/" + path }

// startGitDaemon serves base on addr:port until the test ends. It runs
// git-daemon itself (not the git wrapper, which would leave its child
// behind when killed) in a process group of its own, and kills the group.
func startGitDaemon(t *testing.T, base, addr string, port int) {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	daemon := exec.Command(filepath.Join(strings.TrimSpace(string(execPath)), "git-daemon"),
		"--reuseaddr", "--export-all", "--informative-errors",
		"--listen="+addr, "--port="+strconv.Itoa(port), "--base-path="+base, base)
	daemon.Env = gitEnv(base)
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(t.TempDir(), "git-daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
		_ = daemon.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commitEden changes a file of Eden's master and pushes it to the served
// repository, as an upstream commit would; it returns the new commit.
func (g *gitRepos) commitEden(t testing.TB, file, content, msg string) string {
	t.Helper()
	path := filepath.Join(g.work, file)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, g.work, "add", file)
	git(t, g.work, "commit", "-q", "-m", msg)
	git(t, g.work, "push", "-q", "origin", "master")
	return git(t, g.work, "rev-parse", "HEAD")
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func gitEnv(home string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "LC_ALL=C",
		"GIT_AUTHOR_NAME=Eden Deploy test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Eden Deploy test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_CONFIG_NOSYSTEM=1",
	}
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}
