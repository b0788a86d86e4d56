// Command lambdainvoke invokes one Lambda function of Eden Deploy under the
// runtime interface emulator, against local peers seeded for the event
// (make invoke FN=... EVENT=...), or measures every function's binary size
// and cold start (make bench-lambda).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/samcheck/lambdarun"
	"github.com/edendeploy/edendeploy/internal/samcheck/peers"
)

func main() {
	fn := flag.String("fn", "", "function directory under functions/ (api, startrun, ..., lifecycle)")
	event := flag.String("event", "", "event file")
	rie := flag.String("rie", ".cache/bin/aws-lambda-rie", "the runtime interface emulator")
	bench := flag.Bool("bench", false, "measure every function: stripped arm64 size and cold start")
	armDir := flag.String("arm64-dir", ".cache/lambda/arm64", "where lambda-build put the arm64 binaries (<LogicalId>/bootstrap)")
	runs := flag.Int("runs", 5, "cold starts per function for -bench")
	flag.Parse()
	ctx := context.Background()
	var err error
	if *bench {
		err = benchmark(ctx, *rie, *armDir, *runs)
	} else {
		err = invoke(ctx, *rie, *fn, *event)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambdainvoke:", err)
		os.Exit(1)
	}
}

func logicalID(dir string) (string, error) {
	for id, f := range config.Functions {
		if f.Dir == "functions/"+dir {
			return id, nil
		}
	}
	return "", fmt.Errorf("no function functions/%s", dir)
}

func invoke(ctx context.Context, rie, fn, eventFile string) error {
	id, err := logicalID(fn)
	if err != nil {
		return err
	}
	root, err := peers.ModuleRoot()
	if err != nil {
		return err
	}
	event, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	p, err := peers.Start(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	scenario := peers.ScenarioFor(eventFile)
	if err := p.Seed(ctx, scenario); err != nil {
		return err
	}
	bin, err := lambdarun.Build(ctx, root, "./functions/"+fn, filepath.Join(root, ".cache/lambda/host", id), "")
	if err != nil {
		return err
	}
	res, err := lambdarun.Invoke(ctx, rie, bin, p.Env(id), event)
	if err != nil {
		return err
	}
	fmt.Printf("== %s (%s) with %s, peers seeded %q\n", id, fn, eventFile, scenario)
	fmt.Printf("== log\n%s", res.Log)
	fmt.Println("== AWS calls the checking servers accepted")
	for _, c := range p.Fake.Calls("") {
		b, _ := json.Marshal(c.Body)
		fmt.Printf("  %s %s %s\n", c.Service, c.Op, truncate(string(b), 300))
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, res.Response, "", "  ") != nil {
		pretty.Write(res.Response)
	}
	fmt.Printf("== response (cold start %v, init %v)\n%s\n", res.ColdStart.Round(100*time.Microsecond), res.Init, pretty.String())
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// benchEvents is the event each function is timed with.
var benchEvents = map[string]string{
	config.API: "api-health.json", config.StartRun: "task-startrun.json", config.PrepareStep: "task-preparestep.json",
	config.DispatchStep: "task-dispatchstep.json", config.RecordStep: "task-recordstep.json", config.FinishRun: "task-finishrun.json",
	config.CompleteLifecycle: "task-completelifecycle.json", config.SSMStatus: "ssm-command-status-success.json",
	config.Lifecycle: "lifecycle-test-notification.json", config.ExecutionEnded: "sfn-execution-status-succeeded.json",
}

func benchmark(ctx context.Context, rie, armDir string, runs int) error {
	root, err := peers.ModuleRoot()
	if err != nil {
		return err
	}
	fmt.Printf("%-26s %12s %10s %14s %14s  %s\n", "function", "arm64 size", "init p50", "cold start p50", "cold start max", "event")
	for _, id := range config.LogicalIDs() {
		fi, err := os.Stat(filepath.Join(armDir, id, "bootstrap"))
		if err != nil {
			return fmt.Errorf("%v (run make lambda-build)", err)
		}
		bin, err := lambdarun.Build(ctx, root, "./"+config.Functions[id].Dir, filepath.Join(root, ".cache/lambda/host", id), "")
		if err != nil {
			return err
		}
		evFile := filepath.Join(root, "events", benchEvents[id])
		event, err := os.ReadFile(evFile)
		if err != nil {
			return err
		}
		var times, inits []time.Duration
		note := benchEvents[id]
		for i := 0; i < runs; i++ {
			p, err := peers.Start(ctx)
			if err != nil {
				return err
			}
			if err := p.Seed(ctx, peers.ScenarioFor(evFile)); err != nil {
				p.Close()
				return err
			}
			res, err := lambdarun.Invoke(ctx, rie, bin, p.Env(id), event)
			p.Close()
			if err != nil {
				return err
			}
			if strings.Contains(string(res.Response), `"errorType"`) {
				// Still a cold start; say the invocation failed.
				note = benchEvents[id] + " (the invocation returned an error: " + truncate(string(res.Response), 80) + ")"
			}
			times = append(times, res.ColdStart)
			inits = append(inits, res.Init)
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		sort.Slice(inits, func(i, j int) bool { return inits[i] < inits[j] })
		fmt.Printf("%-26s %9.1f MB %10v %14v %14v  %s\n", id, float64(fi.Size())/1e6, inits[len(inits)/2].Round(100*time.Microsecond),
			times[len(times)/2].Round(100*time.Microsecond), times[len(times)-1].Round(100*time.Microsecond), note)
	}
	return nil
}
