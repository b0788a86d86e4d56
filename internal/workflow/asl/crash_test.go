package asl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// The crash test runs the engine in a child process (this test binary, run
// with -test.run=TestCrashChild and ASL_CRASH_DIR set), kills it with
// SIGKILL at two points, restarts it, and checks that the execution ends
// correctly with each task run the expected number of times.
const (
	crashDirEnv   = "ASL_CRASH_DIR"
	crashPhaseEnv = "ASL_CRASH_PHASE"
)

const crashMachine = `{"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "a", "ResultPath": "$.a", "Next": "Steps"},
  "Steps": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ResultPath": "$.steps", "Next": "B",
    "ItemProcessor": {"StartAt": "Notify", "States": {
      "Notify": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "HeartbeatSeconds": 3600, "End": true,
        "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token", "item.$": "$"}}}}}},
  "B": {"Type": "Task", "Resource": "b", "ResultPath": "$.b", "End": true}}}`

func appendLine(t *testing.T, file, line string) {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatal(err)
	}
	f.Sync()
}

func countLines(t *testing.T, file string) int {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestCrashChild is the child side; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashResume")
	}
	phase := os.Getenv(crashPhaseEnv)
	reg := NewRegistry()
	Handle(reg, "a", func(context.Context, any) (string, error) {
		appendLine(t, filepath.Join(dir, "a"), "run")
		return "a-done", nil
	})
	Handle(reg, "notify", func(_ context.Context, in struct {
		Token string
		Item  string
	}) (struct{}, error) {
		appendLine(t, filepath.Join(dir, "notify"), in.Item)
		// Write then rename, so the reader never sees a partial token.
		tmp := filepath.Join(dir, "tmp-"+in.Item)
		if err := os.WriteFile(tmp, []byte(in.Token), 0o600); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, os.Rename(tmp, filepath.Join(dir, "token-"+in.Item))
	})
	Handle(reg, "b", func(context.Context, any) (string, error) {
		appendLine(t, filepath.Join(dir, "b"), "run")
		if phase == "2" {
			fmt.Println("READY in B")
			select {} // killed here, in the middle of B
		}
		return "b-done", nil
	})
	j, err := OpenBoltJournal(filepath.Join(dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Registry: reg, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load("run", []byte(crashMachine)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := e.executionID("run", "crash-1")
	switch phase {
	case "1":
		if _, err := e.StartExecution(ctx, "run", "crash-1", []byte(`{"items": ["one", "two"]}`)); err != nil {
			t.Fatal(err)
		}
		// Ready once the first callback's function has taken its token.
		waitFor(t, "TaskSubmitted", func() bool {
			evs, _ := e.History(ctx, id)
			for _, ev := range evs {
				if ev.Type == "TaskSubmitted" {
					return true
				}
			}
			return false
		})
		fmt.Println("READY waiting for token one")
		select {}
	case "2", "3":
		n, err := e.Resume(ctx)
		if err != nil || n != 1 {
			t.Fatalf("Resume = %d, %v; want 1 execution", n, err)
		}
		if phase == "2" {
			// A signal that arrives after the restart reaches the task that
			// has been waiting since before it.
			tok, err := os.ReadFile(filepath.Join(dir, "token-one"))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.SendTaskSuccess(ctx, string(tok), []byte(`{"item": "one"}`)); err != nil {
				t.Fatalf("SendTaskSuccess after restart: %v", err)
			}
			var tok2 []byte
			waitFor(t, "token two", func() bool {
				tok2, err = os.ReadFile(filepath.Join(dir, "token-two"))
				return err == nil
			})
			if err := e.SendTaskSuccess(ctx, string(tok2), []byte(`{"item": "two"}`)); err != nil {
				t.Fatal(err)
			}
			select {} // B reports READY and blocks
		}
		x, err := e.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(x)
		fmt.Println("DONE " + string(b))
		e.Close()
		j.Close()
	}
}

func runChild(t *testing.T, dir, phase, until string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashPhaseEnv+"="+phase)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var line string
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), until) {
			line = sc.Text()
			break
		}
	}
	if line == "" {
		cmd.Wait()
		t.Fatalf("phase %s: child ended without %q; output:\n%s", phase, until, strings.Join(seen, "\n"))
	}
	if until == "READY" {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	cmd.Wait()
	return line
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestCrashResume(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	// Phase 1: A runs, the Map's first callback takes its token; SIGKILL.
	runChild(t, dir, "1", "READY")
	// Phase 2: restart; the token from before the crash completes item one,
	// item two's callback is answered, B starts; SIGKILL inside B.
	runChild(t, dir, "2", "READY")
	// Phase 3: restart; B runs again and the execution ends.
	line := runChild(t, dir, "3", "DONE ")
	var x workflow.Execution
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "DONE ")), &x); err != nil {
		t.Fatal(err)
	}
	if x.Status != workflow.StatusSucceeded {
		t.Fatalf("status %s: %s %s", x.Status, x.Error, x.Cause)
	}
	want := `{"a":"a-done","b":"b-done","items":["one","two"],"steps":[{"item":"one"},{"item":"two"}]}`
	if got := canon(t, x.Output); got != want {
		t.Errorf("output %s, want %s", got, want)
	}
	runs := map[string]int{"a": countLines(t, filepath.Join(dir, "a")), "notify": countLines(t, filepath.Join(dir, "notify")), "b": countLines(t, filepath.Join(dir, "b"))}
	// A once; each callback function once (its token survived the crash);
	// B twice: it was running when the process died.
	if diff := cmp.Diff(map[string]int{"a": 1, "notify": 2, "b": 2}, runs); diff != "" {
		t.Errorf("task runs (-want +got):\n%s", diff)
	}
	// States entered: A, Steps, 2 × Notify, B (entered once: the restart
	// resumes it rather than entering it again).
	if x.Transitions != 5 {
		t.Errorf("Transitions = %d, want 5", x.Transitions)
	}
}
