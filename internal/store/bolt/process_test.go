package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

const (
	envHelper = "EDEN_BOLT_HELPER"
	envPath   = "EDEN_BOLT_PATH"
)

// helper starts this test binary again as a child running
// TestHelperProcess in mode on the file at path.
func helper(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestHelperProcess is not a test: it is the child process of
// TestLockedByAnotherProcess and TestCrashKeepsAcknowledgedWrites.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process only")
	}
	s, err := Open(os.Getenv(envPath), Options{SweepInterval: -1})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	switch mode {
	case "hold":
		fmt.Println("open")
		time.Sleep(time.Minute) // the parent kills it
	case "write":
		writeStream(s)
	}
	os.Exit(0)
}

// writeStream creates deployments and moves their runs forever, printing
// each write after it returned: "dep ID", "run DEPID RUNID VERSION",
// "server DEPID HOST".
func writeStream(s *Store) {
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "write stream:", err)
			os.Exit(3)
		}
	}
	for i := 0; ; i++ {
		d, r := fixture(i)
		must(s.CreateDeployment(ctx, d, r))
		ack("dep %s", d.ID)
		must(r.MoveTo(deploy.RunRunning, t0))
		must(s.UpdateRun(ctx, r))
		ack("run %s %s %d", d.ID, r.ID, r.Version)
		must(r.MoveTo(deploy.RunSucceeded, t0))
		r.Steps[0].Results = []deploy.HostResult{{Host: d.Servers[0].Host, OK: 10}}
		must(s.UpdateRun(ctx, r))
		ack("run %s %s %d", d.ID, r.ID, r.Version)
		next := &deploy.Run{ID: fmt.Sprintf("r-%08d-0001", i), DeploymentID: d.ID, Kind: deploy.RunRestart,
			Instance: deploy.InstanceProd, Status: deploy.RunQueued, CreatedAt: t0}
		must(s.CreateRun(ctx, next))
		ack("run %s %s %d", d.ID, next.ID, next.Version)
		if i%3 == 0 {
			host := fmt.Sprintf("172.16.%d.%d", i>>8&255, i&255)
			must(s.AddServer(ctx, d.ID, deploy.Server{Host: host, Role: deploy.RoleAll, Origin: deploy.OriginAutoscaling, AddedAt: t0}))
			ack("server %s %s", d.ID, host)
		}
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eden.db")
	cmd := helper(t, "hold", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "open\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	start := time.Now()
	s, err := Open(path, Options{LockTimeout: 300 * time.Millisecond, SweepInterval: -1})
	if err == nil {
		s.Close()
		t.Fatal("Open of a file another process holds succeeded")
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("Open gave up after %v, want about the 300ms lock timeout", took)
	}
	want := fmt.Sprintf("database file %s is in use by another process", path)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	path := filepath.Join(t.TempDir(), "eden.db")
	cmd := helper(t, "write", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []string
	sc := bufio.NewScanner(stdout)
	for len(acks) < 600 && sc.Scan() {
		acks = append(acks, sc.Text())
	}
	// Kill it mid-stream: it is writing as fast as it can.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // writes acknowledged before the kill landed
		acks = append(acks, sc.Text())
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child was not killed mid-stream (%v): it must write until killed", err)
	}
	if len(acks) < 600 {
		t.Fatalf("only %d writes acknowledged before the child died", len(acks))
	}

	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, a := range acks {
		f := strings.Fields(a)
		switch f[0] {
		case "dep":
			if _, err := s.GetDeployment(ctx, f[1]); err != nil {
				t.Errorf("acknowledged %q: %v", a, err)
			}
		case "run":
			r, err := s.GetRun(ctx, f[1], f[2])
			v, _ := strconv.Atoi(f[3])
			if err != nil || r.Version < v {
				t.Errorf("acknowledged %q: got %+v, %v", a, r, err)
			}
		case "server":
			if depID, _, err := s.FindServerByHost(ctx, f[2]); err != nil || depID != f[1] {
				t.Errorf("acknowledged %q: %s, %v", a, depID, err)
			}
		default:
			t.Fatalf("unexpected line %q", a)
		}
	}
	if err := s.DB().View(verify); err != nil {
		t.Errorf("after the crash: %v", err)
	}
	t.Logf("%d acknowledged writes found after SIGKILL; the file is consistent", len(acks))
}

// verify checks that the file holds no partial write: every deployment has
// its instance, its first run, its claims and index entries; every claim,
// index entry, run bucket and active entry points at something whole.
func verify(tx *bbolt.Tx) error {
	deps := map[string]*deploy.Deployment{}
	err := tx.Bucket(bDeployments).ForEach(func(k, v []byte) error {
		d, err := record.DecodeDeployment(v)
		if err != nil {
			return err
		}
		deps[string(k)] = d
		first := d.FirstInstance()
		if first == nil {
			return fmt.Errorf("deployment %s has no instance", k)
		}
		runs := tx.Bucket(bRuns).Bucket(k)
		if runs == nil || runs.Get([]byte(first.DeployRunID)) == nil {
			return fmt.Errorf("deployment %s lacks its first run %s", k, first.DeployRunID)
		}
		for _, srv := range d.Servers {
			if got := string(tx.Bucket(bHosts).Get([]byte(srv.Host))); got != d.ID {
				return fmt.Errorf("server %s of %s is claimed by %q", srv.Host, k, got)
			}
		}
		ck := []byte(record.CreatedKey(d.CreatedAt, d.ID))
		if string(tx.Bucket(bCreated).Get(ck)) != d.ID {
			return fmt.Errorf("deployment %s is not in store.created", k)
		}
		if ob := tx.Bucket(bOwners).Bucket([]byte(ownerBucket(d.Owner))); ob == nil || string(ob.Get(ck)) != d.ID {
			return fmt.Errorf("deployment %s is not in its owner's index", k)
		}
		active := 0
		if err := runs.ForEach(func(_, v []byte) error {
			r, err := record.DecodeRun(v)
			if err == nil && r.Status.Active() {
				active++
				if string(tx.Bucket(bActive).Get(k)) != r.ID {
					return fmt.Errorf("active run %s of %s does not hold the slot", r.ID, k)
				}
			}
			return err
		}); err != nil {
			return err
		}
		if active > 1 {
			return fmt.Errorf("deployment %s has %d active runs", k, active)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.Bucket(bHosts).ForEach(func(k, v []byte) error {
		if d := deps[string(v)]; d == nil || d.Server(string(k)) == nil {
			return fmt.Errorf("host %s is claimed by %s, which lacks it", k, v)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bCreated).ForEach(func(k, v []byte) error {
		if deps[string(v)] == nil {
			return fmt.Errorf("store.created names missing deployment %s", v)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bRuns).ForEach(func(k, _ []byte) error {
		if deps[string(k)] == nil {
			return fmt.Errorf("runs of missing deployment %s", k)
		}
		return nil
	}); err != nil {
		return err
	}
	return tx.Bucket(bActive).ForEach(func(k, v []byte) error {
		runs := tx.Bucket(bRuns).Bucket(k)
		if runs == nil || runs.Get(v) == nil {
			return fmt.Errorf("active slot of %s names missing run %s", k, v)
		}
		r, err := record.DecodeRun(runs.Get(v))
		if err != nil {
			return err
		}
		if !r.Status.Active() {
			return fmt.Errorf("active slot of %s is held by %s run %s", k, r.Status, v)
		}
		return nil
	})
}
