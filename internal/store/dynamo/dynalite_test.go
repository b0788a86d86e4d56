package dynamo

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/storetest"
	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// dynaliteCLI finds dynalite's cli.js: under $EDEN_NODE_MODULES (set by the
// Makefile) or the repository's .cache/node, where `make test` installs it.
func dynaliteCLI(t *testing.T) string {
	var dirs []string
	if d := os.Getenv("EDEN_NODE_MODULES"); d != "" {
		dirs = append(dirs, d)
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dirs = append(dirs, filepath.Join(repo, ".cache", "node", "node_modules"))
	for _, d := range dirs {
		p := filepath.Join(d, "dynalite", "cli.js")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testpeer.Missing(t, "dynalite", "run make test, which installs it (looked in "+filepath.Join(dirs...)+")")
	return ""
}

// startDynalite runs dynalite on a free loopback port as a child process of
// its own (node directly, not npx, so the PID is the server's) and stops
// it when the test ends.
func startDynalite(t *testing.T) *peer {
	node := testpeer.LookPath(t, "node")
	cli := dynaliteCLI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--createTableMs", "0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dynalite: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("dynalite (pid %d) exited before listening on %s", cmd.Process.Pid, addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dynalite (pid %d) did not listen on %s within 15s", cmd.Process.Pid, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &peer{endpoint: "http://" + addr}
}

// TestDynamoAgainstDynalite runs the suite against dynalite, a separate
// server close to DynamoDB's own validation. It lacks TransactWriteItems,
// so the cases that need transactions are skipped, each naming why; what
// remains exercises the single-item conditional writes, the table schema
// and the expressions against a second implementation.
func TestDynamoAgainstDynalite(t *testing.T) {
	p := startDynalite(t)
	t.Run("single-item writes on seeded items", func(t *testing.T) { testSingleItemWrites(t, p) })
	rec := &opRecorder{}
	storetest.Run(t, func(t *testing.T, env storetest.Env) deploy.Store {
		return p.newStore(t, rec, env)
	}, storetest.Options{NoTransactions: true})
	storetest.RunBackups(t, func(t *testing.T, env storetest.Env) deploy.Store {
		return p.newStore(t, rec, env)
	}, storetest.Options{NoTransactions: true})
	rec.check(t)
}
